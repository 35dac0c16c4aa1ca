"""Network interface facts: links, addresses, default routes, network config files.

One :class:`facts._section.Section` (``interfaces``) for the batched probe:
``ip -d -j addr`` (every link with its kind, master, MTU and addresses),
the IPv4 and IPv6 default routes, which network tools exist, and the network
configuration files that exist (each with its sha1 and the interface names it
mentions), so the network step decides everything, including "already done",
from this one read.
"""

from __future__ import annotations

import json

from pyinfra.api import FactBase

from ._section import Section, matches_stat, print_file, remembered, unit_state

# Where each backend keeps its configuration; a file here that mentions an
# interface the bridge takes over is a conflict (moved aside, kept as backup).
# The files the network step writes outside a backend (kvm-cluster-net, its
# boot unit, the resolvers, qemu's bridge ACL) are read as every step's are,
# through the step's needs (facts.files).
CONFIG_GLOBS = (
    "/etc/network/interfaces",
    "/etc/network/interfaces.d/*",
    "/etc/netplan/*.yaml",
    "/etc/sysconfig/network-scripts/ifcfg-*",
    "/etc/NetworkManager/system-connections/*",
    "/etc/NetworkManager/conf.d/kvm-cluster*.conf",
    "/etc/cloud/cloud.cfg.d/99-kvm-cluster-network.cfg",
)

# Files whose content the deploy reads (small): the ifupdown main file, qemu's ACL.
CONTENT_FILES = ("/etc/network/interfaces", "/etc/qemu/bridge.conf")

TOOLS = ("ifup", "ifquery", "netplan", "nmcli", "brctl", "systemd-run", "ifenslave", "cloud-init")

STATE_FILE = "/var/lib/kvm-cluster/network/state"

# What the probe's one ``ip -batch`` runs: every link with its details
# (``-d``: kind, master, bond and VLAN data), then the default routes of every
# table and family (``-d`` names each one's table: the main one is used).
IP_BATCH = "addr show\nroute show table all default\n"

# Names a config file is searched for besides the host's links (not created yet).
EXTRA_NAMES = ("br0", "bond0")


# Each config file's sha1 and the interface names it mentions (fixed strings,
# whole words), for the files in "$@" and the names in $pat: one sha1sum and one
# grep for all of them, merged by awk (sha1sum's lines, a separator, then grep's
# PATH:NAME) into PATH<TAB>SHA1<TAB> NAMES.
FILE_DIGESTS = (
    "{ sha1sum -- \"$@\" 2>/dev/null; echo '@@grep'; "
    "grep -owHF $pat -- \"$@\" 2>/dev/null; } | awk "
    "'$0==\"@@grep\" {g=1; next} "
    "!g {if (match($0, /^[0-9a-f]+  /)) {p=substr($0, RLENGTH+1); order[++n]=p; sha[p]=substr($0, 1, RLENGTH-2)}; next} "
    "{i=match($0, /:[^:]*$/); f=substr($0, 1, i-1); w=substr($0, i+1); "
    "if (!((f, w) in seen)) {seen[f, w]=1; names[f]=names[f] \" \" w}} "
    "END {for (k=1; k<=n; k++) printf \"%s\\t%s\\t%s\\n\", order[k], sha[order[k]], names[order[k]]}'"
)
# Remembered (facts._section.remembered) while each file and the host's link
# names are the same: keyed by the stat of the patterns' matches, from the
# probe's one stat (Section.watched_matches), or its own run on its own.
FILE_DIGESTS_KEY = f"{matches_stat('interfaces', CONFIG_GLOBS)}; _kc_k=\"$_kc_m$pat\""


def interfaces_command() -> str:
    tools = " ".join(TOOLS)
    globs = " ".join(CONFIG_GLOBS)
    extra = " ".join(EXTRA_NAMES)
    contents = "; ".join(
        f"echo '@content {path}'; {print_file(path)}" for path in CONTENT_FILES
    )
    return (
        # One ip for the links and the default routes of both families (a
        # table given, ip lists every family's), its commands in a here-document
        # (the shell writes it to a pipe itself: no process, as a printf piped
        # in would be).
        f"echo '@ip'; ip -d -j -force -batch - 2>/dev/null <<'_kc_ip'\n{IP_BATCH}_kc_ip\n"
        f"echo '@tools'; for t in {tools}; do command -v $t >/dev/null 2>&1 && echo $t; done; "
        "[ -x /etc/sysconfig/network-scripts/ifup-eth ] || [ -x /usr/libexec/network-scripts/ifup-eth ]"
        " && echo network-scripts; "
        f"[ \"{unit_state('systemd-resolved.service', 'active')}\" = active ] && echo systemd-resolved; "
        "[ -L /etc/resolv.conf ] && echo resolv-conf-symlink; "
        "echo '@files'; "
        # The files that exist, as positional parameters (names may hold spaces),
        # the names looked for in them (the host's links, br0, bond0), then
        # their digests and names (FILE_DIGESTS), remembered while the same.
        f"set --; for f in {globs}; do [ -f \"$f\" ] && set -- \"$@\" \"$f\"; done; "
        f"if [ $# -gt 0 ]; then pat=''; for n in /sys/class/net/*; do "
        "[ -e \"$n\" ] && pat=\"$pat -e ${n##*/}\"; done; "
        f"for n in {extra}; do pat=\"$pat -e $n\"; done; "
        + remembered("network-files", FILE_DIGESTS, key_set=FILE_DIGESTS_KEY) + "; fi; "
        f"{contents}; "
        f"echo '@state'; {print_file(STATE_FILE)}; "
        # A pending switch's rollback timer: is the safety net still armed?
        f"echo '@timer'; st=; txn=; {{ read -r st txn _ < {STATE_FILE}; }} 2>/dev/null; case \"$st\" in "
        f"armed|switching|switched|rolling-back) systemctl is-active "
        f"\"kvm-cluster-net-rollback-$txn.timer\" 2>/dev/null;; esac; true"
    )


