"""The deploy's steps, as pyinfra ``@deploy`` functions.

These are the only code that reads configuration (as validated
:class:`cluster.settings.HostSettings`) and decides, per host, which
operations to add with which explicit arguments.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from facts.host import HostProbe
from operations import accounts, iommu, preflight

from . import deploy_kvm
from .settings import HostSettings


def probe_arguments(settings: HostSettings) -> dict:
    """What the probe reads for this host: the files, units, packages and
    kernel keys of every step the host runs."""
    files: list[str] = []
    units: list[str] = []
    packages: dict[str, list[str]] = {"debian": [], "rhel": []}
    sysctl: list[str] = []
    if settings.in_group("kvm_nodes"):
        files += deploy_kvm.managed_paths(settings)
        units += deploy_kvm.units(settings)
        for family, names in deploy_kvm.package_names(settings).items():
            packages[family] += names
        sysctl += deploy_kvm.sysctl_keys(settings)
    return {
        "files": tuple(sorted(set(files))),
        "units": tuple(sorted(set(units))),
        "packages": {family: sorted(set(names)) for family, names in packages.items()},
        "sysctl": tuple(sorted(set(sysctl))),
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
def run_preflight(settings: HostSettings, probe: dict):
    preflight.verify(
        name="Check the host can become a KVM hypervisor",
        probe=probe,
        checks=preflight_checks(settings),
        policy=settings.preflight_policy,
        data_path=settings.data_volume,
        iommu_args=wanted_iommu_args(settings, probe),
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
