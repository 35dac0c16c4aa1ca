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
    assert "Success" not in run.output.split("--> Results:")[0]


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
