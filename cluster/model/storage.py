"""Configuration of the storage concern: libvirt pools and the NFS export.

- the primary pool: a libvirt ``dir`` pool on the local data volume of every
  KVM node (``primary_pool_path``, under ``data_volume``);
- the secondary pool: a ``dir`` pool on the NFS mount ``secondary_mount`` of
  every KVM node, exported by the one host of the ``nfs_server`` group from
  ``nfs_export_path`` to ``nfs_export_network`` (the cluster network by default).

``FIELDS`` join the model (cluster.model.settings); :func:`cluster_problems` holds
the rules that span hosts. The rest are pure functions of the settings the
deploy and the batched probe use: :func:`packages`, :func:`managed_paths`,
:func:`units`, :func:`nfs_server`.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Any

from operations import nfs

from . import fields as f
from .fields import Field, Invalid, describe

BACKENDS = ("kernel", "ganesha")

_POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def pool_name(value: Any) -> str:
    if not isinstance(value, str) or not _POOL_NAME.fullmatch(value):
        raise Invalid("expected a libvirt pool name: letters, digits, '_', '.', '+', '-' "
                      "(up to 64, not starting with a symbol), like default")
    return value


# exports(5) options the deploy understands, and what each excludes.
_FLAGS = {
    "rw": "ro", "ro": "rw",
    "sync": "async", "async": "sync",
    "root_squash": "no_root_squash", "no_root_squash": "root_squash",
    "all_squash": "no_all_squash", "no_all_squash": "all_squash",
    "subtree_check": "no_subtree_check", "no_subtree_check": "subtree_check",
    "secure": "insecure", "insecure": "secure",
}
_VALUED = {
    "sec": re.compile(r"(sys|krb5|krb5i|krb5p)(:(sys|krb5|krb5i|krb5p))*"),
    "anonuid": re.compile(r"[0-9]{1,10}"),
    "anongid": re.compile(r"[0-9]{1,10}"),
}
# Safe defaults, added for whatever the user did not choose. all_squash: every
# client user (root included) is the one squash id owning the export
# (nfs_squash_id), so libvirt and qemu on every node write there alike.
EXPORT_DEFAULTS = ("rw", "sync", "no_subtree_check", "all_squash", "sec=sys")
SQUASH_OPTIONS = ("root_squash", "no_root_squash", "all_squash", "no_all_squash")

# The secondary pool's directory inside the export: it exists only on the
# server, so a node whose mount is missing (server down at boot, nofail) has
# no such directory and libvirt cannot start the pool on the empty mount point.
SECONDARY_POOL_DIR = "images"


def export_options(value: Any) -> tuple[str, ...]:
    """exports(5) options: known ones only, no contradictions; safe defaults
    (``rw,sync,no_subtree_check,all_squash,sec=sys``) for what is not given
    (no squash default where the user chose one). ``no_root_squash`` is never
    a default: only where the user writes it."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise Invalid("expected a list of exports(5) options, like ['rw', 'sync', 'root_squash']")
    chosen: list[str] = []
    for option in value:
        key, has_value, arg = option.partition("=")
        if has_value and key in _VALUED:
            if not _VALUED[key].fullmatch(arg):
                raise Invalid(f"option {option!r} has a bad value")
            if any(c.startswith(key + "=") for c in chosen):
                raise Invalid(f"option {key!r} is given twice")
        elif option not in _FLAGS:
            raise Invalid(f"unknown export option {option!r}; known: "
                          f"{', '.join([*_FLAGS, *(k + '=...' for k in _VALUED)])}")
        elif _FLAGS[option] in chosen:
            raise Invalid(f"options {_FLAGS[option]!r} and {option!r} contradict each other")
        if option not in chosen:
            chosen.append(option)
    for default in EXPORT_DEFAULTS:
        key = default.partition("=")[0]
        taken = any(c == default or c == _FLAGS.get(default) or c.startswith(key + "=") for c in chosen)
        if default in SQUASH_OPTIONS:
            taken = any(c in SQUASH_OPTIONS for c in chosen)
        if not taken:
            chosen.append(default)
    return tuple(chosen)


def effective_export_options(settings) -> tuple[str, ...]:
    """The export's options: with ``all_squash``, the squash id as anonuid and
    anongid unless the user gave them."""
    options = list(settings.nfs_export_options)
    if "all_squash" in options:
        for key in ("anonuid", "anongid"):
            if not any(o.startswith(key + "=") for o in options):
                options.append(f"{key}={settings.nfs_squash_id}")
    return tuple(options)


