"""dnsmasq's configuration, rendered from the inventory and the VM manifest."""

import json

from cluster.model import management as config_management
from cluster.model import settings as model
from cluster.steps import management as step
from operations import dns

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"
VMS = [
    {"name": "vm01", "mac": "52:54:00:AA:00:01", "ip": "172.30.10.101"},
    {"name": "web", "mac": "52:54:00:aa:00:02", "ip": "172.30.10.102", "cpus": 2},
]


def cluster(**common):
    data = {"role_account_keys": [KEY], **common}
    everywhere = {key: "all" for key in data}  # as group_data/all.py gives them
    return model.validate([
        ("mgmt01", ("masters", "nfs_server"), {**data, "cluster_address": "172.30.10.11"}, everywhere),
        ("mgmt02", ("masters",), {**data, "cluster_address": "172.30.10.12"}, everywhere),
        ("kvm01", ("kvm_nodes",), {**data, "cluster_address": "172.30.10.41"}, everywhere),
    ])


EXPECTED_MGMT01 = """\
# Managed by kvm-cluster: DNS and static DHCP for the cluster cluster.lan.
# The same file on every master: each answers for every host and VM, and hands
# out only the fixed addresses below, so two servers never disagree on a lease.

# Listen on the cluster address only (not on other interfaces, not an open
# resolver on any other network the master is attached to). bind-dynamic:
# dnsmasq binds the address when it appears, so it starts at boot even when
# the network brings the address up after it.
listen-address=172.30.10.11
bind-dynamic

# Never read /etc/hosts or /etc/resolv.conf: names come from this file,
# upstream resolvers from the cluster's configuration.
no-hosts
no-resolv
domain-needed
bogus-priv
domain=cluster.lan
local=/cluster.lan/
# No upstream resolver: names outside cluster.lan are not forwarded (REFUSED).

# Cluster hosts
host-record=mgmt01.cluster.lan,mgmt01,172.30.10.11
host-record=mgmt02.cluster.lan,mgmt02,172.30.10.12
host-record=kvm01.cluster.lan,kvm01,172.30.10.41

# VMs
host-record=vm01.cluster.lan,vm01,172.30.10.101
host-record=web.cluster.lan,web,172.30.10.102

# Static DHCP only: no dynamic range, unknown clients get no address.
dhcp-range=172.30.10.0,static,255.255.255.0,12h
dhcp-authoritative
dhcp-option=option:router,172.30.10.1
dhcp-option=option:dns-server,172.30.10.11,172.30.10.12
dhcp-option=option:ntp-server,172.30.10.11,172.30.10.12
dhcp-host=52:54:00:aa:00:01,172.30.10.101,vm01
dhcp-host=52:54:00:aa:00:02,172.30.10.102,web
"""


def test_dnsmasq_conf_from_manifest():
    settings = cluster(vms=VMS, dhcp_router="172.30.10.1")
    assert step.dnsmasq_conf(settings["mgmt01"], settings) == EXPECTED_MGMT01


def test_both_masters_serve_the_same_data():
    settings = cluster(vms=VMS)
    mgmt01 = step.dnsmasq_conf(settings["mgmt01"], settings)
    mgmt02 = step.dnsmasq_conf(settings["mgmt02"], settings)
    assert mgmt02 == mgmt01.replace("listen-address=172.30.10.11", "listen-address=172.30.10.12")


def test_manifest_file_gives_the_same_config(tmp_path, monkeypatch):
    (tmp_path / "vms.json").write_text(json.dumps({"vms": VMS}))
    monkeypatch.chdir(tmp_path)
    from_file = cluster(vms="vms.json", dhcp_router="172.30.10.1")
    assert step.dnsmasq_conf(from_file["mgmt01"], from_file) == EXPECTED_MGMT01
    assert from_file["mgmt01"].vms[0] == config_management.VM("vm01", "52:54:00:aa:00:01", "172.30.10.101")


def test_upstream_resolvers_and_no_router():
    settings = cluster(dns_upstream=["9.9.9.9", "1.1.1.1"])
    conf = step.dnsmasq_conf(settings["mgmt01"], settings)
    assert "server=9.9.9.9\nserver=1.1.1.1\n" in conf
    assert "not forwarded" not in conf
    # An empty router option: dnsmasq would otherwise offer itself as the gateway.
    assert "\ndhcp-option=option:router\n" in conf
    assert "dhcp-host" not in conf


def test_other_network_and_domain():
    conf = dns.render_dnsmasq_conf(
        domain="lab.example", network="10.8.0.0/16", listen_address="10.8.0.2",
        hosts=[("m1", "10.8.0.2")], vms=[], upstream=[], dns_servers=["10.8.0.2"])
    assert "dhcp-range=10.8.0.0,static,255.255.0.0,12h\n" in conf
    assert "local=/lab.example/\n" in conf
    assert "host-record=m1.lab.example,m1,10.8.0.2\n" in conf
    assert "dhcp-option=option:dns-server,10.8.0.2\n" in conf


def test_probe_plan_per_role():
    settings = cluster()
    debian, rhel = {"family": "debian"}, {"family": "rhel"}
    master = step.needs(settings["mgmt01"], debian)
    assert master.files == ("/etc/chrony/chrony.conf",
                            "/etc/systemd/system/chrony.service.d/kvm-cluster.conf",
                            "/etc/dnsmasq.d/kvm-cluster.conf", "/etc/clustershell/groups")
    assert step.needs(settings["mgmt01"], rhel).files[:2] == (
        "/etc/chrony.conf", "/etc/systemd/system/chronyd.service.d/kvm-cluster.conf")
    assert step.needs(settings["kvm01"], debian).files == master.files[:2]
    assert step.needs(settings["mgmt02"], debian).units == ("chrony.service", "dnsmasq.service")
    assert step.needs(settings["mgmt02"], rhel).units == ("chronyd.service", "dnsmasq.service")
    assert step.needs(settings["kvm01"], rhel).units == ("chronyd.service",)
    for family in (debian, rhel):
        assert step.needs(settings["mgmt01"], family).packages == ("dnsmasq", "chrony", "clustershell")
    assert step.needs(settings["kvm01"], debian).packages == ("chrony",)
