"""Storage pool facts: libvirt's pools (through ``virsh``) and the pool directories.

Both are sections of the batched probe (facts.host.HostProbe): ``pools``
(what libvirt has) and ``pool_paths`` (owner, mode and SELinux labels of the
pool directories, and whether AppArmor or SELinux is there at all).
"""

from __future__ import annotations

import re

from pyinfra.api import FactBase

from ._section import (PACKAGE_DATABASES, Section, multi_values, quote, remembered, unit_state,
                       watched_with_owners)

VIRSH = "virsh -c qemu:///system"

# Where libvirt keeps its pools: the definitions and autostart links (a pool
# defined, undefined or marked autostart changes these directories)...
POOL_STATE_FILES = ("/etc/libvirt/storage", "/etc/libvirt/storage/autostart")
# ...and a state file for each active pool (started, stopped). Their names,
# not the directory: the daemon writes its driver.pid there at each start and
# removes it when it exits idle (Debian's libvirtd after two quiet minutes),
# which would forget the pools at every run after a pause (and wake the daemon).
ACTIVE_POOLS = ("for _kc_f in /run/libvirt/storage/*.xml; do "
                "[ ! -e \"$_kc_f\" ] || _kc_k=\"$_kc_k${_kc_f##*/} \"; done")

POOLS_LIST_COMMAND = (
    "if ! command -v virsh >/dev/null 2>&1; then echo 'virsh: absent'; "
    # Not answering: said, and not remembered (exits false): asked again next run.
    f"elif ! list=$({VIRSH} -q pool-list --all 2>/dev/null); then echo 'virsh: down'; false; "
    "else echo 'virsh: up'; "
    "printf '%s\\n' \"$list\" | while read -r n s a; do [ -n \"$n\" ] || continue; "
    "echo \"pool: $n $s $a\"; "
    # A persistent pool's definition is libvirt's own file: read it rather
    # than start one more virsh (a libvirt connection each) per pool.
    "x=/etc/libvirt/storage/$n.xml; "
    f"{{ if [ -f \"$x\" ]; then cat \"$x\"; else {VIRSH} pool-dumpxml \"$n\" 2>/dev/null; fi; }} | awk -v n=\"$n\" "
    "'/<pool type=/ {t=$0; sub(/.*<pool type=./, \"\", t); sub(/[^a-z].*/, \"\", t); print \"type: \" n \" \" t} "
    "/<path>/ {p=$0; sub(/^[ \\t]*<path>/, \"\", p); sub(/<\\/path>.*/, \"\", p); print \"path: \" n \" \" p; exit}'; "
    "done; fi"
)

# Whether libvirt answers: a listening socket starts the daemon on demand
# (Debian's libvirtd also exits when idle: its own state says nothing then);
# with no socket, the daemon's state.
LIBVIRT_ANSWERS = (
    f"if [ \"{unit_state('libvirtd.socket', 'active')}\" = active ] || "
    f"[ \"{unit_state('virtstoraged.socket', 'active')}\" = active ]; then _kc_k=\"${{_kc_k}}socket \"; "
    f"else _kc_k=\"$_kc_k{unit_state('libvirtd.service', 'active')} "
    f"{unit_state('virtstoraged.service', 'active')} \"; fi"
)

# virsh connects to libvirt (about 16 ms of CPU, and wakes an idle daemon):
# remembered until the pools' definitions, which are active, the packages or
# whether libvirt answers change (facts._section.remembered).
POOLS_COMMAND = remembered(
    "pools", POOLS_LIST_COMMAND, watched=(*PACKAGE_DATABASES, *POOL_STATE_FILES),
    key_set=f"{LIBVIRT_ANSWERS}; {ACTIVE_POOLS}",
)


# XML's five named entities and its character references (libvirt's XML
# escapes a path's "&", "<", ">", quotes); html.unescape would also read
# HTML's names, and its table costs a millisecond of every run to import.
_XML_ENTITY = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));")
_XML_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _xml_character(match: re.Match) -> str:
    name, decimal, hexadecimal = match.groups()
    if name:
        return _XML_NAMED[name]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    # XML's characters: no NUL, no surrogate halves.
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group(0)


def xml_unescape(text: str) -> str:
    """Text as XML escapes it, unescaped: ``a&amp;b&#32;c`` -> ``a&b c``."""
    return _XML_ENTITY.sub(_xml_character, text) if "&" in text else text


def parse_pools(lines: list[str]) -> dict:
    """``virsh pool-list --all`` plus each pool's type and target path.

    ``virsh`` is ``up`` (libvirtd answered), ``down`` (installed, no daemon)
    or ``absent``; ``pools`` is only meaningful when ``up``.
    """
    state = "absent"
    pools: dict[str, dict] = {}
    for line in lines:
        key, found, rest = line.partition(": ")
        if not found:
            continue
        if key == "virsh":
            state = rest.strip()
        elif key == "pool":
            fields = rest.split()
            if len(fields) >= 3:
                pools[fields[0]] = {"active": fields[1] == "active", "autostart": fields[2] == "yes",
                                    "type": None, "path": None}
        elif key in ("type", "path"):
            name, _, value = rest.partition(" ")
            if name in pools:
                pools[name][key] = xml_unescape(value) if key == "path" else value
    return {"virsh": state, "pools": pools}


