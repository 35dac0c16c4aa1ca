"""Shared pieces of the facts: sections and small parsing helpers."""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Section:
    """One probe: a POSIX shell snippet and the pure function parsing its stdout.

    Snippets never fail: a missing file or tool prints an empty value, so that
    one section cannot fail the whole batched :class:`facts.host.HostProbe`.
    """

    name: str
    command: str
    parse: Callable[[list[str]], Any]
    # Files the command's remembered parts (:func:`remembered`) watch: the
    # probe stats them with the others, in its one stat (:func:`watched_prelude`).
    watched: tuple[str, ...] = ()
    # Shell run before the probe's one stat: a section's own variables naming
    # what it watches (facts.services: ``$_kc_found``).
    setup: str = ""
    # Shell words (absolute patterns, or the setup's ``$_kc_`` variables)
    # whose matches the probe's one stat also takes, in order, their records
    # left in the section's own variable as a stat of them prints them (read
    # by :func:`matches_stat`): for a key over files not known beforehand.
    watched_matches: tuple[str, ...] = ()


def key_values(lines: list[str], sep: str = ":") -> dict[str, str]:
    """``key: value`` lines to a dict (first separator splits; later keys win)."""
    result = {}
    for line in lines:
        key, found, value = line.partition(sep)
        if found:
            result[key.strip()] = value.strip()
    return result


def multi_values(lines: list[str], key: str, sep: str = ":") -> list[str]:
    """All values of a key that may repeat (``device: ...`` lines)."""
    values = []
    for line in lines:
        k, found, value = line.partition(sep)
        if found and k.strip() == key:
            values.append(value.strip())
    return values


def unquote_shell(value: str) -> str:
    """The value of a shell assignment's right-hand side: ``"a b"`` -> ``a b``."""
    try:
        return " ".join(shlex.split(value, posix=True))
    except ValueError:
        return value.strip("\"'")


def quote(value: str) -> str:
    return shlex.quote(value)


def print_file(path: str) -> str:
    """Shell: a small file's lines, printed by the shell itself, not by a ``cat``
    process (about 0.6 ms each here); nothing for a missing file. dash's
    ``read`` takes a byte per system call, so this is for files of a kilobyte
    or so (0.1 ms for os-release, 0.5 ms for 1.3 KB). ``path`` is shell words,
    already quoted."""
    return ("{ while IFS= read -r _kc_l || [ -n \"$_kc_l\" ]; do printf '%s\\n' \"$_kc_l\"; "
            f"done < {path}; }} 2>/dev/null")


def printed_at_once(command: str) -> str:
    """Shell: ``command``'s output held by the shell (in ``$_kc_out``) and
    written in one go when it ends. The probe prints line by line (``printf``
    per line, a process per value), and sshd sends what it reads as it comes:
    a hundred-odd SSH packets of a few lines each, and paramiko's work per
    packet cost the management node about 8 ms of CPU a probe, 3 ms once
    written at once; the host pays one subshell (about 1 ms). Trailing empty
    lines are dropped, as command substitution drops them, and the whole exits
    0 whatever the command's status (the probe ends ``true`` anyway)."""
    return f'_kc_out=$({command}); printf \'%s\\n\' "$_kc_out"'


# What the probe remembers between runs: in /run, so a reboot forgets it.
REMEMBERED_DIR = "/run/kvm-cluster/probe"

# What a package install, upgrade or removal rewrites (dpkg's status file, the
# RPM database): output that depends on installed packages is stale after it.
PACKAGE_DATABASES = ("/var/lib/dpkg/status", "/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages")


# How a watched file is compared: its inode, size, change and modification times.
WATCH_STAT = "stat -L --printf '%n %i %s %z %y|'"
_WATCHABLE = re.compile(r"/[A-Za-z0-9_./+-]*")


# The user and group databases: what names a file's owner and group (stat's
# %U %G) and what getent and id read from.
USER_DATABASES = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf")


def watchable(files) -> bool:
    """Whether every one of ``files`` can be watched: a plain absolute path."""
    return all(_WATCHABLE.fullmatch(path) for path in files)


