"""The management plane, live. Both masters answer DNS for every host and VM; one master
down, the other still answers; a container with a VM's MAC is offered exactly
its static address; chrony on the nodes follows the masters; clush groups come
from the inventory; a second deploy changes nothing.

lab/inventory.py sets ``ntp_set_clock = False`` (containers lack
CAP_SYS_TIME); the VM manifest is passed here with ``--data vms=<file>``.
"""

from __future__ import annotations

import json

import docker
import pytest

import lab
from lab.topology import NETWORK

from .conftest import deploy, planned_changes

MASTERS = {"mgmt01": "172.30.10.11", "mgmt02": "172.30.10.12"}
# Nodes with the lab's test tools (dig): three are enough (any persona but a minimal install has them).
NODES = ("kvm01", "kvm02", "kvm03")
VMS = [
    {"name": "vm01", "mac": "52:54:00:1e:0b:65", "ip": "172.30.10.101"},
    {"name": "vm02", "mac": "52:54:00:1e:0b:66", "ip": "172.30.10.102"},
]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    path = tmp_path_factory.mktemp("vms") / "vms.json"
    path.write_text(json.dumps({"vms": VMS}))
    return str(path)


@pytest.fixture(scope="module")
def deployed(lab_up, manifest):
    run = deploy("--data", f"vms={manifest}")
    assert run.returncode == 0, run.output
    return run


def dig(host: str, server: str, name: str) -> str:
    rc, output = lab.exec(host, ["dig", "+short", "+time=2", "+tries=1", f"@{server}", name])
    return output.strip() if rc == 0 else f"rc={rc} {output}"


def expected_names() -> dict[str, str]:
    names = {h.name: h.ip for h in lab.hosts()}
    names.update({vm["name"]: vm["ip"] for vm in VMS})
    return names


def test_every_name_resolves_through_both_masters(deployed):
    for node in NODES:
        for name, address in expected_names().items():
            for master, server in MASTERS.items():
                assert dig(node, server, f"{name}.cluster.lan") == address, (node, master, name)
                assert dig(node, server, name) == address, (node, master, name)


def test_names_resolve_with_mgmt01_down(deployed):
    rc, output = lab.exec("mgmt01", "systemctl stop dnsmasq")
    assert rc == 0, output
    try:
        for name, address in expected_names().items():
            assert dig("kvm01", MASTERS["mgmt02"], name) == address, name
        assert "172.30.10.101" not in dig("kvm01", MASTERS["mgmt01"], "vm01")
    finally:
        rc, output = lab.exec("mgmt01", "systemctl start dnsmasq")
        assert rc == 0, output


def test_both_masters_serve_again_after_a_reboot(deployed):
    """A master's address comes up with its network service, possibly after
    dnsmasq started (mgmt01: ifupdown brings allow-hotplug eth0 up as udev
    would, not before network.target): dnsmasq binds it when it appears."""
    for master in MASTERS:
        lab.restart(master)
    for master, server in MASTERS.items():
        rc, output = lab.exec(master, "systemctl is-active dnsmasq")
        assert output.strip() == "active", (master, output)
        for node in NODES:
            assert dig(node, server, "vm01.cluster.lan") == "172.30.10.101", (node, master)
            assert dig(node, server, "kvm01") == "172.30.10.41", (node, master)


def test_dns_listens_on_the_cluster_address_only(deployed):
    for master, address in MASTERS.items():
        rc, output = lab.exec(master, "ss -Hlnu 'sport = :53'; ss -Hlnt 'sport = :53'")
        assert rc == 0, output
        local = {line.split()[3] for line in output.splitlines() if line.strip()}
        # Besides dnsmasq, only systemd-resolved's own stub on loopback (the
        # master standing in for Ubuntu resolves its own names through it).
        if lab.state()[master].persona == "debian13-netplan":
            local -= {"127.0.0.53%lo:53", "127.0.0.54:53"}
        assert local == {f"{address}:53"}, (master, output)
    # Outside names are forwarded to dns_upstream (the lab: Docker's resolver
    # on each master), so a node still reaches Debian's archive by name.
    rc, output = lab.exec("kvm01", ["dig", "+short", "+time=2", "+tries=1", f"@{MASTERS['mgmt01']}",
                                    "deb.debian.org"])
    assert rc == 0 and output.strip(), output
    rc, output = lab.exec("kvm01", "apt-get -q update -o Acquire::Retries=0 2>&1 | tail -3")
    assert rc == 0 and "Temporary failure resolving" not in output, output


