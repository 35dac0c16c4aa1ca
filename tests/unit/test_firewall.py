"""firewalld: what each role opens, in which zone, and what a run opens and closes."""

from operations import firewall


def test_each_role_opens_its_services():
    assert firewall.role_services(masters=True, nfs_server=False, libvirt_tls=False) == ["dns", "dhcp", "ntp"]
    assert firewall.role_services(masters=True, nfs_server=True, libvirt_tls=False) == [
        "dns", "dhcp", "ntp", "nfs", "mountd", "rpc-bind"]
    assert firewall.role_services(masters=False, nfs_server=False, libvirt_tls=True) == ["libvirt-tls"]
    assert firewall.role_services(masters=False, nfs_server=False, libvirt_tls=False) == []


def test_the_zone_is_the_cluster_interfaces_else_the_default():
    facts = {"default": "public", "zones": {"public": {"interfaces": []},
                                            "internal": {"interfaces": ["br0"]}}}
    assert firewall.zone_of(facts, ["br0", "eth0"]) == "internal"
    assert firewall.zone_of(facts, ["eth1"]) == "public"


def test_only_what_this_deploy_opened_is_ever_closed():
    # Wanted dns; the zone has dns (someone else's), nfs (ours, no longer wanted), http (someone else's).
    assert firewall.plan(["dns", "ntp"], ["dns", "nfs", "http"], ["nfs"]) == (["ntp"], ["nfs"], ["ntp"])
    # Already open by someone else: not recorded as ours, so never closed by a later run.
    assert firewall.plan(["dns"], ["dns"], []) == ([], [], [])
