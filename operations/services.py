"""systemd services, decided from the batched probe (``facts.services``).

pyinfra's ``server.service`` reads two facts (two SSH commands) per service
even when nothing changes; these commands come from the probe instead.
"""

from __future__ import annotations

from pyinfra.api import StringCommand, operation

from ._batch import one_command
from ._log import warn_once
from ._probe import section


# A unit not probed, or unknown to the probe: stopped and disabled.
NOT_PROBED = {"active": "inactive", "enabled": "disabled"}


def unit_file_changes(unit: str, current: dict | None, enabled: bool = True) -> list[tuple[str, str]]:
    """The ``(verb, unit)`` changes to ``unit``'s files (``unmask``, ``enable``,
    ``disable``) that bring it to ``enabled``; ``current`` as for
    :func:`service_commands`."""
    current = current or NOT_PROBED
    changes = []
    is_enabled = current["enabled"] in ("enabled", "enabled-runtime", "static", "alias", "indirect")
    if enabled and current["enabled"] == "masked":
        changes.append(("unmask", unit))
    if enabled and not is_enabled:
        changes.append(("enable", unit))
    elif not enabled and current["enabled"] in ("enabled", "enabled-runtime"):
        changes.append(("disable", unit))
    return changes


def run_state_commands(unit: str, current: dict | None, running: bool | None = True,
                       restart: bool = False) -> list[StringCommand]:
    """The ``systemctl`` start, restart or stop that brings ``unit`` to ``running``
    (see :func:`service_commands`)."""
    current = current or NOT_PROBED
    is_running = current["active"] in ("active", "activating", "reloading")
    if running is None:
        return []
    if running and (restart or not is_running):
        verb = "restart" if (restart and is_running) else "start"
        # Fail loudly (with the unit's last log lines) if it does not stay up.
        return [StringCommand(
            "systemctl", verb, unit, "&&", "systemctl", "is-active", "--quiet", unit,
            "|| { journalctl -u", unit, "-n 20 --no-pager >&2; exit 1; }",
        )]
    if running is False and is_running:
        return [StringCommand("systemctl", "stop", unit)]
    return []


def service_commands(unit: str, current: dict | None, running: bool | None = True,
                     enabled: bool = True, restart: bool = False) -> list[StringCommand]:
    """The ``systemctl`` commands that bring ``unit`` to the wanted state.

    ``current`` is the unit's entry in ``probe["services"]``; ``None`` (not
    probed) or an unknown unit is treated as stopped and disabled. ``restart``
    restarts a running unit (its configuration changed) and is a plain start
    for a stopped one. ``running=None`` leaves it running or not (a daemon its
    socket starts on demand, which exits when idle).
    """
    return [*(StringCommand("systemctl", verb, name) for verb, name in unit_file_changes(unit, current, enabled)),
            *run_state_commands(unit, current, running=running, restart=restart)]


def units_commands(wanted: list[dict]) -> list[StringCommand]:
    """:func:`service_commands` for several units at once: their unit file
    changes first, one ``systemctl`` call per verb (each call that changes
    something reloads systemd: 0.1-0.3 s on a busy host), then each unit's
    start, restart or stop in the order given.

    ``wanted``: one dict per unit, :func:`service_commands`'s arguments by name
    (``unit``, ``current`` and, optionally, ``running``, ``enabled``, ``restart``).
    """
    specs = [_unit_spec(**spec) for spec in wanted]  # a misspelt argument is an error, not a default
    by_verb: dict[str, list[str]] = {}
    for unit, current, _running, enabled, _restart in specs:
        for verb, name in unit_file_changes(unit, current, enabled):
            by_verb.setdefault(verb, []).append(name)
    commands = [StringCommand("systemctl", verb, *units)
                for verb in ("unmask", "disable", "enable") if (units := by_verb.get(verb))]
    for unit, current, running, _enabled, restart in specs:
        commands += run_state_commands(unit, current, running=running, restart=restart)
    return commands


def _unit_spec(unit: str, current: dict | None, running: bool | None = True, enabled: bool = True,
               restart: bool = False) -> tuple:
    """One of :func:`units_commands`'s dicts, checked against :func:`service_commands`'s arguments."""
    return unit, current, running, enabled, restart


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
