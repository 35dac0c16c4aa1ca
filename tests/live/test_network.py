"""Issue 3, live: br0 carries each KVM node's
address with commit-confirm; a wrong address is rolled back by the host itself.

The commit-confirm mechanism itself was verified by hand in a scratch container
(apply -> confirm; wrong address -> no confirmation -> rollback -> reachable again).
"""

from __future__ import annotations

import json

import lab

from .conftest import deploy, etc_checksums

NODES = ("kvm01", "kvm02", "kvm03")


def links(host: str) -> dict:
    rc, output = lab.exec(host, "ip -j addr show")
    assert rc == 0, output
    return {link["ifname"]: link for link in json.loads(output)}


def addresses(link: dict) -> list[str]:
    return [a["local"] for a in link.get("addr_info", []) if a["family"] == "inet"]


def test_bridge_carries_the_address_then_nothing_changes(fresh_lab):
    first = deploy()
    assert first.returncode == 0, first.output
    for host in lab.hosts():
        found = links(host.name)
        if host.name in NODES:
            assert addresses(found["br0"]) == [host.ip], host.name
            assert found["eth0"].get("master") == "br0"
            assert addresses(found["eth0"]) == []
            rc, acl = lab.exec(host.name, "cat /etc/qemu/bridge.conf")
            assert "allow br0" in acl
            rc, state = lab.exec(host.name, "cat /var/lib/kvm-cluster/network/state")
            assert state.startswith("confirmed ")
        else:
            assert "br0" not in found and addresses(found["eth0"]) == [host.ip]
        rc, resolv = lab.exec(host.name, "cat /etc/resolv.conf")
        assert "nameserver 172.30.10.11\nnameserver 172.30.10.12" in resolv
        assert lab.ssh(host, "true", check=False).returncode == 0  # reachable over SSH
    second = deploy()
    assert second.returncode == 0, second.output
    assert "switching to br0" not in second.output


def test_wrong_address_rolls_back_by_itself_others_converge(fresh_lab, monkeypatch):
    # Per-host data for one run: needs lab/inventory.py to merge KVMLAB_HOST_DATA (JSON,
    # {host: {key: value}}) into each host's data (--data would give every host the address).
    monkeypatch.setenv("KVMLAB_HOST_DATA", json.dumps(
        {"kvm02": {"bridge_address": "172.30.10.99/24", "network_confirm_timeout": 20}}))
    run = deploy()
    assert run.returncode != 0
    assert "[kvm02]" in run.output and "NOT confirmed" in run.output
    assert "the host rolled back by itself and answers again" in run.output
    found = links("kvm02")
    assert "172.30.10.42" in addresses(found["eth0"])  # Docker's address is back on eth0
    assert "br0" not in found
    assert lab.ssh(lab.state()["kvm02"], "true", check=False).returncode == 0
    rc, state = lab.exec("kvm02", "cat /var/lib/kvm-cluster/network/state")
    assert state.startswith("rolled-back ") and "no confirmation within 20s" in state
    for node in ("kvm01", "kvm03"):  # the others carried on and converged
        assert addresses(links(node)["br0"]) == [lab.state()[node].ip]


def test_the_rendered_files_survive_a_restart_of_the_network_service(converged):
    for node in NODES:
        rc, output = lab.exec(node, "systemctl restart networking && ip -j route show default && bridge -j link")
        assert rc == 0, output
        assert addresses(links(node)["br0"]) == [lab.state()[node].ip], node
        rc, route = lab.exec(node, "ip route show default")
        assert route.startswith("default via 172.30.10.1 dev br0"), route
        rc, ports = lab.exec(node, "bridge link")
        assert "eth0" in ports and "master br0" in ports, ports
        assert lab.ssh(lab.state()[node], "true", check=False).returncode == 0
    run = deploy()
    assert run.returncode == 0, run.output
    assert run.changed_nothing, run.output


def test_an_uplink_the_host_lacks_is_refused_before_any_change(converged, monkeypatch):
    before = etc_checksums()
    monkeypatch.setenv("KVMLAB_HOST_DATA", json.dumps({"kvm03": {"bridge_uplink": "eth9"}}))
    run = deploy()
    assert run.returncode != 0
    assert "[kvm03]" in run.output
    assert "key 'bridge_uplink' = 'eth9': no such interface on this host" in run.output, run.output
    assert "preflight failed; nothing was changed on this host" in run.output
    after = etc_checksums()
    assert after == before, "a host changed"  # kvm03 stopped at preflight, the others had nothing to do


def test_a_backup_that_cannot_be_written_stops_the_switch_before_any_change(fresh_lab):
    """A full disk, staged with a tmpfs of four inodes over the backup
    directory: the backup fails, and kvm03 is left exactly as it was."""
    rc, out = lab.exec("kvm03", "mkdir -p /var/backups/kvm-cluster && "
                                "mount -t tmpfs -o nr_inodes=4 tmpfs /var/backups/kvm-cluster")
    assert rc == 0, out
    try:
        run = deploy("--limit", "kvm03")
        assert run.returncode != 0, run.output
        assert "the backup of the current configuration" in run.output, run.output
        assert "nothing was changed" in run.output
        found = links("kvm03")
        assert "br0" not in found and addresses(found["eth0"]) == [lab.state()["kvm03"].ip]
        rc, _ = lab.exec("kvm03", "test -e /etc/network/interfaces.d/kvm-cluster-br0")
        assert rc != 0, "the new configuration was installed anyway"
        rc, timers = lab.exec("kvm03", "systemctl list-timers --all --no-legend 'kvm-cluster-net-*'")
        assert "kvm-cluster-net" not in timers, timers
    finally:
        lab.exec("kvm03", "umount /var/backups/kvm-cluster")
