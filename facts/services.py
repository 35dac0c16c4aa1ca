"""systemd unit state, for the units the deploy manages, in one ``systemctl show``."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, quote


def services_command(units: list[str] | tuple[str, ...]) -> str:
    if not units:
        return "true"
    names = " ".join(quote(unit) for unit in units)
    return f"systemctl show -p Id,LoadState,ActiveState,UnitFileState {names} 2>/dev/null"


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