def watched_with_owners(files) -> tuple[str, ...]:
    """What an answer about ``files`` that names their owners and groups
    (stat's %U %G) is remembered by: the files and the user databases; none
    where there are no files or one cannot be watched (the answer is then
    asked every time)."""
    files = tuple(files)
    return (*USER_DATABASES, *files) if files and watchable(files) else ()


def _check_watchable(files) -> None:
    """Watched paths go into the shell unquoted and into case patterns: plain ones only."""
    for path in files:
        if not _WATCHABLE.fullmatch(path):
            raise ValueError(f"a watched file's path must be plain: {path!r}")


def _stat_variable(path: str) -> str:
    """The shell variable :func:`watched_prelude` leaves ``path``'s stat in."""
    return "_kc_s" + hashlib.sha1(path.encode()).hexdigest()[:12]


def watched_stats(files: tuple[str, ...]) -> str:
    """Shell: the stat of each of ``files`` that exists, into ``$_kc_w``:
    as the probe's one ``stat`` left it (:func:`watched_prelude`), and a file
    that command did not cover (or run on its own: no ``_kc_stats``) is
    stat'ed here. The same words either way."""
    _check_watchable(files)
    taken = "; ".join(
        f"if [ -n \"${{{variable}+set}}\" ]; then _kc_w=\"$_kc_w${variable}|\"; "
        f"else [ ! -e {path} ] || _kc_own=\"$_kc_own {path}\"; fi"
        for path, variable in ((path, _stat_variable(path)) for path in files))
    return (
        f"_kc_w=; _kc_own=; if [ -n \"${{_kc_stats+set}}\" ]; then {taken}; "
        f"else _kc_own='{' '.join(files)}'; fi; "
        f"[ -z \"$_kc_own\" ] || _kc_w=\"$_kc_w$({WATCH_STAT} $_kc_own 2>/dev/null)\""
    )


# Before each section's matches in the probe's one stat: a name no watched
# path or match is written as (stat prints each name as given).
_MATCHES_FOLLOW = "/."
_WATCHABLE_MATCH = re.compile(r"/(?!\.)[A-Za-z0-9_./+*?-]*|\$_kc_[a-z_]+")
_SECTION_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _matches_variable(section: str) -> str:
    if not _SECTION_NAME.fullmatch(section):
        raise ValueError(f"a section's name must be plain: {section!r}")
    return f"_kc_g_{section}"


def matches_stat(section: str, words: tuple[str, ...]) -> str:
    """Shell: ``$_kc_m`` set to the stat of the matches of ``words`` (a
    section's watched_matches): the probe's one stat's records (the same words
    a stat of them prints), or, run on its own (or where the probe's could not
    be cut right), such a stat, its patterns expanded in the C locale as the
    probe's are (bash sorts a glob's matches by the locale). A remembered
    entry keyed by it is thus the same in the probe and outside it. Empty (no
    stat answered, or nothing matched): ``_kc_nokeep``, nothing remembered."""
    variable = _matches_variable(section)
    return (f"if [ -n \"${{{variable}+set}}\" ]; then _kc_m=${variable}; "
            f"else _kc_m=$({C_LOCALE}; {WATCH_STAT} {' '.join(words)} 2>/dev/null); fi; "
            "[ -n \"$_kc_m\" ] || _kc_nokeep=1")


