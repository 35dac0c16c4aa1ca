"""systemd services, decided from the batched probe (``facts.services``).

pyinfra's ``server.service`` reads two facts (two SSH commands) per service
even when nothing changes; these commands come from the probe instead.
"""

from __future__ import annotations

from pyinfra.api import StringCommand, operation

from ._batch import one_command
from ._log import warn_once
from ._probe import section


def service_commands(unit: str, current: dict | None, running: bool | None = True,
                     enabled: bool = True, restart: bool = False) -> list[StringCommand]:
    """The ``systemctl`` commands that bring ``unit`` to the wanted state.

    ``current`` is the unit's entry in ``probe["services"]``; ``None`` (not
    probed) or an unknown unit is treated as stopped and disabled. ``restart``
    restarts a running unit (its configuration changed) and is a plain start
    for a stopped one. ``running=None`` leaves it running or not (a daemon its
    socket starts on demand, which exits when idle).
    """
    current = current or {"active": "inactive", "enabled": "disabled"}
    commands = []
    is_enabled = current["enabled"] in ("enabled", "enabled-runtime", "static", "alias", "indirect")
    if enabled and current["enabled"] == "masked":
        commands.append(StringCommand("systemctl", "unmask", unit))
    if enabled and not is_enabled:
        commands.append(StringCommand("systemctl", "enable", unit))
    elif not enabled and current["enabled"] in ("enabled", "enabled-runtime"):
        commands.append(StringCommand("systemctl", "disable", unit))
    is_running = current["active"] in ("active", "activating", "reloading")
    if running is None:
        pass
    elif running and (restart or not is_running):
        verb = "restart" if (restart and is_running) else "start"
        # Fail loudly (with the unit's last log lines) if it does not stay up.
        commands.append(StringCommand(
            "systemctl", verb, unit, "&&", "systemctl", "is-active", "--quiet", unit,
            "|| { journalctl -u", unit, "-n 20 --no-pager >&2; exit 1; }",
        ))
    elif running is False and is_running:
        commands.append(StringCommand("systemctl", "stop", unit))
    return commands


@operation()
def service(unit: str, current: dict | None = None, running: bool = True, enabled: bool = True,
            restart: bool = False):
    """
    Start/stop, enable/disable or restart a systemd unit.

    + unit: the unit, e.g. ``libvirtd.service``
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``services``
      (``unit`` among them)
    + running: whether it should be running
    + enabled: whether it should start at boot
    + restart: restart it (its configuration changed)

    **Example:**

    .. code:: python

        services.service(
            name="libvirtd running",
            unit="libvirtd.service",
            current=probe,
            restart=config_changed,
        )
    """
    state = section(current, "services", {}).get(unit)
    if state and state.get("enabled") == "not-found" and (running or enabled):
        warn_once(f"unit {unit} is not installed on this host")
    yield from one_command(service_commands(unit, state, running=running, enabled=enabled, restart=restart))
