"""Configuration of the KVM stack (libvirt, sysctl) on the kvm_nodes."""

from __future__ import annotations

import os
import re
from typing import Any

from .fields import Field, Invalid, boolean, in_groups, optional

_URI = re.compile(r"[a-z0-9+]+://[^\s\"]*")
_SYSCTL_KEY = re.compile(r"[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+")
_SYSCTL_VALUE = re.compile(r"[0-9A-Za-z_.:/ -]+")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")


def _uri(value: Any) -> str:
    if not isinstance(value, str) or not _URI.fullmatch(value):
        raise Invalid("expected a libvirt URI like qemu:///system")
    return value


def _sysctl(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid("expected a dict of sysctl key to value, like {'net.ipv4.ip_forward': 1}")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _SYSCTL_KEY.fullmatch(key):
            raise Invalid(f"{key!r} is not a sysctl key (dotted, like net.ipv4.ip_forward)")
        if isinstance(item, bool) or not isinstance(item, (int, str)) or not _SYSCTL_VALUE.fullmatch(str(item)):
            raise Invalid(f"the value of {key} must be a number or words of letters, digits and . : / - _")
        result[key] = str(item)
    return result


def _packages(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and _PACKAGE.fullmatch(v) for v in value):
        raise Invalid("expected a list of package names")
    return tuple(value)


def _local_file(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("expected the path of a file on the management node")
    return value


ON_KVM_NODES = dict(acts_on=in_groups("kvm_nodes"), where="kvm_nodes")

FIELDS = (
    Field("libvirt_group", "libvirt", lambda v: _group(v),
          "members of this group (and root) may use libvirt's local sockets. If you change it, "
          "add the new group to `role_account_groups` as well",
          shown_default='`libvirt`', **ON_KVM_NODES),
    Field("libvirt_uri_default", "qemu:///system", _uri, "`uri_default` for root and for the role account",
          shown_default='`qemu:///system`',
          **ON_KVM_NODES),
    Field("libvirt_tls", False, boolean,
          "listen for TLS on port 16514; needs the three files below",
          shown_default='`False`',
          **ON_KVM_NODES),
    Field("libvirt_tls_ca_cert", None, optional(_local_file), "CA certificate (PEM), a path on the management node",
          shown_default='none',
          **ON_KVM_NODES),
    Field("libvirt_tls_server_cert", None, optional(_local_file),
          "this host's server certificate (PEM), on the management node",
          shown_default='none', **ON_KVM_NODES),
    Field("libvirt_tls_server_key", None, optional(_local_file),
          "this host's server key (PEM), on the management node; never shown by `--diff`",
          shown_default='none', **ON_KVM_NODES),
    Field("kvm_sysctl", {"net.bridge.bridge-nf-call-iptables": 0,
                         "net.bridge.bridge-nf-call-ip6tables": 0,
                         "net.bridge.bridge-nf-call-arptables": 0}, _sysctl,
          "kernel settings for bridged guests",
          shown_default='`net.bridge.bridge-nf-call-{iptables,ip6tables,arptables} = 0`',
          **ON_KVM_NODES),
    Field("kvm_extra_packages", (), _packages, "more packages for the KVM nodes",
          shown_default='`[]`', **ON_KVM_NODES),
)


def _no_tls(settings) -> str | None:
    return None if settings.libvirt_tls else "libvirt_tls is false"


DEPENDENT_KEYS = {key: _no_tls for key in ("libvirt_tls_ca_cert", "libvirt_tls_server_cert",
                                          "libvirt_tls_server_key")}


def _group(value: Any) -> str:
    from .fields import ACCOUNT_NAME

    if not isinstance(value, str) or not ACCOUNT_NAME.fullmatch(value):
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
        if host.in_group("kvm_nodes") and host.libvirt_tls:
            problems += tls_problems(name, host)
    return problems


TLS_KEYS = ("libvirt_tls_ca_cert", "libvirt_tls_server_cert", "libvirt_tls_server_key")


def _read_pem(path: str) -> tuple[bytes | None, str | None]:
    """(content, None), or (None, why it cannot be read)."""
    if os.path.isdir(path):
        return None, "a directory, not a file"
    try:
        with open(path, "rb") as file:
            return file.read(), None
    except FileNotFoundError:
        return None, "no such file on the management node"
    except OSError as error:
        return None, f"cannot be read on the management node ({error.strerror})"


def _load(kind: str, data: bytes):
    """The PEM ``data`` as ``kind`` (certificate or private key), or why not:
    a private key where a certificate belongs is said so, never shown."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    holds_key = b"PRIVATE KEY-----" in data
    if kind == "certificate":
        if holds_key:
            return None, "holds a PRIVATE KEY where a certificate belongs (it is never uploaded)"
        try:
            return x509.load_pem_x509_certificate(data), None
        except ValueError:
            return None, "is not a PEM certificate"
    if b"CERTIFICATE-----" in data and not holds_key:
        return None, "holds a certificate where the private key belongs"
    try:
        return serialization.load_pem_private_key(data, password=None), None
    except TypeError:
        return None, "is an encrypted private key: libvirt needs it unencrypted"
    except (ValueError, Exception):  # noqa: BLE001 (cryptography raises several kinds)
        return None, "is not a PEM private key"


def tls_problems(name: str, host) -> list[str]:
    """The three TLS files are what their keys say, parsed before anything is
    uploaded: a CA certificate, a server certificate the CA signed, the server
    certificate's private key."""
    from cryptography.hazmat.primitives import serialization

    problems, loaded = [], {}
    kinds = {"libvirt_tls_ca_cert": "certificate", "libvirt_tls_server_cert": "certificate",
             "libvirt_tls_server_key": "key"}
    for key in TLS_KEYS:
        path = getattr(host, key)
        if path is None:
            problems.append(f"host {name}: key {key!r} is missing: libvirt_tls is on, "
                            "so libvirt needs this PEM file")
            continue
        data, why = _read_pem(path)
        if why is None:
            loaded[key], why = _load(kinds[key], data)
        if why:
            problems.append(f"host {name}: key {key!r} = {path!r}: {why}")
    if len(loaded) < 3 or any(value is None for value in loaded.values()):
        return problems
    ca, server, private = (loaded[key] for key in TLS_KEYS)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if private.public_key().public_bytes(encoding, public) != server.public_key().public_bytes(encoding, public):
        problems.append(f"host {name}: key 'libvirt_tls_server_key' = {host.libvirt_tls_server_key!r}: "
                        f"is not the key of the server certificate {host.libvirt_tls_server_cert!r}")
    try:
        server.verify_directly_issued_by(ca)
    except Exception:  # noqa: BLE001 (ValueError, TypeError, InvalidSignature)
        problems.append(f"host {name}: key 'libvirt_tls_server_cert' = {host.libvirt_tls_server_cert!r}: "
                        f"not signed by the CA certificate {host.libvirt_tls_ca_cert!r}")
    return problems
