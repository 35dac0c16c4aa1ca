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

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Mapping

from pyinfra.api.exceptions import PyinfraError

from . import config_kvm, config_management, config_network, config_storage
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


BASE_FIELDS = (
    Field("cluster_network", "172.30.10.0/24", f.ipv4_network,
          "the cluster's IPv4 network: host addresses, DHCP, DNS and NFS clients"),
    Field("cluster_domain", "cluster.lan", f.domain_name,
          "the DNS domain of the cluster's hosts and VMs"),
    Field("cluster_address", None, f.optional(f.ipv4_address),
          "this host's address on the cluster network (default: ssh_hostname, when it is one)"),
    Field("data_volume", "/data01", f.absolute_path,
          "the pre-mounted data volume (identical path on every node)"),
    Field("preflight_policy", {}, _preflight_policy,
          "per preflight check, 'fail' (stop that host) or 'warn'"),
    Field("iommu_enable", True, f.boolean,
          "add the IOMMU kernel options (intel_iommu=on on Intel) to GRUB"),
    Field("iommu_passthrough", False, f.boolean, "also add iommu=pt"),
    Field("iommu_reboot", False, f.boolean,
          "reboot a host whose kernel options changed (otherwise a reboot is only recorded)"),
    Field("role_account", "kvm-mgr", f.account_name,
          "the role account that manages the KVM hosts (SSH keys, sudo)"),
    Field("role_account_keys", None, f.public_keys,
          "SSH public keys that may log in as the role account"),
    Field("role_account_groups", ("libvirt", "kvm"), f.group_names,
          "the role account's secondary groups"),
    Field("role_account_sudo", True, f.boolean, "passwordless sudo for the role account"),
    Field("custom_groups", (), f.group_names,
          "inventory groups of your own (others than masters, kvm_nodes, nfs_server are refused as typos)"),
)

# One module per concern adds its fields and cross-host rules.
CONCERNS: tuple = (config_network, config_kvm, config_storage, config_management)

FIELDS = BASE_FIELDS + tuple(spec for concern in CONCERNS for spec in concern.FIELDS)
FIELDS_BY_KEY = {spec.key: spec for spec in FIELDS}


@dataclass(frozen=True)
class HostSettings:
    """The validated configuration of one host: every field of :data:`FIELDS`
    is an attribute (``settings.data_volume``)."""

    name: str
    groups: tuple[str, ...]
    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("values", {})
        if key in values:
            return values[key]
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


def host_settings(name: str, groups: tuple[str, ...], data: dict) -> tuple[HostSettings | None, list[str]]:
    """Validate one host's merged data: (settings or None, problems)."""
    problems = []
    values = {}
    for key, value in sorted(data.items()):
        if key.startswith(FOREIGN_PREFIXES):
            continue
        spec = FIELDS_BY_KEY.get(key)
        if spec is None:
            problems.append(
                f"host {name}: unknown key {key!r} (value {describe(value)}); "
                f"known keys: {', '.join(FIELDS_BY_KEY)}"
            )
            continue
        try:
            values[key] = spec.validate(value)
        except Invalid as error:
            problems.append(f"host {name}: key {key!r} = {describe(value)}: {error}")
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
    return HostSettings(name=name, groups=groups, values=values), []


def validate(hosts: list[tuple[str, tuple[str, ...], dict]]) -> dict[str, HostSettings]:
    """Validate every host together: {name: settings}, or raise ConfigError.

    ``hosts`` is ``[(name, groups, data)]``: the inventory, without pyinfra, so
    the model is tested on plain data.
    """
    problems: list[str] = []
    settings = {}
    for name, groups, data in hosts:
        result, host_problems = host_settings(name, groups, data)
        problems += host_problems
        if result is not None:
            settings[name] = result
    if not problems:
        # Rules across hosts only make sense once every host is valid.
        problems += _cluster_problems(settings)
        for concern in CONCERNS:
            problems += concern.cluster_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


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
        if ipaddress.IPv4Address(s.cluster_address) not in ipaddress.IPv4Network(s.cluster_network):
            problems.append(
                f"host {name}: key 'cluster_address' = {s.cluster_address!r}: "
                f"not in cluster_network {s.cluster_network}"
            )
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


def masters_addresses(settings: dict[str, HostSettings]) -> tuple[str, ...]:
    """The masters' cluster addresses, in inventory order: primary, secondary."""
    return tuple(s.cluster_address for s in settings.values() if s.in_group("masters"))


def inventory_hosts(inventory) -> list[tuple[str, tuple[str, ...], dict]]:
    """pyinfra inventory -> [(name, groups, merged data)] for :func:`validate`."""
    return [
        (host.name, tuple(host.groups), host.data.dict())
        for host in inventory
    ]


def cluster_settings(inventory) -> dict[str, HostSettings]:
    """Validated settings for the whole inventory, computed once per inventory.

    deploy.py runs once per host; the first call validates every host (and
    raises for all of them), later calls reuse the result.
    """
    cached = getattr(inventory, "_kvm_cluster_settings", None)
    if cached is None:
        cached = validate(inventory_hosts(inventory))
        inventory._kvm_cluster_settings = cached
    return cached
