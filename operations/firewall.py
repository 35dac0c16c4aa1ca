"""firewalld: open exactly what a host's roles serve, in the zone of its cluster interface.

Where firewalld runs (RHEL and Rocky by default), its default zone blocks what
the cluster's hosts serve each other. The deploy opens the firewalld services
of each role (:func:`role_services`) in the zone that holds the host's cluster
interface (else the default zone), records what it opened, and closes what it
opened once a role goes away; services someone else opened are never closed.
"""

from __future__ import annotations

import logging

from pyinfra import host, state
from pyinfra.api import QuoteString, StringCommand, operation

from facts.firewall import RECORD

from ._log import first_pass
from ._probe import section

logger = logging.getLogger("pyinfra")

# firewalld's own service definitions, per role.
ROLE_SERVICES = {
    "masters": ("dns", "dhcp", "ntp"),
    "nfs_server": ("nfs", "mountd", "rpc-bind"),
    "libvirt_tls": ("libvirt-tls",),
}


def role_services(masters: bool, nfs_server: bool, libvirt_tls: bool) -> list[str]:
    """The firewalld services a host with these roles serves to the cluster."""
    wanted: list[str] = []
    for role, on in (("masters", masters), ("nfs_server", nfs_server), ("libvirt_tls", libvirt_tls)):
        if on:
            wanted += ROLE_SERVICES[role]
    return list(dict.fromkeys(wanted))


def zone_of(firewall: dict, interfaces: list[str]) -> str | None:
    """The zone that holds one of ``interfaces`` (the cluster interface), else the default zone."""
    for zone, config in firewall.get("zones", {}).items():
        if set(config.get("interfaces", [])) & set(interfaces):
            return zone
    return firewall.get("default")


def plan(wanted: list[str], zone_services: list[str], opened: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(to open, to close, the record after): open what is wanted and missing;
    close what this deploy opened and no role wants any more (only that)."""
    to_open = [service for service in wanted if service not in zone_services]
    to_close = [service for service in opened if service not in wanted and service in zone_services]
    record = sorted(service for service in set(opened) | set(to_open)
                    if service in wanted)
    return to_open, to_close, record


@operation()
def services(wanted: list[str], interfaces: list[str], current: dict | None = None):
    """
    Open exactly the firewalld services of the host's roles in the zone of its
    cluster interface; close the ones this deploy opened for a role the host
    no longer has. Nothing happens where firewalld does not run.

    + wanted: the firewalld services (:func:`role_services`)
    + interfaces: the host's cluster interface (and its bridge), to find their zone
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``firewall``
      (``facts.firewall``)

    With ``--diff`` the change is shown as it will be made.

    **Example:**

    .. code:: python

        firewall.services(wanted=["dns", "dhcp", "ntp"], interfaces=["br0", "eth0"],
                          current=probe)
    """
    firewall = section(current, "firewall", {})
    if not firewall.get("running"):
        host.noop("firewalld does not run here")
        return
    zone = zone_of(firewall, interfaces)
    zone_services = firewall.get("zones", {}).get(zone, {}).get("services", [])
    opened = firewall.get("opened", {}).get(zone, [])
    to_open, to_close, record = plan(wanted, zone_services, opened)
    if not to_open and not to_close and record == sorted(opened):
        host.noop(f"firewalld zone {zone} opens {', '.join(wanted) or 'nothing'} for this host's roles")
        return
    if getattr(state.config, "DIFF", False) and first_pass():
        for service in to_open:
            host.log(f"Will open firewalld service {service} in zone {zone}", logger.info)
        for service in to_close:
            host.log(f"Will close firewalld service {service} in zone {zone} (no role serves it now)",
                     logger.info)
    # One command, one firewall-cmd (a Python process, about 0.3 s) per kind of
    # change: the services opened, those closed, the reload, then the record.
    bits: list = []
    if to_open:
        bits += ["firewall-cmd", "--permanent", f"--zone={zone}",
                 *(f"--add-service={service}" for service in to_open), "&&"]
    if to_close:
        bits += ["firewall-cmd", "--permanent", f"--zone={zone}",
                 *(f"--remove-service={service}" for service in to_close), "&&"]
    if to_open or to_close:
        bits += ["firewall-cmd", "--reload", "&&"]
    lines = "".join(f"{zone} {service}\n" for service in record)
    yield StringCommand(*bits, "mkdir -p", RECORD.rsplit("/", 1)[0], "&& printf '%s'", QuoteString(lines),
                        ">", RECORD)
