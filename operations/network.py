"""The network step: bridge br0 with the host's primary address, switched with commit-confirm.

One plan (:class:`NetworkPlan`, pure, built by :func:`plan_bridge` from the
settings and the host's ``interfaces`` facts), rendered by the backend the host
uses (:func:`render`: ifupdown, netplan, ifcfg or NetworkManager keyfiles).

Never strand a host (:func:`bridge`): the new files are staged on the host,
``kvm-cluster-net arm`` backs up what they replace and arms a transient systemd
timer that restores it; ``kvm-cluster-net start`` runs the switch detached
(systemd-run), so a dropped SSH session cannot leave it half-done; then the
deploy opens a FRESH SSH connection (:func:`confirm_switch`) and confirms,
which disarms the rollback. Without a confirmation in time the host rolls back
by itself and the deploy fails that host, saying why.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import time
import uuid
from dataclasses import dataclass, field

from pyinfra import host, state
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation

from ._files import sha1
from ._log import error_once, first_pass, warn_once
from ._render import render

logger = logging.getLogger("pyinfra")

SCRIPT = "/usr/local/sbin/kvm-cluster-net"
BOOT_UNIT = "/etc/systemd/system/kvm-cluster-net-boot.service"
BOOT_UNIT_LINK = "/etc/systemd/system/sysinit.target.wants/kvm-cluster-net-boot.service"
WORK_DIR = "/var/lib/kvm-cluster/network"
STAGED = f"{WORK_DIR}/staged"
PLAN_FILE = f"{WORK_DIR}/plan"
BACKUP_DIR = "/var/backups/kvm-cluster/network"

IFUPDOWN_FILE = "/etc/network/interfaces.d/kvm-cluster-br0"
IFUPDOWN_MAIN = "/etc/network/interfaces"
NETPLAN_FILE = "/etc/netplan/60-kvm-cluster-br0.yaml"
CLOUD_INIT_FILE = "/etc/cloud/cloud.cfg.d/99-kvm-cluster-network.cfg"
IFCFG_DIR = "/etc/sysconfig/network-scripts"
NM_DIR = "/etc/NetworkManager/system-connections"
NM_UNMANAGED = "/etc/NetworkManager/conf.d/kvm-cluster-unmanaged.conf"
NM_DNS = "/etc/NetworkManager/conf.d/kvm-cluster-dns.conf"
RESOLVED_DROPIN = "/etc/systemd/resolved.conf.d/kvm-cluster.conf"
RESOLV_CONF = "/etc/resolv.conf"
QEMU_BRIDGE_CONF = "/etc/qemu/bridge.conf"

# Files of these directories that mention an interface the bridge takes over
# configure it the old way: they are moved aside (kept in the backup).
CONFIG_DIRS = ("/etc/network/interfaces.d/", "/etc/netplan/", f"{IFCFG_DIR}/ifcfg-", f"{NM_DIR}/")

BACKENDS = ("ifupdown", "netplan", "ifcfg", "networkmanager")

# Virtual ports a bridge may have besides its uplink (VM taps, libvirt's vnetN).
VIRTUAL_PORT_KINDS = ("tun", "tap")

_NM_NAMESPACE = uuid.UUID("4f6c2a8e-8a4b-4e1e-9a55-6b766d2d6e65")


# States of kvm-cluster-net's last transaction in which its rollback timer runs.
PENDING_STATES = ("armed", "switching", "switched", "rolling-back")


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


@dataclass(frozen=True)
class Rendered:
    """One backend's rendering of a plan: files, and the commands of the transaction."""

    backend: str
    files: dict = field(default_factory=dict)       # path -> (content, mode)
    remove: tuple[str, ...] = ()
    nm_stop: bool = False
    validate: tuple[str, ...] = ()
    pre_switch: tuple[str, ...] = ()
    apply: tuple[str, ...] = ()
    unapply: tuple[str, ...] = ()
    reapply: tuple[str, ...] = ()
    # A rollback at boot (files restored before the network service starts):
    # what turns the restored files into the configuration that service reads.
    boot: tuple[str, ...] = ()


# -- choosing -----------------------------------------------------------------

def _stanza_names(lines) -> set[str]:
    """Interfaces an ifupdown file configures (its uncommented stanzas)."""
    names = set()
    for line in lines or ():
        words = line.split("#")[0].split()
        if not words:
            continue
        if words[0] in ("iface", "mapping") and len(words) > 1:
            names.add(words[1])
        elif words[0] == "auto" or words[0].startswith("allow-"):
            names.update(words[1:])
    return names


# The backend whose files this deploy wrote: a host already switched keeps it.
_OUR_FILES = (
    ("ifupdown", IFUPDOWN_FILE),
    ("netplan", NETPLAN_FILE),
    ("networkmanager", f"{NM_DIR}/kvm-cluster-br0.nmconnection"),
)


