"""The VM smoke test, live: on every KVM node of the lab (each persona), a small
VM built from the node's own kernel and busybox boots on br0 under libvirt
(TCG: no /dev/kvm is passed into the containers), gets its manifest address
from the masters by DHCP, resolves the node's name through each master,
reaches its node and writes its disk; then nothing of it is left behind."""

from __future__ import annotations

import json
import subprocess
import sys

import lab

from .conftest import ROOT


def smoke(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "report.smoke", "lab/inventory.py", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def leftovers(node: str) -> str:
    rc, out = lab.exec(node, "virsh -q list --all --name; virsh -q vol-list default")
    assert rc == 0, out
    return out


def test_a_vm_boots_on_every_node_and_leaves_nothing_behind(converged):
    result = smoke("--json")
    runs = {run["node"]: run for run in json.loads(result.stdout)}
    assert result.returncode == 0, result.stdout + result.stderr
    nodes = lab.state().group("kvm_nodes")
    assert sorted(runs) == sorted(h.name for h in nodes)
    for host in nodes:
        run = runs[host.name]
        number = int(host.name[3:])
        assert run["ok"] and not run["failures"], run
        assert run["accel"] == "tcg"  # said in the output: no /dev/kvm in the lab's containers
        assert run["dhcp"] == f"172.30.10.{200 + number}"
        assert run["dns"] == {"172.30.10.11": host.ip, "172.30.10.12": host.ip}
        assert run["ping"] is True and run["disks"] == {"vda": True}
        assert "SMOKE done" in run["console"]
        assert "smoke-" not in leftovers(host.name), host.name
    # The table `make smoke` prints, of these same runs (not a second boot of every VM).
    from report.smoke import NodeRun, render_table

    table = render_table([NodeRun(**runs[host.name]) for host in nodes]).splitlines()
    for host in nodes:
        assert [line.split()[-1] for line in table if line.startswith(f"{host.name} ")] == ["ok"], table
        assert f"{host.name}: emulated (TCG): /dev/kvm is not usable there" in table, table


def test_a_failing_step_names_itself_and_a_leftover_is_cleared_first(converged):
    """A leftover domain and volume of an interrupted run are removed first; a
    node whose VM gets no DHCP answer (both masters' dnsmasq stopped) fails at
    that step, shows the console, and still leaves nothing behind."""
    node = lab.state().group("kvm_nodes")[0]
    rc, out = lab.exec(node.name, "virsh -q vol-create-as default smoke-{0}.img 1M && "
                                  "virsh -q vol-list default".format(node.name))
    assert rc == 0 and f"smoke-{node.name}.img" in out, out
    for master in ("mgmt01", "mgmt02"):
        lab.exec(master, "systemctl stop dnsmasq")
    try:
        result = smoke("--json")
    finally:
        for master in ("mgmt01", "mgmt02"):
            lab.exec(master, "systemctl start dnsmasq")
    assert result.returncode == 1
    run = {run["node"]: run for run in json.loads(result.stdout)}[node.name]
    assert run["ok"] is False and run["step"] == "dhcp", run
    assert run["failures"][0].startswith("dhcp: got no address, expected 172.30.10.201"), run
    assert any("SMOKE dhcp none" in line for line in run["console"]), run["console"]
    assert "smoke-" not in leftovers(node.name)


def test_an_interrupted_run_leaves_nothing_behind(converged):
    """Ctrl-C while the VMs boot: every node's domain and volume are removed
    before the run ends (exit 130)."""
    import os
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "report.smoke", "lab/inventory.py"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    node = lab.state().group("kvm_nodes")[0].name
    deadline = time.monotonic() + 120
    while "smoke-" not in lab.exec(node, "virsh -q list --name")[1]:
        assert time.monotonic() < deadline and process.poll() is None, "no smoke VM ever started"
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGINT)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted: every smoke VM and volume was removed" in err, err
    for host in lab.state().group("kvm_nodes"):
        assert "smoke-" not in leftovers(host.name), host.name
