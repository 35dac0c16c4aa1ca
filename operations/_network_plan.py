"""The network plan: what a host's network should be, decided from the settings and its facts.

Pure: :func:`plan_bridge` reads the validated settings and the host's
``interfaces`` facts and returns a :class:`NetworkPlan` (or raises
:class:`NetworkPlanError` naming the key and value); :func:`runtime_matches`
says what the running network lacks compared with it. How each backend writes
a plan is :mod:`operations._network_backends`; how the host switches to it,
:mod:`operations._network_switch`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# Virtual ports a bridge may have besides its uplink (VM taps, libvirt's vnetN).
VIRTUAL_PORT_KINDS = ("tun", "tap")


class NetworkPlanError(ValueError):
    """The plan cannot be made from the data and this host's facts."""


# The kernel's limit on an interface name (IFNAMSIZ less the final NUL).
IFNAME_MAX = 15


def vlan_name(link: str, vlan: int) -> str:
    """The VLAN interface's name, ``link.id``: the form ifupdown's vlan hooks and the
    network-scripts read the link and the id from."""
    return f"{link}.{vlan}"


@dataclass(frozen=True)
class Bond:
    name: str
    members: tuple[str, ...]
    mode: str = "802.3ad"
    miimon: int = 100
    xmit_hash_policy: str = "layer3+4"

    @property
    def hashed(self) -> bool:
        """The hash policy only means something in these modes."""
        return self.mode in ("802.3ad", "balance-xor", "balance-tlb")

    @property
    def options(self) -> str:
        """BONDING_OPTS, the seed's way."""
        opts = [f"mode={self.mode}", f"miimon={self.miimon}", "updelay=0", "downdelay=0"]
        if self.hashed:
            opts.append(f"xmit_hash_policy={self.xmit_hash_policy}")
        return " ".join(opts)


@dataclass(frozen=True)
class NetworkPlan:
    """What a host's network should be: pure data, rendered by one backend."""

    bridge: str
    address: str                 # 172.30.10.41/24
    gateway: str
    uplink: str                  # an interface, or the bond: the bridge's port, or the VLAN's link
    bond: Bond | None = None
    vlan: int | None = None      # tagged: the bridge's port is VLAN ``uplink.vlan``
    mtu: int | None = None
    dns: tuple[str, ...] = ()
    search: str | None = None
    ipv6: str = "auto"           # auto | off | static
    ipv6_address: str | None = None
    ipv6_gateway: str | None = None
    # The bridge keeps the MAC address the host's address had (its uplink's,
    # or the first bond member's): ARP caches, DHCP reservations and switch
    # port security keep knowing the host. None: the backend's own choice.
    mac: str | None = None

    @property
    def ip(self) -> str:
        return str(ipaddress.IPv4Interface(self.address).ip)

    @property
    def prefix(self) -> int:
        return ipaddress.IPv4Interface(self.address).network.prefixlen

    @property
    def vlan_device(self) -> str | None:
        """The VLAN interface on the uplink (``bond0.100``), when the bridge is tagged."""
        return None if self.vlan is None else vlan_name(self.uplink, self.vlan)

    @property
    def port(self) -> str:
        """The bridge's one port: the VLAN interface, else the uplink."""
        return self.vlan_device or self.uplink

    @property
    def devices(self) -> tuple[str, ...]:
        """Every interface the bridge takes over: the VLAN interface if any, then the
        uplink, or the bond and its members."""
        vlan = (self.vlan_device,) if self.vlan_device else ()
        if self.bond:
            return (*vlan, self.bond.name, *self.bond.members)
        return (*vlan, self.uplink)

    @property
    def ethernets(self) -> tuple[str, ...]:
        return self.bond.members if self.bond else (self.uplink,)

    @property
    def virtual(self) -> tuple[str, ...]:
        """The interfaces the configuration creates under the bridge, lowest first."""
        return ((self.bond.name,) if self.bond else ()) + (
            (self.vlan_device,) if self.vlan_device else ())



# -- from the facts -----------------------------------------------------------------

def _carrier(interfaces: dict, ip: str) -> str | None:
    for name, link in interfaces["links"].items():
        if any(cidr.split("/")[0] == ip for cidr in link["ipv4"]):
            return name
    return None


def _bridge_ports(interfaces: dict, bridge: str) -> list[str]:
    return sorted(name for name, link in interfaces["links"].items()
                  if link["master"] == bridge and link["kind"] not in VIRTUAL_PORT_KINDS
                  and not name.startswith("vnet"))