def watched_prelude(files, matches=()) -> str:
    """Shell: one ``stat`` of every file the remembered entries of a probe
    watch (not one per entry), each file's in a variable of its own, read by
    :func:`watched_stats`; and of the matches of each section's
    watched_matches (``matches``: (section name, words) pairs), in the
    section's variable (:func:`matches_stat`). Cut at stat's separators once
    and each record matched against the paths from its start: taking a
    file's out of the whole output (``${out#*"|path "}``) costs dash a time
    that grows with the square of the output's length, 80 ms a probe for
    fifty files."""
    files = tuple(dict.fromkeys(files))
    _check_watchable(files)
    cases = " ".join(f"\"{path} \"*) {_stat_variable(path)}=$_kc_r;;" for path in files)
    matches = [(section, tuple(words)) for section, words in matches if words]
    if not matches:
        return (
            "_kc_stats=1; _kc_ifs=$IFS; IFS='|'; set -f; "
            f"for _kc_r in $({WATCH_STAT} {' '.join(files)} 2>/dev/null); do case $_kc_r in {cases} esac; done; "
            "set +f; IFS=$_kc_ifs"
        )
    for _section, words in matches:
        for word in words:
            if not _WATCHABLE_MATCH.fullmatch(word):
                raise ValueError(f"a watched pattern must be plain: {word!r}")
    variables = [_matches_variable(section) for section, _words in matches]
    arguments = " ".join(f"{_MATCHES_FOLLOW} {' '.join(words)}" for _section, words in matches)
    groups = " ".join(f"{index}) {variable}=\"${variable}$_kc_r|\";;"
                      for index, variable in enumerate(variables, 1))
    # The patterns expanded (before set -f); each marker's record starts the
    # next section's matches, which go to its variable whatever their names
    # (a match may also be a watched file).
    return (
        f"_kc_stats=1; {'= '.join(variables)}=; _kc_g=0; _kc_ifs=$IFS; "
        f"_kc_all=$({WATCH_STAT} {' '.join(files)} {arguments} 2>/dev/null); "
        "IFS='|'; set -f; for _kc_r in $_kc_all; do case $_kc_r in "
        f"\"{_MATCHES_FOLLOW} \"*) _kc_g=$((_kc_g + 1)); continue;; esac; "
        f"case $_kc_g in 0) case $_kc_r in {cases} esac;; {groups} esac; done; "
        # A name holding "|/. " fakes a marker: the sections' records cannot
        # be told apart, and each section stats its own (matches_stat).
        f"[ \"$_kc_g\" -eq {len(variables)} ] || unset {' '.join(variables)}; "
        "set +f; IFS=$_kc_ifs"
    )


# Writes a remembered entry ("$t.new") from the output in "$t.out" and the key
# in $k: a shell script that returns 1 unless $k is still that key, and else
# prints the output (each single quote of either written as '\''). It fails
# if any write fails: an entry not written whole is never put in place.
_WRITE_ENTRY = (
    r"""{ printf '[ "$k" = '\''%s'\'' ] || return 1\n' "$(printf '%s' "$k" | sed "s/'/'\\\\''/g")" && """
    r"""{ [ ! -s "$t.out" ] || sed -e "s/'/'\\\\''/g" -e "1s/^/printf '%s\\\\n' '/" -e "\$s/\$/'/" "$t.out"; }; """
    r"""} > "$t.new" """
)

# Shell: the commands after it answer in the C locale: their words are the
# ones the parsers read (on a host set up in German, nmcli calls a device
# "nicht verwaltet", not "unmanaged"), and no process loads the host's locale
# as it starts: a tenth of a KVM node's probe where sessions get LANG=C.UTF-8
# (docs/benchmarks.md, seventh round). The probe sets it first of all
# (facts.host); remembered commands set it too, for a fact run on its own: an
# entry holds the tools' own words, never a translation, for every reader.
C_LOCALE = "LC_ALL=C; export LC_ALL"


