"""The four network backends: which one a host uses, and how each writes a plan.

ifupdown (Debian), netplan (Ubuntu), ifcfg files with the network-scripts
(RHEL/CentOS 7 and 8) and NetworkManager keyfiles (RHEL 9 and later):
:func:`choose_backend` picks the one that owns the uplink today;
:func:`render_plan` turns a :class:`NetworkPlan` into that backend's files and
the commands of the switch (:class:`Rendered`). Pure: the host's state comes
in as its ``interfaces`` facts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ._files import sha1
from ._network_plan import NetworkPlan
from ._network_switch import BACKUP_DIR
from ._render import render

IFUPDOWN_MAIN = "/etc/network/interfaces"
IFUPDOWN_DIR = "/etc/network/interfaces.d"
NETPLAN_DIR = "/etc/netplan"
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
CONFIG_DIRS = (f"{IFUPDOWN_DIR}/", f"{NETPLAN_DIR}/", f"{IFCFG_DIR}/ifcfg-", f"{NM_DIR}/")

BACKENDS = ("ifupdown", "netplan", "ifcfg", "networkmanager")

_NM_NAMESPACE = uuid.UUID("4f6c2a8e-8a4b-4e1e-9a55-6b766d2d6e65")


def ifupdown_file(bridge: str) -> str:
    """The bridge's ifupdown file (``/etc/network/interfaces.d/kvm-cluster-br0``)."""
    return f"{IFUPDOWN_DIR}/kvm-cluster-{bridge}"


def netplan_file(bridge: str) -> str:
    """The bridge's netplan file (``/etc/netplan/60-kvm-cluster-br0.yaml``)."""
    return f"{NETPLAN_DIR}/60-kvm-cluster-{bridge}.yaml"


def nm_file(name: str) -> str:
    """A NetworkManager keyfile: ``kvm-cluster-br0`` -> ``.../kvm-cluster-br0.nmconnection``."""
    return f"{NM_DIR}/{name}.nmconnection"


# The files this deploy writes for a bridge, by backend (any bridge name):
# a host already switched keeps its backend.
_OUR_FILES = (
    ("ifupdown", f"{IFUPDOWN_DIR}/kvm-cluster-"),
    ("netplan", f"{NETPLAN_DIR}/60-kvm-cluster-"),
    ("networkmanager", f"{NM_DIR}/kvm-cluster-"),
)


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




# -- choosing --------------------------------------------------------------------

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
    for backend, prefix in _OUR_FILES:
        ours = sorted(path for path in files if path.startswith(prefix))
        if ours:
            return backend, f"{ours[0]} (this deploy's) is there"
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


# -- rendering ------------------------------------------------------------------

def _context(plan: NetworkPlan) -> dict:
    return dict(bridge=plan.bridge, address=plan.address, ip=plan.ip, prefix=plan.prefix,
                gateway=plan.gateway, port=plan.port, uplink=plan.uplink, bond=plan.bond,
                vlan=plan.vlan, vlan_device=plan.vlan_device,
                mtu=plan.mtu, dns=list(plan.dns), search=plan.search, ipv6=plan.ipv6,
                ipv6_address=plan.ipv6_address, ipv6_gateway=plan.ipv6_gateway,
                ethernets=list(plan.ethernets), mac=plan.mac, backup_dir=BACKUP_DIR)


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


_STANZA = ("iface", "mapping", "auto", "source", "source-directory", "rename")
_SOURCE_LINE = "source /etc/network/interfaces.d/*"


def ifupdown_main_file(lines: list[str] | None, devices, bridge: str) -> str:
    """``/etc/network/interfaces`` with the stanzas of ``devices`` (which the
    bridge takes over) commented out and interfaces.d sourced; every other
    line (other interfaces, routes, hooks) is kept as it was. No file: a
    minimal one."""
    if not lines:
        return render("network/ifupdown-interfaces.j2", backup_dir=BACKUP_DIR)
    devices = set(devices)
    moved_to = ifupdown_file(bridge).removeprefix("/etc/network/")
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
                out.append(f"# kvm-cluster, now in {moved_to}: {line}")
                if kept:
                    out.append(f"{first} {' '.join(kept)}")
                continue
        if in_taken_stanza:
            out.append(f"# kvm-cluster, now in {moved_to}: {line}" if line.strip() else line)
        else:
            out.append(line)
    if not any(line.split("#")[0].split()[:2] in (["source", "/etc/network/interfaces.d/*"],
                                                   ["source-directory", "/etc/network/interfaces.d"],
                                                   ["source-directory", "interfaces.d"])
               for line in lines):
        out += ["", "# kvm-cluster: the bridge and its ports are configured here", _SOURCE_LINE]
    return "\n".join(out).rstrip("\n") + "\n"


