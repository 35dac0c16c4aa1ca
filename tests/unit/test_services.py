"""systemd units' commands from the probe's states: one unit, and several at once
(their unit file changes batched, one systemctl call per verb)."""

import itertools

import pytest

from operations.services import service_commands, units_commands

STATES = [None, {"active": "inactive", "enabled": "disabled"}, {"active": "active", "enabled": "enabled"},
          {"active": "failed", "enabled": "masked"}, {"active": "inactive", "enabled": "static"},
          {"active": "active", "enabled": "enabled-runtime"}]


def text(commands):
    return [str(command) for command in commands]


@pytest.mark.parametrize("current, running, enabled, restart",
                         list(itertools.product(STATES, [True, False, None], [True, False], [True, False])))
def test_one_unit_alone_gets_what_service_commands_gives(current, running, enabled, restart):
    one = {"unit": "u.service", "current": current, "running": running, "enabled": enabled, "restart": restart}
    assert text(units_commands([one])) == text(
        service_commands("u.service", current, running=running, enabled=enabled, restart=restart))


def test_several_units_change_their_files_in_one_call_per_verb_then_run_in_order():
    disabled = {"active": "inactive", "enabled": "disabled"}
    commands = text(units_commands([
        {"unit": "a.socket", "current": disabled},
        {"unit": "b.socket", "current": {"active": "inactive", "enabled": "masked"}},
        {"unit": "c.socket", "current": {"active": "active", "enabled": "enabled"}, "running": False,
         "enabled": False},
        {"unit": "d.service", "current": {"active": "active", "enabled": "disabled"}, "restart": True},
        {"unit": "e.service", "current": {"active": "active", "enabled": "enabled"}},
    ]))
    assert commands[:3] == ["systemctl unmask b.socket", "systemctl disable c.socket",
                            "systemctl enable a.socket b.socket d.service"]
    runs = [c.split(" && ")[0] for c in commands[3:]]
    assert runs == ["systemctl start a.socket", "systemctl start b.socket", "systemctl stop c.socket",
                    "systemctl restart d.service"]  # e.service: running and enabled, nothing


def test_nothing_to_change_is_no_command():
    up = {"active": "active", "enabled": "enabled"}
    assert units_commands([{"unit": "a.socket", "current": up}, {"unit": "b.service", "current": up}]) == []


def test_a_misspelt_argument_is_an_error_not_a_default():
    with pytest.raises(TypeError):
        units_commands([{"unit": "a.socket", "current": None, "enable": False}])
