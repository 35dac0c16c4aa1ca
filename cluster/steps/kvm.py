"""The KVM stack step: what the kvm_nodes need to be libvirt hypervisors."""

from __future__ import annotations

from pathlib import Path

from pyinfra.api import deploy

from cluster.model.settings import HostSettings
from facts.accounts import home_dir
from operations import kvm, preflight

from .needs import Needs
from .needs import needs as needs_of


def needs(settings: HostSettings, platform: dict) -> Needs:
    """KVM nodes: the KVM/libvirt packages, their configuration files and units,
    the TLS files where libvirt TLS is on, the role account's libvirt URI, the
    kernel keys of ``kvm_sysctl``."""
    if not settings.in_group("kvm_nodes"):
        return Needs()
    files = kvm.managed_paths(platform)
    if settings.libvirt_tls:
        files += list(kvm.TLS_PATHS.values())
    files.append(kvm.user_libvirt_conf(home_dir(settings.role_account)))
    return needs_of(packages=kvm.kvm_packages(platform) + list(settings.kvm_extra_packages),
                    files=files, units=kvm.units(platform), sysctl=sorted(settings.kvm_sysctl))


@deploy("KVM stack")
def configure_kvm(settings: HostSettings, probe: dict):
    os_release = probe["os"]
    certificates = None
    if settings.libvirt_tls:
        certificates = {
            "ca_cert": Path(settings.libvirt_tls_ca_cert).read_text(),
            "server_cert": Path(settings.libvirt_tls_server_cert).read_text(),
            "server_key": Path(settings.libvirt_tls_server_key).read_text(),
        }
        kvm.tls_certificates(
            name="Install libvirt's TLS certificates",
            current=probe,
            **certificates,
        )
    kvm.libvirt_daemon(
        name="Configure libvirt (local socket for the libvirt group, no plain TCP) and run it",
        os_release=os_release,
        group=settings.libvirt_group,
        uri_default=settings.libvirt_uri_default,
        tls=settings.libvirt_tls,
        current=probe,
        users={settings.role_account: home_dir(settings.role_account)},
        certificates=certificates,
    )
    preflight.host_validation(
        name="virt-host-validate, now that the KVM stack is installed",
        installed_at_preflight=probe["virt_host_validate"]["installed"],
        policy=settings.preflight_policy.get("virt_host_validate", "warn"),
    )
    kvm.sysctl(
        name="Kernel settings for bridged guests (sysctl drop-in)",
        values=dict(settings.kvm_sysctl),
        current=probe,
    )
