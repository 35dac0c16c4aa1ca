"""The one model of the deploy's configuration, validated before any host is touched.

Configuration is data: ``group_data/*.py``, the inventory and ``--data``
overrides, merged by pyinfra into ``host.data``. :func:`cluster_settings`
checks every host of the inventory at once and returns a frozen
:class:`HostSettings` per host; anything wrong is reported together, each line
naming the host, the key, the value and what is expected, and the run stops
before its first operation.

The fields are declared here (what every host has) and by one module per
concern (``cluster/config_*.py``: ``FIELDS`` and ``cluster_problems``, the
rules that span hosts); :data:`FIELDS` is all of them.
"""

from __future__ import annotations

import difflib
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from pyinfra.api.exceptions import PyinfraError

from . import kvm as config_kvm
from . import management as config_management
from . import network as config_network
from . import storage as config_storage
from . import fields as f
from .fields import Field, Invalid, describe

GROUPS = ("masters", "kvm_nodes", "nfs_server")

POLICIES = ("fail", "warn")

# Preflight checks and their default policy. Each is explained (what is
# missing, how to fix it) by operations.preflight.
PREFLIGHT_DEFAULTS = {
    "cpu_virtualization": "fail",
    "kvm_device": "warn",
    "iommu": "warn",
    "grub": "warn",
    "data_volume": "fail",
    "virt_host_validate": "warn",
}

# Data keys that belong to pyinfra itself or its connectors, never to this model.
FOREIGN_PREFIXES = ("_", "ssh_", "docker_", "winrm_", "chroot_", "local_", "vagrant_",
                    "terraform_", "podman_")


class ConfigError(PyinfraError):
    """Bad configuration: every problem found, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "invalid configuration (nothing was changed on any host):\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )


def _preflight_policy(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid("expected a dict of check name to 'fail' or 'warn'")
    unknown = sorted(set(value) - set(PREFLIGHT_DEFAULTS))
    if unknown:
        raise Invalid(
            f"unknown check {unknown[0]!r}; checks are: {', '.join(PREFLIGHT_DEFAULTS)}"
        )
    bad = {check: policy for check, policy in value.items() if policy not in POLICIES}
    if bad:
        check, policy = next(iter(bad.items()))
        raise Invalid(f"check {check!r} has policy {policy!r}; expected 'fail' or 'warn'")
    return {**PREFLIGHT_DEFAULTS, **value}


ON_KVM_NODES = dict(acts_on=f.in_groups("kvm_nodes"), where="kvm_nodes")
ON_STORAGE_HOSTS = dict(acts_on=f.in_groups("kvm_nodes", "nfs_server"), where="kvm_nodes and nfs_server")

BASE_FIELDS = (
    Field("cluster_network", "172.30.10.0/24", f.cluster_network,
          "the cluster's IPv4 network: host addresses, DHCP subnet, NTP and NFS clients; one "
          "value for all hosts",
          shown_default='`172.30.10.0/24`'),
    Field("cluster_domain", "cluster.lan", f.domain_name,
          "DNS domain of hosts and VMs",
          shown_default='`cluster.lan`', cluster_wide=True),
    Field("cluster_address", None, f.optional(f.ipv4_address),
          "this host's address on the cluster network, one per host; by default `ssh_hostname` "
          "when it is an address in `cluster_network`",
          shown_default='from `ssh_hostname`'),
    Field("data_volume", "/data01", f.absolute_path,
          "the pre-mounted data volume; same path on every KVM node (system directories such as "
          "`/var`, `/home`, `/usr` are refused, here and for every pool or mount path)",
          shown_default='`/data01`', **ON_STORAGE_HOSTS),
    Field("preflight_policy", {}, _preflight_policy,
          "per check, `fail` (stop that host) or `warn`; the keys you give override the "
          "defaults",
          shown_default='see [Preflight](steps.md#preflight)', **ON_STORAGE_HOSTS),
    Field("iommu_enable", True, f.boolean,
          "add the IOMMU kernel options on KVM nodes",
          shown_default='`True`', **ON_KVM_NODES),
    Field("iommu_passthrough", False, f.boolean, "also add `iommu=pt`",
          shown_default='`False`', **ON_KVM_NODES),
    Field("iommu_reboot", False, f.boolean,
          "reboot a node whose kernel options changed (otherwise a reboot is only recorded)",
          shown_default='`False`',
          **ON_KVM_NODES),
    Field("role_account", "kvm-mgr", f.account_name,
          "the account that manages the KVM hosts, on every host (not `root`)",
          shown_default='`kvm-mgr`', cluster_wide=True),
    Field("role_account_keys", None, f.public_keys,
          "SSH public keys allowed to log in as it; any other key is removed",
          shown_default='**required**'),
    Field("role_account_groups", ("libvirt", "kvm"), f.group_names,
          "its groups (created as system groups if missing)",
          shown_default='`["libvirt", "kvm"]`'),
    Field("role_account_sudo", True, f.boolean,
          "passwordless sudo through `/etc/sudoers.d/kvm-cluster-<user>` (mode 0440, checked "
          "with `visudo -cf`)",
          shown_default='`True`'),
    Field("custom_groups", (), f.group_names,
          "inventory groups of your own that the deploy should accept",
          shown_default='`[]`'),
)

# One module per concern adds its fields and cross-host rules.
CONCERNS: tuple = (config_network, config_kvm, config_storage, config_management)

# Keys that act only together with another: {key: why it does nothing here, or None}.
DEPENDENT_KEYS = {key: needs for concern in CONCERNS
                  for key, needs in getattr(concern, "DEPENDENT_KEYS", {}).items()}

FIELDS = BASE_FIELDS + tuple(spec for concern in CONCERNS for spec in concern.FIELDS)
FIELDS_BY_KEY = {spec.key: spec for spec in FIELDS}


@dataclass(frozen=True)
class HostSettings:
    """The validated configuration of one host: every field of :data:`FIELDS`
    is an attribute (``settings.data_volume``). ``sources`` says where each key
    the data gives was written (``all``, ``group kvm_nodes``, ``host kvm01``,
    ``--data``); keys absent from it have their default."""

    name: str
    groups: tuple[str, ...]
    values: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    written: Mapping[str, Any] = field(default_factory=dict)  # the values as the data gives them
    # What the steps, the preflight and the report read, each decided once by
    # its one rule when the whole inventory is valid (:func:`derive`).
    derived: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("values", {})
        if key in values:
            return values[key]
        derived = self.__dict__.get("derived", {})
        if key in derived:
            return derived[key]
        if key in FIELDS_BY_KEY:
            return FIELDS_BY_KEY[key].validate(FIELDS_BY_KEY[key].default)
        raise AttributeError(key)

    def in_group(self, group: str) -> bool:
        return group in self.groups

    @property
    def cluster_prefix(self) -> int:
        return ipaddress.IPv4Network(self.cluster_network).prefixlen

    @property
    def cluster_interface(self) -> str:
        """This host's address with the cluster prefix: '172.30.10.41/24'."""
        return f"{self.cluster_address}/{self.cluster_prefix}"


