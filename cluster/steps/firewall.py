"""The firewall step: where firewalld runs, open exactly what the host's roles
serve (DNS, DHCP and NTP on the masters, NFS on the nfs_server, libvirt TLS on
nodes that enable it) in the zone of its cluster interface."""

from __future__ import annotations

from pyinfra.api import deploy

from cluster.model import network as config_network
from cluster.model.settings import HostSettings
from operations import firewall

from .network import uplink_devices


def wanted_services(settings: HostSettings) -> list[str]:
    return firewall.role_services(
        masters=settings.in_group("masters"),
        nfs_server=settings.in_group("nfs_server"),
        libvirt_tls=settings.in_group("kvm_nodes") and settings.libvirt_tls,
    )


@deploy("Firewall")
def configure_firewall(settings: HostSettings, probe: dict, all_settings: dict):
    interfaces = uplink_devices(settings, all_settings, probe["interfaces"])
    if settings.bridged:
        interfaces = (config_network.BRIDGE, *interfaces)
    wanted = wanted_services(settings)
    firewall.services(
        name=f"firewalld: open {', '.join(wanted) or 'nothing'} for this host's roles",
        wanted=wanted,
        current=probe,
        interfaces=list(interfaces),
    )
