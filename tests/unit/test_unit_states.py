"""facts.services leaves each unit's state in a shell variable that
facts._section.unit_state reads: both must name it alike. Run in a real shell,
with systemctl played by a shell function that prints as `systemctl show` does."""

from __future__ import annotations

import subprocess

from facts._section import unit_state
from facts.services import services_command

FAKE_SYSTEMCTL = (
    "systemctl() { case \"$1\" in show) printf '%s\\n' "
    "'Id=NetworkManager.service' 'LoadState=loaded' 'ActiveState=active' 'UnitFileState=enabled' '' "
    "'Id=virtstoraged.socket' 'LoadState=not-found' 'ActiveState=inactive' 'UnitFileState=' ;; "
    "*) echo asked-again ;; esac; }; "
)


def states(*asked: tuple[str, str]) -> list[str]:
    units = ["NetworkManager.service", "virtstoraged.socket"]
    script = FAKE_SYSTEMCTL + "{ " + services_command(units) + "; } >/dev/null; " + "; ".join(
        f'echo "[{unit_state(unit, field)}]"' for unit, field in asked)
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout.split()


def test_the_states_read_once_are_the_ones_the_sections_find():
    assert states(("NetworkManager.service", "active"), ("NetworkManager.service", "enabled"),
                  ("virtstoraged.socket", "active"), ("virtstoraged.socket", "enabled")) == [
        "[active]", "[enabled]", "[inactive]", "[]"]


def test_a_unit_not_read_is_asked_of_systemctl():
    assert states(("firewalld.service", "active")) == ["[asked-again]"]
