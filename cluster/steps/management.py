"""The management plane step: DNS and static DHCP on the masters (dnsmasq),
NTP (chrony: masters serve, every other host follows them) and the
ClusterShell groups on the masters.

:func:`needs` tells the batched probe what to read for a host; the
``@deploy`` functions decide everything from that probe.
"""

from __future__ import annotations

from pyinfra import state
from pyinfra.api import deploy

from cluster.model.settings import GROUPS, HostSettings
from operations import clustershell, dns, ntp
from operations._log import warn_once

from .needs import Needs
from .needs import needs as needs_of


def needs(settings: HostSettings, platform: dict) -> Needs:
    """Masters: dnsmasq, chrony, clustershell (EPEL on RHEL; the names are the
    same on Debian, Ubuntu and RHEL), their files and units; every other host: chrony."""
    family = platform["family"]
    layout = ntp.chrony_layout(family)
    if settings.in_group("masters"):
        return needs_of(packages=["dnsmasq", "chrony", "clustershell"],
                        files=[*ntp.managed_paths(family), dns.CONF_PATH, clustershell.GROUPS_PATH],
                        units=[layout.unit, dns.UNIT])
    return needs_of(packages=["chrony"], files=ntp.managed_paths(family), units=[layout.unit])


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
    if not settings.dns_upstream:
        warn_once("dns_upstream is empty: the masters answer for cluster names only, so no host "
                  "can resolve outside names (package archives, NTP pools); set dns_upstream")
    dns.dnsmasq(
        name="dnsmasq: DNS for every host and VM, static DHCP for the VMs",
        config=dnsmasq_conf(settings, all_settings),
        current=probe,
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
def configure_ntp(settings: HostSettings, probe: dict):
    os_family = probe["os"]["family"]
    config = chrony_conf(settings, os_family)
    if config is None:
        return
    ntp.chrony(
        name="chrony: the masters serve the cluster, every other host follows them",
        os_family=os_family,
        config=config,
        set_clock=settings.ntp_set_clock,
        current=probe,
    )


@deploy("ClusterShell groups")
def configure_clustershell(settings: HostSettings, probe: dict, all_settings: dict[str, HostSettings]):
    clustershell.groups(
        name="ClusterShell groups from the inventory",
        content=clustershell.render_groups(inventory_groups(all_settings)),
        current=probe,
    )
