"""The KVM stack: packages, libvirtd secure by default, libvirt's default URI, sysctl.

The plan is pure (:func:`kvm_packages`, :func:`libvirt_units`,
:func:`render_libvirtd_conf`, :func:`sysctl_plan`); the operations write files
through ``operations._files.put_file`` (a no-op when the probe's digest
matches, a backup and a check otherwise).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pyinfra.api import QuoteString, StringCommand, operation

from ._batch import one_command
from ._files import checked_content, digest_matches, put_file
from ._log import or_noop, warn_once
from ._probe import section
from ._render import render
from .services import units_commands

LIBVIRT_CONF = "/etc/libvirt/libvirt.conf"
SYSCTL_FILE = "/etc/sysctl.d/60-kvm-cluster.conf"
SOCKET_DROPIN_DIR = "/etc/systemd/system"
TLS_PATHS = {
    "ca_cert": "/etc/pki/CA/cacert.pem",
    "server_cert": "/etc/pki/libvirt/servercert.pem",
    "server_key": "/etc/pki/libvirt/private/serverkey.pem",
}

TLS_MODES = {"ca_cert": "644", "server_cert": "644", "server_key": "600"}

# Per family: the seed's list, in each distribution's names. Names a release
# does not have (Debian 12: virt-top; RHEL 8+: bridge-utils) are skipped with
# a warning by operations.packages, from what the host's archive says.
_PACKAGES = {
    "debian": ["qemu-system-x86", "qemu-utils", "libvirt-daemon-system", "libvirt-clients",
               "virtinst", "virt-top", "bridge-utils", "augeas-tools"],
    "rhel": ["qemu-kvm", "qemu-img", "libvirt", "libvirt-client", "virt-install", "virt-top",
             "bridge-utils", "augeas"],
}
# Names some releases lack (Debian 12: virt-top; RHEL 8+: bridge-utils): skipped
# with a warning there. Any other missing package is an error.
OPTIONAL_PACKAGES = ("virt-top", "bridge-utils")
_ARCH_PACKAGES = {"aarch64": {"qemu-system-x86": "qemu-system-arm"}}


def kvm_packages(os_release: dict, arch: str = "x86_64") -> list[str]:
    """The KVM/libvirt packages for a distribution family (``probe["os"]``)."""
    family = os_release.get("family")
    if family not in _PACKAGES:
        raise ValueError(f"no KVM package list for {os_release.get('pretty_name') or family!r}")
    rename = _ARCH_PACKAGES.get(arch, {})
    return [rename.get(name, name) for name in _PACKAGES[family]]


@dataclass(frozen=True)
class LibvirtLayout:
    """Where libvirt's daemon config lives and which units run it on a host."""

    config: str          # the daemon's config file
    lens: str            # augeas lens that parses it (libvirt ships them)
    service: str         # the unit that must run
    config_service: str  # the unit that reads ``config`` (restarted when it changes)
    sockets: tuple       # socket units whose access is restricted
    tcp_socket: str      # the plain TCP socket: never enabled
    tls_socket: str


def libvirt_layout(os_release: dict) -> LibvirtLayout:
    """Monolithic libvirtd (Debian, Ubuntu, RHEL 8) or the modular daemons (RHEL 9+)."""
    if os_release.get("family") == "rhel" and (os_release.get("major") or 0) >= 9:
        return LibvirtLayout(
            config="/etc/libvirt/virtproxyd.conf", lens="Virtproxyd",
            service="virtqemud.service", config_service="virtproxyd.service",
            sockets=("virtqemud.socket", "virtqemud-ro.socket", "virtproxyd.socket",
                     "virtproxyd-ro.socket"),
            tcp_socket="virtproxyd-tcp.socket", tls_socket="virtproxyd-tls.socket",
        )
    return LibvirtLayout(
        config="/etc/libvirt/libvirtd.conf", lens="Libvirtd", service="libvirtd.service",
        config_service="libvirtd.service",
        sockets=("libvirtd.socket", "libvirtd-ro.socket"),
        tcp_socket="libvirtd-tcp.socket", tls_socket="libvirtd-tls.socket",
    )


def user_libvirt_conf(home: str) -> str:
    return f"{home}/.config/libvirt/libvirt.conf"


def put_file_with_dir(path: str, content: str, user: str):
    """A file in a user's home; its missing parent directories are created
    owned by the user first (a plain ``mkdir -p`` would leave ``~/.config`` to root)."""
    config = posixpath.dirname(posixpath.dirname(path))
    yield StringCommand("install", "-d", "-o", user, "-g", user, "-m", "755",
                        QuoteString(config), QuoteString(posixpath.dirname(path)))
    yield from put_file(path, content, mode="644", user=user, group=user)


