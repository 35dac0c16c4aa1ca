"""firewalld, live, on the master that runs it (mgmt01, persona debian12-firewalld,
also the NFS server): the deploy opens exactly what its roles serve in the zone
of its cluster interface, the other hosts then reach DNS, DHCP, NTP and the NFS
export through it, a port it did not open stays closed, --dry --diff shows what
would be opened, and what a role no longer needs is closed again."""

from __future__ import annotations

import textwrap

import pytest

import lab

from .conftest import ROOT, deploy, pyinfra
from .test_management import dhcp_offer, dig

SERVER = "mgmt01"
ROLE_SERVICES = {"dns", "dhcp", "ntp", "nfs", "mountd", "rpc-bind"}


def zone_services(host: str) -> set[str]:
    rc, out = lab.exec(host, "firewall-cmd --list-services")
    assert rc == 0, out
    return set(out.split())


@pytest.fixture(scope="module")
def firewalled(lab_up):
    host = lab.state()[SERVER]
    assert host.persona == "debian12-firewalld", "the lab's firewalld master"
    assert lab.exec(SERVER, "firewall-cmd --state")[1].strip() == "running"
    run = deploy()
    assert run.returncode == 0, run.output
    return run


def test_the_dry_run_shows_what_would_be_opened(lab_up):
    # The master's firewall as installed (what an earlier deploy opened is
    # closed again, its record gone), the rest of the lab as it is: the dry run
    # of this master alone must show what it would open.
    rc, out = lab.exec(SERVER, "for s in " + " ".join(sorted(ROLE_SERVICES)) + "; do "
                       "firewall-cmd -q --permanent --remove-service=$s; done; "
                       "firewall-cmd -q --reload && rm -f /var/lib/kvm-cluster/firewall-opened")
    assert rc == 0, out
    before = zone_services(SERVER)
    assert before.isdisjoint(ROLE_SERVICES), before  # as installed: ssh, dhcpv6-client
    run = pyinfra("lab/inventory.py", "deploy.py", "--dry", "--diff", "--limit", SERVER)
    assert run.returncode == 0, run.output
    for service in sorted(ROLE_SERVICES):
        assert f"[{SERVER}] Will open firewalld service {service} in zone public" in run.output, run.output
    assert zone_services(SERVER) == before  # --dry changed nothing


def test_exactly_the_roles_services_are_open_and_reach_the_other_hosts(firewalled):
    assert zone_services(SERVER) == ROLE_SERVICES | {"ssh", "dhcpv6-client"}
    rc, record = lab.exec(SERVER, "cat /var/lib/kvm-cluster/firewall-opened")
    assert sorted(record.split("\n")[:-1]) == sorted(f"public {s}" for s in ROLE_SERVICES), record
    # DNS, from a node.
    assert dig("kvm01", "172.30.10.11", "kvm02.cluster.lan") == "172.30.10.42"
    # DHCP: a VM's MAC is offered its address (mgmt02's dnsmasq stopped: mgmt01 answers).
    lab.exec("mgmt02", "systemctl stop dnsmasq")
    try:
        rc, out = dhcp_offer("52:54:00:1e:0c:01")
    finally:
        lab.exec("mgmt02", "systemctl start dnsmasq")
    assert rc == 0 and "172.30.10.201" in out, out
    # NTP: a node's chrony reaches it.
    rc, out = lab.exec("kvm01", "chronyc -n sources")
    line = next((row for row in out.splitlines() if "172.30.10.11" in row), "")
    assert line and line.split()[4] != "0", out  # Reach: mgmt01 answered
    # NFS: the export is readable (NFSv3: MOUNT on 20048, rpcbind, NFS on 2049).
    rc, out = lab.exec("kvm01", "nfs-ls nfs://172.30.10.11/data01/secondary")
    assert rc == 0, out


def test_a_port_the_deploy_did_not_open_stays_closed(firewalled):
    connect = "timeout 3 bash -c 'exec 3<>/dev/tcp/{0}/8765' && echo CONNECTED"
    lab.exec(SERVER, "systemctl reset-failed kvmlab-listener 2>/dev/null; "
                     "systemd-run --unit=kvmlab-listener python3 -m http.server --bind 0.0.0.0 8765")
    try:
        rc, out = lab.exec(SERVER, "for i in $(seq 50); do ss -Hltn 'sport = :8765' | grep -q . && break; "
                                   "sleep 0.1; done; " + connect.format("127.0.0.1"))
        assert "CONNECTED" in out, out  # it listens
        rc, out = lab.exec("kvm01", connect.format("172.30.10.11"))
        assert rc != 0 and "CONNECTED" not in out, out  # firewalld refuses it from the cluster network
    finally:
        lab.exec(SERVER, "systemctl stop kvmlab-listener")


def test_a_role_that_goes_away_closes_what_it_opened(firewalled, tmp_path):
    """mgmt01 no longer the NFS server: nfs, mountd and rpc-bind are closed; a
    service someone else opened (http) stays; the normal inventory opens them again."""
    lab.exec(SERVER, "firewall-cmd --permanent --add-service=http && firewall-cmd --reload")
    inventory = tmp_path / "inventory.py"
    inventory.write_text(textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from lab.inventory import masters, kvm_nodes  # noqa: E402
        nfs_server = []
    '''))
    try:
        run = pyinfra("-y", str(inventory), "deploy.py", "--limit", SERVER,
                      "--group-data", str(ROOT / "lab" / "group_data"))
        assert run.returncode == 0, run.output
        assert zone_services(SERVER) == {"dns", "dhcp", "ntp", "http", "ssh", "dhcpv6-client"}
        again = deploy("--limit", SERVER)
        assert again.returncode == 0, again.output
        assert ROLE_SERVICES <= zone_services(SERVER)
    finally:
        lab.exec(SERVER, "firewall-cmd --permanent --remove-service=http && firewall-cmd --reload")
