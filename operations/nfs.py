"""The NFS export of the secondary pool, and its mount on the KVM nodes.

Server backends: the kernel server (``/etc/exports.d`` + ``exportfs -ra``) or
NFS-Ganesha (``/etc/ganesha/ganesha.conf``, VFS backend). Clients: a systemd
mount unit (``_netdev``, ``nofail``, a timeout), started only where the
kernel can mount NFS at all. Rendering is pure; the operations write files
through ``put_file`` (a no-op when the probe's digest matches).
"""

from __future__ import annotations

import ipaddress

from pyinfra import host
from pyinfra.api import operation

from facts.nfs import describe_unsupported

from ._files import digest_matches, put_file
from ._log import warn_once
from ._probe import file_digest, section
from ._render import render

IDMAPD_CONF = "/etc/idmapd.conf"
EXPORTS_FILE = "/etc/exports.d/kvm-cluster.exports"
GANESHA_CONF = "/etc/ganesha/ganesha.conf"


def server_unit(backend: str) -> str:
    """nfs-server.service on Debian (nfs-kernel-server is an alias of it) and RHEL."""
    return "nfs-ganesha.service" if backend == "ganesha" else "nfs-server.service"


def export_config_path(backend: str) -> str:
    return GANESHA_CONF if backend == "ganesha" else EXPORTS_FILE


def mount_unit_name(path: str) -> str:
    """systemd's unit name for a mount point (``systemd-escape --path --suffix=mount``)."""
    trimmed = path.strip("/")
    if not trimmed:
        return "-.mount"
    out = []
    for index, char in enumerate(trimmed):
        if char == "/":
            out.append("-")
        elif char.isascii() and (char.isalnum() or char in ":_" or (char == "." and index > 0)):
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return "".join(out) + ".mount"


def mount_unit_path(path: str) -> str:
    return f"/etc/systemd/system/{mount_unit_name(path)}"


EVERYONE = ("the export is never open to everyone: give the cluster network, like "
            "172.30.10.0/24 (or leave it unset for cluster_network)")


def export_network(network: str | None) -> str:
    """The one rule for whom the export is open to: an IPv4 network, never
    everyone (``*``, a /0, nothing). Returns it normalised; raises ValueError."""
    if not isinstance(network, str) or network.strip() in ("", "*"):
        raise ValueError(EVERYONE)
    parsed = ipaddress.IPv4Network(network.strip(), strict=True)  # ValueError when not a network
    if parsed.prefixlen == 0:
        raise ValueError(EVERYONE)
    return str(parsed)


def exports_file(path: str, network: str, options: list[str]) -> str:
    network = export_network(network)
    return render("nfs/exports.j2", path=path, network=network, options=list(options))


def ganesha_options(options: list[str]) -> dict:
    """exports(5) options in Ganesha's words (CLIENT block settings).

    ``sync``/``async`` and ``(no_)subtree_check`` have no Ganesha equivalent
    (Ganesha exports whole directories by handle) and are dropped.
    """
    result = {"access": "RW", "squash": "root_squash", "sectype": "sys",
              "privileged_port": None, "anonymous_uid": None, "anonymous_gid": None}
    for option in options:
        key, _, value = option.partition("=")
        if option in ("rw", "ro"):
            result["access"] = option.upper()
        elif option in ("root_squash", "no_root_squash", "all_squash"):
            result["squash"] = option
        elif option == "secure":
            result["privileged_port"] = "true"
        elif option == "insecure":
            result["privileged_port"] = "false"
        elif key == "sec":
            result["sectype"] = ", ".join(value.split(":"))
        elif key == "anonuid":
            result["anonymous_uid"] = value
        elif key == "anongid":
            result["anonymous_gid"] = value
    return result


def ganesha_config(path: str, network: str, options: list[str], domain: str, export_id: int = 1) -> str:
    network = export_network(network)
    return render("nfs/ganesha.conf.j2", path=path, network=network, domain=domain,
                  export_id=export_id, **ganesha_options(options))


NOBODY = {"debian": ("nobody", "nogroup"), "rhel": ("nobody", "nobody")}


def idmapd_conf(domain: str, os_family: str) -> str:
    user, group = NOBODY.get(os_family, NOBODY["debian"])
    return render("nfs/idmapd.conf.j2", domain=domain, nobody_user=user, nobody_group=group)