def remembered(name: str, command: str, watched: tuple[str, ...] = (), key_set: str = "") -> str:
    """``command``'s output, remembered on the host and served again while it
    cannot have changed: the same boot (it lives in /run), each of the files
    ``watched`` the same (inode, change and modification times, from one
    ``stat`` for the whole probe, :func:`watched_prelude`: a package change
    rewrites the package database, and a time set back or a file restored
    with ``cp -p`` still changes its inode or its change time), and the
    key ``key_set`` leaves in ``$_kc_k`` (the shell's own words where they
    can: a command substitution is a process, about 0.4 ms a probe) the
    same as then; a ``key_set`` that cannot make a key sets ``_kc_nokeep``
    and the command runs, nothing read or kept. The
    entry's name holds a digest of the command, so other arguments are
    another entry. A command that fails (exit status) is not remembered.
    Where /run cannot be written (not root), the command runs every time.

    An entry is a small shell script the probe sources (``.``): it returns 1
    unless it was written for the key the probe computed now, and else prints
    the output with one ``printf``. The shell reads a sourced file in blocks;
    its ``read`` takes a byte per system call, and reading entries and keys so
    cost 2-4 ms of a KVM node's CPU a probe (docs/benchmarks.md, seventh
    round). Only an entry of the probe's own user, a file not empty, is
    sourced, and ``command .`` makes one that cannot be read a miss, not the
    shell's exit. A probe writes an entry under names of its own (its shell's
    process id) and puts it in place whole (``mv``): two probes at once (two
    deploys, a report during a deploy) each serve their own answer and leave
    a whole entry. Entries' names end in ``.sh``, so an older probe's entries
    (plain output) are never sourced.

    The probe wraps in it what only a reboot or a package change can change
    and costs the most to read (virt-host-validate, libvirt's pools, the CPU's
    flags, package states), and what only a change of its files can change
    (the managed files' digests, the role account's state, the pool
    directories' owners, the network configuration files' digests), keyed by
    those files' stat. Two limits, as for git's index: a file's times move
    at the kernel's clock tick (a few ms; a second on ext3 and on ext4 with
    small inodes), so a file rewritten in place at the same size twice
    within one tick, with a probe reading it between the two writes, keeps
    its stat and its first content is served until its next change (what
    the deploy writes it writes to a new file renamed over the old, a new
    inode, as most editors do); and on an NFS mount the stat may come from
    the client's attribute cache (up to a minute old by default), so a file
    rewritten from another client can be served as it was for that long."""
    command = f"( {C_LOCALE}; {command} )"
    # (The digest's form is the one entries had when a key could also be a
    # command: the names of what older probes left stay the same.)
    digest = hashlib.sha1(f"{command}\0{chr(0) + key_set if key_set else ''}".encode()).hexdigest()[:12]
    entry = f"{REMEMBERED_DIR}/{name}-{digest}.sh"
    parts = []
    stats = ""
    if key_set:
        stats = f"_kc_k=; _kc_nokeep=; {key_set}; "
        parts.append("$_kc_k")
    if watched:
        stats += watched_stats(tuple(watched)) + "; "
        parts.append("$_kc_w")
    missed_output = print_file('"$t.out"')
    return (
        f"{stats}c={entry}; t=\"$c.$$\"; k=\"{' '.join(parts)}\"; "
        + ("if [ -n \"$_kc_nokeep\" ]; then " + command + "; el" if key_set else "")
        + "if [ -f \"$c\" ] && [ -s \"$c\" ] && [ -O \"$c\" ] && command . \"$c\" 2>/dev/null; then :; "
        f"elif {{ [ -d {REMEMBERED_DIR} ] || mkdir -p -m 0700 {REMEMBERED_DIR}; }} 2>/dev/null "
        # `true`, not `:`: a redirection that fails on a special builtin (`:`)
        # ends a POSIX shell (a probe whose user may not write here).
        "&& { true > \"$t.out\"; } 2>/dev/null; then "
        # Kept only when the command succeeded: a failure is asked again next time.
        f"if {command} > \"$t.out\"; then {_WRITE_ENTRY}&& mv -f \"$t.new\" \"$c\"; fi; "
        f"{missed_output}; rm -f \"$t.out\" \"$t.new\"; "
        f"else {command}; fi"
    )


# systemd units whose state several sections ask: the probe reads them with the
# deploy's own units (facts.services: one ``systemctl list-units``), instead of a
# ``systemctl is-active`` (about 3 ms of CPU) in each section.
SHARED_UNITS = ("NetworkManager.service", "systemd-resolved.service", "firewalld.service",
                "libvirtd.service", "libvirtd.socket", "virtstoraged.service", "virtstoraged.socket")


def unit_key(unit: str) -> str:
    """``unit``'s name as part of a shell variable's: every character but a
    letter or a digit is ``_``."""
    return re.sub(r"[^A-Za-z0-9]", "_", unit)


def unit_variable(unit: str, field: str) -> str:
    """The shell variable facts.services sets to ``unit``'s ``active``
    (ActiveState) or ``enabled`` (UnitFileState) state."""
    return f"KC_{unit_key(unit)}_{field}"


