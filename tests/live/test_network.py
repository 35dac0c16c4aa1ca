"""The network step, live, on every persona: br0 takes over the address the
host's installer configured (an ifupdown stanza on Debian 12, static, or by
DHCP from the site's server on the debian12-dhcp persona; a NetworkManager keyfile on
Debian 13 standing in for RHEL 9, a netplan file with networkd on Debian 13
standing in for Ubuntu), survives a reboot, and every failure path
of the commit-confirm switch (a wrong address, a restart while the switch
waits for its confirmation, a lost rollback timer, a backup that cannot be
written, an ifup that fails) leaves the host as its installer left it,
reachable, also after a reboot.

Each lab host removes Docker's address at boot (lab/image/Dockerfile), so what
brings its network up after a restart is its own configuration.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import lab

from .conftest import ROOT, deploy

GATEWAY = "172.30.10.1"
BACKUPS = "/var/backups/kvm-cluster/network"
STATE = "/var/lib/kvm-cluster/network/state"
# kvm-cluster-net takes it to arm, confirm and roll back (flock).
SWITCH_LOCK = "/var/lib/kvm-cluster/network/lock"
SWITCH_SCRIPT = "/usr/local/sbin/kvm-cluster-net"
LOG = "/var/lib/kvm-cluster/network/log"

# What each persona's installer wrote for eth0, and the service that reads it.
INSTALLER_FILE = {
    "debian12": "/etc/network/interfaces",
    "debian12-dhcp": "/etc/network/interfaces",
    "minimal": "/etc/network/interfaces",
    "debian13-nm": "/etc/NetworkManager/system-connections/eth0.nmconnection",
    "debian13-netplan": "/etc/netplan/50-cloud-init.yaml",
}
OWNER = {
    "debian12": "networking",
    "debian12-dhcp": "networking",
    "minimal": "networking",
    "debian13-nm": "NetworkManager",
    "debian13-netplan": "systemd-networkd",
}


def dhcp_configured(host) -> bool:
    return lab.persona(host.persona).addressing == "dhcp"


def dhclient(host, device="eth0"):
    """The dhclient keeping ``device``'s lease: (pid, its cgroup), or None."""
    rc, output = lab.exec(host.name, f"pid=$(pgrep -f 'dhclient .*{device}$') && "
                                     f"echo $pid && cat /proc/$pid/cgroup")
    if rc != 0:
        return None
    pid, cgroup = output.split("\n", 1)
    return int(pid), cgroup.strip()


def nodes(personas=None):
    """The lab's KVM nodes (of ``personas`` only, when given)."""
    return [h for h in lab.state().group("kvm_nodes") if personas is None or h.persona in personas]


def one_per_persona(exclude=("minimal",)):
    """One KVM node per persona (the minimal one installs everything first: left out
    where the test is about the switch, not the packages)."""
    chosen = {}
    for host in nodes():
        if host.persona not in exclude:
            chosen.setdefault(host.persona, host)
    return list(chosen.values())


def parallel(fn, items):
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(fn, items))


def sh(host, command) -> str:
    name = getattr(host, "name", host)
    rc, output = lab.exec(name, command)
    assert rc == 0, f"{name}: {command}: {output}"
    return output


def links(host) -> dict:
    return {link["ifname"]: link for link in json.loads(sh(host, "ip -j addr show"))}


def addresses(link: dict) -> list[str]:
    return [a["local"] for a in link.get("addr_info", []) if a["family"] == "inet"]


def default_route(host) -> dict:
    routes = json.loads(sh(host, "ip -j -4 route show default"))
    return routes[0] if routes else {}


def upstream_resolvers(host) -> list[str]:
    """The name servers the host asks: /etc/resolv.conf's, or systemd-resolved's
    upstream ones when resolv.conf is its stub."""
    text = sh(host, "if grep -q '^nameserver 127.0.0.53' /etc/resolv.conf; then resolvectl dns; "
                    "else grep '^nameserver' /etc/resolv.conf; fi")
    if "nameserver" in text:
        return [line.split()[1] for line in text.splitlines() if line.startswith("nameserver")]
    # resolvectl dns: "Global: a b" and "Link N (br0): c d"
    servers = []
    for line in text.splitlines():
        servers += [word for word in line.split(":", 1)[1].split() if word[0].isdigit()]
    return servers


