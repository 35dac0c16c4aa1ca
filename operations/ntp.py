"""NTP with chrony: the masters serve the cluster, every other host follows them.

The masters poll the upstream servers and each other, serve the cluster
network, and fall back to their own clock (``local stratum 10 orphan``) when
no upstream answers, so the cluster keeps one time even cut off. Clients poll
the masters only.

Where chronyd may not set the clock (a container without ``CAP_SYS_TIME``,
which Debian's unit also requires through ``ConditionCapability``),
``set_clock=False`` runs it with ``-x`` through a systemd drop-in that clears
the condition: chrony then tracks and serves time without touching the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import StringCommand, operation

from ._batch import one_command
from ._files import checked_content, digest_matches, put_file
from ._log import or_noop
from ._probe import section
from ._render import render
from .services import service_commands

LOCAL_STRATUM = 10


@dataclass(frozen=True)
class ChronyLayout:
    config: str
    unit: str
    dropin: str
    exec_start: str
    driftfile: str


def chrony_layout(os_family: str) -> ChronyLayout:
    """Where chrony lives: Debian/Ubuntu ``/etc/chrony/chrony.conf`` and
    ``chrony.service``; RHEL ``/etc/chrony.conf`` and ``chronyd.service``.
    ``exec_start`` is the unit's own ExecStart (Debian starts it as root with
    ``!``, its unit runs as ``_chrony``), plus ``-x``."""
    if os_family == "rhel":
        return ChronyLayout("/etc/chrony.conf", "chronyd.service",
                            "/etc/systemd/system/chronyd.service.d/kvm-cluster.conf",
                            "/usr/sbin/chronyd $OPTIONS -x", "/var/lib/chrony/drift")
    return ChronyLayout("/etc/chrony/chrony.conf", "chrony.service",
                        "/etc/systemd/system/chrony.service.d/kvm-cluster.conf",
                        "!/usr/sbin/chronyd $DAEMON_OPTS -x", "/var/lib/chrony/chrony.drift")


def managed_paths(os_family: str) -> list[str]:
    layout = chrony_layout(os_family)
    return [layout.config, layout.dropin]


def render_chrony_conf(os_family: str, sources: list[str], serve: str | None = None,
                       set_clock: bool = True, local_stratum: int = LOCAL_STRATUM) -> str:
    """chrony.conf for a server (``serve`` = the network it answers) or a client.

    + sources: servers to poll (a master: upstream servers and the other
      master; a client: the masters)
    + serve: the network allowed to query (masters only); with it, the
      ``local`` fallback is on
    + set_clock: ``False`` drops the clock-setting directives (chronyd runs with ``-x``)
    """
    return render(
        "chrony/chrony.conf.j2",
        sources=list(sources),
        serve=serve is not None,
        allow=serve,
        local_stratum=local_stratum,
        driftfile=chrony_layout(os_family).driftfile,
        set_clock=set_clock,
    )


def render_dropin(os_family: str) -> str:
    """The unit drop-in that runs chronyd with ``-x`` (``ntp_set_clock = false``)."""
    return render("chrony/no-clock.conf.j2", exec_start=chrony_layout(os_family).exec_start)


@operation()
def chrony(os_family: str, config: str, set_clock: bool, current: dict | None = None):
    """
    Install chrony's configuration (server or client) and keep chronyd running.

    + os_family: ``debian`` or ``rhel`` (paths and unit name, :func:`chrony_layout`)
    + config: chrony.conf's content (:func:`render_chrony_conf`)
    + set_clock: ``False`` installs the ``-x`` drop-in (:func:`render_dropin`),
      ``True`` removes it
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files`` (digests of the config and
      the drop-in) and ``services`` (the chrony unit)

    The new chrony.conf is checked with ``chronyd -p -f`` before it replaces
    the old one (kept as ``PATH.<timestamp>``); chronyd is restarted when
    either file changed.

    **Example:**

    .. code:: python

        ntp.chrony(
            name="chrony: NTP client of the masters",
            os_family="debian",
            config=ntp.render_chrony_conf("debian", ["172.30.10.11", "172.30.10.12"]),
            set_clock=True, current=probe,
        )
    """
    layout = chrony_layout(os_family)
    files, services = section(current, "files", {}), section(current, "services", {})
    yield from or_noop(_chrony_commands(layout, os_family, config, set_clock, files, services),
                       f"{layout.config} is in place and {layout.unit} running")


def _chrony_commands(layout: ChronyLayout, os_family: str, config: str, set_clock: bool,
                     files: dict, services: dict):
    changed = False
    if not digest_matches(files.get(layout.config), config, "644", "root", "root"):
        changed = True
        yield from put_file(layout.config, config, current=files.get(layout.config),
                            check=checked_content(config, "chronyd -p -f {} >/dev/null"))
    reload = False
    if set_clock:
        if files.get(layout.dropin) is not None:
            reload = True
            yield StringCommand("rm", "-f", layout.dropin)
    else:
        dropin = render_dropin(os_family)
        if not digest_matches(files.get(layout.dropin), dropin, "644", "root", "root"):
            reload = True
            yield from put_file(layout.dropin, dropin, current=files.get(layout.dropin), backup=False)
    yield from one_command([*(["systemctl daemon-reload"] if reload else []),
                            *service_commands(layout.unit, services.get(layout.unit), restart=changed or reload)])
