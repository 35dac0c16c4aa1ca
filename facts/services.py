"""systemd unit state, for the units the deploy manages, in one ``systemctl show``."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, quote, unit_key


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

# What ``systemctl show -p Id,LoadState,ActiveState,UnitFileState`` prints for
# a unit systemd has no file for (the probe prints it without asking).
_NOT_FOUND = "Id=%s\\nLoadState=not-found\\nActiveState=inactive\\nUnitFileState=\\n\\n"


def services_command(units: list[str] | tuple[str, ...]) -> str:
    """One ``systemctl show`` for the units systemd can know; its states are
    also left in shell variables (facts._section.unit_state) for the sections
    that follow.

    ``systemctl`` costs about 0.4 ms of CPU per unit it shows: a unit with no
    file in systemd's search path and never started since boot (no
    ``/run/systemd/units/invocation:`` entry; a running unit whose file was
    removed keeps one) is not asked: the probe prints what systemctl would
    (``LoadState=not-found``). Half the units are of the other family's layout
    (RHEL's modular libvirt on Debian, or Debian's on RHEL)."""
    if not units:
        return "true"
    # UNIT/KEY: a unit's name holds no "/" (it may hold ":").
    pairs = " ".join(quote(f"{unit}/{unit_key(unit)}") for unit in units)
    places = " ".join([f"{directory}/" for directory in UNIT_DIRS] + [STARTED_PREFIX])
    return (
        "_kc_ask=; "
        f"for _kc_p in {pairs}; do _kc_u=${{_kc_p%%/*}}; _kc_f=; "
        # A mount made outside systemd has no file but a loaded, active unit: asked.
        "case $_kc_u in *.mount) _kc_f=1;; esac; "
        f"[ -n \"$_kc_f\" ] || for _kc_d in {places}; do "
        "[ -e \"$_kc_d$_kc_u\" ] || [ -L \"$_kc_d$_kc_u\" ] && { _kc_f=1; break; }; done; "
        "if [ -n \"$_kc_f\" ]; then _kc_ask=\"$_kc_ask $_kc_u\"; else "
        f"printf '{_NOT_FOUND}' \"$_kc_u\"; "
        "eval \"KC_${_kc_p#*/}_active=inactive KC_${_kc_p#*/}_enabled=\"; fi; done; "
        "_units=; [ -z \"$_kc_ask\" ] || "
        "_units=$(systemctl show -p Id,LoadState,ActiveState,UnitFileState $_kc_ask 2>/dev/null); "
        "printf '%s\\n' \"$_units\"; "
        # Each unit's states in KC_<Id>_active/_enabled, read by the shell
        # (no awk): Id comes first in each record; the name made a variable's
        # (every character but a letter or a digit is _), the values never
        # evaluated.
        "_kc_ifs=$IFS; IFS='\n'; set -f; _kc_id=; for _kc_l in $_units; do case $_kc_l in "
        "Id=*) _kc_n=${_kc_l#Id=}; _kc_id=; while [ -n \"$_kc_n\" ]; do _kc_r=${_kc_n#?}; "
        "case ${_kc_n%\"$_kc_r\"} in [A-Za-z0-9]) _kc_id=$_kc_id${_kc_n%\"$_kc_r\"};; *) _kc_id=${_kc_id}_;; esac; "
        "_kc_n=$_kc_r; done;; "
        "ActiveState=*) eval \"KC_${_kc_id}_active=\\${_kc_l#ActiveState=}\";; "
        "UnitFileState=*) eval \"KC_${_kc_id}_enabled=\\${_kc_l#UnitFileState=}\";; "
        "esac; done; set +f; IFS=$_kc_ifs"
    )


def parse_services(lines: list[str]) -> dict[str, dict]:
    """``{unit: {"active": ActiveState, "enabled": UnitFileState}}``.

    A unit systemd does not know has ``"enabled": "not-found"``; ``enabled``
    is otherwise systemd's own word (enabled, disabled, static, masked, ...).
    """
    units: dict[str, dict] = {}
    current: dict[str, str] = {}

    def flush():
        if "Id" in current:
            enabled = current.get("UnitFileState", "")
            if current.get("LoadState") == "not-found":
                enabled = "not-found"
            units[current["Id"]] = {"active": current.get("ActiveState", ""), "enabled": enabled or "static"}

    for line in lines + [""]:
        if not line.strip():
            flush()
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value.strip()
    return units


def services_section(units: list[str] | tuple[str, ...]) -> Section:
    return Section("services", services_command(units), parse_services)


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