def _derived(name: str, data: dict, values: dict) -> list[str]:
    """Values derived from others: the cluster address from ssh_hostname."""
    if values.get("cluster_address") is not None or "cluster_network" not in values:
        return []
    network = ipaddress.IPv4Network(values["cluster_network"])
    target = data.get("ssh_hostname", name)
    try:
        address = ipaddress.IPv4Address(target)
    except (ipaddress.AddressValueError, ValueError):
        address = None
    if address is not None and address in network:
        values["cluster_address"] = str(address)
        return []
    return [
        f"host {name}: key 'cluster_address' is missing: ssh_hostname {describe(target)} is "
        f"not an address in cluster_network {network}; set cluster_address to the host's "
        "address on the cluster network"
    ]


def host_settings(name: str, groups: tuple[str, ...], data: dict, sources: Mapping[str, str] | None = None
                  ) -> tuple[HostSettings | None, list[str]]:
    """Validate one host's merged data: (settings or None, problems)."""
    problems = []
    values = {}
    sources = {key: (sources or {}).get(key, f"host {name}") for key in data}
    for key, value in sorted(data.items()):
        if key.startswith(FOREIGN_PREFIXES):
            continue
        spec = FIELDS_BY_KEY.get(key)
        if spec is None:
            close = difflib.get_close_matches(key, FIELDS_BY_KEY, n=1)
            hint = f": did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(FIELDS_BY_KEY)}"
            problems.append(f"host {name}: unknown key {key!r} (value {describe(value)}, set in "
                            f"{sources[key]}){hint}")
            continue
        # A value written for every host is named once, with where it was written.
        where = f"key {key!r} = {describe(value)} (set in {sources[key]})" \
            if sources[key] in ("all", "--data") else f"host {name}: key {key!r} = {describe(value)}"
        invisible = f.invisible_characters(value)
        if invisible:
            problems.append(f"{where}: holds an invisible character ({invisible}); the file it "
                            "lands in would read it as part of the value, or as a line of its own")
            continue
        try:
            values[key] = spec.validate(value)
        except Invalid as error:
            problems.append(f"{where}: {error}")
    for spec in FIELDS:
        if spec.key not in values and spec.key not in data:
            try:
                values[spec.key] = spec.validate(spec.default)
            except Invalid as error:
                problems.append(f"host {name}: key {spec.key!r} is missing: {error}")
    if not problems:
        problems += _derived(name, data, values)
    if problems:
        return None, problems
    given = {key: sources[key] for key in data if key in FIELDS_BY_KEY}
    written = {key: data[key] for key in given}
    return HostSettings(name=name, groups=groups, values=values, sources=given, written=written), []


