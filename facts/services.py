"""systemd unit state, for the units the deploy manages: one ``systemctl list-units``
and a remembered ``systemctl show``."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import PACKAGE_DATABASES, Section, matches_stat, quote, remembered, unit_key


# systemd's unit search path (``systemd-analyze unit-paths``; Debian's /lib
# and the merged /usr/lib both), the likeliest first.
UNIT_DIRS = ("/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system",
             "/run/systemd/system", "/run/systemd/transient", "/run/systemd/generator",
             "/run/systemd/generator.early", "/run/systemd/generator.late",
             "/usr/local/lib/systemd/system", "/etc/systemd/system.control",
             "/run/systemd/system.control", "/etc/systemd/system.attached",
             "/run/systemd/system.attached")
# A unit started since boot has a symlink here (to its invocation id).
STARTED_PREFIX = "/run/systemd/units/invocation:"

# What follows the remembered records: ``systemctl list-units``'s lines.
LISTED = "@list-units"

# What ``systemctl show -p Id,LoadState,ActiveState,UnitFileState`` prints for
# a unit systemd has no file for (the probe prints it without asking), kept
# in ``$_kc_nf`` until the section prints.
_NOT_FOUND = "Id=$_kc_u\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n\n"


# Where what enables a unit is kept (systemd's install logic,
# ``unit_file_lookup_state``): the configuration directories, with a unit's
# mask or alias among their entries and its enabling symlinks in their
# ``.wants``/``.requires``/``.upholds`` subdirectories.
CONFIG_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/etc/systemd/system.control",
               "/run/systemd/system.control", "/etc/systemd/system.attached",
               "/run/systemd/system.attached")


# Made anew by systemd at each daemon-reload (and boot): in the key, so that
# what systemd answered before a reload is not served after it (systemd keeps
# a loaded unit's file state until then: a symlink made by hand, or by
# ``systemctl enable --no-reload``, shows only after a reload).
RELOADED_DIRS = ("/run/systemd/generator", "/run/systemd/generator.early", "/run/systemd/generator.late")


def _unit_file_matches() -> tuple[str, ...]:
    """What the unit files' key stats: the directories, then the asked units' files."""
    return (*CONFIG_DIRS, *(f"{directory}/*/" for directory in CONFIG_DIRS), *RELOADED_DIRS, "$_kc_found")


def _unit_file_key() -> str:
    """Shell: one line that changes whenever a unit's file state can: the asked
    units (a unit whose first file appears is asked), the inode, size and
    times of each configuration directory and of each directory in them (an
    entry added, removed or replaced changes its directory's times;
    ``systemctl enable`` may make a new ``.wants`` directory), of every file
    of an asked unit in the whole search path and of its drop-ins
    (``$_kc_found``: a file edited in place, one that overrides another; a
    drop-in may hold ``[Install]``), and of the directories systemd makes anew
    at each reload (:data:`RELOADED_DIRS`). Not /run/systemd/transient itself,
    which every SSH login changes (logind's session scopes): an asked unit's
    file there is among ``$_kc_found``. A package change is watched as the
    database's (facts._section.remembered). The key is the stat's words
    themselves, a few kilobytes: the entry that holds it is read in blocks
    (a ``cksum`` of them cost a process and a pipe each probe). In a probe,
    those stats are the probe's one stat's (the section's watched_matches,
    facts._section.matches_stat); run on its own, a stat here."""
    return f"{matches_stat('services', _unit_file_matches())}; _kc_k=\"$_kc_ask|$_kc_m\""


def services_command(units: list[str] | tuple[str, ...]) -> str:
    """The units' states, as the section run on its own (a fact): its setup,
    then its command."""
    section = services_section(units)
    return f"{section.setup}; {section.command}" if section.setup else section.command


def _services_parts(units: list[str] | tuple[str, ...]) -> tuple[str, str]:
    """(setup, command): the units' files looked for, then their states; also
    left in shell variables (facts._section.unit_state) for the sections that
    follow. The setup runs before the probe's one stat, which takes the stat
    of the files it found (``$_kc_found``).

    Printed as ``systemctl show -p Id,LoadState,ActiveState,UnitFileState``
    prints them, but read in two parts. ``systemctl show`` has systemd
    serialize every property of each unit (the services' cgroup counters
    among them): about 28 ms of a KVM node's CPU for its dozen units, two
    thirds of it in systemd itself, where the shell's ``times`` does not see
    it (docs/benchmarks.md, sixth round). What changes between runs, whether
    a unit is loaded and active, comes from one ``systemctl list-units``
    (about 5 ms, systemd's share included); a unit's Id (its canonical
    name, for an alias) and its file state come from ``systemctl show``,
    remembered (facts._section.remembered) while the unit directories, the
    asked units' files and the package database are the same
    (:func:`_unit_file_key`). A loaded unit list-units does not list (systemd
    unloaded it, unused) is inactive.

    A unit with no file in systemd's search path and never started since boot
    (no ``/run/systemd/units/invocation:`` entry; a running unit whose file was
    removed keeps one) is not asked: the probe prints what systemctl would
    (``LoadState=not-found``). Half the units are of the other family's layout
    (RHEL's modular libvirt on Debian, or Debian's on RHEL)."""
    if not units:
        return "", "true"
    # UNIT/KEY: a unit's name holds no "/" (it may hold ":").
    pairs = " ".join(quote(f"{unit}/{unit_key(unit)}") for unit in units)
    places = " ".join([f"{directory}/" for directory in UNIT_DIRS] + [STARTED_PREFIX])
    known_names = " ".join(f"{quote(unit)}) _kc_id={unit_key(unit)};;" for unit in dict.fromkeys(units))
    unit_files = remembered("unit-files", "systemctl show -p Id,LoadState,UnitFileState $_kc_ask 2>/dev/null",
                            watched=PACKAGE_DATABASES, key_set=_unit_file_key())
    setup = (
        # The places that exist, looked in for every unit: on a host, half of
        # systemd's search path is missing (about 300 of the loop's 900 tests).
        f"_kc_ask=; _kc_found=; _kc_nf=; _kc_places=; for _kc_d in {places}; do "
        "[ ! -d \"${_kc_d%/*}\" ] || _kc_places=\"$_kc_places $_kc_d\"; done; "
        f"for _kc_p in {pairs}; do _kc_u=${{_kc_p%%/*}}; _kc_f=; "
        # A mount made outside systemd has no file but a loaded, active unit: asked.
        "case $_kc_u in *.mount) _kc_f=1;; esac; "
        # Every file of the unit and its drop-ins, for the key (not only the
        # first found; the drop-ins' pattern is expanded by the key's stat).
        "for _kc_d in $_kc_places; do "
        "if [ -e \"$_kc_d$_kc_u\" ] || [ -L \"$_kc_d$_kc_u\" ]; then _kc_f=1; "
        "case $_kc_d in */) _kc_found=\"$_kc_found $_kc_d$_kc_u\";; esac; fi; "
        "[ ! -d \"$_kc_d$_kc_u.d\" ] || _kc_found=\"$_kc_found $_kc_d$_kc_u.d/*\"; done; "
        "if [ -n \"$_kc_f\" ]; then _kc_ask=\"$_kc_ask $_kc_u\"; else "
        f"_kc_nf=\"${{_kc_nf}}{_NOT_FOUND}\"; "
        "eval \"KC_${_kc_p#*/}_active=inactive KC_${_kc_p#*/}_enabled=\"; fi; done"
    )
    command = (
        "printf '%s' \"$_kc_nf\"; "
        "_units=; _kc_act=; if [ -n \"$_kc_ask\" ]; then "
        f"_units=$({unit_files}); "
        "_kc_ifs=$IFS; IFS='\n'; set -f; _kc_ids=; "
        "for _kc_l in $_units; do case $_kc_l in Id=*) _kc_ids=\"$_kc_ids ${_kc_l#Id=}\";; esac; done; "
        # Asked by their Ids: list-units lists a unit under its Id, not its aliases.
        "IFS=$_kc_ifs; [ -z \"$_kc_ids\" ] || "
        "_kc_act=$(systemctl list-units --all --plain --no-legend --full $_kc_ids 2>/dev/null); "
        "set +f; fi; "
        f"printf '%s\\n{LISTED}\\n%s\\n' \"$_units\" \"$_kc_act\"; "
        # Each unit's states in KC_<Id>_active/_enabled, read by the shell
        # (no awk): Id comes first in each record, a unit's list-units line
        # (UNIT LOAD ACTIVE SUB DESCRIPTION) after all of them: a unit it
        # does not list is inactive. The name made a variable's (every
        # character but a letter or a digit is _), the values never evaluated.
        "_kc_ifs=$IFS; IFS='\n'; set -f; _kc_id=; for _kc_l in $_units$IFS$_kc_act; do case $_kc_l in "
        "Id=*) _kc_n=${_kc_l#Id=}; _kc_v=inactive;; "
        "UnitFileState=*) eval \"KC_${_kc_id}_enabled=\\${_kc_l#UnitFileState=}\"; continue;; "
        "LoadState=*|ActiveState=*) continue;; "
        "*) _kc_n=${_kc_l%% *}; IFS=' '; set -- $_kc_l; IFS='\n'; _kc_v=$3;; esac; "
        # The asked units' variable names are written in (a case); only a name
        # systemd gives that was not asked (an alias's Id) is made character
        # by character.
        f"case $_kc_n in {known_names} *) "
        "_kc_id=; while [ -n \"$_kc_n\" ]; do _kc_r=${_kc_n#?}; "
        "case ${_kc_n%\"$_kc_r\"} in [A-Za-z0-9]) _kc_id=$_kc_id${_kc_n%\"$_kc_r\"};; *) _kc_id=${_kc_id}_;; esac; "
        "_kc_n=$_kc_r; done;; esac; eval \"KC_${_kc_id}_active=\\$_kc_v\"; done; set +f; IFS=$_kc_ifs"
    )
    return setup, command


def parse_services(lines: list[str]) -> dict[str, dict]:
    """``{unit: {"active": ActiveState, "enabled": UnitFileState}}``.

    ``systemctl show``'s records (``Id=`` first), then, after the
    :data:`LISTED` line, ``systemctl list-units``'s (UNIT LOAD ACTIVE SUB
    DESCRIPTION): a unit's LOAD and ACTIVE columns are its LoadState and
    ActiveState, and a unit it does not list is inactive.

    A unit systemd does not know has ``"enabled": "not-found"``; ``enabled``
    is otherwise systemd's own word (enabled, disabled, static, masked, ...).
    """
    cut = lines.index(LISTED) if LISTED in lines else len(lines)
    listed = {fields[0]: (fields[1], fields[2])
              for fields in (line.split() for line in lines[cut + 1:]) if len(fields) >= 3}
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in lines[:cut] + [""]:
        if not line.strip():
            if "Id" in current:
                records.append(current)
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value.strip()
    units: dict[str, dict] = {}
    for record in records:
        load, active = listed.get(record["Id"], (record.get("LoadState", ""),
                                                 record.get("ActiveState", "inactive")))
        enabled = "not-found" if load == "not-found" else record.get("UnitFileState", "")
        units[record["Id"]] = {"active": active, "enabled": enabled or "static"}
    return units


def services_section(units: list[str] | tuple[str, ...]) -> Section:
    setup, command = _services_parts(units)
    return Section("services", command, parse_services, setup=setup,
                   watched_matches=_unit_file_matches() if setup else ())


class Services(FactBase):
    """
    Active and enabled state of each of ``units``.

    .. code:: python

        {"libvirtd.service": {"active": "active", "enabled": "enabled"},
         "nosuch.service": {"active": "inactive", "enabled": "not-found"}}
    """

    def command(self, units):
        return services_command(units)

    def process(self, output):
        return parse_services(output)
