"""Faults, live: one host dying or refusing SSH never stops the others, and a
re-run after it is back converges everything."""

from __future__ import annotations

import subprocess
import sys

import lab

from .conftest import ROOT, deploy


def _results(output: str) -> str:
    return output.split("--> Results:")[-1]


def test_a_node_killed_mid_deploy_fails_alone_and_a_rerun_converges(fresh_lab):
    victim = lab.state().group("kvm_nodes")[1]
    others = [h for h in lab.hosts() if h.name != victim.name]
    command = [sys.executable, "-m", "pyinfra", "-y", "lab/inventory.py", "deploy.py"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    output = []
    killed = False
    for line in process.stdout:
        output.append(line)
        # Once the hosts are connected and the deploy is under way, pull the plug.
        if not killed and "--> Starting operation: Role account" in line:
            lab.kill(victim.name)
            killed = True
    process.wait(timeout=300)
    text = "".join(output)
    assert killed, text
    assert process.returncode != 0, "a failed host must make the run fail"
    # The dead host is reported as lost; the others finished every operation.
    assert f"[{victim.name}]  the connection to this host was lost" in text, text
    for host in others:
        assert lab.exec(host.name, "test -f /etc/sudoers.d/kvm-cluster-kvm-mgr")[0] == 0, host.name
        if host.group == "kvm_nodes":
            out = lab.exec(host.name, "systemctl is-active libvirtd")[1]
            assert out.strip() == "active", f"{host.name} did not complete: {out}\n{text}"

    lab.start(victim.name)
    rerun = deploy()
    assert rerun.returncode == 0, rerun.output
    assert lab.exec(victim.name, "systemctl is-active libvirtd")[1].strip() == "active"
    third = deploy()
    assert third.returncode == 0, third.output
    assert third.changed_nothing, third.output


def test_ssh_refused_by_one_host_is_reported_and_the_rest_proceed(lab_up):
    victim = lab.state().group("kvm_nodes")[2]
    lab.exec(victim.name, "systemctl stop ssh.service ssh.socket 2>/dev/null")
    try:
        run = deploy()
        assert run.returncode != 0
        # Docker's port proxy accepts the TCP connection and drops it: paramiko
        # reads no SSH banner. (A real host refuses the connection outright.)
        assert "Error reading SSH protocol banner" in run.output, run.output
        # Every other host ran every operation.
        assert run.results("Preflight | Check the host can become a KVM hypervisor")["hosts"] \
            == len(lab.hosts()) - 1
        for host in lab.state().group("kvm_nodes"):
            if host.name != victim.name:
                assert lab.exec(host.name, "systemctl is-active libvirtd")[1].strip() == "active", host.name
    finally:
        lab.exec(victim.name, "systemctl start ssh.service")
    assert deploy().returncode == 0
