"""firewalld: is it running, which zone holds which interfaces, what each zone opens.

One section of the batched probe (``firewall``): on a host where firewalld is
not active it costs nothing (its state comes from the probe's services
section); where it is, the permanent
configuration (which the deploy changes) read from firewalld's own files
(``firewalld.conf``, the zone files), and the record of what the deploy opened.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, print_file, unit_state

RECORD = "/var/lib/kvm-cluster/firewall-opened"
CONF = "/etc/firewalld/firewalld.conf"
# firewalld's own zones, then the administrator's (which replace them by name).
ZONE_DIRS = ("/usr/lib/firewalld/zones", "/etc/firewalld/zones")

# Read as files, not through firewall-cmd: each firewall-cmd is a Python
# process of about 0.1 s of CPU, every run on every firewalld host. The files
# by one awk, each after its marker line (a ``cat`` per file cost about 8 ms
# of a probe: firewalld ships a dozen zones); with no awk, by the shell. Either
# ends a file's last line, so that the next marker is a line of its own. awk
# reads them itself (getline in BEGIN): mawk, Debian's, stops at the first
# file it cannot open when given them as its input, and a file removed since
# the shell found it must cost only itself, as it did with cat.
_MARKED = ('awk -v conf=%s -v record=%s \'BEGIN { for (i = 1; i < ARGC; i++) { f = ARGV[i]; '
           'if (f == conf) print "@conf"; else if (f == record) print "@record"; else print "@zone " f; '
           'while ((getline line < f) > 0) print line; close(f) } }\' "$@" 2>/dev/null' % (CONF, RECORD))
FIREWALL_COMMAND = (
    f"if [ \"{unit_state('firewalld.service', 'active')}\" = active ] && command -v firewall-cmd >/dev/null 2>&1; then "
    "echo 'state: running'; set --; "
    f"for f in {CONF} {' '.join(f'{d}/*.xml' for d in ZONE_DIRS)} {RECORD}; do "
    "[ -f \"$f\" ] && set -- \"$@\" \"$f\"; done; "
    f"if command -v awk >/dev/null 2>&1; then [ $# -eq 0 ] || {_MARKED}; else for f in \"$@\"; do "
    f"case $f in {CONF}) echo '@conf';; {RECORD}) echo '@record';; *) echo \"@zone $f\";; esac; "
    + print_file('"$f"') + "; done; fi; "
    "else echo 'state: not running'; fi"
)


def _zone(text: str) -> dict | None:
    """A zone file's interfaces, sources, services and ports (``port/protocol``),
    as ``firewall-cmd --list-all-zones`` lists them; None when it does not parse."""
    # Imported here: only firewalld hosts have zone files, and ElementTree
    # costs every run 1.5 ms to import.
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return None
    return {  # sorted, as firewall-cmd lists them
        "interfaces": sorted(e.get("name") for e in root.findall("interface") if e.get("name")),
        "sources": sorted(e.get("address") or e.get("mac") or f"ipset:{e.get('ipset')}"
                          for e in root.findall("source")),
        "services": sorted(e.get("name") for e in root.findall("service") if e.get("name")),
        "ports": sorted(f"{e.get('port')}/{e.get('protocol')}" for e in root.findall("port")),
    }


def parse_firewall(lines: list[str]) -> dict:
    """``{"running": bool, "default": zone, "zones": {zone: {"interfaces": [...],
    "sources": [...], "services": [...], "ports": [...]}}, "opened": {zone: [service]}}``:
    the permanent configuration (firewalld's zone files, the administrator's
    replacing them by name); ``opened`` is what this deploy opened (its record)."""
    result: dict = {"running": False, "default": None, "zones": {}, "opened": {}}
    part, zone_file, texts = None, None, {}
    conf: list[str] = []
    for raw in lines:
        line = raw.rstrip("\n")
        if line in ("@conf", "@record") or line.startswith("@zone "):
            part = line[1:].split()[0]
            if part == "zone":
                zone_file = line.split(" ", 1)[1]
                texts[zone_file] = []
            continue
        if part is None:
            key, _, value = line.partition(":")
            if key.strip() == "state":
                result["running"] = value.strip() == "running"
        elif part == "conf":
            conf.append(line)
        elif part == "zone":
            texts[zone_file].append(line)
        elif part == "record" and line.strip():
            words = line.split()
            if len(words) == 2:
                result["opened"].setdefault(words[0], []).append(words[1])
    if result["running"]:
        settings = dict(line.split("=", 1) for line in conf if "=" in line and not line.startswith("#"))
        result["default"] = settings.get("DefaultZone", "public").strip() or "public"
    for path in sorted(texts, key=lambda p: (not p.startswith(ZONE_DIRS[0]), p)):
        parsed = _zone("\n".join(texts[path]))
        if parsed is not None:
            result["zones"][path.rsplit("/", 1)[1][:-len(".xml")]] = parsed
    result["zones"] = dict(sorted(result["zones"].items()))
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
