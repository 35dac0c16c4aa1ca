"""The network step: bridge br0 on the hosts that get it, resolvers on every host,
qemu's bridge ACL. Reads the validated settings and the probe; calls
``operations.network`` with explicit arguments.
"""

from __future__ import annotations

from dataclasses import asdict

from pyinfra.api import deploy

from cluster.model import network as cfg
from cluster.model.settings import HostSettings
from operations import network

from .needs import Needs
from .needs import needs as needs_of


def bond_of(settings: HostSettings) -> network.Bond | None:
    if not settings.bond_enable:
        return None
    return network.Bond(name=settings.bond_name, members=tuple(settings.bond_members),
                        mode=settings.bond_mode, miimon=settings.bond_miimon,
                        xmit_hash_policy=settings.bond_xmit_hash_policy)


def network_plan(settings: HostSettings, interfaces: dict
                 ) -> tuple[network.NetworkPlan | None, str | None]:
    """(plan, None), or (None, why not) when the host's facts refuse the data."""
    try:
        plan = network.plan_bridge(
            address=settings.bridge_cidr, interfaces=interfaces,
            gateway=settings.bridge_gateway, uplink=settings.bridge_uplink,
            bond=bond_of(settings), vlan=settings.bridge_vlan, mtu=settings.network_mtu,
            dns=settings.resolvers, search=settings.search_domain,
            ipv6=settings.network_ipv6, ipv6_address=settings.network_ipv6_address,
            ipv6_gateway=settings.network_ipv6_gateway, bridge=cfg.BRIDGE,
        )
    except network.NetworkPlanError as error:
        return None, str(error)
    return plan, None


def uplink_devices(settings: HostSettings, all_settings: dict, interfaces: dict) -> tuple[str, ...]:
    """The interfaces whose configuration decides the backend: those the bridge
    takes over; on a host without the bridge, the one carrying its address."""
    if settings.bridged:
        plan, _problem = network_plan(settings, interfaces)
        return plan.devices if plan else ()
    for name, link in interfaces["links"].items():
        if any(cidr.split("/")[0] == settings.cluster_address for cidr in link["ipv4"]):
            return (name,)
    route = interfaces.get("default4") or {}
    return (route["dev"],) if route.get("dev") else ()


def backend_of(settings: HostSettings, all_settings: dict, probe: dict) -> str:
    """The backend that writes this host's network configuration (network_backend,
    or the one that owns the uplink today)."""
    interfaces = probe["interfaces"]
    return network.choose_backend(settings.network_backend, probe["os"], interfaces,
                                  probe.get("network_manager"),
                                  uplink_devices(settings, all_settings, interfaces))


def data_problems(settings: HostSettings, all_settings: dict, probe: dict) -> list[str]:
    """What this host's facts refuse in its network data (an uplink or bond
    member it does not have, a backend it cannot run): checked by the
    preflight, before any change."""
    interfaces = probe["interfaces"]
    problems = []
    backend = backend_of(settings, all_settings, probe)
    why = network.backend_unavailable(backend, probe["os"], interfaces)
    if why:
        key = (f"key 'network_backend' = {settings.network_backend!r}"
               if settings.network_backend != "auto" else f"the network backend ({backend}, auto)")
        problems.append(f"network: {key}: {why}")
    if not settings.bridged:
        # Unbridged hosts keep their network as it is: the address the other
        # steps use (dnsmasq listens on it) must be one of theirs.
        found = sorted(address for link in interfaces["links"].values() for address in link["ipv4"])
        if found and not any(a.split("/")[0] == settings.cluster_address for a in found):
            problems.append(f"network: key 'cluster_address' = {settings.cluster_address!r}: no "
                            f"interface of this host has this address (it has: {', '.join(found)})")
        return problems
    _plan, problem = network_plan(settings, interfaces)
    return problems + ([f"network: {problem}"] if problem else [])


@deploy("Network")
def configure_network(settings: HostSettings, probe: dict, all_settings: dict):
    interfaces = probe["interfaces"]
    backend = backend_of(settings, all_settings, probe)
    bridged = settings.bridged
    if bridged:
        plan, problem = network_plan(settings, interfaces)
        network.switch_helper(
            name="Install kvm-cluster-net (the host side of the commit-confirm switch)",
            current=probe,
        )
        network.bridge(
            name=f"Bridge {cfg.BRIDGE} with the host's address ({backend}, commit-confirm)",
            plan=asdict(plan) if plan else None,
            problem=problem,
            backend=backend,
            nm_policy=settings.network_manager,
            confirm_timeout=settings.network_confirm_timeout,
            current=probe,
        )
        network.qemu_bridge_acl(
            name=f"qemu may attach VMs to {cfg.BRIDGE}",
            bridge=cfg.BRIDGE,
            current=probe,
        )
    network.resolvers(
        name="DNS resolvers: the masters",
        dns=list(settings.resolvers),
        search=settings.search_domain,
        backend=backend,
        bridged=bridged,
        current=probe,
    )


def needs(settings: HostSettings, platform: dict) -> Needs:
    """What the network backend needs installed (``platform["network_backend"]``;
    none given: every backend this distribution may use), the files and units
    its operations write outside a backend's configuration. The backends' own
    files and NetworkManager's state are read by the probe's ``interfaces`` and
    ``network_manager`` sections: which files depends on the backend, known
    only from the host."""
    return needs_of(packages=cfg.packages(settings, platform, platform.get("network_backend")),
                    files=network.probed_files(settings.bridged),
                    units=network.probed_units(settings.bridged))
