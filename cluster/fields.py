"""The building blocks of the configuration model: a Field and its validators.

A validator takes the raw value from ``host.data`` and returns the value the
deploy uses (normalised), or raises :class:`Invalid` with what is expected.
The message never repeats the value: the model prefixes host, key and value.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Callable


class Invalid(ValueError):
    """Raised by a field validator: the message says what is expected."""


@dataclass(frozen=True)
class Field:
    key: str
    default: Any
    validate: Callable[[Any], Any]
    help: str


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid("expected true or false")


def integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Invalid(f"expected a whole number from {low} to {high}")
        return value
    return check


def choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise Invalid(f"expected one of: {', '.join(map(repr, allowed))}")
        return value
    return check


# Paths a data volume, pool or mount must never be (nor contain).
SYSTEM_DIRECTORIES = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64",
                      "/libx32", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr",
                      "/var", "/var/lib/libvirt")


def absolute_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise Invalid("expected an absolute path, like /data01")
    normal = posixpath.normpath(value)
    if normal == "/":
        raise Invalid("expected a dedicated path, not /")
    for system in SYSTEM_DIRECTORIES:
        if normal == system or system.startswith(normal + "/"):
            raise Invalid(f"{normal} is a system directory (or holds one): expected a dedicated path")
    return normal


def optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """None stays None (meaning: read it from the host, or derive it)."""
    def wrapped(value: Any) -> Any:
        return None if value is None else check(value)
    return wrapped


def ipv4_address(value: Any) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise Invalid("expected an IPv4 address, like 172.30.10.41") from None
    return str(address)


def ipv4_interface(value: Any) -> str:
    """An address with its prefix: '172.30.10.41/24' (the host bits must not be all 0 or 1)."""
    if not isinstance(value, str) or "/" not in value:
        raise Invalid("expected an IPv4 address with its prefix, like 172.30.10.41/24")
    try:
        interface = ipaddress.IPv4Interface(value)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        raise Invalid("expected an IPv4 address with its prefix, like 172.30.10.41/24") from None
    network = interface.network
    if network.prefixlen < 31 and interface.ip in (network.network_address, network.broadcast_address):
        raise Invalid(f"the address is the network or broadcast address of {network}")
    return str(interface)


def ipv4_network(value: Any) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError, TypeError):
        raise Invalid("expected an IPv4 network with its prefix and no host bits, like 172.30.10.0/24") from None
    return str(network)


def list_of(check: Callable[[Any], Any], expected: str, entry: str) -> Callable[[Any], tuple]:
    """A validator for a list whose every entry passes ``check``: ``expected``
    when the value is no list, "entry N (value) is not ``entry``" otherwise."""
    def validate(value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise Invalid(expected)
        result = []
        for index, item in enumerate(value):
            try:
                result.append(check(item))
            except Invalid:
                raise Invalid(f"entry {index} ({describe(item)}) is not {entry}") from None
        return tuple(result)
    return validate


ipv4_addresses = list_of(ipv4_address, "expected a list of IPv4 addresses", "an IPv4 address")


def some_ipv4_addresses(value: Any) -> tuple[str, ...]:
    """At least one IPv4 address."""
    result = ipv4_addresses(value)
    if not result:
        raise Invalid("expected at least one IPv4 address")
    return result


_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def mac_address(value: Any) -> str:
    """Normalised to lower case with colons; multicast MACs are refused."""
    if not isinstance(value, str) or not _MAC.match(value.lower()):
        raise Invalid("expected a MAC address like 52:54:00:1e:0a:29")
    mac = value.lower()
    if int(mac[:2], 16) & 1:
        raise Invalid("expected a unicast MAC address (the first octet must be even)")
    return mac


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def hostname(value: Any) -> str:
    if not isinstance(value, str) or not _LABEL.match(value.lower()):
        raise Invalid("expected a host name: letters, digits and '-', up to 63 characters")
    return value.lower()


def domain_name(value: Any) -> str:
    if not isinstance(value, str) or not value or not all(_LABEL.match(p) for p in value.lower().split(".")):
        raise Invalid("expected a DNS domain like cluster.lan")
    return value.lower()


def interface_name(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_.:-]{1,15}$", value) or value in (".", ".."):
        raise Invalid("expected a network interface name (up to 15 characters), like eth0")
    return value


ACCOUNT_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def account_name(value: Any) -> str:
    if not isinstance(value, str) or not ACCOUNT_NAME.match(value) or value == "root":
        raise Invalid("expected a user name like kvm-mgr (lower case, not root)")
    return value


def group_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and ACCOUNT_NAME.match(v) for v in value
    ):
        raise Invalid("expected a list of group names")
    return tuple(value)


_PUBLIC_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
)


def public_keys(value: Any) -> tuple[str, ...]:
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


def describe(value: Any) -> str:
    """A value as it appears in a message: repr, shortened."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