def uplink_owner(devices, interfaces: dict, nm_state: dict | None = None,
                 os_release: dict | None = None) -> tuple[str, str] | None:
    """(backend, why): the service that configures ``devices`` (the uplink, a
    bond's members) today, from the host's own files and NetworkManager; None
    when nothing names them.

    In order: this deploy's own files (a switched host keeps its backend); a
    netplan file naming a device (netplan renders for networkd or
    NetworkManager: its YAML is the source); a connection NetworkManager
    itself activated on a device (not one it only shows, ``connected
    (externally)``); an ifcfg file (network-scripts where they exist or can be
    installed, RHEL 7 and 8; NetworkManager's ifcfg-rh otherwise); an ifupdown stanza.
    """
    files = interfaces.get("files", {})
    for backend, path in _OUR_FILES:
        if path in files:
            return backend, f"{path} (this deploy's) is there"
    devices = [d for d in devices if d]
    names = {path: set(info.get("names", ())) for path, info in files.items()}
    for path in sorted(names):
        if path.startswith("/etc/netplan/") and names[path] & set(devices):
            return "netplan", f"{path} configures {', '.join(sorted(names[path] & set(devices)))}"
    nm_devices = (nm_state or {}).get("devices", {}) if (nm_state or {}).get("active") else {}
    for device in devices:
        info = nm_devices.get(device) or {}
        if info.get("state") == "connected" and info.get("connection"):
            return ("networkmanager",
                    f"NetworkManager's connection {info['connection']!r} is active on {device}")
    for path in sorted(names):
        if path.startswith(f"{IFCFG_DIR}/ifcfg-") and names[path] & set(devices):
            tools = set(interfaces.get("tools", []))
            release = os_release or {}
            scripts = "network-scripts" in tools or (
                release.get("family") == "rhel" and release.get("major") in (7, 8))
            return ("ifcfg" if scripts else "networkmanager"), f"{path} configures it"
    main = _stanza_names(interfaces.get("contents", {}).get(IFUPDOWN_MAIN))
    for device in devices:
        if device in main:
            return "ifupdown", f"{IFUPDOWN_MAIN} has a stanza for {device}"
    for path in sorted(names):
        if path.startswith(f"{IFUPDOWN_MAIN}.d/") and names[path] & set(devices):
            return "ifupdown", f"{path} configures it"
    return None


def distribution_backend(os_release: dict, interfaces: dict) -> str:
    """The backend a distribution uses when nothing on the host names the uplink:
    Ubuntu (netplan, renderer networkd); Debian (ifupdown); RHEL/CentOS 7 and 8
    (ifcfg files with the network-scripts); RHEL 9 and later (NetworkManager,
    the only one supported). Other systems: what their tools say, netplan first.
    """
    family, os_id, major = os_release.get("family"), os_release.get("id"), os_release.get("major")
    tools = set(interfaces.get("tools", []))
    if os_id == "ubuntu":
        return "netplan"
    if family == "debian":
        return "ifupdown" if "ifup" in tools or "netplan" not in tools else "netplan"
    if family == "rhel":
        return "ifcfg" if major in (7, 8) else "networkmanager"
    if "netplan" in tools:
        return "netplan"
    if "nmcli" in tools:
        return "networkmanager"
    return "ifupdown"


def choose_backend(requested: str, os_release: dict, interfaces: dict, nm_state: dict | None = None,
                   devices=()) -> str:
    """The backend that writes this host's network configuration: ``requested``
    unless it is ``auto``; else the one that configures the uplink today
    (:func:`uplink_owner`), else the distribution's (:func:`distribution_backend`)."""
    if requested != "auto":
        return requested
    owner = uplink_owner(devices, interfaces, nm_state, os_release)
    if owner:
        return owner[0]
    return distribution_backend(os_release, interfaces)


# What each backend needs on the host, and whether the deploy can install it.
BACKEND_TOOLS = {"ifupdown": "ifup", "netplan": "netplan", "ifcfg": "network-scripts",
                 "networkmanager": "nmcli"}


def backend_unavailable(backend: str, os_release: dict, interfaces: dict) -> str | None:
    """Why ``backend`` cannot run on this host (None: it can): its tool is
    missing and the deploy does not install it for this distribution (it
    installs ifupdown on Debian, the network-scripts on RHEL 7 and 8)."""
    tools = set(interfaces.get("tools", []))
    if BACKEND_TOOLS[backend] in tools:
        return None
    family, major = os_release.get("family"), os_release.get("major")
    if backend == "ifupdown" and family == "debian":
        return None
    if backend == "ifcfg" and family == "rhel" and major in (7, 8):
        return None
    name = os_release.get("pretty_name") or family or "this system"
    what = {"ifupdown": "ifupdown (ifup) is", "netplan": "netplan is",
            "ifcfg": "the network-scripts are", "networkmanager": "NetworkManager (nmcli) is"}[backend]
    return f"{what} not installed on {name}, and the deploy does not install them there"


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


# -- rendering ------------------------------------------------------------------

def _context(plan: NetworkPlan) -> dict:
    return dict(bridge=plan.bridge, address=plan.address, ip=plan.ip, prefix=plan.prefix,
                gateway=plan.gateway, port=plan.port, uplink=plan.uplink, bond=plan.bond,
                vlan=plan.vlan, vlan_device=plan.vlan_device,
                mtu=plan.mtu, dns=list(plan.dns), search=plan.search, ipv6=plan.ipv6,
                ipv6_address=plan.ipv6_address, ipv6_gateway=plan.ipv6_gateway,
                ethernets=list(plan.ethernets), mac=plan.mac)


def _nm_uuid(name: str) -> str:
    """Stable per connection name: re-rendering gives the same file."""
    return str(uuid.uuid5(_NM_NAMESPACE, name))


def conflicts(plan: NetworkPlan, interfaces: dict, installed) -> tuple[str, ...]:
    """Config files, other than ours, that mention an interface the bridge takes over."""
    names = set(plan.devices) | {plan.bridge}
    result = []
    for path, info in sorted(interfaces["files"].items()):
        if path in installed or not path.startswith(CONFIG_DIRS):
            continue
        if names & set(info["names"]):
            result.append(path)
    return tuple(result)


