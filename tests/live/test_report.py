"""The readiness report, live: one row per host from the deploy's probe,
libvirt-python over SSH as the role account, and DNS asked of both masters."""

import json
import subprocess
import sys

import lab

from .conftest import ROOT


def report(*args):
    result = subprocess.run([sys.executable, "-m", "report.summary", "lab/inventory.py", *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    return result


def test_a_converged_lab_is_ready(converged):
    result = report("--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["host"]: row for row in json.loads(result.stdout)}
    for host in lab.hosts():
        row = rows[host.name]
        assert row["ready"] and not row["failures"], row
        assert row["dns"] == {"mgmt01": host.ip, "mgmt02": host.ip}
        if host.group == "kvm_nodes":
            # No VT-x and no /dev/kvm in the lab's containers: ready, for emulated VMs only.
            assert row["acceleration"].startswith("emulation only (no vmx/svm"), row
            assert row["bridge"] == f"br0 {host.ip}/24"
            assert row["libvirt"] is True and row["pools"]["default"] == "active"
            assert row["nfs"] == "no NFS client in this kernel"
    assert rows["mgmt01"]["nfs"] == "export ganesha active"
    table = report()
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["host", "virt", "/dev/kvm"]
    assert "yes (emulated)" in table.stdout and "VMs run emulation only" in table.stdout


def test_a_master_not_answering_makes_the_report_fail(converged):
    rc, out = lab.exec("mgmt02", "systemctl stop dnsmasq")
    try:
        result = report("--json")
    finally:
        lab.exec("mgmt02", "systemctl start dnsmasq")
    assert result.returncode == 1
    rows = {row["host"]: row for row in json.loads(result.stdout)}
    failure = "DNS: mgmt02 answers 'error: "
    assert all(any(f.startswith(failure) for f in row["failures"]) for row in rows.values()), rows


def test_a_host_that_does_not_answer_is_a_row_not_a_hang(converged):
    """A frozen node (its container paused: SSH connects, nothing answers):
    the report still ends, with a row that says the host did not answer."""
    from lab.engine import ensure_engine

    frozen = lab.state().group("kvm_nodes")[-1]
    container = ensure_engine().containers.get(frozen.container)
    container.pause()
    try:
        result = report("--json")
    finally:
        container.unpause()
    assert result.returncode == 1
    rows = {row["host"]: row for row in json.loads(result.stdout)}
    assert rows[frozen.name]["reachable"] is False and rows[frozen.name]["ready"] is False
    assert rows[frozen.name]["failures"][0].startswith("unreachable: "), rows[frozen.name]
    others = [h for h in lab.hosts() if h.name != frozen.name]
    assert all(rows[h.name]["reachable"] for h in others)
