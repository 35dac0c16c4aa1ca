"""Configuration of the management plane: DNS and static DHCP (dnsmasq on both
masters), NTP (chrony), ClusterShell groups.

The VM manifest is the ``vms`` key: either a list in the data,

.. code:: python

    vms = [
        {"name": "vm01", "mac": "52:54:00:aa:00:01", "ip": "172.30.10.101"},
    ]

or the path of a JSON file (relative to the directory pyinfra runs in) holding
the same list under ``"vms"``:

.. code:: json

    {"vms": [{"name": "vm01", "mac": "52:54:00:aa:00:01", "ip": "172.30.10.101"}]}

Other keys of an entry (``"cpus"``, ``"disk"`` ...) are left to other tools.
Every VM gets a DNS name (``vm01.<cluster_domain>`` and ``vm01``) and a static
DHCP assignment on both masters.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any, NamedTuple

from . import fields as f
from .fields import Field, Invalid, describe


class VM(NamedTuple):
    name: str
    mac: str
    ip: str


def _entry(index: int, entry: Any) -> VM:
    if not isinstance(entry, dict):
        raise Invalid(f"entry {index} ({describe(entry)}) is not a mapping with name, mac and ip")
    label = f"entry {index}" + (f" ({entry['name']!r})" if isinstance(entry.get("name"), str) else "")
    missing = [key for key in ("name", "mac", "ip") if key not in entry]
    if missing:
        raise Invalid(f"{label} has no {', '.join(missing)}: expected name, mac and ip")
    values = {}
    for key, check in (("name", f.hostname), ("mac", f.mac_address), ("ip", f.ipv4_address)):
        try:
            values[key] = check(entry[key])
        except Invalid as error:
            raise Invalid(f"{label}: {key} {describe(entry[key])}: {error}") from None
    return VM(**values)


def _read_manifest(path: str) -> list:
    file = Path(path)
    if not file.is_file():
        raise Invalid(f"the VM manifest file {str(file.resolve())!r} does not exist "
                      "(expected a JSON file {\"vms\": [{\"name\", \"mac\", \"ip\"}, ...]})")
    try:
        document = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Invalid(f"the VM manifest file {path!r} is not JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("vms"), list):
        raise Invalid(f"the VM manifest file {path!r} is not shaped "
                      "{\"vms\": [{\"name\", \"mac\", \"ip\"}, ...]}")
    return document["vms"]


def vm_manifest(value: Any) -> tuple[VM, ...]:
    """A list of ``{"name", "mac", "ip"}``, or the path of a JSON file holding
    ``{"vms": [...]}``: VMs with unique names, MACs and addresses."""
    if isinstance(value, str):
        value = _read_manifest(value)
    if not isinstance(value, (list, tuple)):
        raise Invalid("expected a list of {name, mac, ip} or the path of a JSON manifest file")
    vms = tuple(_entry(index, entry) for index, entry in enumerate(value))
    for key in ("name", "mac", "ip"):
        seen: dict[str, int] = {}
        for index, vm in enumerate(vms):
            item = getattr(vm, key)
            if item in seen:
                first = seen[item]
                raise Invalid(f"entry {index} ({vm.name!r}) has the {key} {item!r} of "
                              f"entry {first} ({vms[first].name!r}): expected each {key} once")
            seen[item] = index
    return vms


def _ntp_source(value: Any) -> str:
    try:
        return f.ipv4_address(value)
    except Invalid:
        return f.domain_name(value)


# Upstream NTP servers: host names or IPv4 addresses.
ntp_sources = f.list_of(_ntp_source, "expected a list of NTP servers (host names or addresses)",
                        "a host name or IPv4 address")


ON_MASTERS = dict(acts_on=f.in_groups("masters"), where="masters")

FIELDS = (
    Field("vms", (), vm_manifest,
          "the VM manifest: a list, or the path of a JSON file (see [VM "
          "manifest](steps.md#the-vm-manifest))",
          shown_default='`[]`', **ON_MASTERS),
    Field("dns_upstream", (), f.ipv4_addresses,
          "resolvers the masters forward other names to; empty means nothing is forwarded",
          shown_default='`[]`', **ON_MASTERS),
    Field("dhcp_router", None, f.optional(f.ipv4_address),
          "default gateway offered to VMs; none means no router option is sent",
          shown_default='none', **ON_MASTERS),
    Field("ntp_servers", (), ntp_sources,
          "upstream NTP servers of the masters; empty means the masters serve their own clock",
          shown_default='`[]`', **ON_MASTERS),
    Field("ntp_set_clock", True, f.boolean,
          "chronyd sets the system clock; `False` runs it with `-x` (for containers without "
          "CAP_SYS_TIME)",
          shown_default='`True`'),
)

# What the two masters must agree on: they serve the same DNS and DHCP data.
SHARED_BY_MASTERS = ("vms", "dns_upstream", "dhcp_router", "ntp_servers")


def cluster_problems(settings: dict) -> list[str]:
    """Rules across hosts: the masters agree; VMs fit the cluster network and
    clash with no cluster host; host names are DNS labels."""
    masters = {name: s for name, s in settings.items() if s.in_group("masters")}
    if not masters:
        return []
    problems = []
    for key in SHARED_BY_MASTERS:
        values = {name: getattr(s, key) for name, s in masters.items()}
        if len(set(values.values())) > 1:
            detail = ", ".join(f"{name}={describe(value)}" for name, value in values.items())
            problems.append(f"key {key!r} differs across masters ({detail}): "
                            "expected the same value on both (they serve the same data)")
    for name in settings:
        try:
            f.hostname(name)
        except Invalid:
            problems.append(f"host {name}: its inventory name is not a DNS label "
                            "(letters, digits, '-'): it gets the DNS name <name>.<cluster_domain>")
    first, master = next(iter(masters.items()))
    network = ipaddress.IPv4Network(master.cluster_network)
    hosts_by_name = {name.lower(): name for name in settings}
    hosts_by_address = {s.cluster_address: name for name, s in settings.items()}
    for index, vm in enumerate(master.vms):
        where = f"host {first}: key 'vms' entry {index} ({vm.name!r})"
        address = ipaddress.IPv4Address(vm.ip)
        if address not in network:
            problems.append(f"{where}: ip {vm.ip!r} is outside cluster_network {network} "
                            "(the DHCP subnet)")
        elif network.prefixlen < 31 and address in (network.network_address, network.broadcast_address):
            problems.append(f"{where}: ip {vm.ip!r} is the network or broadcast address of {network}")
        if vm.name in hosts_by_name:
            problems.append(f"{where}: name {vm.name!r} is the cluster host {hosts_by_name[vm.name]}'s")
        if vm.ip in hosts_by_address:
            problems.append(f"{where}: ip {vm.ip!r} is the cluster address of host {hosts_by_address[vm.ip]}")
        if vm.ip == master.dhcp_router:
            problems.append(f"{where}: ip {vm.ip!r} is dhcp_router, the VMs' gateway")
    router = master.dhcp_router
    if router is not None:
        why = f.usable_host_address(router, str(network))
        if why:
            problems.append(f"host {first}: key 'dhcp_router' = {router!r}: "
                            f"{why.replace('not in ', 'not in cluster_network ')}: expected the "
                            "VMs' gateway on the cluster network")
        elif router in hosts_by_address:
            problems.append(f"host {first}: key 'dhcp_router' = {router!r}: is the cluster address of "
                            f"host {hosts_by_address[router]}: expected the router's own address")
    addresses = {s.cluster_address: name for name, s in masters.items()}
    for name, s in masters.items():
        loops = [server for server in s.dns_upstream if server in addresses]
        if loops:
            problems.append(f"host {name}: key 'dns_upstream' = {describe(list(s.dns_upstream))}: "
                            f"{', '.join(loops)} is a master itself ({addresses[loops[0]]}): the masters "
                            "would forward to each other; expected resolvers outside the cluster")
    return problems