def export_owner(settings) -> tuple[str, str, str]:
    """(user, group, mode) of the export and its pool directory: the squash id,
    setgid, nobody else, when every client is squashed to it; root's otherwise."""
    options = effective_export_options(settings)
    if "all_squash" in options:
        uid = next(o.split("=", 1)[1] for o in options if o.startswith("anonuid="))
        gid = next(o.split("=", 1)[1] for o in options if o.startswith("anongid="))
        return uid, gid, "2770"
    return "root", "root", "755"


def secondary_pool_path(settings) -> str:
    return posixpath.join(settings.secondary_mount, SECONDARY_POOL_DIR)


def export_network(value: Any) -> str | None:
    """The network the export is open to (None: cluster_network); never
    everyone: operations.nfs.export_network is the one rule."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip() == "*":
        raise Invalid(nfs.EVERYONE)
    network = f.ipv4_network(value)
    try:
        return nfs.export_network(network)
    except ValueError as error:
        raise Invalid(str(error)) from None


_MOUNT_OPTION = re.compile(r"[A-Za-z0-9_.-]+(=[A-Za-z0-9_.:/-]+)?")
MOUNT_ALWAYS = ("_netdev", "nofail")


def mount_options(value: Any) -> tuple[str, ...]:
    """NFS mount options; ``_netdev`` and ``nofail`` are always added (a down
    server must not hang or fail the boot)."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part]
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and _MOUNT_OPTION.fullmatch(v) for v in value
    ):
        raise Invalid("expected a list of mount options, like ['hard', 'timeo=600', 'retrans=2']")
    if any(v.startswith("x-systemd.") for v in value):
        raise Invalid("x-systemd.* options do not apply: the mount is a systemd unit "
                      "(its timeout is nfs_mount_timeout)")
    return tuple(dict.fromkeys([*MOUNT_ALWAYS, *value]))


ON_KVM_NODES = dict(acts_on=f.in_groups("kvm_nodes"), where="kvm_nodes")
ON_NFS_SERVER = dict(acts_on=f.in_groups("nfs_server"), where="nfs_server")

FIELDS = (
    Field("primary_pool_name", "default", pool_name,
          "libvirt pool on local storage (the default pool for new VMs)",
          shown_default='`default`', **ON_KVM_NODES),
    Field("primary_pool_path", "/data01/primary", f.absolute_path,
          "its directory, under `data_volume`",
          shown_default='`/data01/primary`', **ON_KVM_NODES),
    Field("secondary_pool_name", "secondary", pool_name,
          "libvirt pool on the NFS mount; must differ from the primary",
          shown_default='`secondary`', **ON_KVM_NODES),
    Field("secondary_mount", "/secondary", f.absolute_path,
          "where KVM nodes mount the export; must not overlap the primary pool",
          shown_default='`/secondary`', **ON_KVM_NODES),
    Field("nfs_backend", "kernel", f.choice(*BACKENDS),
          "`kernel` (nfs-kernel-server / nfs-utils) or `ganesha` (NFS-Ganesha, VFS backend)",
          shown_default='`kernel`', **ON_NFS_SERVER),
    Field("nfs_export_path", "/data01/secondary", f.absolute_path,
          "the exported directory, under the server's `data_volume`",
          shown_default='`/data01/secondary`', **ON_NFS_SERVER),
    Field("nfs_export_network", None, export_network,
          "who may mount the export: the cluster network or a part of it holding every KVM "
          "node; `*` and `0.0.0.0/0` are refused",
          shown_default='`cluster_network`', **ON_NFS_SERVER),
    Field("nfs_squash_id", 64055, f.integer(1, 4294967294),
          "the uid and gid every client is squashed to (`all_squash`) and that owns the export "
          "(mode 2770): libvirt and qemu on every node read and write there as this one id; "
          "the default is Debian's `libvirt-qemu`",
          shown_default='`64055`', **ON_NFS_SERVER),
    Field("nfs_export_options", EXPORT_DEFAULTS, export_options,
          "exports(5) options. Options you leave out get these defaults (`all_squash` only "
          "where you chose no squash option; with it `anonuid`/`anongid` = `nfs_squash_id`), "
          "contradictions are refused, and `no_root_squash` is applied only if you write it",
          shown_default='`rw,sync,no_subtree_check,all_squash,sec=sys`', **ON_NFS_SERVER),
    Field("nfs_idmap_domain", None, f.optional(f.domain_name),
          "NFSv4 ID-mapping domain (`/etc/idmapd.conf`, server and clients)",
          shown_default='`cluster_domain`', acts_on=f.in_groups("kvm_nodes", "nfs_server"),
          where="kvm_nodes and nfs_server", cluster_wide=True),
    Field("nfs_mount_options", ("hard", "timeo=600", "retrans=2"), mount_options,
          "mount options; `_netdev` and `nofail` are always added",
          shown_default='`hard,timeo=600,retrans=2`', **ON_KVM_NODES),
    Field("nfs_mount_timeout", 30, f.integer(1, 600),
          "seconds a boot waits for the mount before going on without it",
          shown_default='`30`', **ON_KVM_NODES),
)

