"""The deploy's steps, as pyinfra ``@deploy`` functions.

These are the only code that reads configuration (as validated
:class:`cluster.settings.HostSettings`) and decides, per host, which
operations to add with which explicit arguments.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from facts.host import PROBED_RELEASES, HostProbe
from operations import accounts, iommu, kvm, packages, preflight

from . import config_storage, deploy_kvm, deploy_management, deploy_network, deploy_storage
from .settings import HostSettings


# The steps' modules, each with managed_paths(settings), units(settings) and
# packages(settings, os_release): what the probe reads for a host.
STEP_MODULES = (deploy_network, deploy_kvm, config_storage, deploy_management)

def host_packages(settings: HostSettings, os_release: dict, network_backend: str | None = None
                  ) -> list[str]:
    """Every package the host's steps need, for its distribution (with the
    network backend it uses; None: those of every backend it may use)."""
    # A minimal install has no sudo: the role account's sudo rule needs it (and visudo).
    names: list[str] = ["sudo"] if settings.role_account_sudo else []
    for module in STEP_MODULES:
        if module is deploy_network:
            names += module.packages(settings, os_release, network_backend)
        else:
            names += module.packages(settings, os_release)
    return list(dict.fromkeys(names))


def probe_arguments(settings: HostSettings) -> dict:
    """What the probe reads for this host: the files, units, packages, kernel
    keys and storage paths of every step the host runs."""
    files: list[str] = []
    units: list[str] = []
    for module in STEP_MODULES:
        files += module.managed_paths(settings)
        units += module.units(settings)
    packages = {release["family"]: host_packages(settings, release) for release in PROBED_RELEASES}
    return {
        "files": tuple(sorted(set(files))),
        "units": tuple(sorted({unit if "." in unit else f"{unit}.service" for unit in units})),
        "packages": {family: sorted(set(names)) for family, names in packages.items()},
        "sysctl": tuple(deploy_kvm.sysctl_keys(settings)) if settings.in_group("kvm_nodes") else (),
        "pool_paths": tuple(deploy_storage.probe_paths(settings)),
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
        probe=probe,
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
        iommu_state=probe["iommu"],
        os_family=probe["os"]["family"],
        reboot=settings.iommu_reboot,
    )


@deploy("Packages")
def install_packages(settings: HostSettings, probe: dict, all_settings: dict):
    backend = deploy_network.backend_of(settings, all_settings, probe)
    packages.install(
        name="Install the packages of this host's steps",
        packages=host_packages(settings, probe["os"], backend),
        current=probe["packages"],
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
        current=probe["account"],
    )