def sha1(host, path) -> str | None:
    rc, output = lab.exec(host.name, ["sha1sum", path])
    return output.split()[0] if rc == 0 else None


def state(host) -> str:
    rc, output = lab.exec(host.name, ["cat", STATE])
    return output.strip() if rc == 0 else ""


def reachable(host) -> bool:
    return lab.ssh(host, "true", check=False).returncode == 0


def assert_on_br0(host):
    found = links(host)
    assert addresses(found.get("br0", {})) == [host.ip], f"{host.name}: {found.get('br0')}"
    assert found["eth0"].get("master") == "br0", host.name
    assert addresses(found["eth0"]) == [], f"{host.name}: eth0 still has an address"
    route = default_route(host)
    assert (route.get("dev"), route.get("gateway")) == ("br0", GATEWAY), f"{host.name}: {route}"
    assert reachable(host), host.name


def assert_as_installed(host, installer_sha1):
    """The host is as its installer left it: its file, its service, its address on eth0."""
    path = INSTALLER_FILE[host.persona]
    assert sha1(host, path) == installer_sha1, f"{host.name}: {path} is not byte-identical"
    assert sh(host, f"systemctl is-active {OWNER[host.persona]}").strip() == "active", host.name
    found = links(host)
    assert "br0" not in found, f"{host.name}: br0 is still there"
    assert addresses(found["eth0"]) == [host.ip], f"{host.name}: {found['eth0']}"
    route = default_route(host)
    assert (route.get("dev"), route.get("gateway")) == ("eth0", GATEWAY), f"{host.name}: {route}"
    assert reachable(host), host.name


def installer_digests(hosts) -> dict:
    return {h.name: sha1(h, INSTALLER_FILE[h.persona]) for h in hosts}


def reboot(hosts):
    parallel(lambda h: lab.restart(h.name), hosts)


def test_every_persona_moves_its_installer_configuration_onto_br0_and_keeps_it_across_a_reboot(fresh_lab):
    kvm_nodes = nodes()
    masters = lab.state().group("masters")
    before = installer_digests(kvm_nodes)
    for host in kvm_nodes:  # what the installer left: eth0 carries the address
        assert addresses(links(host)["eth0"]) == [host.ip], host.name
        if dhcp_configured(host):  # leased from the site's server
            assert dhclient(host), f"{host.name}: no dhclient holds eth0's lease"
    assert any(dhcp_configured(h) for h in kvm_nodes), "the lab has no DHCP-configured node"

    first = deploy()
    assert first.returncode == 0, first.output
    for host in kvm_nodes:
        assert_on_br0(host)
        path = INSTALLER_FILE[host.persona]
        txn = state(host).split()[1]
        assert state(host).startswith("confirmed "), host.name
        # The installer's file is in the backup, byte for byte...
        assert sha1(host, f"{BACKUPS}/{txn}/files{path}") == before[host.name], host.name
        # ...and no longer configures eth0: the stanza is commented out, the keyfile
        # and the YAML are gone (moved aside); the service that owned it runs on.
        if host.persona in ("debian12", "debian12-dhcp", "minimal"):
            assert sh(host, "ifquery --list --allow=hotplug; ifquery --list").split() == ["lo", "br0"], host.name
        else:
            assert sha1(host, path) is None, f"{host.name}: {path} is still there"
        if dhcp_configured(host):  # released: no renewal puts the address back on eth0
            assert dhclient(host) is None, f"{host.name}: dhclient still runs for eth0"
        assert sh(host, f"systemctl is-active {OWNER[host.persona]}").strip() == "active", host.name
        if host.persona == "debian13-nm":
            active = sh(host, "nmcli -t -f NAME,DEVICE connection show --active")
            # The installer's profile "eth0" is active nowhere: only the bridge and its port.
            assert {line for line in active.split() if not line.startswith("lo:")} == {
                "kvm-cluster-br0:br0", "kvm-cluster-br0-port-eth0:eth0"}, active
    for host in kvm_nodes + masters:
        assert upstream_resolvers(host)[:2] == ["172.30.10.11", "172.30.10.12"], host.name
    for master in masters:  # no bridge on the masters: their own configuration stays
        assert "br0" not in links(master) and addresses(links(master)["eth0"]) == [master.ip]

    second = deploy()
    assert second.returncode == 0, second.output
    assert second.changed_nothing, second.output

    # A reboot: each host comes back on br0 from its own files, with its route and SSH.
    reboot(kvm_nodes + masters)
    for host in kvm_nodes:
        assert_on_br0(host)
    for master in masters:
        assert addresses(links(master)["eth0"]) == [master.ip], master.name
    third = deploy()
    assert third.returncode == 0, third.output
    assert third.changed_nothing, third.output


