"""Configuration of the network step: bridge br0 (over an optional bond and VLAN), resolvers,
the backend and the commit-confirm timeout.

The common case needs no per-host data: the bridge takes the host's cluster
address, the gateway and the uplink are read from the host (its default route,
the interface carrying the address). Explicit data wins.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from . import fields as f
from .fields import Field, Invalid, describe

BACKENDS = ("auto", "ifupdown", "netplan", "ifcfg", "networkmanager")
BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
              "balance-tlb", "balance-alb")
XMIT_HASH_POLICIES = ("layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4")
IPV6_MODES = ("auto", "off", "static")
NM_POLICIES = ("disable", "keep")

BRIDGE = "br0"


def optional_bool(value: Any) -> bool | None:
    return None if value is None else f.boolean(value)


_interface_list = f.list_of(f.interface_name, "expected a list of network interface names, like [eno1, eno2]",
                            "a network interface name")


def interface_names(value: Any) -> tuple[str, ...]:
    names = _interface_list(value)
    if len(set(names)) != len(names):
        raise Invalid("an interface is listed twice")
    return tuple(names)


def ipv6_interface(value: Any) -> str:
    try:
        interface = ipaddress.IPv6Interface(value)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError, TypeError):
        raise Invalid("expected an IPv6 address with its prefix, like 2001:db8::41/64") from None
    if not isinstance(value, str) or "/" not in value:
        raise Invalid("expected an IPv6 address with its prefix, like 2001:db8::41/64")
    return str(interface)


def ipv6_address(value: Any) -> str:
    try:
        return str(ipaddress.IPv6Address(value))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise Invalid("expected an IPv6 address, like 2001:db8::1") from None


def _bridged(settings) -> bool:
    return bridge_enabled(settings)


# Keys of the bridge: they act where br0 is built.
ON_BRIDGE = dict(acts_on=_bridged, where="the hosts with br0 (kvm_nodes, or bridge_enable = True)")

FIELDS = (
    Field("bridge_enable", None, optional_bool,
          "give this host `br0` carrying its address",
          shown_default='KVM nodes only'),
    Field("bridge_address", None, f.optional(f.ipv4_interface),
          "`br0`'s IPv4 address with prefix, e.g. `172.30.10.41/24`",
          shown_default='`cluster_address`/prefix', **ON_BRIDGE),
    Field("bridge_gateway", None, f.optional(f.ipv4_address),
          "`br0`'s IPv4 gateway; must be inside `br0`'s subnet",
          shown_default="the host's default gateway", **ON_BRIDGE),
    Field("bridge_uplink", None, f.optional(f.interface_name),
          "the interface `br0` takes over, with `bridge_vlan` the one the VLAN goes on "
          "(ignored with a bond)",
          shown_default='the interface carrying the address', **ON_BRIDGE),
    Field("bridge_vlan", None, f.optional(f.integer(1, 4094)),
          "802.1Q VLAN id (1 to 4094): `br0`'s port is VLAN interface `<uplink or bond>.<id>`, "
          "e.g. `bond0.100`",
          shown_default='none (untagged)', **ON_BRIDGE),
    Field("bond_enable", False, f.boolean, "put bond `bond_name` (of `bond_members`) under `br0`",
          shown_default='`False`', **ON_BRIDGE),
    Field("bond_name", "bond0", f.interface_name, "the bond's interface name",
          shown_default='`bond0`', **ON_BRIDGE),
    Field("bond_members", (), interface_names, "the bond's member interfaces (at least one with `bond_enable`)",
          shown_default='`[]`', **ON_BRIDGE),
    Field("bond_mode", "802.3ad", f.choice(*BOND_MODES), "`balance-rr`, `active-backup`, `balance-xor`, `broadcast`, `802.3ad`, "
          "`balance-tlb`, `balance-alb`",
          shown_default='`802.3ad`', **ON_BRIDGE),
    Field("bond_miimon", 100, f.integer(0, 10000), "MII link monitoring interval, ms",
          shown_default='`100`', **ON_BRIDGE),
    Field("bond_xmit_hash_policy", "layer3+4", f.choice(*XMIT_HASH_POLICIES),
          "used by `802.3ad`, `balance-xor` and `balance-tlb`",
          shown_default='`layer3+4`', **ON_BRIDGE),
    Field("network_mtu", None, f.optional(f.integer(576, 9216)),
          "MTU of `br0`, its VLAN interface, its uplink or bond, and the bond members (576 to "
          "9216)",
          shown_default='unchanged', **ON_BRIDGE),
    Field("network_dns", None, f.optional(f.some_ipv4_addresses),
          "the host's resolvers, primary first",
          shown_default='the masters'),
    Field("network_dns_search", None, f.optional(f.domain_name),
          "DNS search domain",
          shown_default='`cluster_domain`'),
    Field("network_ipv6", "auto", f.choice(*IPV6_MODES),
          "IPv6 on `br0`: `auto` (SLAAC, stable-privacy), `off`, or `static`",
          shown_default='`auto`', **ON_BRIDGE),
    Field("network_ipv6_address", None, f.optional(ipv6_interface),
          "`br0`'s IPv6 address with prefix (needed with `static`)",
          shown_default='none', **ON_BRIDGE),
    Field("network_ipv6_gateway", None, f.optional(ipv6_address),
          "`br0`'s IPv6 gateway (`static`)",
          shown_default='none', **ON_BRIDGE),
    Field("network_backend", "auto", f.choice(*BACKENDS),
          "`ifupdown`, `netplan`, `ifcfg` or `networkmanager`; `auto`: the one that configures "
          "the uplink today, else the distribution's (see [Backends](network.md#backends)); "
          "one the host cannot run fails its preflight",
          shown_default='`auto`'),
    Field("network_manager", "disable", f.choice(*NM_POLICIES),
          "where another backend takes over: `disable` (stop and disable NetworkManager, the "
          "default) or `keep` (leave it running, with the bridge's interfaces unmanaged)",
          shown_default='`disable`'),
    Field("network_confirm_timeout", 60, f.integer(20, 3600),
          "seconds (20 to 3600) a host waits for the deploy's confirmation before it rolls its "
          "network back",
          shown_default='`60`', **ON_BRIDGE),
)


def _no_bond(settings) -> str | None:
    return None if settings.bond_enable else "bond_enable is false (no bond is built)"


def _not_static_ipv6(settings) -> str | None:
    return None if settings.network_ipv6 == "static" else \
        f"network_ipv6 is {settings.network_ipv6!r}, not 'static'"


def _bond_is_the_port(settings) -> str | None:
    return "bond_enable is true: the bond is br0's port" if settings.bond_enable else None


DEPENDENT_KEYS = {
    **{key: _no_bond for key in ("bond_name", "bond_members", "bond_mode", "bond_miimon",
                                 "bond_xmit_hash_policy")},
    "network_ipv6_address": _not_static_ipv6,
    "network_ipv6_gateway": _not_static_ipv6,
    "bridge_uplink": _bond_is_the_port,
}


def bridge_enabled(settings) -> bool:
    """br0 on kvm_nodes by default; ``bridge_enable`` decides when set."""
    if settings.bridge_enable is None:
        return settings.in_group("kvm_nodes")
    return settings.bridge_enable


def bridge_interface(settings) -> str:
    """The address br0 carries: ``bridge_address``, else the cluster address."""
    return settings.bridge_address or settings.cluster_interface


def resolvers(settings, all_settings: dict) -> tuple[str, ...]:
    """The host's DNS servers: ``network_dns``, else the masters (primary, secondary)."""
    if settings.network_dns is not None:
        return tuple(settings.network_dns)
    return tuple(s.cluster_address for s in all_settings.values() if s.in_group("masters"))


