"""The VM smoke test's pure parts: the domain it defines, what it reads on the
serial console, what it calls a failure; and the report's readiness words."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ElementTree

import pytest

from report import summary as report
from report import smoke

CONSOLE = """\
[    0.000000] Linux version 6.1.0-28-cloud-amd64
SMOKE boot ok 1.52
SMOKE dhcp 172.30.10.241
SMOKE dns 172.30.10.11 172.30.10.41
SMOKE dns 172.30.10.12 172.30.10.41
SMOKE ping ok
SMOKE disk vda ok
SMOKE done
"""


def test_a_good_run_reads_as_every_step_done():
    parsed = smoke.parse_console(CONSOLE.replace("\n", "\r\n"))
    assert parsed == {"boot": True, "dhcp": "172.30.10.241",
                      "dns": {"172.30.10.11": "172.30.10.41", "172.30.10.12": "172.30.10.41"},
                      "ping": True, "disks": {"vda": True}, "done": True}
    assert smoke.failures(parsed, "172.30.10.241", "172.30.10.41", ("172.30.10.11", "172.30.10.12"),
                          ["vda"]) == []


@pytest.mark.parametrize("console, expected", [
    ("", ["boot: the VM printed nothing on its serial console"]),
    (CONSOLE.replace("SMOKE dhcp 172.30.10.241", "SMOKE dhcp none"),
     ["dhcp: got no address, expected 172.30.10.241 (the VM manifest's address)"]),
    (CONSOLE.replace("SMOKE dns 172.30.10.12 172.30.10.41", "SMOKE dns 172.30.10.12 none"),
     ["dns: 172.30.10.12 answered none for the node's name, expected 172.30.10.41"]),
    (CONSOLE.replace("SMOKE ping ok", "SMOKE ping failed"), ["ping: the VM did not reach its node"]),
    (CONSOLE.replace("SMOKE disk vda ok", "SMOKE disk vda failed"),
     ["disk: writing vda and reading it back failed"]),
    (CONSOLE.replace("SMOKE disk vda ok\n", ""), ["disk: writing vda and reading it back failed"]),
    (CONSOLE.replace("SMOKE done\n", ""), ["the VM did not finish its steps in time"]),
])
def test_each_failed_or_missing_step_is_named(console, expected):
    parsed = smoke.parse_console(console)
    assert smoke.failures(parsed, "172.30.10.241", "172.30.10.41", ("172.30.10.11", "172.30.10.12"),
                          ["vda"]) == expected


@pytest.mark.parametrize("accel, domain_type", [("kvm", "kvm"), ("tcg", "qemu")])
def test_the_domain_boots_the_nodes_kernel_on_br0_with_the_manifest_mac(accel, domain_type):
    disks = [{"pool": "default", "volume": "smoke-kvm01.img", "target": "vda"},
             {"pool": "secondary", "volume": "smoke-kvm01.img", "target": "vdb"}]
    cmdline = smoke.kernel_cmdline("172.30.10.41", ("172.30.10.11", "172.30.10.12"), "kvm01.cluster.lan")
    root = ElementTree.fromstring(smoke.domain_xml("kvm01", accel, "52:54:00:1e:0c:29", disks, cmdline))
    assert root.get("type") == domain_type and root.findtext("name") == "smoke-kvm01"
    assert root.findtext("os/kernel") == "/var/lib/kvm-cluster/smoke/vmlinuz"
    assert root.findtext("os/initrd") == "/var/lib/kvm-cluster/smoke/initrd.img"
    assert "smoke.masters=172.30.10.11,172.30.10.12" in root.findtext("os/cmdline")
    assert root.find("devices/interface/source").get("bridge") == "br0"
    assert root.find("devices/interface/mac").get("address") == "52:54:00:1e:0c:29"
    assert [(d.find("source").get("pool"), d.find("target").get("dev"))
            for d in root.findall("devices/disk")] == [("default", "vda"), ("secondary", "vdb")]
    assert root.findtext("on_poweroff") == "destroy"


def test_a_node_without_virtualization_is_ready_for_emulated_vms_only():
    assert report.acceleration({"cpu": {"extension": "vmx", "dev_kvm": True}}) == "kvm"
    assert report.acceleration({"cpu": {"extension": None, "dev_kvm": False}}).startswith(
        "emulation only (no vmx/svm")
    assert report.acceleration({"cpu": {"extension": "svm", "dev_kvm": False}}).startswith(
        "emulation only (no /dev/kvm")
    assert report.ready_cell({"ready": True, "acceleration": "kvm"}) == "yes"
    assert report.ready_cell({"ready": True, "acceleration": "emulation only (no vmx/svm)"}) == "yes (emulated)"
    assert report.ready_cell({"ready": True}) == "yes"  # a master: no VMs there
    assert report.ready_cell({"ready": False, "acceleration": "kvm"}) == "no"


def test_a_host_that_does_not_answer_is_a_row_that_says_so():
    row = report.host_row(type("S", (), {"name": "kvm03", "groups": ("kvm_nodes",)})(),
                          "no answer within 20 s")
    assert row == {"host": "kvm03", "groups": ["kvm_nodes"], "reachable": False, "ready": False,
                   "failures": ["unreachable: no answer within 20 s"]}


# A busy thread (paramiko's transport is one; a greenlet under gevent) is
# running when Ctrl-C comes; the main greenlet waits, as gather() waits for the
# nodes' runs.
_BUSY_WHEN_INTERRUPTED = """
import os, subprocess, sys, threading, time
from report import smoke
import gevent