def test_a_wrong_address_rolls_back_by_itself_on_every_persona(lab_up, monkeypatch):
    """Each persona, the DHCP-configured one included: the rollback re-applies
    the installer's configuration, and the dhclient it starts keeps the lease
    after the rollback's own unit has ended (KillMode=process)."""
    hosts = one_per_persona(exclude=())
    assert any(dhcp_configured(h) for h in hosts), "the lab has no DHCP-configured node"
    lab.reset(only=[h.name for h in hosts])
    before = installer_digests(hosts)
    monkeypatch.setenv("KVMLAB_HOST_DATA", json.dumps(
        {h.name: {"bridge_address": f"172.30.10.{90 + i}/24", "network_confirm_timeout": 20}
         for i, h in enumerate(hosts)}))
    run = deploy(*(arg for h in hosts for arg in ("--limit", h.name)))
    assert run.returncode != 0
    for host in hosts:
        assert f"[{host.name}]" in run.output
        assert state(host).startswith("rolled-back ") and "no confirmation within 20s" in state(host)
        assert_as_installed(host, before[host.name])
    assert run.output.count("the host rolled back by itself and answers again") == len(hosts), run.output
    for host in filter(dhcp_configured, hosts):
        # The lease is held by the dhclient the rollback's re-apply started: it
        # outlived that transient unit, which has ended.
        found = dhclient(host)
        assert found, f"{host.name}: no dhclient after the rollback"
        units = set(re.findall(r"kvm-cluster-net-rollback-[^/\s]+\.service", found[1]))
        assert len(units) == 1, f"{host.name}: dhclient's cgroup: {found[1]}"
        unit = units.pop()
        assert sh(host, f"systemctl show -p ActiveState --value {unit}").strip() != "active", unit
        lease = sh(host, "cat /var/lib/dhcp/dhclient.eth0.leases")
        assert f"fixed-address {host.ip};" in lease, lease
    # The same after a reboot: the host boots from the installer's configuration.
    reboot(hosts)
    for host in hosts:
        assert_as_installed(host, before[host.name])
        if dhcp_configured(host):
            assert dhclient(host), f"{host.name}: no dhclient after the reboot"