def dhcp_offer(mac: str) -> tuple[int, str]:
    """A throwaway container on the lab network with ``mac`` asks for a lease."""
    client = docker.from_env(version="auto")
    image = client.containers.get("kvmlab-mgmt01").image  # the lab's host image
    container = client.containers.create(
        image, ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-s", "/bin/true", "-t", "3", "-T", "2"],
        name=f"kvmlab-dhcp-{mac.replace(':', '')}", mac_address=mac, network=NETWORK,
        cap_add=["NET_ADMIN", "NET_RAW"], labels={"kvmlab.test": "1"},
    )
    try:
        container.start()
        status = container.wait(timeout=60)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def test_a_vm_mac_is_offered_exactly_its_static_address(deployed):
    status, output = dhcp_offer(VMS[0]["mac"])
    assert status == 0, output
    assert f"lease of {VMS[0]['ip']} obtained" in output, output


def test_an_unknown_mac_gets_no_lease(deployed):
    status, output = dhcp_offer("52:54:00:1e:0b:ff")
    assert status != 0 and "no lease" in output, output


def test_nodes_follow_the_masters(deployed):
    for node in NODES:
        rc, output = lab.exec(node, ["chronyc", "-n", "sources"])
        assert rc == 0, output
        for address in MASTERS.values():
            assert address in output, (node, output)
        rc, output = lab.exec(node, "ps -o args= -C chronyd")
        assert "-x" in output.split(), output  # ntp_set_clock = False in the lab


def test_clush_groups_from_the_inventory(deployed):
    for master in MASTERS:
        rc, output = lab.exec(master, "nodeset -f @kvm_nodes; nodeset -f @masters; nodeset -f -a")
        assert rc == 0, output
        nodes = f"kvm[01-{len(lab.state().group('kvm_nodes')):02d}]"
        assert output.split() == [nodes, "mgmt[01-02]", f"{nodes},mgmt[01-02]"], output


def test_second_deploy_changes_nothing(deployed, manifest):
    changed = planned_changes("--data", f"vms={manifest}")
    assert not {name: hosts for name, hosts in changed.items()
                if any(word in name for word in ("dnsmasq", "chrony", "ClusterShell", "Management"))}, changed


def test_a_client_outside_the_cluster_network_gets_no_answer(deployed):
    """The master gets a second network (as a master with a public side would);
    a client there asks the master's address on it: dnsmasq does not listen
    there, so there is no answer. (dnsmasq cannot filter by source address: a
    query routed into the cluster network is a firewall's business, see docs/steps.md.)"""
    client = docker.from_env(version="auto")
    ipam = docker.types.IPAMConfig(pool_configs=[
        docker.types.IPAMPool(subnet="172.30.99.0/24", gateway="172.30.99.1")])
    outside = client.networks.create("kvmlab-outside", ipam=ipam, labels={"kvmlab.test": "1"})
    master = client.containers.get("kvmlab-mgmt01")
    try:
        outside.connect(master, ipv4_address="172.30.99.11")
        probe = client.containers.create(
            master.image, ["dig", "+time=2", "+tries=1", "@172.30.99.11", "kvm01.cluster.lan"],
            name="kvmlab-outside-client", network="kvmlab-outside", labels={"kvmlab.test": "1"})
        try:
            probe.start()
            status = probe.wait(timeout=60)["StatusCode"]
            output = probe.logs().decode(errors="replace")
        finally:
            probe.remove(force=True)
        assert status != 0, output
        assert "172.30.10.41" not in output
        assert "connection refused" in output or "no servers could be reached" in output, output
        # The same master still answers on the cluster network.
        assert "172.30.10.41" in dig("kvm02", MASTERS["mgmt01"], "kvm01")
    finally:
        try:
            outside.disconnect(master, force=True)
        finally:
            outside.remove()


def test_one_master_alone_never_gets_other_dhcp_data(deployed, manifest, tmp_path):
    """Both masters answer DHCP authoritatively: a run that reaches one master
    only (--limit mgmt01) after a change of the VM manifest would leave the other
    serving old data and refusing the new VM's lease. The master it reaches keeps
    its data, saying why; --limit masters applies it to both."""
    changed = tmp_path / "vms.json"
    new_vm = {"name": "vm03", "mac": "52:54:00:1e:0b:67", "ip": "172.30.10.103"}
    changed.write_text(json.dumps({"vms": VMS + [new_vm]}))
    conf = "/etc/dnsmasq.d/kvm-cluster.conf"
    before = {master: lab.exec(master, ["sha1sum", conf])[1] for master in MASTERS}
    run = deploy("--limit", "mgmt01", "--data", f"vms={changed}")
    assert run.returncode == 0, run.output
    assert "[mgmt01] dnsmasq is left as it is" in run.output
    assert "master mgmt02 is not in this run" in run.output, run.output
    assert {master: lab.exec(master, ["sha1sum", conf])[1] for master in MASTERS} == before
    both = deploy("--limit", "masters", "--data", f"vms={changed}")
    assert both.returncode == 0, both.output
    for server in MASTERS.values():
        assert dig("kvm01", server, "vm03.cluster.lan") == "172.30.10.103", server
    restored = deploy("--limit", "masters", "--data", f"vms={manifest}")
    assert restored.returncode == 0, restored.output
