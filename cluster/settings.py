"""The one model of the deploy's configuration, validated before any host is touched.

Configuration is data: ``group_data/*.py``, the inventory and ``--data``
overrides, merged by pyinfra into ``host.data``. :func:`cluster_settings`
checks every host of the inventory at once and returns a frozen
:class:`HostSettings` per host; anything wrong is reported together, each line
naming the host, the key, the value and what is expected, and the run stops
before its first operation.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from pyinfra.api.exceptions import PyinfraError

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


class Invalid(ValueError):
    """Raised by a field validator: the message says what is expected."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid("expected true or false")


def _absolute_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise Invalid("expected an absolute path, like /data01")
    normal = posixpath.normpath(value)
    if normal == "/":
        raise Invalid("expected a dedicated mount point, not /")
    return normal


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


_ACCOUNT_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_PUBLIC_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
)


def _account_name(value: Any) -> str:
    if not isinstance(value, str) or not _ACCOUNT_NAME.match(value) or value == "root":
        raise Invalid("expected a user name like kvm-mgr (lower case, not root)")
    return value


def _public_keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise Invalid("expected at least one SSH public key (the management node's, "
                      "e.g. the contents of ~/.ssh/id_ed25519.pub)")
    keys = []
    for index, key in enumerate(value):
        if not isinstance(key, str) or not _PUBLIC_KEY.match(key.strip()):
            raise Invalid(f"entry {index} is not an SSH public key (expected 'ssh-ed25519 AAAA... comment')")
        keys.append(key.strip())
    return tuple(keys)


def _group_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and _ACCOUNT_NAME.match(v) for v in value
    ):
        raise Invalid("expected a list of group names")
    return tuple(value)


@dataclass(frozen=True)
class Field:
    key: str
    default: Any
    validate: Callable[[Any], Any]
    help: str


FIELDS = (
    Field("data_volume", "/data01", _absolute_path,
          "the pre-mounted data volume (identical path on every node)"),
    Field("preflight_policy", {}, _preflight_policy,
          "per preflight check, 'fail' (stop that host) or 'warn'"),
    Field("iommu_enable", True, _bool,
          "add the IOMMU kernel options (intel_iommu=on on Intel) to GRUB"),
    Field("iommu_passthrough", False, _bool, "also add iommu=pt"),
    Field("iommu_reboot", False, _bool,
          "reboot a host whose kernel options changed (otherwise a reboot is only recorded)"),
    Field("role_account", "kvm-mgr", _account_name,
          "the role account that manages the KVM hosts (SSH keys, sudo)"),
    Field("role_account_keys", None, _public_keys,
          "SSH public keys that may log in as the role account"),
    Field("role_account_groups", ("libvirt", "kvm"), _group_names,
          "the role account's secondary groups"),
    Field("role_account_sudo", True, _bool, "passwordless sudo for the role account"),
)
FIELDS_BY_KEY = {f.key: f for f in FIELDS}


@dataclass(frozen=True)
class HostSettings:
    """The validated configuration of one host."""

    name: str
    groups: tuple[str, ...]
    data_volume: str = "/data01"
    preflight_policy: dict = field(default_factory=lambda: dict(PREFLIGHT_DEFAULTS))
    iommu_enable: bool = True
    iommu_passthrough: bool = False
    iommu_reboot: bool = False
    role_account: str = "kvm-mgr"
    role_account_keys: tuple[str, ...] = ()
    role_account_groups: tuple[str, ...] = ("libvirt", "kvm")
    role_account_sudo: bool = True

    def in_group(self, group: str) -> bool:
        return group in self.groups


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
                f"host {name}: unknown key {key!r} (value {_describe(value)}); "
                f"known keys: {', '.join(FIELDS_BY_KEY)}"
            )
            continue
        try:
            values[key] = spec.validate(value)
        except Invalid as error:
            problems.append(f"host {name}: key {key!r} = {_describe(value)}: {error}")
    for spec in FIELDS:
        if spec.key not in values and spec.key not in data:
            try:
                values[spec.key] = spec.validate(spec.default)
            except Invalid as error:
                problems.append(f"host {name}: key {spec.key!r} is missing: {error}")
    if problems:
        return None, problems
    return HostSettings(name=name, groups=groups, **values), []


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
    problems += _cluster_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _cluster_problems(settings: dict[str, HostSettings]) -> list[str]:
    """Rules that span hosts: the seed wants identical storage paths on all nodes."""
    problems = []
    nodes = {name: s for name, s in settings.items() if s.in_group("kvm_nodes")}
    paths = {s.data_volume for s in nodes.values()}
    if len(paths) > 1:
        detail = ", ".join(f"{name}={s.data_volume}" for name, s in sorted(nodes.items()))
        problems.append(
            f"key 'data_volume' differs across kvm_nodes ({detail}): "
            "expected the same path on every node"
        )
    return problems


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