class PausedDeploy:
    """A deploy of one host whose switch is never confirmed: the host switches
    (detached), the deploy is frozen (SIGSTOP), and the switch's lock, which
    ``kvm-cluster-net confirm`` takes, is held on the host from the moment the
    switch is armed until the host restarts."""

    def __init__(self, host):
        self.host = host
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyinfra", "-y", "lab/inventory.py", "deploy.py", "--limit", host.name],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "KVMLAB_HOST_DATA": json.dumps(
                {host.name: {"network_confirm_timeout": 600}})})

    def wait_switching_then_pause(self, timeout=120):
        """Hold the switch's lock once the switch is armed, then freeze the
        deploy once the switch has begun. The deploy confirms only after it has
        seen the switch done, over a new connection, and its confirm waits for
        the lock: it cannot confirm, however fast it looks (a look waits on the
        host while the switch runs). ``arm`` holds the lock while it runs: the
        holder takes it as ``arm`` ends, before the switch can start. A watcher
        on the host itself sees each state the moment it is written."""
        # until_state WORD...: wait for a state line that starts with one of them.
        watch = (f"end=$(( $(date +%s) + {timeout} )); "
                 "until_state() { while [ $(date +%s) -lt $end ]; do "
                 f"s=; read -r s < {STATE} 2>/dev/null; "
                 "for w in \"$@\"; do case $s in \"$w \"*) echo \"$s\"; return 0;; esac; done; "
                 "sleep 0.01; done; return 1; }; ")
        rc, seen = lab.exec(self.host.name, watch + (
            "until_state armed switching switched confirmed >/dev/null || exit 1; "
            f"systemd-run --quiet --collect --unit=kvmlab-hold-switch-lock flock {SWITCH_LOCK} sleep 3600 "
            "|| exit 2; until_state switching switched confirmed"))
        if rc != 0:
            self.kill()
            raise AssertionError(f"{self.host.name} never started a switch (watcher exit {rc}): "
                                 f"{state(self.host)}; the deploy: {self.process.stdout.read()}")
        self.process.send_signal(signal.SIGSTOP)
        assert not state(self.host).startswith("confirmed "), \
            f"{self.host.name}: the switch was confirmed before its lock could be held ({seen})"
        # arm has ended (the switch began): the holder has the lock, not waits for it.
        rc, held = lab.exec(self.host.name, f"systemctl is-active kvmlab-hold-switch-lock.service; "
                                            f"flock -n {SWITCH_LOCK} true && echo free")
        assert held.split() == ["active"], f"{self.host.name}: the switch's lock is not held: {held}"

    def wait_switched(self, timeout=60):
        deadline = time.monotonic() + timeout
        while not state(self.host).startswith("switched "):
            # A switch that fails rolls back, which waits for the held lock:
            # its log says why.
            assert time.monotonic() < deadline, (state(self.host), sh(self.host, f"tail -n 20 {LOG}"))
            time.sleep(0.2)

    def kill(self):
        """Kill the deploy."""
        self.process.kill()
        self.process.wait()

    def free_lock(self):
        """Free the switch's lock on a host that has not restarted since (a
        restart frees it): a confirm the deploy had sent, waiting for the lock,
        is killed first, so the switch stays unconfirmed."""
        directory, name = SWITCH_SCRIPT.rsplit("/", 1)
        # [k]: the pattern does not match this command's own shell.
        rc, out = lab.exec(self.host.name, f"pkill -f '{directory}/[{name[0]}]{name[1:]} confirm'; "
                                           "systemctl stop kvmlab-hold-switch-lock.service 2>/dev/null; "
                                           f"flock -w 5 {SWITCH_LOCK} true && echo free")
        assert out.split() == ["free"], f"{self.host.name}: the switch's lock is still held: {out}"


def test_a_restart_while_the_switch_waits_never_strands_the_host(lab_up):
    """The host restarts between arm and confirm: its rollback timer dies with
    it, the boot unit rolls the switch back before the network comes up; the
    next deploy says what happened and converges."""
    hosts = one_per_persona()
    lab.reset(only=[h.name for h in hosts])
    before = installer_digests(hosts)
    paused = [PausedDeploy(h) for h in hosts]
    try:
        parallel(PausedDeploy.wait_switching_then_pause, paused)
        for deploy_ in paused:
            deploy_.wait_switched()
            assert_on_br0(deploy_.host)  # the new configuration is in place, unconfirmed
        reboot(hosts)
    finally:
        for deploy_ in paused:
            deploy_.kill()
    for host in hosts:
        assert state(host).startswith("rolled-back ") and "restarted before the switch was confirmed" \
            in state(host), f"{host.name}: {state(host)}"
        assert_as_installed(host, before[host.name])
    run = deploy(*(arg for h in hosts for arg in ("--limit", h.name)))
    assert run.returncode == 0, run.output
    assert run.output.count("restarted before the switch was confirmed") >= len(hosts), run.output
    for host in hosts:
        assert_on_br0(host)


def test_a_pending_switch_whose_timer_is_gone_is_rolled_back_then_converges(lab_up, monkeypatch):
    """A switch left unconfirmed whose rollback timer is gone, and another
    change wanted now: the deploy rolls the old switch back (nothing else
    would), fails the host saying so, and the next deploy converges. (The
    same switch, in place and working, would be confirmed instead.)"""
    host = one_per_persona()[0]
    lab.reset(only=[host.name])
    before = installer_digests([host])
    paused = PausedDeploy(host)
    try:
        paused.wait_switching_then_pause()
        paused.wait_switched()
        sh(host, "systemctl stop 'kvm-cluster-net-rollback-*.timer'")  # the safety net is lost
    finally:
        paused.kill()
    paused.free_lock()
    monkeypatch.setenv("KVMLAB_HOST_DATA", json.dumps({host.name: {"network_dns_search": "other.lan"}}))
    run = deploy("--limit", host.name)
    assert run.returncode != 0
    assert "with no rollback armed (its timer is gone): rolled back to the configuration before it" \
        in run.output, run.output
    assert_as_installed(host, before[host.name])
    again = deploy("--limit", host.name)
    assert again.returncode == 0, again.output
    assert_on_br0(host)


