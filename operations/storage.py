"""libvirt storage pools: a ``dir`` pool defined from a rendered XML, built,
started and autostarted; the pool directories; AppArmor and SELinux access.

The plan is pure (:func:`pool_xml`, :func:`plan_pool`, :func:`apparmor_local`,
:func:`selinux_commands`) and decided from the batched probe
(``facts.pools``): a pool that is already right costs no command. A pool of
the same name that points elsewhere is an error, never a silent redefinition.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from facts.pools import VIRSH

from ._files import put_file
from ._probe import file_digest, section
from ._render import render
from ._log import error_once, fail_command

# Where the deploy keeps the pool definitions it renders (virsh pool-define reads them).
POOL_XML_DIR = "/etc/kvm-cluster/storage"
APPARMOR_LOCAL = "/etc/apparmor.d/local/abstractions/libvirt-qemu"


def pool_xml_path(pool: str) -> str:
    return f"{POOL_XML_DIR}/pool-{pool}.xml"

def pool_xml(pool_name: str, path: str) -> str:
    """The libvirt XML of a ``dir`` pool (``virsh pool-define`` input)."""
    return render("storage/pool.xml.j2", pool_name=pool_name, path=path)


class PoolClash(Exception):
    """A pool of this name exists with another type or path."""


@dataclass(frozen=True)
class PoolPlan:
    define: bool = False
    build: bool = False
    start: bool = False
    autostart: bool = False
    unknown: bool = False  # libvirtd did not answer the probe: decide on the host

    @property
    def changes(self) -> bool:
        return self.define or self.build or self.start or self.autostart or self.unknown


def plan_pool(current: dict | None, pool_name: str, path: str, build: bool = True,
              autostart: bool = True) -> PoolPlan:
    """What to do so that ``pool_name`` is a started ``dir`` pool at ``path``.

    ``current`` is the ``pools`` section of the probe. Raises :class:`PoolClash`
    when a pool of that name has another type or path.
    """
    if not current or current.get("virsh") != "up":
        return PoolPlan(unknown=True)
    pool = current["pools"].get(pool_name)
    if pool is None:
        return PoolPlan(define=True, build=build, start=True, autostart=autostart)
    if pool["type"] != "dir" or pool["path"] != path:
        raise PoolClash(
            f"libvirt pool {pool_name} already exists as a {pool['type'] or 'unknown'} pool at "
            f"{pool['path'] or '(no path)'}, not a dir pool at {path}: it is left as it is; "
            f"remove it (virsh pool-destroy {pool_name}; virsh pool-undefine {pool_name}) "
            f"or choose another pool name or path"
        )
    return PoolPlan(start=not pool["active"], autostart=autostart and not pool["autostart"])


def mount_guard(path: str, pool_name: str) -> StringCommand:
    """Fails unless ``path`` is an NFS mount: a pool on the bare mount point
    would write to the root filesystem."""
    message = (f"{path} is not an NFS mount: libvirt pool {pool_name} is not defined or started "
               "(it would live on the root filesystem)")
    return StringCommand(
        "findmnt -n -t nfs,nfs4 --mountpoint", QuoteString(path), ">/dev/null || {",
        fail_command(message), "; }",
    )


def ensure_pool_script(pool_name: str, path: str, xml_path: str, build: bool = True,
                       autostart: bool = True) -> StringCommand:
    """The whole pool plan decided on the host (when libvirtd did not answer the
    probe, e.g. on a new host before the KVM step installs it): define and
    build unless defined, refuse another path, start, autostart."""
    name_q = QuoteString(pool_name)
    clash = (f"libvirt pool {pool_name} already exists with another type or path (not a dir pool "
             f"at {path}): it is left as it is; remove it or choose another pool name or path")
    parts = [
        "if", VIRSH, "pool-info", name_q, ">/dev/null 2>&1; then",
        VIRSH, "pool-dumpxml", name_q, "| grep -q \"<pool type='dir'\" &&",
        "[ \"$(", VIRSH, "pool-dumpxml", name_q,
        "| sed -n 's:^ *<path>\\(.*\\)</path>.*:\\1:p' | head -n1)\" =", QuoteString(path), "] || {",
        fail_command(clash), "; };",
        "else", VIRSH, "pool-define", QuoteString(xml_path),
    ]
    if build:
        parts += ["&&", VIRSH, "pool-build", name_q]
    parts += ["|| exit 1; fi;",
              VIRSH, "-q pool-list --name | grep -qxF", name_q, "||", VIRSH, "pool-start", name_q,
              "|| exit 1;"]
    if autostart:
        parts += [VIRSH, "pool-info", name_q, "| grep -q '^Autostart: *yes' ||",
                  VIRSH, "pool-autostart", name_q]
    else:
        parts += ["true"]
    return StringCommand(*parts)


@operation()
def pool(pool_name: str, path: str, xml_path: str, build: bool = True, autostart: bool = True,
         nfs_mount: str | None = None, current: dict | None = None):
    """
    A libvirt ``dir`` pool: defined from rendered XML, built, started, autostarted.

    + pool_name: the pool, e.g. ``default``
    + path: its directory (the directory's owner and mode are :func:`directory`'s job)
    + xml_path: where the rendered definition is kept for ``virsh pool-define``
    + build: ``virsh pool-build`` after defining (not on an NFS mount point)
    + autostart: mark the pool autostarted
    + nfs_mount: the NFS mount point the pool lives under: every pool command
      first checks it is mounted, and fails otherwise
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``pools``
      (``facts.pools.StoragePools``; when libvirtd did not answer, one guarded command
      decides on the host) and ``files`` (``xml_path``'s digest)

    An existing, matching pool is left alone (its XML is not rewritten); a pool
    of that name with another type or path fails this operation, saying so.

    **Example:**

    .. code:: python

        storage.pool(
            pool_name="default", path="/data01/primary",
            xml_path="/etc/kvm-cluster/storage/pool-default.xml",
            current=probe,
        )
    """
    pools = section(current, "pools")
    try:
        plan = plan_pool(pools, pool_name, path, build=build, autostart=autostart)
    except PoolClash as clash:
        error_once(str(clash))
        yield fail_command(str(clash))
        return
    if not plan.changes:
        host.noop(f"libvirt pool {pool_name} is active{', autostarted' if autostart else ''} at {path}")
        return

    if plan.define or plan.unknown:
        yield from put_file(xml_path, pool_xml(pool_name, path), mode="644", current=file_digest(current, xml_path),
                            backup=False)
    if nfs_mount:
        yield mount_guard(nfs_mount, pool_name)
    if plan.unknown:
        yield ensure_pool_script(pool_name, path, xml_path, build=build, autostart=autostart)
        return
    name_q = QuoteString(pool_name)
    if plan.define:
        yield StringCommand(VIRSH, "pool-define", QuoteString(xml_path))
    if plan.build:
        yield StringCommand(VIRSH, "pool-build", name_q)
    if plan.start:
        yield StringCommand(VIRSH, "pool-start", name_q)
    if plan.autostart:
        yield StringCommand(VIRSH, "pool-autostart", name_q)


def directory_matches(current: dict | None, user: str, group: str, mode: str) -> bool:
    """The probe's ``{"mode", "user", "group"[, "uid", "gid"]}`` is this owner and mode; an
    owner given as a number (a squash id no local account may have) is compared by number."""
    if not current or current.get("mode") != (str(mode).lstrip("0") or "0"):
        return False
    owner = current.get("uid") if str(user).isdigit() else current.get("user")
    group_found = current.get("gid") if str(group).isdigit() else current.get("group")
    return owner == str(user) and group_found == str(group)


@operation()
def directory(path: str, user: str = "root", group: str = "root", mode: str = "755",
              current: dict | None = None):
    """
    A pool (or export) directory with its owner and mode.

    + path: the directory
    + user, group, mode: its owner and permissions
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``pool_paths``
      (``{"mode", "user", "group"}`` of ``path``, ``facts.pools.PoolPaths``
      ``dirs``); when it matches, nothing is changed; otherwise one command

    **Example:**

    .. code:: python

        storage.directory(path="/data01/primary", user="root", group="kvm", mode="775")
    """
    found = (section(current, "pool_paths", {}).get("dirs") or {}).get(path)
    if directory_matches(found, user, group, mode):
        host.noop(f"directory {path} is {user}:{group} {mode}")
        return
    yield StringCommand("mkdir", "-p", QuoteString(path), "&&", "chown", f"{user}:{group}", QuoteString(path),
                        "&&", "chmod", str(mode), QuoteString(path))


def apparmor_local(paths: list[str]) -> str:
    """The site-local libvirt-qemu abstraction allowing guests into the pools."""
    return render("storage/apparmor-libvirt-qemu.j2", paths=list(paths))


@operation()
def apparmor_paths(paths: list[str], path: str, current: dict | None = None):
    """
    Allow QEMU guests (AppArmor, Debian/Ubuntu) into the storage pools.

    + paths: the pool directories
    + path: the local abstraction (``/etc/apparmor.d/local/abstractions/libvirt-qemu``)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files``
      (``path``'s digest)

    The abstraction is part of each guest's profile, loaded when the guest
    starts: guests started afterwards get it.

    **Example:**

    .. code:: python

        storage.apparmor_paths(paths=["/data01/primary", "/secondary"],
                               path="/etc/apparmor.d/local/abstractions/libvirt-qemu")
    """
    digest = file_digest(current, path)
    yield from put_file(path, apparmor_local(paths), mode="644", current=digest)


SELINUX_TYPE = "virt_image_t"


def selinux_commands(state: dict, label_paths: list[str], relabel_paths: list[str],
                     nfs: bool = False) -> list[StringCommand]:
    """SELinux file contexts of the pool paths (``semanage fcontext`` + ``restorecon``).

    ``state`` is the probe's ``pool_paths`` section. ``label_paths`` get a
    ``virt_image_t`` rule; ``relabel_paths`` (local ones: labels do not apply
    on NFS) are relabelled when their label differs; ``nfs`` turns on the
    ``virt_use_nfs`` boolean for guests on the NFS pool.
    """
    if not state.get("selinux"):
        return []
    commands = []
    for path in label_paths:
        context = state["contexts"].get(path, {})
        if context.get("policy") != SELINUX_TYPE:
            spec = QuoteString(f"{path}(/.*)?")
            commands.append(StringCommand(
                "semanage fcontext -a -t", SELINUX_TYPE, spec, "2>/dev/null ||",
                "semanage fcontext -m -t", SELINUX_TYPE, spec))
    for path in relabel_paths:
        context = state["contexts"].get(path, {})
        if context.get("actual") != SELINUX_TYPE or context.get("policy") != SELINUX_TYPE:
            commands.append(StringCommand("restorecon -R", QuoteString(path)))
    if nfs and state.get("virt_use_nfs") != "on":
        commands.append(StringCommand("setsebool -P virt_use_nfs on"))
    return commands


@operation()
def selinux_labels(label_paths: list[str], relabel_paths: list[str], nfs: bool = False,
                   current: dict | None = None):
    """
    Label the pool paths ``virt_image_t`` for SELinux (RHEL), where SELinux is enabled.

    + label_paths: paths that get a ``semanage fcontext`` rule (``PATH(/.*)?``)
    + relabel_paths: local paths relabelled with ``restorecon -R`` when needed
    + nfs: also allow guests on NFS (``setsebool -P virt_use_nfs on``)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``pool_paths``
      (``facts.pools.PoolPaths``: SELinux state and contexts)

    **Example:**

    .. code:: python

        storage.selinux_labels(label_paths=["/data01/primary"],
                               relabel_paths=["/data01/primary"], current=probe)
    """
    state = section(current, "pool_paths", {})
    commands = selinux_commands(state, label_paths, relabel_paths, nfs)
    if not commands:
        host.noop("SELinux labels of the pool paths are in place" if state.get("selinux")
                  else "SELinux is not enabled")
        return
    yield from commands
