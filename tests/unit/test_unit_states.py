"""facts.services leaves each unit's state in a shell variable that
facts._section.unit_state reads: both must name it alike. Run in a real shell,
with systemctl played by a shell function that prints as `systemctl show` and
`systemctl list-units` do, systemd's unit directories by temporary ones, and
the probe's remembered entries in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from facts import _section, services
from facts._section import unit_state
from facts.services import parse_services, services_command

# As `systemctl show -p Id,LoadState,UnitFileState` prints them, with each
# unit's ActiveState as `systemctl list-units` lists it (None: not listed, as
# a loaded unit systemd has unloaded); chronyd.service is Debian's alias of
# chrony.service (its Id is chrony's).
SHOWN = {
    "NetworkManager.service": ("NetworkManager.service", "loaded", "active", "enabled"),
    # A mount unit for a path with a colon (a name may hold one), mounted by
    # hand: no unit file, yet loaded and active.
    "mnt-nfs:share.mount": ("mnt-nfs:share.mount", "loaded", "active", "static"),
    "chronyd.service": ("chrony.service", "loaded", "active", "enabled"),
    "gone.service": ("gone.service", "not-found", "active", ""),
    "idle.service": ("idle.service", "loaded", None, "disabled"),
}


def fake_systemctl(tmp_path) -> str:
    """systemctl as a shell function: ``show`` logs the units it is asked of
    (in ``asked``), ``list-units`` prints the listed ones' lines, reading
    each unit's ActiveState from ``active-<Id>`` when there is one."""
    asked_log, states = tmp_path / "asked", tmp_path / "state"
    states.mkdir(exist_ok=True)
    shows = " ".join(
        f"{unit}) printf '%s\\n' 'Id={i}' 'LoadState={load}' 'UnitFileState={enabled}' '';;"
        for unit, (i, load, _active, enabled) in SHOWN.items())
    lists = " ".join(
        f"{i}) a={active}; [ ! -f {states}/active-{i} ] || a=$(cat {states}/active-{i}); "
        f"printf '%-30s %s %s running Some unit\\n' {i} {load} $a;;"
        for _unit, (i, load, active, _enabled) in SHOWN.items() if active)
    return (f"systemctl() {{ case \"$1\" in show) shift 3; for u in \"$@\"; do echo \"$u\" >> {asked_log}; "
            f"case $u in {shows} esac; done;; "
            f"list-units) shift 5; for u in \"$@\"; do case $u in {lists} esac; done;; "
            "*) echo asked-again;; esac; }; ")


@pytest.fixture(params=[False, True], ids=["on its own", "in the probe"])
def unit_dirs(tmp_path, monkeypatch, request):
    """Systemd's places, played by temporary directories. Each test runs twice:
    the section on its own (a fact: its key stats the files itself) and in
    the probe (its setup, then the probe's one stat of what it found, with
    another section's pattern among them, then its command)."""
    if request.param:
        (tmp_path / ".in_probe").write_text("")
    system = tmp_path / "system"
    system.mkdir()
    (system / "NetworkManager.service").write_text("[Service]\n")
    (system / "chrony.service").write_text("[Service]\n")
    (system / "chronyd.service").symlink_to("chrony.service")
    (system / "idle.service").write_text("[Service]\n")
    config = tmp_path / "etc"
    (config / "multi-user.target.wants").mkdir(parents=True)
    # A place of the search path that is not there (yet): most of them, on a host.
    monkeypatch.setattr(services, "UNIT_DIRS", (str(system), str(config), str(tmp_path / "local")))
    monkeypatch.setattr(services, "CONFIG_DIRS", (str(config),))
    (tmp_path / "generator").mkdir()
    monkeypatch.setattr(services, "RELOADED_DIRS", (str(tmp_path / "generator"),))
    (config / "idle.service.d").mkdir()
    (config / "idle.service.d" / "override.conf").write_text("[Service]\nNice=1\n")
    started = tmp_path / "units"
    started.mkdir()
    # A unit started since boot whose file is gone (its package removed): asked.
    (started / "invocation:gone.service").symlink_to("0123456789abcdef")
    monkeypatch.setattr(services, "STARTED_PREFIX", f"{started}/invocation:")
    monkeypatch.setattr(_section, "REMEMBERED_DIR", str(tmp_path / "probe"))
    return tmp_path


UNITS = ["NetworkManager.service", "chronyd.service", "virtstoraged.socket", "gone.service",
         "mnt-nfs:share.mount", "idle.service"]


def run(tmp_path, *asked: tuple[str, str]) -> tuple[str, list[str], list[str]]:
    """(what the command printed, the states the sections read, the units
    ``systemctl show`` was asked of in this run)."""
    log = tmp_path / "asked"
    log.unlink(missing_ok=True)
    if (tmp_path / ".in_probe").exists():
        section = services.services_section(UNITS)
        body = (section.setup + "; " + _section.watched_prelude(
            (), [("interfaces", (f"{tmp_path}/other/*",)), ("services", section.watched_matches)])
            + "; " + section.command)
    else:
        body = services_command(UNITS)
    script = (fake_systemctl(tmp_path) + "{ " + body + "; } > " + str(tmp_path / "out") + "; "
              + "; ".join(f'echo "[{unit_state(unit, field)}]"' for unit, field in asked))
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert result.stderr == ""
    printed = (tmp_path / "out").read_text()
    return printed, result.stdout.split(), (log.read_text().split() if log.exists() else [])


