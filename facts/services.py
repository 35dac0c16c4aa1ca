"""systemd unit state, for the units the deploy manages, in one ``systemctl show``."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, quote


def services_command(units: list[str] | tuple[str, ...]) -> str:
    """One ``systemctl show`` for every unit; its states are also left in shell
    variables (facts._section.unit_state) for the sections that follow."""
    if not units:
        return "true"
    names = " ".join(quote(unit) for unit in units)
    return (
        f"_units=$(systemctl show -p Id,LoadState,ActiveState,UnitFileState {names} 2>/dev/null); "
        "printf '%s\\n' \"$_units\"; "
        # One record per unit (blank-line separated), its fields in any order.
        "eval \"$(printf '%s\\n' \"$_units\" | awk 'BEGIN {RS=\"\"; FS=\"\\n\"} "
        "{id=\"\"; a=\"\"; e=\"\"; for (i=1; i<=NF; i++) {k=substr($i, 1, index($i, \"=\")-1); "
        "v=substr($i, index($i, \"=\")+1); gsub(/[^A-Za-z0-9.@_-]/, \"\", v); "
        "if (k==\"Id\") id=v; if (k==\"ActiveState\") a=v; if (k==\"UnitFileState\") e=v} "
        "if (id != \"\") {gsub(/[^A-Za-z0-9]/, \"_\", id); "
        "printf \"KC_%s_active=%s; KC_%s_enabled=%s;\\n\", id, a, id, e}}')\""
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
