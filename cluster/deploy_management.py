"""The management plane step: DNS and static DHCP on the masters (dnsmasq),
NTP (chrony: masters serve, every other host follows them) and the
ClusterShell groups on the masters.

The pure functions here tell the batched probe what to read for a host
(:func:`packages`, :func:`managed_paths`, :func:`units`); the ``@deploy``
functions decide everything from that probe.
"""

from __future__ import annotations

from pyinfra import state
from pyinfra.api import deploy

from operations import clustershell, dns, ntp
from operations._log import warn_once

from .settings import GROUPS, HostSettings

FAMILIES = ("debian", "rhel")


def packages(settings: HostSettings, os_release: dict) -> list[str]:
    """Masters: dnsmasq, chrony, clustershell (EPEL on RHEL); every other host: chrony.
    The names are the same on Debian, Ubuntu and RHEL."""
    if settings.in_group("masters"):
        return ["dnsmasq", "chrony", "clustershell"]
    return ["chrony"]


def managed_paths(settings: HostSettings) -> list[str]:
    """The files this step writes on the host (both families' chrony paths:
    the probe runs before the distribution is known)."""
    paths = [path for family in FAMILIES for path in ntp.managed_paths(family)]
    if settings.in_group("masters"):
        paths += [dns.CONF_PATH, clustershell.GROUPS_PATH]
    return paths


def units(settings: HostSettings) -> list[str]:
    names = [ntp.chrony_layout(family).unit for family in FAMILIES]
    if settings.in_group("masters"):
        names.append(dns.UNIT)
    return names


def cluster_hosts(all_settings: dict[str, HostSettings]) -> list[tuple[str, str]]:
    """``[(name, cluster address)]`` of every host, in inventory order."""
    return [(name, s.cluster_address) for name, s in all_settings.items()]


def inventory_groups(all_settings: dict[str, HostSettings]) -> dict[str, list[str]]:
    """``{group: [host names]}`` for the deploy's groups (masters, kvm_nodes,
    nfs_server), hosts in inventory order. pyinfra's implicit groups (the one
    named after the inventory file holds every host) are left out; ``all`` is
    every host."""
    groups = {group: [name for name, s in all_settings.items() if s.in_group(group)] for group in GROUPS}
    groups["all"] = list(all_settings)
    return groups


def dnsmasq_conf(settings: HostSettings, all_settings: dict[str, HostSettings]) -> str:
    return dns.render_dnsmasq_conf(
        domain=settings.cluster_domain,
        network=settings.cluster_network,
        listen_address=settings.cluster_address,
        hosts=cluster_hosts(all_settings),
        vms=list(settings.vms),
        upstream=list(settings.dns_upstream),
        dns_servers=list(settings.masters),
        router=settings.dhcp_router,
    )


def chrony_conf(settings: HostSettings, os_family: str) -> str | None:
    """A master polls the upstream servers and the other masters and serves the
    cluster network; any other host polls the masters. ``None``: no master, no NTP."""
    masters = list(settings.masters)
    if not masters:
        return None
    if settings.in_group("masters"):
        peers = [address for address in masters if address != settings.cluster_address]
        return ntp.render_chrony_conf(os_family, list(settings.ntp_servers) + peers,
                                      serve=settings.cluster_network, set_clock=settings.ntp_set_clock)
    return ntp.render_chrony_conf(os_family, masters, set_clock=settings.ntp_set_clock)


@deploy("DNS and static DHCP")
def configure_dns(settings: HostSettings, probe: dict, all_settings: dict[str, HostSettings]):
    if not settings.in_group("masters"):
        return
    if not settings.dns_upstream:
        warn_once("dns_upstream is empty: the masters answer for cluster names only, so no host "
                  "can resolve outside names (package archives, NTP pools); set dns_upstream")
    dns.dnsmasq(
        name="dnsmasq: DNS for every host and VM, static DHCP for the VMs",
        config=dnsmasq_conf(settings, all_settings),
        files=probe["files"],
        services=probe["services"],
        masters_left_out=masters_left_out(all_settings),
    )


def masters_left_out(all_settings: dict[str, HostSettings]) -> tuple[str, ...]:
    """The masters this run does not reach: outside its ``--limit``."""
    limit = getattr(state, "limit_hosts", None)
    if not limit:
        return ()
    reached = {getattr(host, "name", host) for host in limit}
    return tuple(name for name, s in all_settings.items() if s.in_group("masters") and name not in reached)


@deploy("NTP")
def configure_ntp(settings: HostSettings, probe: dict, all_settings: dict[str, HostSettings]):
    os_family = probe["os"]["family"]
    config = chrony_conf(settings, os_family)
    if config is None:
        return
    ntp.chrony(
        name="chrony: the masters serve the cluster, every other host follows them",
        os_family=os_family,
        config=config,
        set_clock=settings.ntp_set_clock,
        files=probe["files"],
        services=probe["services"],
    )


@deploy("ClusterShell groups")
def configure_clustershell(settings: HostSettings, probe: dict, all_settings: dict[str, HostSettings]):
    if not settings.in_group("masters"):
        return
    clustershell.groups(
        name="ClusterShell groups from the inventory",
        content=clustershell.render_groups(inventory_groups(all_settings)),
        files=probe["files"],
    )


def configure_management(settings: HostSettings, probe: dict, all_settings: dict[str, HostSettings]):
    """The whole step, for any host: DNS/DHCP, NTP, ClusterShell where they
    belong (the packages come with the deploy's package step)."""
    configure_dns(settings, probe, all_settings)
    configure_ntp(settings, probe, all_settings)
    configure_clustershell(settings, probe, all_settings)