# Keys that must hold one value on every host (paths and names identical cluster-wide).
SHARED_KEYS = ("primary_pool_name", "primary_pool_path", "secondary_pool_name",
               "secondary_mount", "nfs_export_path")


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def nfs_server(all_settings: dict) -> Any:
    """The settings of the one host of the ``nfs_server`` group, or None."""
    servers = [s for s in all_settings.values() if s.in_group("nfs_server")]
    return servers[0] if len(servers) == 1 else None


def export_network_of(server) -> str:
    return server.nfs_export_network or server.cluster_network


def idmap_domain(settings) -> str:
    return settings.nfs_idmap_domain or settings.cluster_domain


def cluster_problems(settings: dict) -> list[str]:
    """Rules across hosts: identical paths and names, pools under the data
    volume, no pool clash, one NFS server whose export covers every KVM node."""
    problems: list[str] = []
    for key in SHARED_KEYS:
        values = {getattr(s, key) for s in settings.values()}
        if len(values) > 1:
            detail = ", ".join(f"{name}={getattr(s, key)}" for name, s in sorted(settings.items()))
            problems.append(f"key {key!r} differs across hosts ({detail}): expected one value for the cluster")
    nodes = {name: s for name, s in sorted(settings.items()) if s.in_group("kvm_nodes")}
    for name, s in nodes.items():
        if not _inside(s.primary_pool_path, s.data_volume) or s.primary_pool_path == s.data_volume:
            problems.append(
                f"host {name}: key 'primary_pool_path' = {s.primary_pool_path!r}: expected a "
                f"directory under data_volume {s.data_volume} (never on the root filesystem)")
        if _inside(s.secondary_mount, s.primary_pool_path) or _inside(s.primary_pool_path, s.secondary_mount):
            problems.append(
                f"host {name}: key 'secondary_mount' = {s.secondary_mount!r} overlaps "
                f"primary_pool_path {s.primary_pool_path!r}: expected separate directories")
        if s.primary_pool_name == s.secondary_pool_name:
            problems.append(
                f"host {name}: key 'secondary_pool_name' = {s.secondary_pool_name!r} is also "
                "primary_pool_name: expected two different pool names")
    servers = [name for name, s in sorted(settings.items()) if s.in_group("nfs_server")]
    if len(servers) > 1:
        # The seed's secondary pool is optional: no nfs_server, no secondary pool.
        problems.append(
            f"group 'nfs_server' has {len(servers)} hosts ({', '.join(servers)}): "
            "expected one host exporting the secondary pool (or none, for no secondary pool)")
    if len(servers) == 1:
        name = servers[0]
        server = settings[name]
        if not _inside(server.nfs_export_path, server.data_volume) or server.nfs_export_path == server.data_volume:
            problems.append(
                f"host {name}: key 'nfs_export_path' = {server.nfs_export_path!r}: expected a "
                f"directory under data_volume {server.data_volume}")
        network = ipaddress.IPv4Network(export_network_of(server))
        if not network.subnet_of(ipaddress.IPv4Network(server.cluster_network)):
            problems.append(
                f"host {name}: key 'nfs_export_network' = {describe(str(network))}: reaches beyond "
                f"cluster_network {server.cluster_network}: expected the cluster network or a part of it")
        outside = [(n, s.cluster_address) for n, s in nodes.items()
                   if ipaddress.IPv4Address(s.cluster_address) not in network]
        if outside:
            detail = ", ".join(f"{n} {address}" for n, address in outside)
            problems.append(
                f"host {name}: key 'nfs_export_network' = {describe(str(network))}: does not "
                f"contain the NFS clients ({detail}): expected a network holding every KVM node")
    return problems
