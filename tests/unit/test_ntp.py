"""chrony: the masters serve the cluster, every other host follows them."""

from cluster.model import settings as model
from cluster.steps import management as step
from operations import ntp

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"


def cluster(**common):
    data = {"role_account_keys": [KEY], **common}
    everywhere = {key: "all" for key in data}  # as group_data/all.py gives them
    return model.validate([
        ("mgmt01", ("masters",), {**data, "cluster_address": "172.30.10.11"}, everywhere),
        ("mgmt02", ("masters",), {**data, "cluster_address": "172.30.10.12"}, everywhere),
        ("kvm01", ("kvm_nodes",), {**data, "cluster_address": "172.30.10.41"}, everywhere),
    ])


SERVER = """\
# Managed by kvm-cluster: NTP server for the cluster.
server 0.debian.pool.ntp.org iburst
server 172.30.10.12 iburst

# Serve the cluster network only.
allow 172.30.10.0/24
# No upstream reachable: keep serving the local clock. Orphan mode lets the
# masters poll each other and agree on one of them as the reference.
local stratum 10 orphan

driftfile /var/lib/chrony/chrony.drift
ntsdumpdir /var/lib/chrony
logdir /var/log/chrony
maxupdateskew 100.0
leapsectz right/UTC
makestep 1 3
rtcsync
"""

CLIENT_WITHOUT_CLOCK = """\
# Managed by kvm-cluster: NTP client of the cluster's masters.
server 172.30.10.11 iburst
server 172.30.10.12 iburst

driftfile /var/lib/chrony/chrony.drift
ntsdumpdir /var/lib/chrony
logdir /var/log/chrony
maxupdateskew 100.0
leapsectz right/UTC
# chronyd runs with -x (ntp_set_clock = false): it tracks time, serves it and
# never adjusts the system clock.
"""


def test_master_polls_upstream_and_the_other_master_and_serves_the_network():
    settings = cluster(ntp_servers=["0.debian.pool.ntp.org"])
    assert step.chrony_conf(settings["mgmt01"], "debian") == SERVER


def test_client_polls_the_masters_without_setting_the_clock():
    settings = cluster(ntp_set_clock=False)
    assert step.chrony_conf(settings["kvm01"], "debian") == CLIENT_WITHOUT_CLOCK


def test_master_without_upstream_serves_its_own_clock():
    settings = cluster()
    conf = step.chrony_conf(settings["mgmt02"], "rhel")
    assert conf.startswith("# Managed by kvm-cluster: NTP server for the cluster.\n"
                           "server 172.30.10.11 iburst\n\n")
    assert "local stratum 10 orphan\n" in conf
    assert "driftfile /var/lib/chrony/drift\n" in conf


def test_no_masters_no_ntp():
    settings = model.validate([("kvm01", ("kvm_nodes",), {"role_account_keys": [KEY],
                                                          "cluster_address": "172.30.10.41",
                                                          "network_dns": ["10.0.0.53"]})])
    assert step.chrony_conf(settings["kvm01"], "debian") is None


def test_layout_per_family():
    debian, rhel = ntp.chrony_layout("debian"), ntp.chrony_layout("rhel")
    assert (debian.config, debian.unit) == ("/etc/chrony/chrony.conf", "chrony.service")
    assert (rhel.config, rhel.unit) == ("/etc/chrony.conf", "chronyd.service")


def test_dropin_runs_chronyd_with_x_and_clears_the_capability_condition():
    assert ntp.render_dropin("debian") == (
        "# Managed by kvm-cluster (ntp_set_clock = false): run chronyd without setting\n"
        "# the system clock (-x), also where it lacks CAP_SYS_TIME (containers).\n"
        "[Unit]\n"
        "ConditionCapability=\n"
        "\n"
        "[Service]\n"
        "ExecStart=\n"
        "ExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x\n"
    )
    assert "ExecStart=/usr/sbin/chronyd $OPTIONS -x\n" in ntp.render_dropin("rhel")
