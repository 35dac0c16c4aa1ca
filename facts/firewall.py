"""firewalld: is it running, which zone holds which interfaces, what each zone opens.

One section of the batched probe (``firewall``): on a host where firewalld is
not active it costs one ``systemctl``; where it is, one ``firewall-cmd
--list-all-zones`` (the permanent configuration, which the deploy changes)
and the record of what the deploy opened.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section

RECORD = "/var/lib/kvm-cluster/firewall-opened"

FIREWALL_COMMAND = (
    "if systemctl -q is-active firewalld 2>/dev/null && command -v firewall-cmd >/dev/null 2>&1; then "
    "echo 'state: running'; echo \"default: $(firewall-cmd --get-default-zone 2>/dev/null)\"; "
    "echo '@zones'; firewall-cmd --permanent --list-all-zones 2>/dev/null; "
    f"echo '@record'; cat {RECORD} 2>/dev/null; "
    "else echo 'state: not running'; fi"
)


def parse_firewall(lines: list[str]) -> dict:
    """``{"running": bool, "default": zone, "zones": {zone: {"interfaces": [...],
    "sources": [...], "services": [...], "ports": [...]}}, "opened": {zone: [service]}}``:
    the permanent configuration; ``opened`` is what this deploy opened (its record)."""
    result: dict = {"running": False, "default": None, "zones": {}, "opened": {}}
    part = None
    zone = None
    for raw in lines:
        line = raw.rstrip()
        if line in ("@zones", "@record"):
            part = line[1:]
            continue
        if part is None:
            key, _, value = line.partition(":")
            if key.strip() == "state":
                result["running"] = value.strip() == "running"
            elif key.strip() == "default":
                result["default"] = value.strip() or None
        elif part == "zones":
            if line and not line.startswith((" ", "\t")):
                zone = line.split()[0]
                result["zones"][zone] = {"interfaces": [], "sources": [], "services": [], "ports": []}
            elif zone and ":" in line:
                key, _, value = line.strip().partition(":")
                if key in ("interfaces", "sources", "services", "ports"):
                    result["zones"][zone][key] = value.split()
        elif part == "record" and line.strip():
            words = line.split()
            if len(words) == 2:
                result["opened"].setdefault(words[0], []).append(words[1])
    return result


FIREWALL = Section("firewall", FIREWALL_COMMAND, parse_firewall)


class Firewall(FactBase):
    """
    firewalld's permanent configuration and what this deploy opened in it.

    .. code:: python

        {"running": True, "default": "public",
         "zones": {"public": {"interfaces": ["eth0"], "sources": [], "services": ["ssh", "dns"],
                              "ports": []}},
         "opened": {"public": ["dns"]}}
    """

    command = FIREWALL.command

    def process(self, output):
        return FIREWALL.parse(output)
