"""The building blocks of the configuration model: a Field and its validators.

A validator takes the raw value from ``host.data`` and returns the value the
deploy uses (normalised), or raises :class:`Invalid` with what is expected.
The message never repeats the value: the model prefixes host, key and value.

Every string is checked as the file it lands in will read it: patterns match
the whole string (``fullmatch``: ``$`` would also match before a final
newline), no string anywhere in the data holds an invisible character
(:func:`invisible_characters`, checked by the model for every key), and values
that land where a file splits on whitespace (paths, names, addresses) hold none.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Callable


class Invalid(ValueError):
    """Raised by a field validator: the message says what is expected."""


def _everywhere(settings) -> bool:
    return True


@dataclass(frozen=True)
class Field:
    """One configuration key: its default (``shown_default`` says it in words),
    its validator, what it does (docs/configuration.md is generated from
    ``help`` by ``python -m cluster.model.reference``), where it acts
    (``acts_on``, a predicate on a host's settings; ``where`` says it in words),
    and whether every host where it acts must have the same value
    (``cluster_wide``)."""

    key: str
    default: Any
    validate: Callable[[Any], Any]
    help: str
    acts_on: Callable[[Any], bool] = _everywhere
    where: str = "every host"
    cluster_wide: bool = False
    shown_default: str | None = None  # the default in words, for the reference


def in_groups(*groups: str) -> Callable[[Any], bool]:
    """``acts_on`` for keys that act on the hosts of these groups."""
    def acts(settings) -> bool:
        return any(settings.in_group(group) for group in groups)
    acts.groups = groups
    return acts


def invisible_characters(value: Any) -> str | None:
    """The first string in ``value`` (recursively) holding a character that
    is not printable (a newline, a tab, a control or zero-width character), as
    Python escapes it; None when there is none. Spaces are printable."""
    if isinstance(value, str):
        for char in value:
            if not char.isprintable():
                return repr(char)[1:-1]
        return None
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        return None
    for item in items:
        found = invisible_characters(item)
        if found:
            return found
    return None


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
    if any(char.isspace() for char in value):
        raise Invalid("a path with whitespace: /etc/exports, mount units and pool "
                      "definitions split on it; expected a path without spaces")
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
    if not isinstance(value, str):
        raise Invalid("expected an IPv4 address, like 172.30.10.41")
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
    if not isinstance(value, str) or "/" not in value:
        raise Invalid("expected an IPv4 network with its prefix and no host bits, like 172.30.10.0/24")
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError, TypeError):
        raise Invalid("expected an IPv4 network with its prefix and no host bits, like 172.30.10.0/24") from None
    return str(network)


def cluster_network(value: Any) -> str:
    """The cluster's own IPv4 network: DHCP, DNS and the NFS export are open to
    it, so it is never the whole Internet nor a special-purpose range."""
    network = ipaddress.IPv4Network(ipv4_network(value))
    if network.prefixlen < 8:
        raise Invalid(f"a /{network.prefixlen} reaches far beyond any cluster (the NFS export, "
                      "DNS and DHCP are open to it): expected the cluster's own network, /8 or longer")
    for special, name in ((network.is_loopback, "loopback"), (network.is_multicast, "multicast"),
                          (network.is_link_local, "link-local"), (network.is_unspecified, "unspecified"),
                          (network.is_reserved, "reserved")):
        if special:
            raise Invalid(f"a {name} network: expected the cluster's own network, like 172.30.10.0/24")
    return str(network)


def usable_host_address(address: str, network: str) -> str | None:
    """Why ``address`` cannot be a host's (or a gateway's, a VM's) in
    ``network``: outside it, or its network or broadcast address; None if it can."""
    ip, net = ipaddress.IPv4Address(address), ipaddress.IPv4Network(network)
    if ip not in net:
        return f"not in {net}"
    if net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
        return f"the {'network' if ip == net.network_address else 'broadcast'} address of {net}"
    return None


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


_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def mac_address(value: Any) -> str:
    """Normalised to lower case with colons; multicast MACs are refused."""
    if not isinstance(value, str) or not _MAC.fullmatch(value.lower()):
        raise Invalid("expected a MAC address like 52:54:00:1e:0a:29")
    mac = value.lower()
    if int(mac[:2], 16) & 1:
        raise Invalid("expected a unicast MAC address (the first octet must be even)")
    return mac


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def hostname(value: Any) -> str:
    if not isinstance(value, str) or not _LABEL.fullmatch(value.lower()):
        raise Invalid("expected a host name: letters, digits and '-', up to 63 characters")
    return value.lower()


def domain_name(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 253 or not all(
            _LABEL.fullmatch(p) for p in value.lower().split(".")):
        raise Invalid("expected a DNS domain like cluster.lan")
    return value.lower()


def interface_name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,15}", value) or value in (".", ".."):
        raise Invalid("expected a network interface name (up to 15 characters), like eth0")
    return value


ACCOUNT_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def account_name(value: Any) -> str:
    if not isinstance(value, str) or not ACCOUNT_NAME.fullmatch(value) or value == "root":
        raise Invalid("expected a user name like kvm-mgr (lower case, not root)")
    return value


def group_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and ACCOUNT_NAME.fullmatch(v) for v in value
    ):
        raise Invalid("expected a list of group names")
    return tuple(value)


# The public key types OpenSSH accepts for login, and the shape of each key's
# data (RFC 4253 wire format: length-prefixed strings): the type name again,
# then its fields.
_ECDSA_POINT = {"nistp256": 65, "nistp384": 97, "nistp521": 133}


def _ssh_fields(blob: bytes) -> list[bytes]:
    fields, at = [], 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise ValueError("cut short")
        size = int.from_bytes(blob[at:at + 4], "big")
        at += 4
        if at + size > len(blob):
            raise ValueError("cut short")
        fields.append(blob[at:at + size])
        at += size
    return fields


def _key_problem(kind: str, fields: list[bytes]) -> str | None:
    """Why the key data of a ``kind`` key is not one (None: it is)."""
    if not fields or fields[0].decode(errors="replace") != kind:
        named = fields[0].decode(errors="replace") if fields else "nothing"
        return f"its data names the type {named!r}, not {kind!r}"
    body = fields[1:]
    if kind in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        if not body or len(body[0]) != 32 or len(body) != (1 if kind == "ssh-ed25519" else 2):
            return "the key data is cut short or damaged (an Ed25519 key is 32 bytes)"
    elif kind == "ssh-rsa":
        if len(body) != 2:
            return "the key data is cut short or damaged (an RSA key is an exponent and a modulus)"
        bits = int.from_bytes(body[1], "big").bit_length()
        if bits < 2048:
            return f"an RSA key of {bits} bits: expected at least 2048"
    else:  # ecdsa-sha2-nistpNNN, sk-ecdsa-sha2-nistp256@openssh.com
        curve = kind.split("-")[2].split("@")[0]
        wanted = 3 if kind.startswith("sk-") else 2
        if len(body) != wanted or body[0].decode(errors="replace") != curve \
                or len(body[1]) != _ECDSA_POINT[curve]:
            return f"the key data is cut short or damaged (not an ECDSA {curve} key)"
    return None


SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                 "sk-ecdsa-sha2-nistp256@openssh.com")


def public_key(value: Any) -> str:
    """One OpenSSH public key line (``type data [comment]``), parsed: the data
    decodes, names its own type again and holds a whole key of that type, so a
    truncated or mangled key never becomes an account's only way in."""
    if not isinstance(value, str):
        raise Invalid("expected an SSH public key line, like 'ssh-ed25519 AAAA... admin@mgmt01'")
    if not value.strip().isprintable():
        raise Invalid("holds an invisible character (a newline?): authorized_keys would read a "
                      "line of its own")
    words = value.strip().split(None, 2)
    if len(words) < 2 or words[0] not in SSH_KEY_TYPES:
        raise Invalid(f"expected an SSH public key line 'TYPE DATA [COMMENT]', TYPE one of "
                      f"{', '.join(SSH_KEY_TYPES)}")
    try:
        blob = base64.b64decode(words[1], validate=True)
        fields = _ssh_fields(blob)
    except (binascii.Error, ValueError):
        raise Invalid("its key data does not decode (cut short or damaged)") from None
    problem = _key_problem(words[0], fields)
    if problem:
        raise Invalid(problem)
    return " ".join(words)


def public_keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise Invalid("expected at least one SSH public key (the management node's, "
                      "e.g. the contents of ~/.ssh/id_ed25519.pub)")
    keys = []
    for index, key in enumerate(value):
        try:
            keys.append(public_key(key))
        except Invalid as error:
            raise Invalid(f"entry {index} is not an SSH public key: {error}") from None
    return tuple(keys)


def describe(value: Any) -> str:
    """A value as it appears in a message: repr, shortened."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