def _ifupdown_main_ok(interfaces: dict, plan: NetworkPlan) -> bool:
    """Does /etc/network/interfaces include interfaces.d and leave our interfaces alone?"""
    info = interfaces["files"].get(IFUPDOWN_MAIN)
    if info is None:
        return False
    if set(info["names"]) & (set(plan.devices) | {plan.bridge}):
        return False
    lines = [line.split("#")[0].split() for line in interfaces["contents"].get(IFUPDOWN_MAIN, [])]
    return any(words[:2] in (["source", "/etc/network/interfaces.d/*"],
                             ["source-directory", "/etc/network/interfaces.d"],
                             ["source-directory", "interfaces.d"])
               for words in lines)


def _flush(plan: NetworkPlan) -> list[str]:
    """The old addresses go: the ethernets', and the VLAN interface's if it exists
    (the host's address may be on it today; the old configuration's ifdown may
    have removed it already)."""
    flush = [f"ip -4 addr flush dev {device} scope global" for device in plan.ethernets]
    if plan.vlan_device:
        flush.append(f"[ ! -e /sys/class/net/{plan.vlan_device} ] || "
                     f"ip -4 addr flush dev {plan.vlan_device} scope global")
    return flush


def _virtual(plan: NetworkPlan) -> list[str]:
    """The interfaces the configuration creates under the bridge, lowest first."""
    return ([plan.bond.name] if plan.bond else []) + ([plan.vlan_device] if plan.vlan_device else [])


_STANZA = ("iface", "mapping", "auto", "source", "source-directory", "rename")
_SOURCE_LINE = "source /etc/network/interfaces.d/*"


def ifupdown_main_file(lines: list[str] | None, devices) -> str:
    """``/etc/network/interfaces`` with the stanzas of ``devices`` (which the
    bridge takes over) commented out and interfaces.d sourced; every other
    line (other interfaces, routes, hooks) is kept as it was. No file: a
    minimal one."""
    if not lines:
        return render("network/ifupdown-interfaces.j2")
    devices = set(devices)
    out = []
    in_taken_stanza = False
    for line in lines:
        words = line.split("#")[0].split()
        first = words[0] if words else ""
        if first in _STANZA or first.startswith("allow-"):
            in_taken_stanza = False
            if first in ("iface", "mapping") and len(words) > 1 and words[1] in devices:
                in_taken_stanza = True
            elif (first == "auto" or first.startswith("allow-")) and set(words[1:]) & devices:
                kept = [name for name in words[1:] if name not in devices]
                out.append(f"# kvm-cluster, now in interfaces.d/kvm-cluster-br0: {line}")
                if kept:
                    out.append(f"{first} {' '.join(kept)}")
                continue
        if in_taken_stanza:
            out.append(f"# kvm-cluster, now in interfaces.d/kvm-cluster-br0: {line}" if line.strip() else line)
        else:
            out.append(line)
    if not any(line.split("#")[0].split()[:2] in (["source", "/etc/network/interfaces.d/*"],
                                                   ["source-directory", "/etc/network/interfaces.d"],
                                                   ["source-directory", "interfaces.d"])
               for line in lines):
        out += ["", "# kvm-cluster: the bridge and its ports are configured here", _SOURCE_LINE]
    return "\n".join(out).rstrip("\n") + "\n"


def _render_ifupdown(plan: NetworkPlan, interfaces: dict) -> Rendered:
    files = {IFUPDOWN_FILE: (render("network/ifupdown-br0.j2", **_context(plan)), "644")}
    if not _ifupdown_main_ok(interfaces, plan):
        # Edited, not replaced: other interfaces' stanzas stay (the old file
        # is backed up by the transaction all the same).
        current = interfaces["contents"].get(IFUPDOWN_MAIN) if IFUPDOWN_MAIN in interfaces["files"] else None
        files[IFUPDOWN_MAIN] = (ifupdown_main_file(current, [*plan.devices, plan.bridge]), "644")
    # Tagged without a bond, the VLAN's link is brought up first (its MTU before the VLAN's).
    link = [plan.uplink] if plan.vlan_device and not plan.bond else []
    ups = link + _virtual(plan) + [plan.bridge]
    downs = list(reversed(ups))
    created = list(reversed(_virtual(plan) + [plan.bridge]))
    # Whatever ifupdown brought up the old way goes down with the old files.
    old = " ".join([*plan.devices, plan.bridge])
    return Rendered(
        backend="ifupdown",
        files=files,
        validate=(f"ifup --no-act -i {STAGED}{IFUPDOWN_FILE} {' '.join(ups)} >/dev/null",),
        pre_switch=(f"for d in {old}; do ifquery --state \"$d\" >/dev/null 2>&1 && ifdown --force \"$d\"; done; true",),
        apply=(*_flush(plan), *(f"ifup {device}" for device in ups)),
        unapply=(*(f"ifdown --force {device}" for device in downs),
                 *(f"ip link del {device} 2>/dev/null" for device in created)),
        # The installer's default is allow-hotplug, which `ifup -a` skips.
        reapply=("ifup -a", "ifup -a --allow=hotplug"),
    )


