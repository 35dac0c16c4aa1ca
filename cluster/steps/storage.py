"""The storage steps: the primary pool on every KVM node's data volume, the NFS
export on the nfs_server, and the secondary pool on the NFS mount.

Every decision comes from the batched probe (``facts.pools``, ``facts.nfs``,
managed-file digests, service states): a converged host costs no command.
"""

from __future__ import annotations

from pyinfra.api import deploy

from cluster.model import storage as cfg
from cluster.model.settings import HostSettings
from operations import nfs, services, storage
from operations._log import warn_once

from .needs import Needs
from .needs import needs as needs_of

PRIMARY_OWNER = ("root", "kvm", "775")


def needs(settings: HostSettings, platform: dict) -> Needs:
    """KVM nodes: the NFS client, the pools' definitions, the mount unit, the
    AppArmor or SELinux tools, the pool directories; the NFS server: its
    backend's package, configuration, unit and the export's directories."""
    rhel = platform["family"] == "rhel"
    result = Needs()
    if settings.in_group("kvm_nodes"):
        packages = ["nfs-utils"] if rhel else ["nfs-common"]
        if rhel:
            major = platform.get("major") or 0
            packages.append("policycoreutils-python-utils" if major >= 8 else "policycoreutils-python")
        mount = settings.secondary_mount
        result += needs_of(
            packages=packages,
            files=[storage.pool_xml_path(settings.primary_pool_name),
                   storage.pool_xml_path(settings.secondary_pool_name),
                   nfs.mount_unit_path(mount), storage.APPARMOR_LOCAL, nfs.IDMAPD_CONF],
            units=[nfs.mount_unit_name(mount)],
            directories=[settings.primary_pool_path, mount])
    if settings.in_group("nfs_server"):
        backend = settings.nfs_backend
        if backend == "ganesha":
            packages = ["nfs-ganesha", "nfs-ganesha-vfs"]
        else:
            packages = ["nfs-utils"] if rhel else ["nfs-kernel-server"]
        result += needs_of(
            packages=packages, files=[nfs.IDMAPD_CONF, nfs.export_config_path(backend)],
            units=[nfs.server_unit(backend)],
            directories=[settings.nfs_export_path, _export_pool_dir(settings)])
    return result


def _export_pool_dir(settings: HostSettings) -> str:
    return f"{settings.nfs_export_path}/{cfg.SECONDARY_POOL_DIR}"


@deploy("Primary storage pool")
def configure_primary_pool(settings: HostSettings, probe: dict):
    path = settings.primary_pool_path
    if not probe["data_volume"]["mounted"]:
        # Preflight set to "warn" let the host through: the pool is still never
        # created on the root filesystem.
        warn_once(f"{settings.data_volume} is not a mounted data volume on {settings.name}: "
                  f"libvirt pool {settings.primary_pool_name} is not created at {path} "
                  "(it would land on the root filesystem)")
        return
    family = probe["os"]["family"]
    user, group, mode = PRIMARY_OWNER
    storage.directory(name=f"Pool directory {path} ({user}:{group} {mode})", path=path,
                      user=user, group=group, mode=mode,
                      current=probe)
    if family == "debian":
        storage.apparmor_paths(name="AppArmor: QEMU guests may use the pool directories",
                               paths=[path, settings.secondary_mount], path=storage.APPARMOR_LOCAL,
                               current=probe)
    elif family == "rhel":
        storage.selinux_labels(name="SELinux: the pool directories are virt_image_t",
                               current=probe, label_paths=[path, settings.secondary_mount],
                               relabel_paths=[path], nfs=True)
    xml_path = storage.pool_xml_path(settings.primary_pool_name)
    storage.pool(name=f"libvirt pool {settings.primary_pool_name} at {path}",
                 pool_name=settings.primary_pool_name, path=path, xml_path=xml_path,
                 current=probe)


@deploy("NFS server")
def configure_nfs_server(settings: HostSettings, probe: dict):
    if not probe["data_volume"]["mounted"]:
        warn_once(f"data volume {settings.data_volume} is not mounted: the NFS export is not "
                  "created (it would land on the root filesystem)")
        return
    path = settings.nfs_export_path
    network = settings.export_network
    domain = settings.idmap_domain
    family = probe["os"]["family"]
    user, group, mode = cfg.export_owner(settings)
    for directory in (path, _export_pool_dir(settings)):
        storage.directory(name=f"Export directory {directory} ({user}:{group} {mode})", path=directory,
                          user=user, group=group, mode=mode,
                          current=probe)
    idmapd = nfs.idmapd(name=f"NFSv4 ID mapping domain {domain}", domain=domain, os_family=family,
               path=nfs.IDMAPD_CONF, current=probe)
    backend = settings.nfs_backend
    config_path = nfs.export_config_path(backend)
    options = list(settings.export_options)
    export = nfs.export(name=f"Export {path} to {network} ({backend})", backend=backend, path=path,
               network=network, options=options, domain=domain, config_path=config_path,
               current=probe)
    unit = nfs.server_unit(backend)
    services.service(name=f"NFS server {unit}: enabled, running", unit=unit,
                     current=probe, running=True, enabled=True,
                     # The kernel server re-reads its exports (exportfs -ra); Ganesha restarts.
                     restart=idmapd.changed or (backend == "ganesha" and export.changed))


@deploy("Secondary storage pool")
def configure_secondary_pool(settings: HostSettings, probe: dict, all_settings: dict):
    server = cfg.nfs_server(all_settings)
    if server is None:
        return  # no nfs_server in the inventory: the cluster has no secondary pool
    where = settings.secondary_mount
    family = probe["os"]["family"]
    domain = settings.idmap_domain
    nfs.idmapd(name=f"NFSv4 ID mapping domain {domain}", domain=domain, os_family=family,
               path=nfs.IDMAPD_CONF, current=probe)
    what = nfs.mount_source(server.cluster_address, server.nfs_export_path)
    unit = nfs.mount_unit_name(where)
    unit_path = nfs.mount_unit_path(where)
    client = probe["nfs_client"]
    nfs.mount_unit_file(name=f"NFS mount {what} at {where}", path=unit_path, what=what, where=where,
                        options=list(settings.nfs_mount_options), timeout=settings.nfs_mount_timeout,
                        pool_name=settings.secondary_pool_name,
                        current=probe)
    # Enabled either way (mounted at boot once the kernel can); started only
    # where the kernel has an NFS client. Never remounted here: VMs may use it.
    services.service(name=f"Mount {where}", unit=unit, current=probe,
                     running=client["supported"], enabled=True)
    if not client["supported"]:
        return  # reported by nfs.mount_unit_file: the pool stays undefined
    xml_path = storage.pool_xml_path(settings.secondary_pool_name)
    pool_path = settings.secondary_pool_path
    storage.pool(name=f"libvirt pool {settings.secondary_pool_name} at {pool_path} (NFS)",
                 pool_name=settings.secondary_pool_name, path=pool_path, xml_path=xml_path,
                 current=probe,
                 build=False, nfs_mount=where)