def unit_state(unit: str, field: str) -> str:
    """Shell words for ``unit``'s state, as ``systemctl is-active`` or
    ``is-enabled`` prints it: from the probe's services section when it read
    the unit, else asked now (the fact run on its own)."""
    ask = {"active": "is-active", "enabled": "is-enabled"}[field]
    return f"${{{unit_variable(unit, field)}-$(systemctl {ask} {unit} 2>/dev/null)}}"


# The kernel's mount table, as the calling process sees it.
MOUNT_TABLE = "/proc/self/mountinfo"


def _mount_table_escaped(path: str) -> str:
    """``path`` as the kernel writes it in the mount table (a space, a tab, a
    newline and a backslash as octal escapes)."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)


def mount_line(path: str) -> str:
    """Shell: ``mount: FSTYPE SOURCE`` for the filesystem mounted at the directory ``path``
    (the one mounted last, which is the one in use; nothing when nothing is),
    read by :func:`parse_mount`. ``path`` is the configured one, unquoted: as
    ``findmnt --mountpoint`` does, its real path is looked up (a symlink to
    the mount point finds the mount), and where it cannot be (a stale NFS
    handle, a mount root may not enter) the path as written is; a bind
    mount's source is the device with the mounted directory in brackets
    (``/dev/vda[/srv/data]``).

    From ``/proc/self/mountinfo``, read once per probe (``$_kc_mounts``) by
    every section that asks, not by a ``findmnt`` per section (1.3 ms each
    here). The fields there are the kernel's, with a space, a tab, a newline
    and a backslash written as octal escapes: a real path holding one of these
    is looked up by ``findmnt`` instead, whose raw output escapes them in hex.
    Printed by ``printf``: dash's ``echo`` would decode the escapes."""
    q = quote(path)
    return (
        # Its real path by a ``cd -P`` there and back, not a ``$(cd && pwd -P)``
        # (a command substitution is a process).
        f"_kc_p=; _kc_here=$PWD; if cd -P {q} 2>/dev/null; then _kc_p=$PWD; "
        "cd \"$_kc_here\" 2>/dev/null || cd /; fi; m=; "
        "case $_kc_p in "
        f"*' '*|*'\t'*|*'\\'*|*'\n'*) m=$(findmnt -n -r -o FSTYPE,SOURCE --mountpoint {q} 2>/dev/null); "
        "m=${m##*'\n'};; "
        f"*) [ -n \"$_kc_p\" ] || _kc_p={quote(_mount_table_escaped(path))}; "
        f"[ -n \"${{_kc_mounts+set}}\" ] || _kc_mounts=$(cat {MOUNT_TABLE} 2>/dev/null); "
        "_kc_ifs=$IFS; IFS='\n'; set -f; for _kc_l in $_kc_mounts; do IFS=' '; set -- $_kc_l; IFS='\n'; "
        "[ \"$5\" = \"$_kc_p\" ] || continue; _kc_r=$4; while [ $# -gt 0 ] && [ \"$1\" != - ]; do shift; done; "
        # A bind mount's source as findmnt names it: the device, then the
        # directory of it that is mounted.
        "[ $# -lt 3 ] || { m=\"$2 $3\"; [ \"$_kc_r\" = / ] || m=\"$m[$_kc_r]\"; }; done; set +f; IFS=$_kc_ifs;; esac; "
        "[ -z \"$m\" ] || printf 'mount: %s\\n' \"$m\""
    )


_ESCAPED = re.compile(r"\\([0-7]{3})|\\x([0-9a-fA-F]{2})")


def parse_mount(value: str) -> dict:
    """``mount:``'s value (:func:`mount_line`) to ``{"source", "fstype"}``
    (empty when nothing is mounted): the kernel's octal escapes and findmnt's
    hex ones decoded."""
    fstype, _, source = value.strip().partition(" ")
    if not fstype:
        return {}

    def decode(text: str) -> str:
        return _ESCAPED.sub(lambda m: chr(int(m.group(1), 8) if m.group(1) else int(m.group(2), 16)), text)

    return {"fstype": decode(fstype), "source": decode(source)}
