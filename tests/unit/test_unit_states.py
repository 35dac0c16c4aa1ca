"""facts.services leaves each unit's state in a shell variable that
facts._section.unit_state reads: both must name it alike. Run in a real shell,
with systemctl played by a shell function that prints as `systemctl show` does,
and systemd's unit directories by a temporary one."""

from __future__ import annotations

import subprocess

import pytest

from facts import services
from facts._section import unit_state
from facts.services import parse_services, services_command

# As `systemctl show -p Id,LoadState,ActiveState,UnitFileState` prints them;
# chronyd.service is Debian's alias of chrony.service (its Id is chrony's).
SHOWN = {
    "NetworkManager.service": ("NetworkManager.service", "loaded", "active", "enabled"),
    # A mount unit for a path with a colon (a name may hold one), mounted by
    # hand: no unit file, yet loaded and active.
    "mnt-nfs:share.mount": ("mnt-nfs:share.mount", "loaded", "active", "static"),
    "chronyd.service": ("chrony.service", "loaded", "active", "enabled"),
    "gone.service": ("gone.service", "not-found", "active", ""),
}


def fake_systemctl(asked_log) -> str:
    cases = " ".join(
        f"{unit}) printf '%s\\n' 'Id={i}' 'LoadState={load}' 'ActiveState={active}' "
        f"'UnitFileState={enabled}' '';;"
        for unit, (i, load, active, enabled) in SHOWN.items())
    return (f"systemctl() {{ case \"$1\" in show) shift 3; for u in \"$@\"; do echo \"$u\" >> {asked_log}; "
            f"case $u in {cases} esac; done;; *) echo asked-again;; esac; }}; ")


@pytest.fixture
def unit_dirs(tmp_path, monkeypatch):
    system = tmp_path / "system"
    system.mkdir()
    (system / "NetworkManager.service").write_text("[Service]\n")
    (system / "chrony.service").write_text("[Service]\n")
    (system / "chronyd.service").symlink_to("chrony.service")
    monkeypatch.setattr(services, "UNIT_DIRS", (str(system),))
    started = tmp_path / "units"
    started.mkdir()
    # A unit started since boot whose file is gone (its package removed): asked.
    (started / "invocation:gone.service").symlink_to("0123456789abcdef")
    monkeypatch.setattr(services, "STARTED_PREFIX", f"{started}/invocation:")
    return tmp_path


UNITS = ["NetworkManager.service", "chronyd.service", "virtstoraged.socket", "gone.service",
         "mnt-nfs:share.mount"]


def run(tmp_path, *asked: tuple[str, str]) -> tuple[str, list[str], list[str]]:
    log = tmp_path / "asked"
    script = (fake_systemctl(log) + "{ " + services_command(UNITS) + "; } > " + str(tmp_path / "out") + "; "
              + "; ".join(f'echo "[{unit_state(unit, field)}]"' for unit, field in asked))
    states = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout.split()
    printed = (tmp_path / "out").read_text()
    return printed, states, (log.read_text().split() if log.exists() else [])


def test_the_states_read_once_are_the_ones_the_sections_find(unit_dirs):
    printed, states, asked = run(unit_dirs, ("NetworkManager.service", "active"),
                                 ("NetworkManager.service", "enabled"),
                                 ("virtstoraged.socket", "active"), ("virtstoraged.socket", "enabled"),
                                 ("chrony.service", "active"), ("mnt-nfs:share.mount", "active"))
    assert states == ["[active]", "[enabled]", "[inactive]", "[]", "[active]", "[active]"]
    # systemctl is asked only of the units it can know: a file, started since
    # boot, or a mount (systemd knows every mounted path).
    assert asked == ["NetworkManager.service", "chronyd.service", "gone.service", "mnt-nfs:share.mount"]
    # The one it is not asked of is printed as systemctl prints an unknown unit.
    assert parse_services(printed.splitlines()) == {
        "NetworkManager.service": {"active": "active", "enabled": "enabled"},
        "chrony.service": {"active": "active", "enabled": "enabled"},
        "gone.service": {"active": "active", "enabled": "not-found"},
        "virtstoraged.socket": {"active": "inactive", "enabled": "not-found"},
        "mnt-nfs:share.mount": {"active": "active", "enabled": "static"},
    }


def test_a_unit_not_read_is_asked_of_systemctl(unit_dirs):
    _printed, states, _asked = run(unit_dirs, ("firewalld.service", "active"))
    assert states == ["[asked-again]"]