def test_a_backup_that_cannot_be_written_stops_the_switch_before_any_change(lab_up):
    """A full disk, staged with a tmpfs of four inodes over the backup
    directory: the backup fails naming cp's own error, the host is untouched."""
    host = nodes(["debian12"])[0]
    lab.reset(only=[host.name])
    before = installer_digests([host])
    sh(host, "mkdir -p /var/backups/kvm-cluster && mount -t tmpfs -o nr_inodes=4 tmpfs /var/backups/kvm-cluster")
    try:
        run = deploy("--limit", host.name)
        assert run.returncode != 0, run.output
        assert "the backup of the current configuration" in run.output, run.output
        assert "failed (nothing was changed)" in run.output
        assert "No space left on device" in run.output, run.output  # the tool's own words
        assert_as_installed(host, before[host.name])
        assert sha1(host, "/etc/network/interfaces.d/kvm-cluster-br0") is None
        timers = sh(host, "systemctl list-timers --all --no-legend 'kvm-cluster-net-*'")
        assert "kvm-cluster-net" not in timers, timers
    finally:
        lab.exec(host.name, "umount /var/backups/kvm-cluster")


def test_an_ifup_that_fails_is_named_and_rolled_back(lab_up):
    """A site hook refuses br0 (ifupdown runs it for real): the switch names
    ``ifup br0`` and the hook's words, rolls back at once, the host is as before."""
    host = nodes(["debian12"])[0]
    lab.reset(only=[host.name])
    before = installer_digests([host])
    sh(host, "printf '#!/bin/sh\\n[ \"$IFACE\" = br0 ] || exit 0\\necho \"site policy: no br0 here\" >&2\\nexit 1\\n'"
             " > /etc/network/if-pre-up.d/zz-site-policy && chmod 755 /etc/network/if-pre-up.d/zz-site-policy")
    try:
        run = deploy("--limit", host.name)
        assert run.returncode != 0
        assert "applying the new configuration failed: `ifup br0` failed" in run.output, run.output
        assert "site policy: no br0 here" in run.output, run.output
        assert state(host).startswith("rolled-back "), state(host)
        assert_as_installed(host, before[host.name])
    finally:
        lab.exec(host.name, "rm -f /etc/network/if-pre-up.d/zz-site-policy")


def test_an_uplink_the_host_lacks_is_refused_before_any_change(converged, monkeypatch):
    from .conftest import etc_checksums

    host = nodes()[-1]
    before = etc_checksums()
    monkeypatch.setenv("KVMLAB_HOST_DATA", json.dumps({host.name: {"bridge_uplink": "eth9"}}))
    run = deploy()
    assert run.returncode != 0
    assert f"[{host.name}]" in run.output
    assert "key 'bridge_uplink' = 'eth9': no such interface on this host" in run.output, run.output
    assert "preflight failed; nothing was changed on this host" in run.output
    assert etc_checksums() == before, "a host changed"


@pytest.mark.parametrize("persona, backend", [("debian13-nm", "ifcfg"), ("debian12", "netplan")])
def test_a_backend_the_host_cannot_run_is_refused_at_preflight(converged, monkeypatch, persona, backend):
    from .conftest import etc_checksums

    host = nodes([persona])[0]
    before = etc_checksums()
    monkeypatch.setenv("KVMLAB_HOST_DATA", json.dumps({host.name: {"network_backend": backend}}))
    run = deploy("--limit", host.name)
    assert run.returncode != 0
    assert f"key 'network_backend' = '{backend}'" in run.output, run.output
    assert "not installed on Debian GNU/Linux" in run.output, run.output
    assert "preflight failed; nothing was changed on this host" in run.output
    assert etc_checksums() == before