def validate(hosts: list[tuple[str, tuple[str, ...], dict]]) -> dict[str, HostSettings]:
    """Validate every host together: {name: settings}, or raise ConfigError.

    ``hosts`` is ``[(name, groups, data)]`` or ``[(name, groups, data,
    sources)]`` (where each key was written): the inventory, without pyinfra,
    so the model is tested on plain data.
    """
    problems: list[str] = []
    settings = {}
    for name, groups, data, *sources in hosts:
        result, host_problems = host_settings(name, groups, data, *sources)
        problems += host_problems
        if result is not None:
            settings[name] = result
    if not problems:
        # Rules across hosts only make sense once every host is valid.
        problems += _cluster_problems(settings)
        problems += _keys_that_do_nothing(settings)
        problems += _cluster_wide_keys(settings)
        for concern in CONCERNS:
            problems += concern.cluster_problems(settings)
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return derive(settings)


# The effective values derived from the data: attribute name -> its one rule.
DERIVED = {
    "bridged": lambda s, all_: config_network.bridge_enabled(s),
    "bridge_cidr": lambda s, all_: (config_network.bridge_interface(s)
                                    if config_network.bridge_enabled(s) else None),
    "resolvers": lambda s, all_: config_network.resolvers(s, all_),
    "search_domain": lambda s, all_: config_network.search_domain(s),
    "export_network": lambda s, all_: (config_storage.export_network_of(s)
                                       if s.in_group("nfs_server") else None),
    "idmap_domain": lambda s, all_: config_storage.idmap_domain(s),
    "export_options": lambda s, all_: (config_storage.effective_export_options(s)
                                       if s.in_group("nfs_server") else None),
    "secondary_pool_path": lambda s, all_: config_storage.secondary_pool_path(s),
    "masters": lambda s, all_: masters_addresses(all_),
}


def derive(settings: dict[str, HostSettings]) -> dict[str, HostSettings]:
    """Each host's settings with its effective values (:data:`DERIVED`): br0 on
    or off and the address it carries (``bridge_cidr``: ``bridge_address``, or
    the cluster address with the cluster prefix), the resolvers and search
    domain, the export network, the ID-mapping domain, the masters."""
    return {name: replace(s, derived={key: rule(s, settings) for key, rule in DERIVED.items()})
            for name, s in settings.items()}


def _cluster_problems(settings: dict[str, HostSettings]) -> list[str]:
    """Rules that span hosts: known groups, one cluster network, distinct
    addresses, and the seed's identical storage path on every node."""
    problems = []
    members: dict[str, list[str]] = {}
    for name, s in settings.items():
        for group in s.groups:
            members.setdefault(group, []).append(name)
    allowed = set(GROUPS).union(*(s.custom_groups for s in settings.values()))
    for group, names in sorted(members.items()):
        # pyinfra adds a group named after the inventory file, holding every host.
        if group in allowed or len(names) == len(settings):
            continue
        problems.append(
            f"group {group!r} (hosts {', '.join(names)}) is not a group of this deploy: expected "
            f"{', '.join(GROUPS)} (a group of your own must be listed in custom_groups)"
        )
    networks = {s.cluster_network for s in settings.values()}
    if len(networks) > 1:
        detail = ", ".join(f"{name}={s.cluster_network}" for name, s in sorted(settings.items()))
        problems.append(f"key 'cluster_network' differs across hosts ({detail}): expected one network")
        return problems
    for name, s in sorted(settings.items()):
        why = f.usable_host_address(s.cluster_address, s.cluster_network)
        if why:
            problems.append(f"host {name}: key 'cluster_address' = {s.cluster_address!r}: "
                            f"{why.replace('not in ', 'not in cluster_network ')}")
    owners: dict[str, list[str]] = {}
    for name, s in sorted(settings.items()):
        owners.setdefault(s.cluster_address, []).append(name)
    for address, names in sorted(owners.items()):
        if len(names) > 1:
            problems.append(
                f"key 'cluster_address' = {address!r} is used by more than one host "
                f"({', '.join(names)}): expected one address per host"
            )
    nodes = {name: s for name, s in settings.items() if s.in_group("kvm_nodes")}
    paths = {s.data_volume for s in nodes.values()}
    if len(paths) > 1:
        detail = ", ".join(f"{name}={s.data_volume}" for name, s in sorted(nodes.items()))
        problems.append(
            f"key 'data_volume' differs across kvm_nodes ({detail}): "
            "expected the same path on every node"
        )
    return problems