def _render_netplan(plan: NetworkPlan, interfaces: dict) -> Rendered:
    files = {NETPLAN_FILE: (render("network/netplan.yaml.j2", **_context(plan)), "600")}
    if "cloud-init" in interfaces.get("tools", []):
        files[CLOUD_INIT_FILE] = (render("network/cloud-init-network.cfg.j2"), "644")
    downs = [plan.bridge, *reversed(_virtual(plan))]
    # netplan generate reads every file of /etc/netplan: check the set as it will be.
    check = (
        "root=$(mktemp -d) && mkdir -p \"$root/etc/netplan\" && "
        "for f in /etc/netplan/*.yaml; do [ -f \"$f\" ] && ! printf '%s\\n' \"$REMOVE\" | grep -qxF \"$f\" "
        "&& cp \"$f\" \"$root/etc/netplan/\"; done; "
        f"cp {STAGED}{NETPLAN_FILE} \"$root/etc/netplan/\" && netplan generate --root-dir \"$root\"; "
        "status=$?; rm -rf \"$root\"; [ $status = 0 ]"
    )
    return Rendered(
        backend="netplan",
        files=files,
        validate=(check,),
        apply=(*_flush(plan), "netplan apply"),
        unapply=tuple(f"ip link del {device} 2>/dev/null" for device in downs),
        reapply=("netplan apply",),
        # systemd ran netplan's generator on the new files before the rollback.
        boot=("netplan generate",),
    )


def _render_ifcfg(plan: NetworkPlan, interfaces: dict) -> Rendered:
    ctx = _context(plan)
    files = {f"{IFCFG_DIR}/ifcfg-{plan.bridge}": (render("network/ifcfg-bridge.j2", **ctx), "644")}
    if plan.vlan_device:
        files[f"{IFCFG_DIR}/ifcfg-{plan.vlan_device}"] = (render("network/ifcfg-vlan.j2", **ctx), "644")
    if plan.bond:
        files[f"{IFCFG_DIR}/ifcfg-{plan.bond.name}"] = (render("network/ifcfg-bond.j2", **ctx), "644")
        for member in plan.bond.members:
            files[f"{IFCFG_DIR}/ifcfg-{member}"] = (
                render("network/ifcfg-port.j2", device=member, master=plan.bond.name,
                       slave_kind="bond", mtu=plan.mtu), "644")
    else:
        # Tagged, the interface is the VLAN's link: no BRIDGE, no address.
        master = None if plan.vlan_device else plan.bridge
        files[f"{IFCFG_DIR}/ifcfg-{plan.uplink}"] = (
            render("network/ifcfg-port.j2", device=plan.uplink, master=master,
                   slave_kind="bridge", mtu=plan.mtu, vlan_device=plan.vlan_device), "644")
    downs = [plan.bridge, *reversed(_virtual(plan))]
    old = [*([plan.vlan_device] if plan.vlan_device else []), *plan.ethernets]
    return Rendered(
        backend="ifcfg",
        files=files,
        validate=tuple(f"sh -n {STAGED}{path}" for path in files),
        pre_switch=(f"for d in {' '.join(old)}; do ifdown \"$d\" 2>/dev/null; done; true",),
        apply=(*_flush(plan), "systemctl enable network", "systemctl restart network"),
        unapply=(*(f"ifdown {device} 2>/dev/null" for device in downs),
                 *(f"ip link del {device} 2>/dev/null" for device in downs)),
        reapply=("systemctl -q is-enabled network && systemctl restart network",),
    )


def _nm_file(name: str) -> str:
    return f"{NM_DIR}/{name}.nmconnection"


def _render_networkmanager(plan: NetworkPlan, interfaces: dict) -> Rendered:
    ctx = _context(plan)
    bridge_id = f"kvm-cluster-{plan.bridge}"
    files = {_nm_file(bridge_id): (
        render("network/nm-bridge.nmconnection.j2", id=bridge_id, uuid=_nm_uuid(bridge_id), **ctx), "600")}
    link_up = ()
    if plan.vlan_device:
        vlan_id = f"kvm-cluster-{plan.bridge}-port-{plan.vlan_device}"
        files[_nm_file(vlan_id)] = (render("network/nm-vlan.nmconnection.j2", id=vlan_id,
                                           uuid=_nm_uuid(vlan_id), **ctx), "600")
        # The VLAN's link comes up first: NetworkManager creates the VLAN on an existing link.
        link_up = (f"nmcli connection up kvm-cluster-{plan.uplink}",)
    if plan.bond:
        bond_id = f"kvm-cluster-{plan.bond.name}"
        files[_nm_file(bond_id)] = (render("network/nm-bond.nmconnection.j2", id=bond_id,
                                           uuid=_nm_uuid(bond_id), **ctx), "600")
        ports = [(member, plan.bond.name, "bond") for member in plan.bond.members]
    elif plan.vlan_device:
        ports = [(plan.uplink, None, None)]     # the VLAN's link, no port of anything
    else:
        ports = [(plan.uplink, plan.bridge, "bridge")]
    for device, master, kind in ports:
        port_id = f"kvm-cluster-{master}-port-{device}" if master else f"kvm-cluster-{device}"
        files[_nm_file(port_id)] = (render("network/nm-port.nmconnection.j2", id=port_id,
                                           uuid=_nm_uuid(port_id), device=device, master=master,
                                           slave_kind=kind, mtu=plan.mtu,
                                           vlan_device=plan.vlan_device), "600")
    return Rendered(
        backend="networkmanager",
        files=files,
        apply=("systemctl enable NetworkManager", "systemctl start NetworkManager",
               "nmcli connection reload", *link_up, f"nmcli connection up {bridge_id}"),
        unapply=(f"nmcli connection down {bridge_id}", f"ip link del {plan.bridge} 2>/dev/null",
                 *((f"ip link del {plan.vlan_device} 2>/dev/null",) if plan.vlan_device else ())),
        reapply=("nmcli connection reload",
                 *(f"nmcli device connect {device}" for device in plan.ethernets)),
    )