def search_domain(settings) -> str:
    return settings.network_dns_search or settings.cluster_domain


def _host_problems(name: str, s) -> list[str]:
    problems = []
    if not bridge_enabled(s):
        return problems
    interface = ipaddress.IPv4Interface(bridge_interface(s))
    key = "bridge_address" if s.bridge_address else "cluster_address"
    value = s.bridge_address or s.cluster_address
    network = ipaddress.IPv4Network(s.cluster_network)
    if interface.ip not in network:
        problems.append(f"host {name}: key {key!r} = {value!r}: not in cluster_network {network}")
    elif s.bridge_address and interface.network != network:
        problems.append(f"host {name}: key 'bridge_address' = {value!r}: its prefix /"
                        f"{interface.network.prefixlen} disagrees with cluster_network {network}: "
                        f"expected {interface.ip}/{network.prefixlen}")
    if s.bridge_address and interface.network.prefixlen < 31 and interface.ip in (
            interface.network.network_address, interface.network.broadcast_address):
        problems.append(f"host {name}: key 'bridge_address' = {value!r}: the network or "
                        f"broadcast address of {interface.network}")
    if s.bridge_gateway is not None:
        gateway = ipaddress.IPv4Address(s.bridge_gateway)
        unusable = f.usable_host_address(s.bridge_gateway, str(interface.network))
        if gateway not in interface.network:
            problems.append(f"host {name}: key 'bridge_gateway' = {s.bridge_gateway!r}: "
                            f"outside br0's subnet {interface.network}")
        elif unusable:
            problems.append(f"host {name}: key 'bridge_gateway' = {s.bridge_gateway!r}: {unusable}: "
                            "expected a usable router address")
        elif gateway == interface.ip:
            problems.append(f"host {name}: key 'bridge_gateway' = {s.bridge_gateway!r}: "
                            "is br0's own address")
    if s.bond_enable:
        if not s.bond_members:
            problems.append(f"host {name}: key 'bond_members' = {describe(list(s.bond_members))}: "
                            f"bond {s.bond_name} needs at least one member interface")
        for member in s.bond_members:
            if member in (BRIDGE, s.bond_name):
                problems.append(f"host {name}: key 'bond_members' = {describe(list(s.bond_members))}: "
                                f"{member} cannot be a member of bond {s.bond_name}")
        if s.bond_name == BRIDGE:
            problems.append(f"host {name}: key 'bond_name' = {s.bond_name!r}: the bridge's name")
    if s.bridge_uplink == BRIDGE:
        problems.append(f"host {name}: key 'bridge_uplink' = {s.bridge_uplink!r}: the bridge itself")
    problems += _vlan_problems(name, s)
    if s.network_ipv6 == "static" and not s.network_ipv6_address:
        problems.append(f"host {name}: key 'network_ipv6_address' is missing: "
                        "network_ipv6 = 'static' needs an address")
    problems += _ipv6_problems(name, s)
    return problems