def find_uplink(interfaces: dict, bridge: str, ip: str) -> str:
    """The interface the bridge takes over: the one carrying the host's address
    (the bridge's own port when the bridge already carries it), else the
    interface of the default route."""
    links = interfaces["links"]
    carrier = _carrier(interfaces, ip)
    if carrier == bridge:
        ports = _bridge_ports(interfaces, bridge)
        if len(ports) == 1:
            return ports[0]
        raise NetworkPlanError(
            f"{bridge} already carries {ip} with ports {', '.join(ports) or '(none)'}: "
            "set bridge_uplink to the port that should stay")
    if carrier is not None:
        return carrier
    route = interfaces.get("default4") or {}
    dev = route.get("dev")
    if dev == bridge:
        ports = _bridge_ports(interfaces, bridge)
        if len(ports) == 1:
            return ports[0]
    if dev and dev in links:
        return dev
    raise NetworkPlanError(
        f"no interface carries {ip} and there is no default route: set bridge_uplink")


def _vlan_link(links: dict, name: str) -> str | None:
    """The interface VLAN interface ``name`` is on: from the facts, else from a ``link.id`` name."""
    parent = links.get(name, {}).get("parent")
    if parent:
        return parent
    head, _, tail = name.rpartition(".")
    return head if head in links and tail.isdigit() else None


def _uplink_of_vlan(links: dict, name: str, ip: str, vlan: int | None) -> str:
    """The address is on VLAN interface ``name``: the bridge takes over the interface
    it is on, tagged with the same id (which ``bridge_vlan`` must say)."""
    vid, parent = links[name].get("vlan_id"), _vlan_link(links, name)
    if parent is None:
        raise NetworkPlanError(f"the address {ip} is on VLAN interface {name}, on an unknown "
                               "interface: set bridge_uplink and bridge_vlan")
    if vlan is None:
        raise NetworkPlanError(f"the address {ip} is on {name}, VLAN {vid or '?'} of {parent}: "
                               "set bridge_vlan")
    if vid is not None and vid != vlan:
        raise NetworkPlanError(
            f"key 'bridge_vlan' = {vlan}: the address {ip} is on {name}, VLAN {vid} of {parent}: "
            f"set bridge_vlan = {vid}, or bridge_uplink to move the address to VLAN {vlan}")
    return parent


def plan_bridge(*, address: str, interfaces: dict, gateway: str | None = None,
                uplink: str | None = None, bond: Bond | None = None, vlan: int | None = None,
                mtu: int | None = None,
                dns=(), search: str | None = None, ipv6: str = "auto",
                ipv6_address: str | None = None, ipv6_gateway: str | None = None,
                bridge: str = "br0") -> NetworkPlan:
    """The plan from the (validated) settings and the host's facts.

    With ``vlan``, the bridge's port is VLAN interface ``<uplink>.<vlan>`` on the
    uplink (the interface or the bond); a host whose address is on such a VLAN
    interface today keeps the interface it is on as its uplink.

    Raises :class:`NetworkPlanError`, naming the data key and value, when an
    interface named in the data does not exist on the host, or when the
    gateway or uplink cannot be read from it.
    """
    links = interfaces["links"]
    ip = str(ipaddress.IPv4Interface(address).ip)
    subnet = ipaddress.IPv4Interface(address).network
    if bond is not None:
        missing = [m for m in bond.members if m not in links]
        if missing:
            raise NetworkPlanError(
                f"key 'bond_members' = {list(bond.members)!r}: {', '.join(missing)} "
                f"does not exist on this host (interfaces: {', '.join(sorted(links))})")
        carrier = _carrier(interfaces, ip)
        if carrier is not None and links[carrier]["kind"] == "vlan":
            carrier = _vlan_link(links, carrier) or carrier
        if carrier is not None and carrier not in (*bond.members, bond.name, bridge):
            raise NetworkPlanError(
                f"key 'bond_members' = {list(bond.members)!r}: the address {ip} is on {carrier} "
                f"today, which is not a member of bond {bond.name}: {carrier} would keep its "
                f"configuration and the same address beside {bridge}; add {carrier} to "
                "bond_members (or move the address to a member first)")
        port = bond.name
    elif uplink is not None:
        if uplink not in links:
            raise NetworkPlanError(
                f"key 'bridge_uplink' = {uplink!r}: no such interface on this host "
                f"(interfaces: {', '.join(sorted(links))})")
        if vlan is not None and links[uplink]["kind"] == "vlan":
            raise NetworkPlanError(
                f"key 'bridge_uplink' = {uplink!r}: a VLAN interface; with bridge_vlan = {vlan}, "
                f"name the interface the VLAN goes on ({_vlan_link(links, uplink) or 'its link'})")
        port = uplink
    else:
        port = find_uplink(interfaces, bridge, ip)
        if links[port]["kind"] == "vlan":
            port = _uplink_of_vlan(links, port, ip, vlan)
        kind = links[port]["kind"]
        if kind == "bond":
            raise NetworkPlanError(
                f"the address {ip} is on bond {port}: set bond_enable, bond_name and bond_members")
        if kind in ("loopback", "bridge"):
            raise NetworkPlanError(f"the address {ip} is on {port} ({kind}): set bridge_uplink")
    if vlan is not None and len(vlan_name(port, vlan)) > IFNAME_MAX:
        raise NetworkPlanError(
            f"key 'bridge_vlan' = {vlan}: the VLAN interface {vlan_name(port, vlan)} would be longer "
            f"than {IFNAME_MAX} characters, the kernel's limit for an interface name")
    if gateway is None:
        route = interfaces.get("default4") or {}
        gateway = route.get("gateway")
        if gateway is None:
            raise NetworkPlanError("no default route on this host: set bridge_gateway")
        if ipaddress.IPv4Address(gateway) not in subnet:
            raise NetworkPlanError(
                f"the host's default gateway {gateway} is outside {subnet}: set bridge_gateway")
    first = bond.members[0] if bond is not None else port
    return NetworkPlan(bridge=bridge, address=str(ipaddress.IPv4Interface(address)),
                       gateway=gateway, uplink=port, bond=bond, vlan=vlan, mtu=mtu, dns=tuple(dns),
                       search=search, ipv6=ipv6, ipv6_address=ipv6_address,
                       ipv6_gateway=ipv6_gateway, mac=links.get(first, {}).get("mac"))