def socket_dropin(socket: str) -> str:
    return f"{SOCKET_DROPIN_DIR}/{socket}.d/kvm-cluster-access.conf"


def managed_paths(os_release: dict) -> list[str]:
    layout = libvirt_layout(os_release)
    return [layout.config, LIBVIRT_CONF, SYSCTL_FILE, *(socket_dropin(s) for s in layout.sockets)]


def units(os_release: dict) -> list[str]:
    layout = libvirt_layout(os_release)
    return [layout.service, *layout.sockets, layout.tcp_socket, layout.tls_socket]


def render_libvirtd_conf(path: str, group: str = "libvirt", tls: bool = False) -> str:
    return render("libvirt/libvirtd.conf.j2", path=path, group=group, tls=tls, tls_paths=TLS_PATHS)


def render_libvirt_conf(uri_default: str) -> str:
    return (
        "# Managed by kvm-cluster (pyinfra): virsh and friends connect here by default.\n"
        f'uri_default = "{uri_default}"\n'
    )


def render_sysctl(values: dict[str, str]) -> str:
    lines = ["# Managed by kvm-cluster (pyinfra): kernel settings for bridged KVM guests."]
    lines += [f"{key} = {value}" for key, value in sorted(values.items())]
    return "\n".join(lines) + "\n"


def augeas_check(lens: str) -> str:
    """A shell check that ``{}`` parses with libvirt's own augeas lens."""
    return (
        f"out=$(augtool -L -A -t \"{lens} incl \"{{}} print /augeas//error 2>&1) && [ -z \"$out\" ]"
        " || { echo \"libvirt config does not parse: $out\" >&2; false; }"
    )


def sysctl_plan(wanted: dict[str, str], current: dict) -> tuple[list[str], list[str]]:
    """(``key=value`` to set now, reasons a key cannot be set on this kernel).

    ``current`` is ``probe["sysctl"]``: ``{key: {"value", "writable"}}``,
    ``None`` for a key this kernel does not have.
    """
    to_set, problems = [], []
    for key, value in sorted(wanted.items()):
        state = current.get(key)
        if state is None:
            problems.append(f"{key}: this kernel has no such key (module not loaded?); "
                            "the drop-in applies it at the next boot that has it")
        elif state["value"] != str(value):
            if state["writable"]:
                to_set.append(f"{key}={value}")
            else:
                problems.append(f"{key} is {state['value']}, wanted {value}: /proc/sys is read-only "
                                "here (a container?); the drop-in applies at boot")
    return to_set, problems


@operation()
def libvirt_daemon(os_release: dict, group: str, uri_default: str, tls: bool,
                   current: dict | None = None, users: dict | None = None,
                   certificates: dict | None = None):
    """
    Configure libvirt secure by default and keep its daemon running.

    + os_release: ``probe["os"]`` (monolithic libvirtd or modular daemons)
    + group: the group whose members may use the local socket (``libvirt``)
    + uri_default: ``uri_default`` of ``/etc/libvirt/libvirt.conf``
    + tls: listen for TLS on 16514 (certificates installed by :func:`tls_certificates`)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files`` (digests of the managed
      files) and ``services``
    + certificates: with ``tls``, the PEM texts ``{"ca_cert", "server_cert",
      "server_key"}`` (see :func:`tls_certificates`): the daemon is restarted
      when one of them changes, as it reads them only at start
    + users: ``{user: home}``: accounts that get the same ``uri_default`` in
      their own ``~/.config/libvirt/libvirt.conf`` (libvirt reads the system
      file for root only)

    The daemon config is checked with libvirt's augeas lens before it is
    installed, so a bad file never reaches a restart; the restart itself must
    leave the daemon active, or the host fails with the daemon's log. The
    plain TCP socket is masked: never unauthenticated TCP.

    **Example:**

    .. code:: python

        kvm.libvirt_daemon(
            name="libvirtd secure by default",
            os_release=probe["os"], group="libvirt", uri_default="qemu:///system",
            tls=False, current=probe,
        )
    """
    layout = libvirt_layout(os_release)
    files, services = section(current, "files", {}), section(current, "services", {})
    yield from or_noop(_libvirt_commands(layout, group, uri_default, tls, files, services, users,
                                         certificates or {}),
                       f"{layout.service} is configured and running")