def mount_source(server_address: str, export_path: str) -> str:
    return f"{server_address}:{export_path}"


def mount_unit(what: str, where: str, options: list[str], timeout: int) -> str:
    """A systemd mount unit: wanted by remote-fs.target, so a down server
    delays the boot by at most ``timeout`` seconds and never fails it."""
    return render("nfs/mount.j2", what=what, where=where, options=list(options), timeout=timeout)


@operation()
def idmapd(domain: str, os_family: str, path: str = "/etc/idmapd.conf", current: dict | None = None):
    """
    The NFSv4 ID mapping domain, identical on the server and its clients.

    + domain: e.g. ``cluster.lan``
    + os_family: ``debian`` (nobody/nogroup) or ``rhel`` (nobody/nobody)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files``
      (``path``'s digest)

    **Example:**

    .. code:: python

        nfs.idmapd(domain="cluster.lan", os_family="debian")
    """
    digest = file_digest(current, path)
    yield from put_file(path, idmapd_conf(domain, os_family), mode="644", current=digest)


@operation()
def export(backend: str, path: str, network: str, options: list[str], domain: str, config_path: str,
           current: dict | None = None):
    """
    Export ``path`` to ``network`` (never everyone) with the kernel server or NFS-Ganesha.

    + backend: ``kernel`` (writes ``config_path`` in /etc/exports.d, then
      ``exportfs -ra``) or ``ganesha`` (writes ``config_path``, the whole
      ganesha.conf; the service restart is the caller's, on change)
    + path: the exported directory
    + network: the clients' network, e.g. ``172.30.10.0/24``
    + options: exports(5) options (see cluster.model.storage.export_options)
    + domain: the NFSv4 ID mapping domain (named in ganesha.conf)
    + config_path: ``/etc/exports.d/kvm-cluster.exports`` or ``/etc/ganesha/ganesha.conf``
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files``
      (``config_path``'s digest)

    **Example:**

    .. code:: python

        nfs.export(backend="kernel", path="/data01/secondary", network="172.30.10.0/24",
                   options=["rw", "sync", "no_subtree_check", "root_squash"], domain="cluster.lan",
                   config_path="/etc/exports.d/kvm-cluster.exports")
    """
    digest = file_digest(current, config_path)
    if backend == "ganesha":
        yield from put_file(config_path, ganesha_config(path, network, options, domain),
                            mode="644", current=digest)
        return
    content = exports_file(path, network, options)
    if digest_matches(digest, content, "644", "root", "root"):
        host.noop(f"{path} is exported to {network}")
        return
    yield from put_file(config_path, content, mode="644", current=digest)
    yield "exportfs -ra"


@operation()
def mount_unit_file(path: str, what: str, where: str, options: list[str], timeout: int,
                    pool_name: str, current: dict | None = None):
    """
    The systemd mount unit of the NFS export on a KVM node, and a plain report
    when this host cannot mount NFS.

    + path: the unit file, e.g. ``/etc/systemd/system/secondary.mount``
    + what, where: ``server:/export`` and the mount point
    + options: mount options (``_netdev``, ``nofail`` included)
    + timeout: seconds a boot waits for the mount
    + pool_name: the pool that lives on the mount (named in the report)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``nfs_client``
      (``facts.nfs.NfsClient``) and ``files`` (``path``'s digest)

    The unit is written (and systemd reloaded) either way; whether it is
    started is the caller's choice (see ``client["supported"]``). Where the
    kernel has no NFS client, a warning names the host and why, and says the
    pool is left undefined.

    **Example:**

    .. code:: python

        nfs.mount_unit_file(path="/etc/systemd/system/secondary.mount",
                            what="172.30.10.11:/data01/secondary", where="/secondary",
                            options=["_netdev", "nofail", "hard"], timeout=30,
                            pool_name="secondary", current=probe)
    """
    client = section(current, "nfs_client", {"supported": False})
    if not client["supported"]:
        warn_once(
            f"NFS mount of {what} at {where} cannot be made on {host.name}: "
            f"{describe_unsupported(client)}; libvirt pool {pool_name} is not defined"
        )
    content = mount_unit(what, where, options, timeout)
    changed = False
    digest = file_digest(current, path)
    for command in put_file(path, content, mode="644", current=digest, backup=False):
        changed = True
        yield command
    if changed:
        yield "systemctl daemon-reload"