_RENDERERS = {
    "ifupdown": _render_ifupdown,
    "netplan": _render_netplan,
    "ifcfg": _render_ifcfg,
    "networkmanager": _render_networkmanager,
}


def render_plan(plan: NetworkPlan, backend: str, interfaces: dict, nm_state: dict | None = None,
                nm_policy: str = "disable") -> Rendered:
    """The plan as ``backend`` writes it, with the files it moves aside and the
    NetworkManager policy: stopped and disabled (after the new configuration is
    in place) where another backend takes over, or kept with the bridge's
    interfaces unmanaged (``nm_policy = keep``)."""
    rendered = _RENDERERS[backend](plan, interfaces)
    nm_state = nm_state or {}
    nm_present = nm_state.get("active") or nm_state.get("enabled")
    files = dict(rendered.files)
    nm_stop = False
    if backend != "networkmanager" and nm_present:
        if nm_policy == "keep":
            files[NM_UNMANAGED] = (render("network/nm-unmanaged.conf.j2", backend=backend,
                                          bridge=plan.bridge,
                                          devices=[plan.bridge, *plan.devices]), "644")
        else:
            nm_stop = True
    remove = conflicts(plan, interfaces, set(files))
    return Rendered(backend=rendered.backend, files=files, remove=remove, nm_stop=nm_stop,
                    validate=rendered.validate, pre_switch=rendered.pre_switch,
                    apply=(("systemctl reload NetworkManager",) if NM_UNMANAGED in files else ())
                    + rendered.apply,
                    unapply=rendered.unapply, reapply=rendered.reapply, boot=rendered.boot)


# -- state ------------------------------------------------------------------------

def files_in_place(rendered: Rendered, interfaces: dict) -> bool:
    current = interfaces["files"]
    return all(path in current and current[path]["sha1"] == sha1(content)
               for path, (content, _mode) in rendered.files.items())


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


def transaction_id(plan_files: dict, remove) -> str:
    """Names the transaction's units and backup: the same change, the same name."""
    digest = hashlib.sha1()
    for path, (content, mode) in sorted(plan_files.items()):
        digest.update(f"{path}\0{mode}\0{content}\0".encode())
    for path in remove:
        digest.update(f"rm\0{path}\0".encode())
    return "t" + digest.hexdigest()[:12]


def _sh_lines(paths) -> list[str]:
    return [path.replace("'", "'\\''") for path in paths]


def transaction(plan: NetworkPlan, rendered: Rendered, timeout: int, txn: str) -> str:
    """The transaction file the host script sources (``/var/lib/kvm-cluster/network/plan``)."""
    return render(
        "network/transaction.sh.j2", txn=txn, backend=rendered.backend, bridge=plan.bridge,
        address=plan.address, timeout=timeout, nm_stop=rendered.nm_stop,
        runtime_devices=[*plan.ethernets, *_virtual(plan), plan.bridge],
        install=_sh_lines(rendered.files),
        remove=_sh_lines(rendered.remove), validate=list(rendered.validate),
        pre_switch=list(rendered.pre_switch), apply=list(rendered.apply),
        unapply=list(rendered.unapply), reapply=list(rendered.reapply), boot=list(rendered.boot),
    )


def write_command(path: str, content: str, mode: str = "644") -> StringCommand:
    """Write a file in one command, atomically (a temporary file renamed over
    it): the staged files, the plan and kvm-cluster-net itself, which a
    rollback timer may be running at that moment (``sh`` reads its script as
    it goes; a rename leaves the running one its old file)."""
    directory = path.rsplit("/", 1)[0] or "/"
    temporary = f"{path}.kvm-cluster-tmp"
    return StringCommand(
        "mkdir -p", QuoteString(directory), "&& printf '%s'", QuoteString(content), ">",
        QuoteString(temporary), "&& chmod", mode, QuoteString(temporary), "&& mv -f",
        QuoteString(temporary), QuoteString(path),
    )


def _show_diff(path: str, content: str) -> None:
    """With --diff: the change to each file, as pyinfra shows its own uploads."""
    if not getattr(state.config, "DIFF", False) or not first_pass():
        return
    from pyinfra.facts.files import FileContents
    from pyinfra.operations.util.files import generate_color_diff

    old = host.get_fact(FileContents, path=path)
    host.log(f"Will {'modify' if old is not None else 'create'} {path}", logger.info)
    for line in generate_color_diff([f"{line}\n" for line in old or []], content.splitlines(True)):
        logger.info("  %s", line)
    logger.info("")


# -- confirmation -------------------------------------------------------------------

def connection_target(ssh: dict) -> tuple[str, int, str | None]:
    """(host name, port, ProxyCommand) to reach, after the ssh config file
    pyinfra reads (``ssh_config_file``): its HostName, Port and ProxyCommand
    (a bastion) apply to the confirmation too. Explicit data wins."""
    import paramiko

    hostname, port, proxy = ssh["hostname"], ssh.get("port"), None
    if ssh.get("config_file"):
        config = paramiko.SSHConfig.from_path(os.path.expanduser(ssh["config_file"])).lookup(hostname)
        hostname = config.get("hostname", hostname)
        port = port or config.get("port")
        proxy = config.get("proxycommand")
    return hostname, int(port or 22), proxy