def _ipv6_problems(name: str, s) -> list[str]:
    """The IPv6 address and gateway get IPv4's checks: a usable address of its
    prefix (not the subnet-router anycast one), the gateway inside the prefix."""
    if s.network_ipv6 != "static" or not s.network_ipv6_address:
        return []
    problems = []
    interface = ipaddress.IPv6Interface(s.network_ipv6_address)
    if interface.network.prefixlen < 127 and interface.ip == interface.network.network_address:
        problems.append(f"host {name}: key 'network_ipv6_address' = {s.network_ipv6_address!r}: "
                        f"the subnet-router anycast address of {interface.network}: expected a host address")
    if interface.ip.is_multicast or interface.ip.is_loopback or interface.ip.is_link_local:
        problems.append(f"host {name}: key 'network_ipv6_address' = {s.network_ipv6_address!r}: "
                        "not a global unicast address")
    if s.network_ipv6_gateway:
        gateway = ipaddress.IPv6Address(s.network_ipv6_gateway)
        if gateway == interface.ip:
            problems.append(f"host {name}: key 'network_ipv6_gateway' = {s.network_ipv6_gateway!r}: "
                            "is br0's own address")
        elif gateway not in interface.network and not gateway.is_link_local:
            problems.append(f"host {name}: key 'network_ipv6_gateway' = {s.network_ipv6_gateway!r}: "
                            f"outside br0's prefix {interface.network} (and not link-local)")
    return problems


