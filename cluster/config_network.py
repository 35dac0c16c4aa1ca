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


FIELDS = (
    Field("bridge_enable", None, optional_bool,
          "give this host bridge br0 with its primary address (default: on kvm_nodes only)"),
    Field("bridge_address", None, f.optional(f.ipv4_interface),
          "br0's IPv4 address with prefix (default: cluster_address with the cluster_network prefix)"),
    Field("bridge_gateway", None, f.optional(f.ipv4_address),
          "br0's IPv4 gateway (default: the host's current default gateway)"),
    Field("bridge_uplink", None, f.optional(f.interface_name),
          "the interface br0 takes over, with bridge_vlan the one the VLAN goes on (default: "
          "the one carrying the host's address); ignored with a bond"),
    Field("bridge_vlan", None, f.optional(f.integer(1, 4094)),
          "802.1Q VLAN id: br0's port is VLAN interface <uplink or bond>.<id>, e.g. bond0.100 "
          "(default: untagged)"),
    Field("bond_enable", False, f.boolean, "put bond bond_name (of bond_members) under br0"),
    Field("bond_name", "bond0", f.interface_name, "the bond's interface name"),
    Field("bond_members", (), interface_names, "the bond's member interfaces"),
    Field("bond_mode", "802.3ad", f.choice(*BOND_MODES), "the bonding mode"),
    Field("bond_miimon", 100, f.integer(0, 10000), "MII link monitoring interval, ms"),
    Field("bond_xmit_hash_policy", "layer3+4", f.choice(*XMIT_HASH_POLICIES),
          "transmit hash policy (802.3ad, balance-xor)"),
    Field("network_mtu", None, f.optional(f.integer(576, 9216)),
          "MTU of br0, its VLAN, its uplink or bond and the bond members, e.g. 9000 "
          "(default: unchanged)"),
    Field("network_dns", None, f.optional(f.some_ipv4_addresses),
          "DNS resolvers of the host (default: the masters' addresses, primary first)"),
    Field("network_dns_search", None, f.optional(f.domain_name),
          "DNS search domain (default: cluster_domain)"),
    Field("network_ipv6", "auto", f.choice(*IPV6_MODES),
          "IPv6 on br0: auto (SLAAC, stable-privacy), off, or static"),
    Field("network_ipv6_address", None, f.optional(ipv6_interface),
          "br0's IPv6 address with prefix (network_ipv6 = static)"),
    Field("network_ipv6_gateway", None, f.optional(ipv6_address),
          "br0's IPv6 gateway (network_ipv6 = static)"),
    Field("network_backend", "auto", f.choice(*BACKENDS),
          "how the configuration is written: auto (from the distribution), ifupdown, netplan, "
          "ifcfg (network-scripts) or networkmanager"),
    Field("network_manager", "disable", f.choice(*NM_POLICIES),
          "where another backend takes over: disable (stop and disable NetworkManager, as the "
          "seed asks) or keep (leave it running, the bridge's interfaces unmanaged)"),
    Field("network_confirm_timeout", 60, f.integer(20, 3600),
          "seconds a host waits for the deploy's confirmation before it rolls back its network"),
)


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
    if s.bridge_address and interface.network.prefixlen < 31 and interface.ip in (
            interface.network.network_address, interface.network.broadcast_address):
        problems.append(f"host {name}: key 'bridge_address' = {value!r}: the network or "
                        f"broadcast address of {interface.network}")
    if s.bridge_gateway is not None:
        gateway = ipaddress.IPv4Address(s.bridge_gateway)
        if gateway not in interface.network:
            problems.append(f"host {name}: key 'bridge_gateway' = {s.bridge_gateway!r}: "
                            f"outside br0's subnet {interface.network}")
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