def _ssh_run(ssh: dict, command: str, timeout: float) -> tuple[int, str]:
    """Run ``command`` over a NEW SSH connection, as pyinfra connects (same host,
    port, user, key and its passphrase, known_hosts, host key policy, ssh
    config file with its ProxyCommand, extra paramiko arguments)."""
    import paramiko

    client = paramiko.SSHClient()
    known_hosts = ssh.get("known_hosts_file")
    if known_hosts:
        client.load_host_keys(known_hosts)
    else:
        client.load_system_host_keys()
    strict = ssh.get("strict_host_key_checking", "accept-new")
    client.set_missing_host_key_policy(
        paramiko.RejectPolicy() if strict in ("yes", True) else paramiko.AutoAddPolicy())
    hostname, port, proxy = connection_target(ssh)
    sock = paramiko.ProxyCommand(proxy) if proxy else None
    try:
        client.connect(
            hostname, port=port, username=ssh.get("user"),
            key_filename=ssh.get("key"), password=ssh.get("password"),
            passphrase=ssh.get("key_password"), sock=sock,
            timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
            look_for_keys=not ssh.get("key"), allow_agent=True,
            **(ssh.get("paramiko_connect_kwargs") or {}),
        )
        if ssh.get("sudo"):
            command = f"sudo -n {command}"
        _stdin, stdout, _stderr = client.exec_command(command, timeout=timeout)
        output = stdout.read().decode(errors="replace").strip()
        return stdout.channel.recv_exit_status(), output
    finally:
        client.close()


def confirm_switch(state, host, txn: str, ssh: dict, timeout: int, address: str):
    """Confirm the switch over fresh SSH connections, or fail the host.

    Polls ``kvm-cluster-net status`` (each time over a new connection) until the
    detached switch has finished; then opens one more connection, made after
    the switch, and confirms: that connection proves the host is reachable
    with its new network. No confirmation before the host's own rollback
    timer: the host restores its previous network by itself; the deploy waits
    for it to answer again and says so.
    """
    paramiko_log = logging.getLogger("paramiko")
    level = paramiko_log.level
    paramiko_log.setLevel(logging.CRITICAL)  # its transport thread logs every refused banner
    try:
        started = time.monotonic()
        confirmed, last = _confirm(ssh, txn, started + timeout - 5)
        elapsed = time.monotonic() - started
        if confirmed:
            host.log_styled(f"network switched to {address}, confirmed over a new SSH "
                            f"connection after {elapsed:.1f} s", log_func=logger.info)
            return True
        after = _after_rollback(ssh, started + timeout + 30)
        host.log_styled(
            f"network switch to {address} NOT confirmed within {timeout} s (last answer: {last}); "
            f"{after}; backup in {BACKUP_DIR}/{txn}, log in {WORK_DIR}/log; nothing more is run "
            "on this host", fg="red", log_func=logger.error)
        return False
    finally:
        paramiko_log.setLevel(level)


def _confirm(ssh: dict, txn: str, deadline: float) -> tuple[bool, str]:
    last = "no answer"
    switched = False
    while time.monotonic() < deadline:
        try:
            if not switched:
                _rc, last = _ssh_run(ssh, f"{SCRIPT} status", timeout=5)
                words = last.split()
                if words and words[0] in ("failed", "rolled-back", "rolling-back", "invalid"):
                    return False, last
                switched = bool(words) and words[0] == "switched" and words[1:2] == [txn]
                if switched:
                    continue  # confirm over the next, newer connection
            else:
                rc, last = _ssh_run(ssh, f"{SCRIPT} confirm", timeout=5)
                if rc == 0:
                    return True, last
        except Exception as error:  # OSError, timeouts, paramiko's SSHException...
            last = f"{type(error).__name__}: {error}".strip()
        time.sleep(1)
    return False, last


def _after_rollback(ssh: dict, deadline: float) -> str:
    """Once the host's rollback timer has fired: is it back? (what to tell the user)"""
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            _rc, last = _ssh_run(ssh, f"{SCRIPT} status", timeout=5)
            if last.split()[:1] == ["rolled-back"]:
                return f"the host rolled back by itself and answers again ({last})"
        except Exception as error:
            last = f"{type(error).__name__}: {error}".strip()
        time.sleep(2)
    return f"the host does not answer after its rollback time either (last: {last}): check its console"


# -- operations ---------------------------------------------------------------------

def helper_script() -> str:
    return render("network/kvm-cluster-net.sh")


def boot_unit() -> str:
    return render("network/kvm-cluster-net-boot.service")


@operation()
def switch_helper(interfaces: dict):
    """
    Install ``/usr/local/sbin/kvm-cluster-net``, the host side of the commit-confirm
    switch (arm, switch, confirm, rollback), and enable ``kvm-cluster-net-boot.service``,
    which rolls back at boot a switch that a restart left unconfirmed (its
    transient rollback timer does not survive a reboot); see :func:`bridge`.

    + interfaces: the host's ``interfaces`` facts (the files' digests are read there)

    **Example:**

    .. code:: python

        network.switch_helper(interfaces=facts)
    """
    current = interfaces["files"]
    wanted = {SCRIPT: (helper_script(), "755"), BOOT_UNIT: (boot_unit(), "644")}
    stale = [path for path, (content, _mode) in wanted.items()
             if (current.get(path) or {}).get("sha1") != sha1(content)]
    if not stale and BOOT_UNIT_LINK in current:
        host.noop(f"{SCRIPT} and its boot unit are up to date")
        return
    for path in stale:
        yield write_command(path, *wanted[path])
    if BOOT_UNIT in stale:
        yield "systemctl daemon-reload"
    if BOOT_UNIT in stale or BOOT_UNIT_LINK not in current:
        yield StringCommand("systemctl enable", BOOT_UNIT.rsplit("/", 1)[1])


