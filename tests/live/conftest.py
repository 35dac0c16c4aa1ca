"""The live lab: real Debian hosts (systemd, sshd) in Docker, reached over SSH.

Every test here talks to the lab the way a user does: the pyinfra CLI with
lab/inventory.py, then checks the hosts' real state (files, commands). The lab
is started by the tests themselves (see lab/); if it cannot be, the tests
error, they are not skipped.
"""

from __future__ import annotations

import re
import json
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import lab

ROOT = Path(__file__).resolve().parents[2]
NODES = lab.DEFAULT_NODES

def pytest_collection_modifyitems(items):
    """Mark every test under tests/live as ``lab`` (``make unit`` deselects them)."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.lab)


@dataclass
class PyinfraRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict:
        return json.loads(self.stdout)

    def results(self, operation: str) -> dict[str, int]:
        """The row of pyinfra's results table for ``operation`` (its name as the
        table prints it): ``{"hosts": N, "success": N, "error": N, "no_change": N}``."""
        for line in self.output.split("--> Results:")[-1].splitlines():
            if line.strip().startswith(operation):
                counts = [0 if word == "-" else int(word) for word in line[len(line.split(operation)[0]) + len(operation):].split()]
                return dict(zip(("hosts", "success", "error", "no_change"), counts))
        raise AssertionError(f"no row {operation!r} in the results:\n{self.output}")

    @property
    def changed_nothing(self) -> bool:
        """No operation reported Success on any host (the lines before pyinfra's results table)."""
        return "Success" not in self.output.split("--> Results:")[0]


def pyinfra(*args: str, timeout: int = 600) -> PyinfraRun:
    """Run the pyinfra CLI on the lab inventory and deploy.py, as a user would."""
    command = [sys.executable, "-m", "pyinfra", *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return PyinfraRun(command, result.returncode, result.stdout, result.stderr)


def deploy(*extra: str) -> PyinfraRun:
    return pyinfra("-y", "lab/inventory.py", "deploy.py", *extra)


def planned_changes(*extra: str) -> dict[str, list]:
    """What a deploy would change now, per operation: ``--dry --json``'s hosts with a change."""
    plan = pyinfra("lab/inventory.py", "deploy.py", "--dry", "--json", *extra)
    assert plan.returncode == 0, plan.output
    return {op["name"]: op["hosts_with_change"] for op in plan.json()["plan"] if op["hosts_with_change"]}


def etc_checksum(host: str) -> str:
    """A digest of every file under /etc on a lab host: did anything change?
    (Digested there: 40 characters come back, checked, not the whole listing.)"""
    rc, output = lab.exec(
        host, "find /etc -xdev -type f -print0 | sort -z | xargs -0 sha1sum | sha1sum"
    )
    digest = output.split()[0] if output.split() else ""
    assert rc == 0 and re.fullmatch(r"[0-9a-f]{40}", digest), f"{host}: {output!r}"
    return digest


def etc_checksums() -> dict[str, str]:
    """Every host's, at once (one docker exec each)."""
    names = [host.name for host in lab.hosts()]
    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        return dict(zip(names, pool.map(etc_checksum, names)))


@pytest.fixture(scope="session")
def lab_up():
    """The lab, started (images built once, reused while unchanged)."""
    return lab.up(nodes=NODES)


@pytest.fixture
def fresh_lab(lab_up):
    """A lab as new: containers and data volumes recreated."""
    return lab.reset(nodes=NODES)


@pytest.fixture
def fresh_lab_with_a_minimal_install(lab_up):
    """A lab as new whose last node is a minimal install (no sudo, none of the
    deploy's packages: the deploy installs them from the archive), for the tests
    about installing; that node goes back to its default persona afterwards."""
    yield lab.reset(nodes=NODES, personas={lab.MINIMAL_INSTALL_NODE: "minimal"})
    lab.reset(only=[lab.MINIMAL_INSTALL_NODE])


@pytest.fixture
def converged(lab_up):
    """The lab after a successful deploy (a no-op, and quick, when it already is)."""
    run = deploy()
    assert run.returncode == 0, run.output
    return run


def libvirt_uri(host, user: str = "kvm-mgr") -> str:
    """libvirt over SSH to a lab host, as the management node connects: the
    libssh transport, with the lab's key and its known_hosts checked."""
    return (f"qemu+libssh://{user}@127.0.0.1:{host.ssh_port}/system?keyfile={lab.KEY}"
            f"&known_hosts={lab.KNOWN_HOSTS}&known_hosts_verify=normal&sshauth=privkey")


# libvirtd stopped into the state its idle exit leaves: the unit inactive, its
# sockets listening. Debian 13's libvirtd (11.3) deadlocks in about one stop in
# fifteen here (its node-device driver joins its udev thread while holding the
# lock that thread needs: seen with the threads' futexes in /proc) until its
# own 30 s timer exits it with an error ("Make forcefull daemon shutdown"), and
# a deploy rightly starts a failed daemon: after 5 s it is killed instead
# (systemd does not restart a unit during its stop job), the failed unit reset,
# and its journal returned.
STOP_AS_IDLE = (
    "systemctl stop --no-block libvirtd.service; "
    "wait_stopped() { i=0; until s=$(systemctl is-active libvirtd.service); [ \"$s\" = inactive ] "
    "|| [ \"$s\" = failed ] || [ $i -ge $1 ]; do i=$((i + 1)); sleep 0.1; done; }; "
    "wait_stopped 50; [ \"$s\" = inactive ] || [ \"$s\" = failed ] || systemctl kill -s KILL libvirtd.service; "
    "wait_stopped 50; "
    "if [ \"$s\" != inactive ]; then journalctl --no-pager -n 15 -u libvirtd.service; "
    "systemctl reset-failed libvirtd.service; fi; "
    "systemctl is-active libvirtd.socket"
)


def idle_libvirtd(hosts) -> None:
    """Stop libvirtd on these lab hosts as its idle exit would (STOP_AS_IDLE),
    in parallel; a daemon that had to be killed is a warning with its journal."""
    with ThreadPoolExecutor(max_workers=len(hosts) or 1) as pool:
        results = list(pool.map(lambda h: (h.name, *lab.exec(h.name, STOP_AS_IDLE)), hosts))
    for name, rc, out in results:
        *journal, socket = out.strip().splitlines()
        assert rc == 0 and socket == "active", f"{name}: {out}"
        if journal:
            warnings.warn(f"{name}: libvirtd did not stop cleanly (killed or failed, then reset):\n"
                          + "\n".join(journal))