def _keys_that_do_nothing(settings: dict[str, HostSettings]) -> list[str]:
    """A key written for a group or a host where it acts on nothing (the VM
    manifest in kvm_nodes.py, an NFS export option on a KVM node) is refused,
    naming where it was written and where it acts. Keys in ``all`` (and
    ``--data``) are defaults for everyone: they may act on some hosts only."""
    idle: dict[tuple[str, str], list[str]] = {}
    for name, s in sorted(settings.items()):
        for key, source in s.sources.items():
            if source in ("all", "--data"):
                continue
            spec = FIELDS_BY_KEY[key]
            if not spec.acts_on(s):
                idle.setdefault((key, source), []).append(name)
    problems = []
    for (key, source), names in sorted(idle.items()):
        value = settings[names[0]].written[key]
        problems.append(
            f"key {key!r} = {describe(value)}, set in {source}, does nothing on "
            f"{', '.join(names)}: it acts on {FIELDS_BY_KEY[key].where}; move it there (or to all)")
    for name, s in sorted(settings.items()):
        for key, needs in DEPENDENT_KEYS.items():
            if key in s.sources:
                why = needs(s)
                if why:
                    problems.append(f"host {name}: key {key!r} = {describe(s.written[key])}, set in "
                                    f"{s.sources[key]}, does nothing: {why}")
    return problems


def _cluster_wide_keys(settings: dict[str, HostSettings]) -> list[str]:
    """Keys that must be one value wherever they act (the cluster's domain, the
    NFSv4 ID-mapping domain, the VM manifest...): refused when hosts differ."""
    problems = []
    for spec in FIELDS:
        if not spec.cluster_wide:
            continue
        values = {name: s.values[spec.key] for name, s in sorted(settings.items()) if spec.acts_on(s)}
        if len({repr(value) for value in values.values()}) > 1:
            detail = ", ".join(
                f"{name}={describe(settings[name].written.get(spec.key, value))} "
                f"({settings[name].sources.get(spec.key, 'default')})"
                for name, value in values.items())
            problems.append(f"key {spec.key!r} differs across the hosts it acts on ({detail}): "
                            f"expected one value for the whole cluster ({spec.where})")
    return problems


def unused_group_data(inventory) -> list[str]:
    """group_data files (or inventory groups) that hold data but whose group
    has no host: a misspelt file name (``master.py`` for ``masters.py``)
    would be loaded and silently dropped."""
    problems = []
    groups = [group for group, hosts in inventory.groups.items() if hosts]
    for group, data in sorted(inventory.group_data.items()):
        if not data or inventory.groups.get(group) or group == "all":
            continue
        close = difflib.get_close_matches(group, groups, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; groups: {', '.join(sorted(groups))}"
        problems.append(f"group_data for group {group!r} (keys {', '.join(sorted(data))}) applies to "
                        f"no host: no host is in group {group!r}{hint}")
    return problems


def masters_addresses(settings: dict[str, HostSettings]) -> tuple[str, ...]:
    """The masters' cluster addresses, in inventory order: primary, secondary."""
    return tuple(s.cluster_address for s in settings.values() if s.in_group("masters"))


def data_sources(inventory, host) -> dict[str, str]:
    """Where each key of a host's data was written, as pyinfra merges it:
    ``--data`` over the host's own data over its groups (the later over the
    earlier) over ``all``."""
    sources = {key: "all" for key in inventory.get_data()}
    for group in host.groups:
        sources.update({key: f"group {group}" for key in inventory.get_group_data(group)})
    sources.update({key: f"host {host.name}" for key in inventory.get_host_data(host.name)})
    sources.update({key: "--data" for key in inventory.get_override_data()})
    return sources


def inventory_hosts(inventory) -> list[tuple[str, tuple[str, ...], dict, dict]]:
    """pyinfra inventory -> [(name, groups, merged data, sources)] for :func:`validate`."""
    return [
        (host.name, tuple(host.groups), host.data.dict(), data_sources(inventory, host))
        for host in inventory
    ]


def cluster_settings(inventory) -> dict[str, HostSettings]:
    """Validated settings for the whole inventory, computed once per inventory.

    deploy.py runs once per host; the first call validates every host (and
    raises for all of them), later calls reuse the result.
    """
    cached = getattr(inventory, "_kvm_cluster_settings", None)
    if cached is None:
        problems = unused_group_data(inventory)
        if problems:
            raise ConfigError(problems)
        cached = validate(inventory_hosts(inventory))
        inventory._kvm_cluster_settings = cached
    return cached