@operation()
def bridge(plan: dict | None = None, problem: str | None = None, backend: str = "ifupdown",
           interfaces: dict | None = None, network_manager: dict | None = None,
           nm_policy: str = "disable", confirm_timeout: int = 60, ssh: dict | None = None):
    """
    Put the host's primary address on bridge br0 (over its uplink or a bond, or a VLAN on either), with
    commit-confirm: the host rolls back by itself unless the deploy reaches it
    again over a new SSH connection.

    + plan: the :class:`NetworkPlan` as a dict (``dataclasses.asdict``), from :func:`plan_bridge`
    + problem: why no plan could be made (an interface missing on the host...):
      the host fails here, before any change
    + backend: ``ifupdown``, ``netplan``, ``ifcfg`` or ``networkmanager`` (:func:`choose_backend`)
    + interfaces: the host's ``interfaces`` facts (``facts.interfaces``)
    + network_manager: the host's NetworkManager facts (``facts.network``)
    + nm_policy: ``disable`` (stop and disable NetworkManager where another backend
      takes over) or ``keep`` (its devices unmanaged)
    + confirm_timeout: seconds before the host rolls back without a confirmation
    + ssh: how the deploy reaches the host: ``hostname``, ``port``, ``user``, ``key``,
      ``known_hosts_file``, ``strict_host_key_checking``, ``sudo``

    A host whose bridge carries its address, matches the plan, and whose files
    are in place gets no change and no restart.

    **Example:**

    .. code:: python

        network.bridge(
            plan=asdict(plan_bridge(address="172.30.10.41/24", interfaces=facts)),
            backend="ifupdown", interfaces=facts, network_manager=nm_facts,
            ssh={"hostname": "172.30.10.41", "user": "root"},
        )
    """
    if problem:
        message = f"network: {problem}; nothing was changed on this host"
        error_once(message)
        yield StringCommand("printf", "'%s\\n'", QuoteString(message), ">&2;", "exit 1")
        return
    interfaces = interfaces or {"links": {}, "files": {}, "contents": {}}
    plan = _plan_from_dict(plan)
    last = interfaces.get("last_transaction")
    if last and last["state"] in ("rolled-back", "failed", "invalid"):
        warn_once(f"the last network switch ({last['txn']}) ended {last['state']}: {last['detail']}")

    rendered = render_plan(plan, backend, interfaces, network_manager, nm_policy)
    in_place = files_in_place(rendered, interfaces)
    missing = runtime_matches(plan, interfaces)
    txn = transaction_id(rendered.files, rendered.remove)
    if last and last["state"] in PENDING_STATES:
        # An earlier run did not finish (interrupted while it waited for the
        # confirmation): its rollback timer is still armed. Never call that a
        # no-op, never stage a new plan over it.
        if last["state"] == "switched" and last["txn"] == txn and in_place and not missing:
            warn_once(f"network: switch {txn} was never confirmed: confirming it now")
            yield FunctionCommand(confirm_switch, (), {
                "txn": txn, "ssh": dict(ssh or {}), "timeout": confirm_timeout, "address": plan.address,
            })
            return
        if last.get("rollback_armed") is False:
            # Its safety net is gone (the timer was stopped or lost): nothing
            # would ever roll it back. Roll it back now; the next deploy
            # starts from the restored configuration (these facts are older).
            message = (f"network: switch {last['txn']} was left {last['state']} with no rollback "
                       "armed (its timer is gone): rolled back to the configuration before it; "
                       "deploy again to switch")
            error_once(message)
            yield StringCommand(SCRIPT, "recover", ">&2", "&&", "printf", "'%s\\n'",
                                QuoteString(message), ">&2;", "exit 1")
            return
        message = (f"network: switch {last['txn']} is {last['state']} and not confirmed; it rolls "
                   f"back by itself within network_confirm_timeout: deploy again after that; "
                   "nothing was changed on this host")
        error_once(message)
        yield StringCommand("printf", "'%s\\n'", QuoteString(message), ">&2;", "exit 1")
        return
    if in_place and not rendered.remove and not missing and not rendered.nm_stop:
        host.noop(f"{plan.bridge} carries {plan.address} over {plan.port} ({backend})")
        return

    reasons = missing + ([] if in_place else ["configuration files differ"])
    reasons += [f"{path} is moved aside" for path in rendered.remove]
    if rendered.nm_stop:
        reasons.append("NetworkManager is stopped and disabled")
    warn_once(f"network: switching to {plan.bridge} {plan.address} via {plan.gateway} over "
              f"{plan.port} ({backend}) with commit-confirm, {confirm_timeout} s: "
              + "; ".join(reasons))

    current = interfaces["files"]
    for path, (content, mode) in rendered.files.items():
        if path in current and current[path]["sha1"] == sha1(content):
            continue
        _show_diff(path, content)
    yield StringCommand("rm -rf", STAGED)
    for path, (content, mode) in rendered.files.items():
        yield write_command(f"{STAGED}{path}", content, mode)
    yield write_command(PLAN_FILE, transaction(plan, rendered, confirm_timeout, txn), "600")
    yield StringCommand(SCRIPT, "arm")
    yield StringCommand(SCRIPT, "start")
    yield FunctionCommand(confirm_switch, (), {
        "txn": txn, "ssh": dict(ssh or {}), "timeout": confirm_timeout, "address": plan.address,
    })