def test_the_states_read_once_are_the_ones_the_sections_find(unit_dirs):
    printed, states, asked = run(unit_dirs, ("NetworkManager.service", "active"),
                                 ("NetworkManager.service", "enabled"),
                                 ("virtstoraged.socket", "active"), ("virtstoraged.socket", "enabled"),
                                 ("chrony.service", "active"), ("mnt-nfs:share.mount", "active"),
                                 ("idle.service", "active"), ("idle.service", "enabled"))
    assert states == ["[active]", "[enabled]", "[inactive]", "[]", "[active]", "[active]",
                      "[inactive]", "[disabled]"]
    # systemctl is asked only of the units it can know: a file, started since
    # boot, or a mount (systemd knows every mounted path).
    assert asked == ["NetworkManager.service", "chronyd.service", "gone.service", "mnt-nfs:share.mount",
                     "idle.service"]
    # The one it is not asked of is printed as systemctl prints an unknown unit.
    assert parse_services(printed.splitlines()) == {
        "NetworkManager.service": {"active": "active", "enabled": "enabled"},
        "chrony.service": {"active": "active", "enabled": "enabled"},
        "gone.service": {"active": "active", "enabled": "not-found"},
        "virtstoraged.socket": {"active": "inactive", "enabled": "not-found"},
        "mnt-nfs:share.mount": {"active": "active", "enabled": "static"},
        # Loaded, not listed by list-units (unloaded since): inactive.
        "idle.service": {"active": "inactive", "enabled": "disabled"},
    }


def later(path):
    """Change ``path``'s times as a later write would (the clock's tick here
    can be coarser than the test)."""
    time.sleep(0.01)
    os.utime(path)


@pytest.mark.parametrize("unit_dirs", [True], ids=["in the probe"], indirect=True)
def test_another_sections_matches_changing_does_not_ask_again(unit_dirs):
    (unit_dirs / "other").mkdir()
    (unit_dirs / "other" / "eth0.conf").write_text("")
    run(unit_dirs)
    assert run(unit_dirs)[2] == []
    later(unit_dirs / "other" / "eth0.conf")
    (unit_dirs / "other" / "eth1.conf").write_text("")
    assert run(unit_dirs)[2] == []


def test_file_states_are_remembered_and_active_states_read_each_time(unit_dirs):
    run(unit_dirs)
    (unit_dirs / "state" / "active-NetworkManager.service").write_text("failed\n")
    printed, states, asked = run(unit_dirs, ("NetworkManager.service", "active"))
    # No `systemctl show` the second time: the unit files are the same...
    assert asked == []
    # ...but what is running is read again.
    assert states == ["[failed]"]
    assert parse_services(printed.splitlines())["NetworkManager.service"] == {
        "active": "failed", "enabled": "enabled"}


@pytest.mark.parametrize("change", ["enabled", "wants directory made", "unit file edited",
                                    "drop-in edited", "overriding file", "unit file appears",
                                    "daemon-reload", "unit started without a file",
                                    "unit file in a place made since"])
def test_what_can_change_a_file_state_asks_again(unit_dirs, change):
    run(unit_dirs)
    config, system = unit_dirs / "etc", unit_dirs / "system"
    if change == "enabled":  # a symlink in an existing .wants directory
        (config / "multi-user.target.wants" / "idle.service").symlink_to(system / "idle.service")
    elif change == "wants directory made":  # systemctl enable, a target with no .wants yet
        (config / "graphical.target.wants").mkdir()
    elif change == "unit file edited":  # in place, the same size: only its times change
        time.sleep(0.01)
        (system / "idle.service").write_text("[Install]\n")
    elif change == "drop-in edited":  # in place, the same size (a drop-in may hold [Install])
        time.sleep(0.01)
        (config / "idle.service.d" / "override.conf").write_text("[Install]\nAlso=a\n")
    elif change == "overriding file":  # a copy in /etc, over the package's
        (config / "NetworkManager.service").write_text("[Service]\n")
    elif change == "unit file appears":  # a unit with no file until now
        (system / "virtstoraged.socket").write_text("[Socket]\n")
    elif change == "unit file in a place made since":  # /usr/local/lib/systemd/system, say
        (unit_dirs / "local").mkdir()
        (unit_dirs / "local" / "virtstoraged.socket").write_text("[Socket]\n")
    elif change == "unit started without a file":  # a transient unit (systemd-run): known now
        (unit_dirs / "units" / "invocation:virtstoraged.socket").symlink_to("fedcba9876543210")
    else:  # systemd makes its generators' directory anew
        (unit_dirs / "generator").rmdir()
        (unit_dirs / "generator").mkdir()
    _printed, _states, asked = run(unit_dirs)
    assert "idle.service" in asked
    # Then remembered again.
    assert run(unit_dirs)[2] == []


def test_a_package_change_asks_again(unit_dirs, monkeypatch):
    database = unit_dirs / "status"
    database.write_text("1\n")
    monkeypatch.setattr(services, "PACKAGE_DATABASES", (str(database),))
    run(unit_dirs)
    assert run(unit_dirs)[2] == []
    later(database)
    assert "idle.service" in run(unit_dirs)[2]


def test_a_unit_not_read_is_asked_of_systemctl(unit_dirs):
    _printed, states, _asked = run(unit_dirs, ("firewalld.service", "active"))
    assert states == ["[asked-again]"]