POOLS = Section("pools", POOLS_COMMAND, parse_pools)


class StoragePools(FactBase):
    """
    libvirt's storage pools on the host (``qemu:///system``), through ``virsh``.

    .. code:: python

        {"virsh": "up", "pools": {"default": {"active": True, "autostart": True,
                                              "type": "dir", "path": "/data01/primary"}}}
    """

    command = POOLS_COMMAND

    def process(self, output):
        return parse_pools(output)


def pool_paths_watched(paths: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """What the pool directories' owners and modes are remembered by
    (:func:`pool_paths_command`)."""
    return watched_with_owners(path for path in paths if path)


def pool_paths_command(paths: list[str] | tuple[str, ...]) -> str:
    quoted = " ".join(quote(path) for path in paths) or "''"
    # The directories that exist, by one stat (not one per directory),
    # remembered while they and the user databases are the same (a chmod or
    # a chown changes a directory's change time, one made or removed its
    # entry in the key); not while one that is there cannot be read.
    dirs = (f"s=0; set --; for p in {quoted}; do [ -n \"$p\" ] || continue; "
            "if [ -d \"$p\" ]; then set -- \"$@\" \"$p\"; else printf 'dir: %s\\t-\\n' \"$p\"; fi; done; "
            "[ $# -eq 0 ] || stat --printf 'dir: %n\\t%a %U %G %u %g\\n' -- \"$@\" 2>/dev/null || s=1; "
            "[ $s -eq 0 ]")
    watched = pool_paths_watched(paths)
    if watched:
        dirs = remembered("pool-dirs", dirs, watched=watched)
    return (
        "if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled; then echo 'selinux: on'; "
        "echo \"virt_use_nfs: $(getsebool virt_use_nfs 2>/dev/null | awk '{print $NF}')\"; "
        "else echo 'selinux: off'; fi; "
        "if [ -d /etc/apparmor.d ]; then echo 'apparmor: yes'; else echo 'apparmor: no'; fi; "
        f"{dirs}; "
        f"for p in {quoted}; do [ -n \"$p\" ] || continue; "
        "if command -v matchpathcon >/dev/null 2>&1 && selinuxenabled 2>/dev/null; then "
        "printf 'context: %s\\t%s %s\\n' \"$p\" \"$(matchpathcon -n \"$p\" 2>/dev/null | cut -d: -f3)\" "
        "\"$(stat -c %C \"$p\" 2>/dev/null | cut -d: -f3)\"; fi; done"
    )


def parse_pool_paths(lines: list[str]) -> dict:
    """``{"selinux": bool, "virt_use_nfs": "on"|"off"|None, "apparmor": bool,
    "dirs": {path: {"mode", "user", "group", "uid", "gid"} | None},
    "contexts": {path: {"policy": type, "actual": type}}}`` (SELinux types)."""
    values = {}
    for line in lines:
        key, found, value = line.partition(":")
        if found and key in ("selinux", "virt_use_nfs", "apparmor"):
            values[key] = value.strip()
    dirs: dict[str, dict | None] = {}
    for entry in multi_values(lines, "dir"):
        path, _, rest = entry.partition("\t")
        fields = rest.split()
        dirs[path] = dict(zip(("mode", "user", "group", "uid", "gid"), fields)) if len(fields) in (3, 5) else None
    contexts = {}
    for entry in multi_values(lines, "context"):
        path, _, rest = entry.partition("\t")
        fields = rest.split(" ")
        contexts[path] = {"policy": fields[0] or None, "actual": (fields[1] if len(fields) > 1 else "") or None}
    return {
        "selinux": values.get("selinux") == "on",
        "virt_use_nfs": values.get("virt_use_nfs") or None,
        "apparmor": values.get("apparmor") == "yes",
        "dirs": dirs,
        "contexts": contexts,
    }


def pool_paths_section(paths: list[str] | tuple[str, ...]) -> Section:
    return Section("pool_paths", pool_paths_command(paths), parse_pool_paths, pool_paths_watched(paths))


class PoolPaths(FactBase):
    """
    The pool directories (owner, mode, SELinux type the policy wants and the
    one they have) and which MAC system the host runs.

    .. code:: python

        {"selinux": False, "virt_use_nfs": None, "apparmor": True,
         "dirs": {"/data01/primary": {"mode": "775", "user": "root", "group": "kvm"}},
         "contexts": {}}
    """

    def command(self, paths):
        return pool_paths_command(paths)

    def process(self, output):
        return parse_pool_paths(output)