def _plan_from_dict(value) -> NetworkPlan:
    if isinstance(value, NetworkPlan):
        return value
    data = dict(value)
    bond = data.pop("bond", None)
    if isinstance(bond, dict):
        bond = Bond(**{**bond, "members": tuple(bond["members"])})
    data["dns"] = tuple(data.get("dns") or ())
    return NetworkPlan(bond=bond, **data)


def dns_file(backend: str, bridged: bool, interfaces: dict, dns, search: str,
             nm_active: bool = False) -> tuple[str, str] | None:
    """Where this host's resolvers go, and the file's content.

    A bridged host gets them in its bridge configuration (netplan
    ``nameservers``, ifcfg ``DNS1``/``DNS2``, NetworkManager ``ipv4.dns``);
    ifupdown has no resolver of its own: ``/etc/resolv.conf``. A host without
    the bridge: a systemd-resolved drop-in (netplan), a NetworkManager global
    DNS drop-in (wherever NetworkManager runs: it rewrites ``/etc/resolv.conf``,
    RHEL 8 with ifcfg files included), or ``/etc/resolv.conf``.
    """
    tools = set(interfaces.get("tools", []))
    if backend == "netplan" or (not bridged and "systemd-resolved" in tools):
        if bridged:
            return None
        return RESOLVED_DROPIN, render("network/resolved.conf.j2", dns=list(dns), search=search)
    if backend == "networkmanager" or (not bridged and nm_active):
        if bridged:
            return None
        return NM_DNS, render("network/nm-dns.conf.j2", dns=list(dns), search=search)
    if backend == "ifcfg" and bridged:
        return None
    if "resolv-conf-symlink" in tools:
        return None
    return RESOLV_CONF, render("network/resolv.conf.j2", dns=list(dns), search=search)


@operation()
def resolvers(dns: list, search: str, backend: str, bridged: bool, interfaces: dict,
              nm_active: bool = False):
    """
    Point the host's DNS at the cluster's resolvers (the masters), the backend's way.

    + dns: the resolvers, primary first
    + search: the search domain
    + backend: the host's network backend (:func:`choose_backend`)
    + bridged: whether the bridge configuration (which carries them) is this host's
    + interfaces: the host's ``interfaces`` facts (file digests, tools)
    + nm_active: NetworkManager runs on the host (it owns ``/etc/resolv.conf``)

    ``/etc/resolv.conf`` is written in place (``cat >``), never replaced by a
    rename: Docker bind-mounts it. The old file is kept as ``FILE.<timestamp>``.

    **Example:**

    .. code:: python

        network.resolvers(dns=["172.30.10.11", "172.30.10.12"], search="cluster.lan",
                          backend="ifupdown", bridged=True, interfaces=facts)
    """
    target = dns_file(backend, bridged, interfaces, dns, search, nm_active)
    if target is None:
        host.noop(f"resolvers {', '.join(dns)} are in the {backend} bridge configuration")
        return
    path, content = target
    current = interfaces["files"].get(path)
    if current and current["sha1"] == sha1(content):
        host.noop(f"{path} already lists {', '.join(dns)}")
        return
    _show_diff(path, content)
    from pyinfra.operations.util.files import get_timestamp
    if current:
        yield StringCommand("cp -p", path, f"{path}.{get_timestamp()}")
    directory = path.rsplit("/", 1)[0]
    yield StringCommand("mkdir -p", directory, "&& printf '%s'", QuoteString(content), ">", path)
    if path == RESOLVED_DROPIN:
        yield "systemctl try-restart systemd-resolved"
    elif path == NM_DNS:
        yield "systemctl try-reload-or-restart NetworkManager"


def bridge_acl(lines: list[str], bridge: str) -> list[str] | None:
    """qemu's bridge.conf with ``allow BRIDGE`` (None: already allowed)."""
    if any(line.split()[:2] == ["allow", bridge] or line.split()[:2] == ["allow", "all"]
           for line in lines):
        return None
    return [*lines, f"allow {bridge}"]


@operation()
def qemu_bridge_acl(bridge: str, interfaces: dict):
    """
    Let qemu's bridge helper attach VMs to the bridge: ``allow br0`` in /etc/qemu/bridge.conf.

    + bridge: the bridge, ``br0``
    + interfaces: the host's ``interfaces`` facts (the file's content is read there)

    **Example:**

    .. code:: python

        network.qemu_bridge_acl(bridge="br0", interfaces=facts)
    """
    current = interfaces["contents"].get(QEMU_BRIDGE_CONF, []) \
        if QEMU_BRIDGE_CONF in interfaces["files"] else []
    lines = bridge_acl(current, bridge)
    if lines is None:
        host.noop(f"{QEMU_BRIDGE_CONF} allows {bridge}")
        return
    content = render("network/qemu-bridge.conf.j2", lines=lines)
    _show_diff(QEMU_BRIDGE_CONF, content)
    yield StringCommand("mkdir -p /etc/qemu && printf '%s'", QuoteString(content), ">",
                        QEMU_BRIDGE_CONF, "&& chmod 644", QEMU_BRIDGE_CONF)
