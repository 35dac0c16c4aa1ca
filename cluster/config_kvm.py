"""Configuration of the KVM stack (libvirt, sysctl) on the kvm_nodes."""

from __future__ import annotations

import os
import re
from typing import Any

from .fields import Field, Invalid, boolean, optional

_URI = re.compile(r"^[a-z0-9+]+://[^\s\"]*$")
_SYSCTL_KEY = re.compile(r"^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$")
_SYSCTL_VALUE = re.compile(r"^[0-9A-Za-z_.:/ -]+$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def _uri(value: Any) -> str:
    if not isinstance(value, str) or not _URI.match(value):
        raise Invalid("expected a libvirt URI like qemu:///system")
    return value


def _sysctl(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid("expected a dict of sysctl key to value, like {'net.ipv4.ip_forward': 1}")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _SYSCTL_KEY.match(key):
            raise Invalid(f"{key!r} is not a sysctl key (dotted, like net.ipv4.ip_forward)")
        if isinstance(item, bool) or not isinstance(item, (int, str)) or not _SYSCTL_VALUE.match(str(item)):
            raise Invalid(f"the value of {key} must be a number or words of letters, digits and . : / - _")
        result[key] = str(item)
    return result


def _packages(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and _PACKAGE.match(v) for v in value):
        raise Invalid("expected a list of package names")
    return tuple(value)


def _local_file(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("expected the path of a file on the management node")
    return value


FIELDS = (
    Field("libvirt_group", "libvirt", lambda v: _group(v),
          "members of this group (and root) may use libvirt's local socket"),
    Field("libvirt_uri_default", "qemu:///system", _uri, "uri_default of /etc/libvirt/libvirt.conf"),
    Field("libvirt_tls", False, boolean,
          "listen for TLS connections (port 16514); needs the three libvirt_tls_* files"),
    Field("libvirt_tls_ca_cert", None, optional(_local_file), "CA certificate (PEM) on the management node"),
    Field("libvirt_tls_server_cert", None, optional(_local_file),
          "this host's server certificate (PEM) on the management node"),
    Field("libvirt_tls_server_key", None, optional(_local_file),
          "this host's server key (PEM) on the management node; never printed"),
    Field("kvm_sysctl", {"net.bridge.bridge-nf-call-iptables": 0,
                         "net.bridge.bridge-nf-call-ip6tables": 0,
                         "net.bridge.bridge-nf-call-arptables": 0}, _sysctl,
          "kernel settings for bridged guests, written to /etc/sysctl.d/60-kvm-cluster.conf"),
    Field("kvm_extra_packages", (), _packages, "more packages for the KVM nodes"),
)


def _group(value: Any) -> str:
    from .fields import ACCOUNT_NAME

    if not isinstance(value, str) or not ACCOUNT_NAME.match(value):
        raise Invalid("expected a group name like libvirt")
    return value


def cluster_problems(settings: dict) -> list[str]:
    """TLS needs its three files, readable on the management node; the role
    account must be in the group that may use libvirt."""
    problems = []
    for name, host in sorted(settings.items()):
        if host.in_group("kvm_nodes") and host.libvirt_group not in host.role_account_groups:
            problems.append(
                f"host {name}: key 'role_account_groups' = {list(host.role_account_groups)!r} lacks "
                f"libvirt_group {host.libvirt_group!r}: the role account could not use libvirt")
    for name, host in sorted(settings.items()):
        if not (host.in_group("kvm_nodes") and host.libvirt_tls):
            continue
        for key in ("libvirt_tls_ca_cert", "libvirt_tls_server_cert", "libvirt_tls_server_key"):
            path = getattr(host, key)
            if path is None:
                problems.append(f"host {name}: key {key!r} is missing: libvirt_tls is on, "
                                "so libvirt needs this PEM file")
            elif not os.access(path, os.R_OK):
                problems.append(f"host {name}: key {key!r} = {path!r}: no such readable file "
                                "on the management node")
    return problems
