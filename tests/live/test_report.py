"""The readiness report, live: one row per host from the deploy's probe,
libvirt-python over SSH as the role account, and DNS asked of both masters."""

import json
import subprocess
import sys

import lab

from .conftest import ROOT


def report(*args):
    result = subprocess.run([sys.executable, "-m", "cluster.report", "lab/inventory.py", *args],
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
            assert row["bridge"] == f"br0 {host.ip}/24"
            assert row["libvirt"] is True and row["pools"]["default"] == "active"
            assert row["nfs"] == "no NFS client in this kernel"
    assert rows["mgmt01"]["nfs"] == "export ganesha active"
    table = report()
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["host", "virt", "/dev/kvm"]


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