def _render_ifupdown(plan: NetworkPlan, interfaces: dict) -> Rendered:
    files = {ifupdown_file(plan.bridge): (render("network/ifupdown-br0.j2", **_context(plan)), "644")}
    if not _ifupdown_main_ok(interfaces, plan):
        # Edited, not replaced: other interfaces' stanzas stay (the old file
        # is backed up by the transaction all the same).
        current = interfaces["contents"].get(IFUPDOWN_MAIN) if IFUPDOWN_MAIN in interfaces["files"] else None
        files[IFUPDOWN_MAIN] = (ifupdown_main_file(current, [*plan.devices, plan.bridge], plan.bridge), "644")
    # Tagged without a bond, the VLAN's link is brought up first (its MTU before the VLAN's).
    link = [plan.uplink] if plan.vlan_device and not plan.bond else []
    ups = link + list(plan.virtual) + [plan.bridge]
    downs = list(reversed(ups))
    created = list(reversed(list(plan.virtual) + [plan.bridge]))
    # Whatever ifupdown brought up the old way goes down with the old files.
    old = " ".join([*plan.devices, plan.bridge])
    return Rendered(
        backend="ifupdown",
        files=files,
        validate=(f"ifup --no-act -i \"$STAGED\"{ifupdown_file(plan.bridge)} {' '.join(ups)} >/dev/null",),
        pre_switch=(f"for d in {old}; do ifquery --state \"$d\" >/dev/null 2>&1 && ifdown --force \"$d\"; done; true",),
        apply=(*_flush(plan), *(f"ifup {device}" for device in ups)),
        unapply=(*(f"ifdown --force {device}" for device in downs),
                 *(f"ip link del {device} 2>/dev/null" for device in created)),
        # The installer's default is allow-hotplug, which `ifup -a` skips.
        reapply=("ifup -a", "ifup -a --allow=hotplug"),
    )


def _render_netplan(plan: NetworkPlan, interfaces: dict) -> Rendered:
    files = {netplan_file(plan.bridge): (render("network/netplan.yaml.j2", **_context(plan)), "600")}
    if "cloud-init" in interfaces.get("tools", []):
        files[CLOUD_INIT_FILE] = (render("network/cloud-init-network.cfg.j2",
                                         netplan_file=netplan_file(plan.bridge)), "644")
    downs = [plan.bridge, *reversed(list(plan.virtual))]
    # netplan generate reads every file of /etc/netplan: check the set as it will be.
    check = (
        "root=$(mktemp -d) && mkdir -p \"$root/etc/netplan\" && "
        "for f in /etc/netplan/*.yaml; do [ -f \"$f\" ] && ! printf '%s\\n' \"$REMOVE\" | grep -qxF \"$f\" "
        "&& cp \"$f\" \"$root/etc/netplan/\"; done; "
        f"cp \"$STAGED\"{netplan_file(plan.bridge)} \"$root/etc/netplan/\" && netplan generate --root-dir \"$root\"; "
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
    downs = [plan.bridge, *reversed(list(plan.virtual))]
    old = [*([plan.vlan_device] if plan.vlan_device else []), *plan.ethernets]
    return Rendered(
        backend="ifcfg",
        files=files,
        validate=tuple(f"sh -n \"$STAGED\"{path}" for path in files),
        pre_switch=(f"for d in {' '.join(old)}; do ifdown \"$d\" 2>/dev/null; done; true",),
        apply=(*_flush(plan), "systemctl enable network", "systemctl restart network"),
        unapply=(*(f"ifdown {device} 2>/dev/null" for device in downs),
                 *(f"ip link del {device} 2>/dev/null" for device in downs)),
        reapply=("systemctl -q is-enabled network && systemctl restart network",),
    )


def _render_networkmanager(plan: NetworkPlan, interfaces: dict) -> Rendered:
    ctx = _context(plan)
    bridge_id = f"kvm-cluster-{plan.bridge}"
    files = {nm_file(bridge_id): (
        render("network/nm-bridge.nmconnection.j2", id=bridge_id, uuid=_nm_uuid(bridge_id), **ctx), "600")}
    link_up = ()
    if plan.vlan_device:
        vlan_id = f"kvm-cluster-{plan.bridge}-port-{plan.vlan_device}"
        files[nm_file(vlan_id)] = (render("network/nm-vlan.nmconnection.j2", id=vlan_id,
                                           uuid=_nm_uuid(vlan_id), **ctx), "600")
        # The VLAN's link comes up first: NetworkManager creates the VLAN on an existing link.
        link_up = (f"nmcli connection up kvm-cluster-{plan.uplink}",)
    if plan.bond:
        bond_id = f"kvm-cluster-{plan.bond.name}"
        files[nm_file(bond_id)] = (render("network/nm-bond.nmconnection.j2", id=bond_id,
                                           uuid=_nm_uuid(bond_id), **ctx), "600")
        ports = [(member, plan.bond.name, "bond") for member in plan.bond.members]
    elif plan.vlan_device:
        ports = [(plan.uplink, None, None)]     # the VLAN's link, no port of anything
    else:
        ports = [(plan.uplink, plan.bridge, "bridge")]
    for device, master, kind in ports:
        port_id = f"kvm-cluster-{master}-port-{device}" if master else f"kvm-cluster-{device}"
        files[nm_file(port_id)] = (render("network/nm-port.nmconnection.j2", id=port_id,
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




def files_in_place(rendered: Rendered, interfaces: dict) -> bool:
    current = interfaces["files"]
    return all(path in current and current[path]["sha1"] == sha1(content)
               for path, (content, _mode) in rendered.files.items())


# -- resolvers, qemu's bridge ACL -----------------------------------------------------

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


def bridge_acl(lines: list[str], bridge: str) -> list[str] | None:
    """qemu's bridge.conf with ``allow BRIDGE`` (None: already allowed)."""
    if any(line.split()[:2] == ["allow", bridge] or line.split()[:2] == ["allow", "all"]
           for line in lines):
        return None
    return [*lines, f"allow {bridge}"]