def _json_entries(lines: list[str]) -> list[dict]:
    """Every object of the JSON arrays ``ip -j -batch`` printed one after
    another (one per command); what follows a broken one is dropped."""
    text, decoder, entries, at = "".join(lines), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return entries
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            return entries
        entries += [entry for entry in (value if isinstance(value, list) else [value])
                    if isinstance(entry, dict)]


def _split(lines: list[str]) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line.startswith("@") and not line.startswith("@@"):
            current = line[1:].strip()
            parts[current] = []
        elif current is not None:
            parts[current].append(line)
    return parts


def _link(entry: dict) -> dict:
    info = entry.get("linkinfo") or {}
    addrs4, addrs6 = [], []
    for addr in entry.get("addr_info") or []:
        cidr = f"{addr.get('local')}/{addr.get('prefixlen')}"
        if addr.get("family") == "inet":
            addrs4.append(cidr)
        elif addr.get("family") == "inet6" and addr.get("scope") == "global":
            addrs6.append(cidr)
    link = {
        "kind": info.get("info_kind") or ("loopback" if entry.get("link_type") == "loopback" else "ether"),
        "master": entry.get("master"),
        "slave_kind": info.get("info_slave_kind"),
        "mtu": entry.get("mtu"),
        "mac": entry.get("address"),
        "up": "UP" in (entry.get("flags") or []),
        "ipv4": addrs4,
        "ipv6": addrs6,
    }
    if link["kind"] == "bond" and info.get("info_data"):
        # The bond's mode and parameters as the kernel runs them (drift from the data).
        data = info["info_data"]
        link["bond"] = {key: data.get(key) for key in ("mode", "miimon", "xmit_hash_policy")
                        if key in data}
    if link["kind"] == "vlan":
        # ``ip -j`` names the VLAN's link (``eno1.100@eno1``) and its id.
        link["parent"] = entry.get("link")
        link["vlan_id"] = (info.get("info_data") or {}).get("id")
    return link


def _default_route(routes: list, ipv6: bool) -> dict | None:
    """The main table's first default route of one family with a gateway."""
    for route in routes:
        gateway = route.get("gateway")
        if (route.get("dst") == "default" and gateway and (":" in gateway) == ipv6
                and route.get("table", "main") == "main"):
            return {"gateway": gateway, "dev": route.get("dev")}
    return None


def parse_interfaces(lines: list[str]) -> dict:
    """The links, default routes, tools and network config files of a host.

    ``links`` maps each interface to its kind (``ether``, ``veth``, ``bridge``,
    ``bond``, ``vlan``, ``loopback``...), its ``master`` (the bridge or bond
    it is a port of), MTU, MAC, and IPv4/IPv6 (global) addresses as CIDRs; a
    VLAN also its ``parent`` (the interface it is on) and ``vlan_id``.
    ``files`` maps each network config file that exists to its sha1 and the
    interface names it mentions; ``contents`` holds the few files read whole
    (an empty list: empty or missing; ``files`` or ``facts.files`` tells which).
    """
    parts = _split(lines)
    entries = _json_entries(parts.get("ip", []))
    links = {entry["ifname"]: _link(entry) for entry in entries if entry.get("ifname")}
    routes = [entry for entry in entries if "dst" in entry and not entry.get("ifname")]
    files = {}
    for line in parts.get("files", []):
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0]:
            names = fields[2].split() if len(fields) > 2 else []
            files[fields[0]] = {"sha1": fields[1], "names": sorted(set(names))}
    contents = {
        key[len("content "):]: value
        for key, value in parts.items() if key.startswith("content ")
    }
    tools = sorted(set(parts.get("tools", [])))
    state_words = " ".join(parts.get("state", [])).split()
    return {
        "links": links,
        "default4": _default_route(routes, ipv6=False),
        "default6": _default_route(routes, ipv6=True),
        "tools": tools,
        "files": files,
        "contents": {path: contents[path] for path in CONTENT_FILES if path in contents},
        "last_transaction": (
            {"state": state_words[0], "txn": state_words[1] if len(state_words) > 1 else None,
             "detail": " ".join(state_words[2:]),
             # Read only while the switch is pending: None otherwise.
             "rollback_armed": ("active" in parts["timer"]) if parts.get("timer") else None}
            if state_words else None
        ),
    }


INTERFACES = Section("interfaces", interfaces_command(), parse_interfaces, watched_matches=CONFIG_GLOBS)


class Interfaces(FactBase):
    """
    The host's network links, default routes, tools and network config files.

    .. code:: python

        {"links": {"eth0": {"kind": "ether", "master": None, "slave_kind": None, "mtu": 1500,
                            "mac": "52:54:00:1e:0a:29", "up": True,
                            "ipv4": ["172.30.10.41/24"], "ipv6": []}},
         "default4": {"gateway": "172.30.10.1", "dev": "eth0"}, "default6": None,
         "tools": ["ifquery", "ifup", "systemd-run"],
         "files": {"/etc/network/interfaces": {"sha1": "...", "names": ["lo"]}},
         "contents": {"/etc/network/interfaces": ["source /etc/network/interfaces.d/*"]},
         "last_transaction": None}
    """

    command = INTERFACES.command

    def process(self, output):
        return INTERFACES.parse(output)