def busy():  # lets the main greenlet go on, then two seconds without yielding
    gevent.sleep(0.1)
    end = time.monotonic() + 2
    while time.monotonic() < end:
        sum(range(1000))

worker = threading.Thread(target=busy, daemon=True)
worker.start()
if sys.argv[1] == "here":
    smoke.interrupts_here()
subprocess.Popen(["sh", "-c", f"sleep 0.3; kill -INT {os.getpid()}"])
try:
    worker.join()
    for _ in range(5):  # the hub's next turns: a signal it holds is delivered by then
        gevent.sleep(0.1)
    print("the run went on")
except KeyboardInterrupt:
    print("interrupted here")
"""


@pytest.mark.parametrize("handler, expected", [("here", "interrupted here"), ("python's", "the run went on")])
def test_ctrl_c_reaches_the_waiting_run_not_the_busy_thread(handler, expected):
    """A real SIGINT to a real gevent process: with smoke.interrupts_here the
    waiting greenlet gets it; with Python's own handler the busy thread dies of
    it (threading prints it) and the run goes on: what made an interrupted
    smoke run end as if nothing had happened."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", _BUSY_WHEN_INTERRUPTED, handler], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == expected, done.stderr


def test_the_reports_remote_calls_run_at_once_and_a_hung_one_waits_alone(monkeypatch):
    """Six calls run at once: each waits until all six have started (were
    they run one after another, the first would wait alone); one that hangs
    gives its fallback after CALL_TIMEOUT and the others their answers."""
    from gevent.monkey import get_original
    from gevent.threadpool import ThreadPool

    real_sleep = get_original("time", "sleep")
    pool = ThreadPool(8)
    running = []

    def call(n):
        running.append(n)
        give_up = time.monotonic() + 30  # a bound, not a measure: alone, it answers what it saw
        while len(running) < 6 and time.monotonic() < give_up:
            real_sleep(0.01)
        return n, len(running)

    monkeypatch.setattr(report, "CALL_TIMEOUT", 60)
    answers = report._answers(report._started(pool, call, [(n,) for n in range(6)]))
    assert answers == [(n, 6) for n in range(6)]
    monkeypatch.setattr(report, "CALL_TIMEOUT", 0.5)
    calls = [(0.1,), (5,), (0.1,)]
    answers = report._answers(report._started(pool, lambda s: (real_sleep(s), s)[1], calls),
                              fallback=lambda why: why)
    assert answers == [0.1, "no answer within 0.5 s", 0.1]


class _Refusing:
    """libvirt_remote.pools refusing the first ``refusals`` calls as libvirt's
    libssh transport does."""

    def __init__(self, refusals):
        self.refusals, self.calls = refusals, 0

    def __call__(self, uri):
        self.calls += 1
        if self.calls <= self.refusals:
            raise RuntimeError("libvirt: Libssh transport layer error : libssh transport error: "
                               "failed to authenticate: Socket error: disconnected")
        return [{"name": "default"}]


@pytest.mark.parametrize("refusals, answer, calls", [
    (1, [{"name": "default"}], 2),  # once: asked again, answered
    (2, "libvirt: Libssh transport layer error : libssh transport error: failed to authenticate: "
        "Socket error: disconnected", 2),  # twice: reported, not asked a third time
])
def test_a_libvirt_transport_failure_is_asked_once_more(monkeypatch, refusals, answer, calls):
    refusing = _Refusing(refusals)
    monkeypatch.setattr(report.libvirt_remote, "pools", refusing)
    monkeypatch.setattr(report, "TRANSPORT_RETRY_PAUSE", 0)
    settings = type("S", (), {"role_account": "kvm-mgr"})()
    host = type("H", (), {"name": "kvm01", "data": {}})()
    monkeypatch.setattr(report.libvirt_remote, "host_uri", lambda h, user: "qemu+libssh://x/system")
    assert report._pools(host, settings) == answer
    assert refusing.calls == calls


def test_another_libvirt_error_is_reported_at_once(monkeypatch):
    calls = []

    def failing(uri):
        calls.append(uri)
        raise RuntimeError("Storage pool not found: no pool")
    monkeypatch.setattr(report.libvirt_remote, "pools", failing)
    monkeypatch.setattr(report.libvirt_remote, "host_uri", lambda h, user: "qemu+libssh://x/system")
    settings = type("S", (), {"role_account": "kvm-mgr"})()
    assert report._pools(object(), settings) == "Storage pool not found: no pool"
    assert len(calls) == 1