def _libvirt_commands(layout, group, uri_default, tls, files, services, users, certificates):
    conf = render_libvirtd_conf(layout.config, group, tls)
    changed = tls and any(
        not digest_matches(files.get(TLS_PATHS[key]), text, TLS_MODES[key], "root", "root")
        for key, text in certificates.items()
    )
    if not digest_matches(files.get(layout.config), conf, "644", "root", "root"):
        changed = True
        yield from put_file(layout.config, conf, current=files.get(layout.config),
                            check=checked_content(conf, augeas_check(layout.lens)))
    dropin = render("libvirt/socket-access.conf.j2", group=group)
    sockets_changed = [s for s in layout.sockets
                       if not digest_matches(files.get(socket_dropin(s)), dropin, "644", "root", "root")]
    for socket in sockets_changed:
        yield from put_file(socket_dropin(socket), dropin, current=files.get(socket_dropin(socket)),
                            backup=False)
    uri_conf = render_libvirt_conf(uri_default)
    yield from put_file(LIBVIRT_CONF, uri_conf, current=files.get(LIBVIRT_CONF))
    for user, home in sorted((users or {}).items()):
        path = user_libvirt_conf(home)
        if not digest_matches(files.get(path), uri_conf, "644", user, user):
            yield from put_file_with_dir(path, uri_conf, user)

    # The units' commands, in order, as one remote command.
    units: list = []
    tcp = services.get(layout.tcp_socket)
    if tcp is None or tcp["enabled"] != "masked":
        units.append(StringCommand("systemctl", "mask", "--now", layout.tcp_socket))
    tls_socket = services.get(layout.tls_socket) or {"active": "inactive"}
    tls_starts = tls and tls_socket["active"] not in ("active", "activating")
    if sockets_changed or tls_starts:
        # systemd refuses to start or restart a socket whose service runs
        # ("Socket service ... already active, refusing"): stop the daemon and
        # its sockets, then start the sockets (new mode, TLS) and the daemon.
        if sockets_changed:
            units.append(StringCommand("systemctl", "daemon-reload"))
        sockets = (*layout.sockets, layout.tls_socket) if tls else layout.sockets
        units.append(StringCommand("systemctl", "stop", layout.service, *sockets))
        services = {**services, **{unit: {**services.get(unit, {"enabled": "disabled"}), "active": "inactive"}
                                   for unit in (layout.service, *sockets)}}
        changed = False  # the daemon starts afresh below
    wanted = [{"unit": socket, "current": services.get(socket)} for socket in layout.sockets]
    wanted.append({"unit": layout.tls_socket, "current": services.get(layout.tls_socket),
                   "running": bool(tls), "enabled": bool(tls)})
    # Debian's libvirtd (and RHEL's virtqemud) exits after two idle minutes
    # (--timeout 120) and its socket starts it again: with the sockets listening
    # and nothing to apply, an idle daemon is as wanted (a start would be a
    # change at every run after a quiet moment).
    on_demand = not changed and (services.get(layout.service) or {}).get("active") != "failed" and all(
        (services.get(socket) or {}).get("active") == "active" for socket in layout.sockets)
    # Modular daemons: virtqemud runs the guests; virtproxyd (socket activated)
    # reads the remote-access config and certificates, and is restarted below.
    wanted.append({"unit": layout.service, "current": services.get(layout.service),
                   "restart": changed and layout.config_service == layout.service,
                   "running": None if on_demand else True})
    units += units_commands(wanted)  # the enables in one systemctl call: one reload
    if changed and layout.config_service != layout.service:
        units.append(StringCommand("systemctl", "try-restart", layout.config_service))
    yield from one_command(units)


@operation()
def tls_certificates(ca_cert: str, server_cert: str, server_key: str, current: dict | None = None):
    """
    Install the TLS CA, server certificate and key libvirt listens with.

    + ca_cert, server_cert, server_key: the PEM texts (the user's own PKI)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files`` (digests)
    """
    files = section(current, "files", {})
    for key, text in (("ca_cert", ca_cert), ("server_cert", server_cert), ("server_key", server_key)):
        yield from put_file(TLS_PATHS[key], text, mode=TLS_MODES[key], current=files.get(TLS_PATHS[key]),
                            backup=False, secret=key == "server_key")


@operation()
def sysctl(values: dict[str, str], current: dict | None = None, path: str = SYSCTL_FILE):
    """
    Kernel settings in a drop-in file (never ``/etc/sysctl.conf``), applied now
    where the running kernel allows it.

    + values: ``{key: value}``
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``sysctl`` (the running values)
      and ``files`` (the drop-in's digest)
    + path: the drop-in file

    A key the kernel lacks, or that cannot be set here (read-only
    ``/proc/sys`` in a container), is reported, not fatal.
    """
    files = section(current, "files", {})
    to_set, problems = sysctl_plan(values, section(current, "sysctl", {}))
    for problem in problems:
        warn_once(f"sysctl {problem}")
    yield from or_noop(_sysctl_commands(path, values, files, to_set), f"{path} is in place")


def _sysctl_commands(path, values, files, to_set):
    yield from put_file(path, render_sysctl(values), current=files.get(path))
    if to_set:
        yield StringCommand("sysctl", "-w", *(QuoteString(item) for item in to_set))
