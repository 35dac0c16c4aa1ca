"""The deploy's steps, as pyinfra ``@deploy`` functions.

These are the only code that reads configuration (as validated
:class:`cluster.model.settings.HostSettings`) and decides, per host, which
operations to add with which explicit arguments.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from cluster.model.settings import HostSettings
from facts.host import PROBED_RELEASES, HostProbe
from operations import accounts, iommu, kvm, packages, preflight

from . import kvm as deploy_kvm
from . import management as deploy_management
from . import network as deploy_network
from . import storage as deploy_storage
from .needs import Needs
from .needs import needs as needs_of


# The steps' modules, each with ``needs(settings, platform)`` (cluster.steps.needs):
# what the probe reads for a host, and the packages it installs.
STEP_MODULES = (deploy_network, deploy_kvm, deploy_storage, deploy_management)


def host_needs(settings: HostSettings, platform: dict, steps=STEP_MODULES) -> Needs:
    """Every step's needs for this host on ``platform`` (its distribution, and
    the network backend it uses; without one: every backend it may use)."""
    # A minimal install has no sudo: the role account's sudo rule needs it (and visudo).
    total = needs_of(packages=["sudo"] if settings.role_account_sudo else [])
    for module in steps:
        total += module.needs(settings, platform)
    return total


def backend_only_packages(settings: HostSettings, platform: dict) -> list[str]:
    """The packages only a network backend needs (ifupdown, vlan...): which
    backend a host runs is known only from the probe, so the probe does not
    look them up in the archive (the install does, where they are needed)."""
    others = set(host_needs(settings, platform, [m for m in STEP_MODULES if m is not deploy_network]).packages)
    return sorted(set(deploy_network.needs(settings, platform).packages) - others)


def probe_arguments(settings: HostSettings) -> dict:
    """What the probe reads for this host: the steps' needs for every family
    it may be (the probe runs before the distribution is known)."""
    per_release = [(release, host_needs(settings, release)) for release in PROBED_RELEASES]
    files = {path for _release, needs in per_release for path in needs.files}
    units = {unit for _release, needs in per_release for unit in needs.units}
    return {
        "files": tuple(sorted(files)),
        "units": tuple(sorted(unit if "." in unit else f"{unit}.service" for unit in units)),
        "packages": {release["family"]: sorted(set(needs.packages)) for release, needs in per_release},
        "packages_no_lookup": {release["family"]: backend_only_packages(settings, release)
                               for release, _needs in per_release},
        "sysctl": tuple(sorted({key for _release, needs in per_release for key in needs.sysctl})),
        "pool_paths": tuple(dict.fromkeys(path for _release, needs in per_release
                                          for path in needs.directories)),
        "mount_point": settings.secondary_mount,
        "hypervisor": settings.in_group("kvm_nodes"),
    }


def read_host(settings: HostSettings) -> dict:
    """Everything the steps decide from, in one round trip (see facts.host)."""
    return host.get_fact(HostProbe, data_path=settings.data_volume, user=settings.role_account,
                         **probe_arguments(settings))


def preflight_checks(settings: HostSettings) -> list[str]:
    """KVM nodes get every check; the NFS server needs its data volume."""
    if settings.in_group("kvm_nodes"):
        return list(preflight.HYPERVISOR_CHECKS)
    if settings.in_group("nfs_server"):
        return ["data_volume"]
    return []


def wanted_iommu_args(settings: HostSettings, probe: dict) -> list[str]:
    if not (settings.iommu_enable and settings.in_group("kvm_nodes")):
        return []
    return iommu.iommu_args(probe["cpu"]["vendor"], settings.iommu_passthrough)


@deploy("Preflight")
def run_preflight(settings: HostSettings, probe: dict, all_settings: dict):
    preflight.verify(
        name="Check the host can become a KVM hypervisor",
        current=probe,
        checks=preflight_checks(settings),
        policy=settings.preflight_policy,
        data_path=settings.data_volume,
        iommu_args=wanted_iommu_args(settings, probe),
        data_problems=deploy_network.data_problems(settings, all_settings, probe),
    )


@deploy("IOMMU")
def configure_iommu(settings: HostSettings, probe: dict):
    wanted = wanted_iommu_args(settings, probe)
    iommu.kernel_options(
        name="Add the IOMMU kernel options to GRUB",
        wanted=wanted,
        current=probe,
        os_family=probe["os"]["family"],
        reboot=settings.iommu_reboot,
    )


@deploy("Packages")
def install_packages(settings: HostSettings, probe: dict, all_settings: dict):
    backend = deploy_network.backend_of(settings, all_settings, probe)
    packages.install(
        name="Install the packages of this host's steps",
        packages=list(host_needs(settings, {**probe["os"], "network_backend": backend}).packages),
        current=probe,
        os_family=probe["os"]["family"],
        os_major=probe["os"]["major"],
        # ClusterShell is in EPEL on RHEL-family masters: never the reason the
        # masters' DNS, DHCP and NTP stay unconfigured.
        optional=[*kvm.OPTIONAL_PACKAGES, "clustershell"],
    )


@deploy("Role account")
def configure_role_account(settings: HostSettings, probe: dict):
    accounts.role_account(
        name=f"Role account {settings.role_account}: groups, SSH keys, sudo",
        user=settings.role_account,
        public_keys=list(settings.role_account_keys),
        groups=list(settings.role_account_groups),
        sudo=settings.role_account_sudo,
        current=probe,
    )