# -- the running network ---------------------------------------------------------------

def runtime_matches(plan: NetworkPlan, interfaces: dict) -> list[str]:
    """What the running network lacks compared with the plan (empty: it matches)."""
    links = interfaces["links"]
    missing = []
    bridge = links.get(plan.bridge)
    if bridge is None or bridge["kind"] != "bridge":
        return [f"no bridge {plan.bridge}"]
    if plan.address not in bridge["ipv4"]:
        missing.append(f"{plan.bridge} does not carry {plan.address}")
    port = links.get(plan.port, {})
    if port.get("master") != plan.bridge:
        missing.append(f"{plan.port} is not a port of {plan.bridge}")
    if plan.vlan_device and port and not _is_vlan_of(port, plan.vlan, plan.uplink):
        missing.append(f"{plan.port} is not VLAN {plan.vlan} of {plan.uplink}")
    if plan.bond:
        for member in plan.bond.members:
            if links.get(member, {}).get("master") != plan.bond.name:
                missing.append(f"{member} is not a member of {plan.bond.name}")
        missing += bond_drift(plan.bond, links.get(plan.bond.name, {}).get("bond") or {})
    route = interfaces.get("default4") or {}
    if route.get("dev") != plan.bridge or route.get("gateway") != plan.gateway:
        missing.append(f"the default route is not via {plan.gateway} on {plan.bridge}")
    if plan.mtu and bridge.get("mtu") != plan.mtu:
        missing.append(f"{plan.bridge} has MTU {bridge.get('mtu')}, not {plan.mtu}")
    return missing


def bond_drift(bond: Bond, running: dict) -> list[str]:
    """How the running bond's mode and parameters (``ip -d``) differ from the data."""
    wanted = {"mode": bond.mode, "miimon": bond.miimon}
    if bond.hashed:
        wanted["xmit_hash_policy"] = bond.xmit_hash_policy
    return [f"{bond.name} runs {key} {running[key]}, not {value}"
            for key, value in wanted.items() if key in running and running[key] != value]


def _is_vlan_of(link: dict, vlan: int, parent: str) -> bool:
    return (link.get("kind") == "vlan" and link.get("vlan_id") == vlan
            and link.get("parent") == parent)


def plan_from_dict(value) -> NetworkPlan:
    if isinstance(value, NetworkPlan):
        return value
    data = dict(value)
    bond = data.pop("bond", None)
    if isinstance(bond, dict):
        bond = Bond(**{**bond, "members": tuple(bond["members"])})
    data["dns"] = tuple(data.get("dns") or ())
    return NetworkPlan(bond=bond, **data)