def _vlan_problems(name: str, s) -> list[str]:
    """The VLAN interface's name, where the data gives its link (the bond, or
    bridge_uplink), must fit the kernel's 15 characters; the host's own uplink is
    checked when the plan is made."""
    link = s.bond_name if s.bond_enable else s.bridge_uplink
    if s.bridge_vlan is None or link is None:
        return []
    vlan = f"{link}.{s.bridge_vlan}"
    if len(vlan) > 15:
        return [f"host {name}: key 'bridge_vlan' = {s.bridge_vlan!r}: the VLAN interface {vlan} "
                "would be longer than 15 characters, the kernel's limit for an interface name"]
    return []


def cluster_problems(settings: dict) -> list[str]:
    """Per host: br0's address in the cluster network, the gateway inside br0's
    subnet, a bond with members; across hosts: one address per host, resolvers."""
    problems = []
    for name, s in sorted(settings.items()):
        problems += _host_problems(name, s)
    owners: dict[str, list[str]] = {}
    for name, s in sorted(settings.items()):
        address = str(ipaddress.IPv4Interface(bridge_interface(s)).ip) if bridge_enabled(s) \
            else s.cluster_address
        owners.setdefault(address, []).append(name)
    ipv6_owners: dict[str, list[str]] = {}
    for name, s in sorted(settings.items()):
        if bridge_enabled(s) and s.network_ipv6 == "static" and s.network_ipv6_address:
            ipv6_owners.setdefault(str(ipaddress.IPv6Interface(s.network_ipv6_address).ip), []).append(name)
    for address, names in sorted(ipv6_owners.items()):
        if len(names) > 1:
            problems.append(f"host {names[1]}: key 'network_ipv6_address' = "
                            f"{settings[names[1]].network_ipv6_address!r}: address {address} is used by "
                            f"more than one host ({', '.join(names)}): expected one address per host")
    for address, names in sorted(owners.items()):
        if len(names) > 1:
            overrides = [n for n in names if settings[n].bridge_address]
            if overrides:
                problems.append(
                    f"host {overrides[0]}: key 'bridge_address' = "
                    f"{settings[overrides[0]].bridge_address!r}: address {address} is used by "
                    f"more than one host ({', '.join(names)}): expected one address per host")
    for name, s in sorted(settings.items()):
        if s.network_dns is None and not resolvers(s, settings):
            problems.append(f"host {name}: key 'network_dns' is missing: no masters in the "
                            "inventory to resolve through; set network_dns")
    return problems


def packages(settings, os_release: dict, backend: str | None = None) -> list[str]:
    """The packages the host's backend needs, installed before the step
    (``backend`` None: those of every backend the distribution may use).

    ifupdown: ifupdown and bridge-utils (ifenslave for a bond, vlan for
    ifupdown's VLAN hooks); ifcfg on RHEL/CentOS 7 and 8: bridge-utils (7), the
    legacy network-scripts (8). netplan (networkd) and NetworkManager need
    nothing more. Only hosts with the bridge need any of them.
    """
    if not bridge_enabled(settings):
        return []
    family, major = os_release.get("family"), os_release.get("major")
    backend = backend or (settings.network_backend if settings.network_backend != "auto" else None)
    names = []
    if backend in ("ifupdown", None) and family == "debian":
        names += (["ifupdown", "bridge-utils"] + (["ifenslave"] if settings.bond_enable else [])
                  + (["vlan"] if settings.bridge_vlan is not None else []))
    if backend in ("ifcfg", None) and family == "rhel" and major in (7, 8):
        names += ["bridge-utils"] if major == 7 else ["network-scripts"]
    return names
