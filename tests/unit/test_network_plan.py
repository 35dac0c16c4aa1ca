"""The network plan, pure: backend choice, uplink and gateway from the host's facts,
interfaces refused by name, conflicts moved aside, "already done" detection, and
the renderers' output (the operation fixtures hold the full golden files)."""

import copy
from pathlib import Path

import pytest
import yaml

from operations import _network_backends as backends
from operations import _network_plan as planning
from operations import _network_switch as switch

FACTS = Path(__file__).resolve().parents[1] / "facts" / "interfaces.Interfaces"


def fact(name):
    return yaml.safe_load((FACTS / f"{name}.yaml").read_text())["fact"]


@pytest.mark.parametrize("os_release, tools, requested, expected", [
    ({"family": "debian", "id": "debian", "major": 12}, ["ifup", "netplan"], "auto", "ifupdown"),
    ({"family": "debian", "id": "ubuntu", "major": 22}, ["netplan"], "auto", "netplan"),
    ({"family": "debian", "id": "ubuntu", "major": 24}, ["netplan", "nmcli"], "auto", "netplan"),
    ({"family": "rhel", "id": "centos", "major": 7}, ["network-scripts"], "auto", "ifcfg"),
    ({"family": "rhel", "id": "rhel", "major": 8}, ["nmcli"], "auto", "ifcfg"),
    ({"family": "rhel", "id": "rhel", "major": 9}, ["nmcli"], "auto", "networkmanager"),
    ({"family": "debian", "id": "debian", "major": 12}, ["ifup"], "networkmanager", "networkmanager"),
])
def test_backend_from_facts_overridable(os_release, tools, requested, expected):
    assert backends.choose_backend(requested, os_release, {"tools": tools}) == expected


DEBIAN12 = {"family": "debian", "id": "debian", "major": 12}
DEBIAN13 = {"family": "debian", "id": "debian", "major": 13}
INSTALLER_INTERFACES = [
    "source /etc/network/interfaces.d/*", "auto lo", "iface lo inet loopback",
    "allow-hotplug eth0", "iface eth0 inet static", "\taddress 172.30.10.41/24",
]


def _facts(files=(), contents=None, tools=("ifup",)):
    return {"files": {path: {"sha1": "0" * 40, "names": names} for path, names in files},
            "contents": contents or {}, "tools": list(tools)}


def _nm(devices, active=True):
    return {"active": active, "devices": {d: {"type": "ethernet", "state": st, "connection": c}
                                          for d, (st, c) in devices.items()}}


@pytest.mark.parametrize("facts, nm, expected", [
    # Debian 12's installer: an allow-hotplug stanza in the main file.
    (_facts([("/etc/network/interfaces", ["eth0", "lo"])],
            {"/etc/network/interfaces": INSTALLER_INTERFACES}), None, "ifupdown"),
    # RHEL 9 / Debian 13 with NetworkManager: its own connection is active on eth0.
    (_facts([("/etc/NetworkManager/system-connections/eth0.nmconnection", ["eth0"])], tools=["nmcli"]),
     _nm({"eth0": ("connected", "eth0")}), "networkmanager"),
    # Ubuntu: netplan names eth0; it renders for NetworkManager here, and stays the source.
    (_facts([("/etc/netplan/50-cloud-init.yaml", ["eth0"])], tools=["netplan", "nmcli"]),
     _nm({"eth0": ("connected", "netplan-eth0")}), "netplan"),
    # NetworkManager only shows what ifupdown configured: ifupdown owns it.
    (_facts([("/etc/network/interfaces", ["eth0", "lo"])],
            {"/etc/network/interfaces": INSTALLER_INTERFACES}, tools=["ifup", "nmcli"]),
     _nm({"eth0": ("connected (externally)", "eth0")}), "ifupdown"),
    # A stanza commented out configures nothing; netplan names it: netplan.
    (_facts([("/etc/network/interfaces", ["eth0"]), ("/etc/netplan/01-netcfg.yaml", ["eth0"])],
            {"/etc/network/interfaces": ["# iface eth0 inet dhcp"]}, tools=["ifup", "netplan"]),
     None, "netplan"),
    # A host this deploy switched keeps its backend.
    (_facts([("/etc/network/interfaces.d/kvm-cluster-br0", ["br0", "eth0"])], tools=["ifup", "nmcli"]),
     _nm({"eth0": ("connected", "Wired connection 1")}), "ifupdown"),
    # An interfaces.d file for eth0.
    (_facts([("/etc/network/interfaces.d/eth0", ["eth0"])]), None, "ifupdown"),
])
def test_the_backend_is_the_one_that_owns_the_uplink(facts, nm, expected):
    assert backends.choose_backend("auto", DEBIAN13, facts, nm, ("eth0",)) == expected


def test_ifcfg_files_mean_network_scripts_where_they_exist_else_networkmanager():
    facts = _facts([("/etc/sysconfig/network-scripts/ifcfg-eth0", ["eth0"])], tools=["nmcli"])
    rhel8 = {"family": "rhel", "id": "rhel", "major": 8}
    rhel9 = {"family": "rhel", "id": "rhel", "major": 9}
    assert backends.choose_backend("auto", rhel8, facts, None, ("eth0",)) == "ifcfg"
    assert backends.choose_backend("auto", rhel9, facts, None, ("eth0",)) == "networkmanager"


def test_nothing_names_the_uplink_the_distribution_decides():
    assert backends.uplink_owner(("eth0",), _facts(), None, DEBIAN12) is None
    assert backends.choose_backend("auto", DEBIAN12, _facts(), None, ("eth0",)) == "ifupdown"


def test_a_forced_backend_the_host_cannot_run():
    rhel9 = {"family": "rhel", "id": "rhel", "major": 9, "pretty_name": "Red Hat Enterprise Linux 9.4"}
    assert "network-scripts are not installed on Red Hat Enterprise Linux 9.4" in \
        backends.backend_unavailable("ifcfg", rhel9, _facts(tools=["nmcli"]))
    assert backends.backend_unavailable("ifcfg", {"family": "rhel", "major": 8}, _facts(tools=["nmcli"])) is None
    assert backends.backend_unavailable("ifupdown", DEBIAN13, _facts(tools=["nmcli"])) is None
    assert "NetworkManager (nmcli) is not installed" in backends.backend_unavailable("networkmanager", DEBIAN12, _facts())
    assert backends.backend_unavailable("netplan", DEBIAN13, _facts(tools=["netplan"])) is None


def test_a_drifted_bond_is_a_change():
    bond = planning.Bond(name="bond0", members=("eno1", "eno2"), mode="802.3ad", miimon=100,
                  xmit_hash_policy="layer3+4")
    assert planning.bond_drift(bond, {"mode": "802.3ad", "miimon": 100, "xmit_hash_policy": "layer3+4"}) == []
    assert planning.bond_drift(bond, {"mode": "active-backup", "miimon": 200, "xmit_hash_policy": "layer2"}) == [
        "bond0 runs mode active-backup, not 802.3ad", "bond0 runs miimon 200, not 100",
        "bond0 runs xmit_hash_policy layer2, not layer3+4"]
    backup = planning.Bond(name="bond0", members=("eno1",), mode="active-backup")
    assert planning.bond_drift(backup, {"mode": "active-backup", "miimon": 100, "xmit_hash_policy": "layer2"}) == []


def test_lab_host_uplink_and_gateway_from_facts():
    plan = planning.plan_bridge(address="172.31.55.11/24", interfaces=fact("debian12_docker_eth0"))
    assert (plan.uplink, plan.gateway, plan.bond) == ("eth0", "172.31.55.1", None)


def test_bridged_host_keeps_its_port_not_the_vm_taps():
    facts = fact("rhel9_nm_bond_bridged")
    assert planning.find_uplink(facts, "br0", "172.30.10.41") == "bond0"
    with pytest.raises(planning.NetworkPlanError, match="is on bond bond0: set bond_enable"):
        planning.plan_bridge(address="172.30.10.41/24", interfaces=facts)


def test_missing_interfaces_are_named_with_key_and_value():
    facts = fact("debian12_docker_eth0")
    with pytest.raises(planning.NetworkPlanError) as error:
        planning.plan_bridge(address="172.31.55.11/24", interfaces=facts, uplink="eno9")
    assert str(error.value).startswith("key 'bridge_uplink' = 'eno9': no such interface on this host")
    with pytest.raises(planning.NetworkPlanError) as error:
        planning.plan_bridge(address="172.31.55.11/24", interfaces=facts,
                      bond=planning.Bond("bond0", ("eth0", "eno2")))
    assert str(error.value).startswith("key 'bond_members' = ['eth0', 'eno2']: eno2 does not exist")


def test_default_gateway_outside_the_bridge_subnet_needs_data():
    facts = copy.deepcopy(fact("debian12_docker_eth0"))
    facts["default4"]["gateway"] = "10.0.0.1"
    with pytest.raises(planning.NetworkPlanError, match="default gateway 10.0.0.1 is outside 172.31.55.0/24"):
        planning.plan_bridge(address="172.31.55.11/24", interfaces=facts)
    plan = planning.plan_bridge(address="172.31.55.11/24", interfaces=facts, gateway="172.31.55.254")
    assert plan.gateway == "172.31.55.254"


def nm_fact(name):
    return yaml.safe_load((FACTS.parent / "network.NetworkManagerState" / f"{name}.yaml").read_text())["fact"]


LAB_DNS = ("172.30.10.11", "172.30.10.12")

# Captured from the lab's personas after the deploy (python -m lab.capture).
BRIDGED = [
    ("debian12_bridged", "172.30.10.41/24", "ifupdown", None),
    ("debian13_nm_bridged", "172.30.10.42/24", "networkmanager", "debian13_bridged"),
    ("debian13_netplan_bridged", "172.30.10.43/24", "netplan", None),
]


@pytest.mark.parametrize("name, address, backend, nm", BRIDGED)
def test_a_bridged_lab_host_is_up_to_date(name, address, backend, nm):
    """Real facts of a converged host: its backend is still the one chosen, its
    files are in place, its running state matches: nothing to do."""
    facts = fact(name)
    nm_state = nm_fact(nm) if nm else None
    plan = planning.plan_bridge(address=address, interfaces=facts, dns=LAB_DNS, search="cluster.lan")
    assert plan.uplink == "eth0" and plan.mac == facts["links"]["eth0"]["mac"]
    assert backends.choose_backend("auto", DEBIAN13, facts, nm_state, plan.devices) == backend
    rendered = backends.render_plan(plan, backend, facts, nm_state)
    assert planning.runtime_matches(plan, facts) == []
    assert backends.files_in_place(rendered, facts) and rendered.remove == () and not rendered.nm_stop
    moved = planning.plan_bridge(address="172.30.10.99/24", interfaces=facts, gateway="172.30.10.1")
    assert planning.runtime_matches(moved, facts) == ["br0 does not carry 172.30.10.99/24"]


# Captured from the lab's personas as their installers left them.
INSTALLED = [
    ("debian12_installer", "172.30.10.41/24", "ifupdown", None, ()),
    ("debian13_nm_installer", "172.30.10.42/24", "networkmanager", "debian13_installer",
     ("/etc/NetworkManager/system-connections/eth0.nmconnection",)),
    ("debian13_netplan_installer", "172.30.10.43/24", "netplan", None, ("/etc/netplan/50-cloud-init.yaml",)),
]


@pytest.mark.parametrize("name, address, backend, nm, moved_aside", INSTALLED)
def test_the_installers_configuration_is_taken_over(name, address, backend, nm, moved_aside):
    """Real facts of a host as its installer left it: the backend is the one that
    owns eth0, and the installer's file stops configuring it (moved aside, or
    its stanza commented out)."""
    facts = fact(name)
    nm_state = nm_fact(nm) if nm else None
    plan = planning.plan_bridge(address=address, interfaces=facts, dns=LAB_DNS, search="cluster.lan")
    assert (plan.uplink, plan.gateway) == ("eth0", "172.30.10.1")
    assert backends.choose_backend("auto", DEBIAN13, facts, nm_state, plan.devices) == backend
    rendered = backends.render_plan(plan, backend, facts, nm_state)
    assert rendered.remove == moved_aside
    assert planning.runtime_matches(plan, facts) == ["no bridge br0"]
    if backend == "ifupdown":
        main = rendered.files[backends.IFUPDOWN_MAIN][0]
        assert "# kvm-cluster, now in interfaces.d/kvm-cluster-br0: allow-hotplug eth0" in main
        assert "# kvm-cluster, now in interfaces.d/kvm-cluster-br0: iface eth0 inet static" in main
        assert "\nauto lo\niface lo inet loopback\n" in main  # every other line is kept


def test_conflicting_files_are_moved_aside_ours_and_others_stay():
    facts = fact("ubuntu2204_netplan_cloud_init")
    plan = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts)
    rendered = backends.render_plan(plan, "netplan", facts)
    assert rendered.remove == ("/etc/netplan/50-cloud-init.yaml",)
    assert set(rendered.files) == {backends.netplan_file("br0"), backends.CLOUD_INIT_FILE}
    assert rendered.files[backends.netplan_file("br0")][1] == "600"


def test_network_manager_policy():
    facts = fact("debian12_docker_eth0")
    plan = planning.plan_bridge(address="172.31.55.11/24", interfaces=facts)
    active = {"active": True, "enabled": True}
    assert backends.render_plan(plan, "ifupdown", facts, active).nm_stop is True
    kept = backends.render_plan(plan, "ifupdown", facts, active, nm_policy="keep")
    assert kept.nm_stop is False
    assert kept.files[backends.NM_UNMANAGED][0].endswith(
        "unmanaged-devices=interface-name:br0;interface-name:eth0\n")
    assert backends.render_plan(plan, "networkmanager", facts, active).nm_stop is False
    assert backends.render_plan(plan, "ifupdown", facts, {"active": False, "enabled": False}).nm_stop is False


def test_ifupdown_main_file_replaced_only_when_needed():
    facts = fact("debian12_docker_eth0")
    plan = planning.plan_bridge(address="172.31.55.11/24", interfaces=facts)
    assert backends.IFUPDOWN_MAIN not in backends.render_plan(plan, "ifupdown", facts).files
    facts = copy.deepcopy(facts)
    facts["contents"][backends.IFUPDOWN_MAIN] = ["auto lo", "iface lo inet loopback"]
    assert backends.IFUPDOWN_MAIN in backends.render_plan(plan, "ifupdown", facts).files


def test_bond_in_every_backend():
    facts = {"links": {"eno1": {"kind": "ether", "master": None, "ipv4": ["172.30.10.41/24"]},
                       "eno2": {"kind": "ether", "master": None, "ipv4": []}},
             "default4": {"gateway": "172.30.10.1", "dev": "eno1"}, "files": {}, "contents": {}, "tools": []}
    plan = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, mtu=9000,
                         bond=planning.Bond("bond0", ("eno1", "eno2")))
    text = {b: "".join(c for c, _m in backends.render_plan(plan, b, facts).files.values()) for b in backends.BACKENDS}
    assert "bond-slaves eno1 eno2" in text["ifupdown"] and "bridge_ports bond0" in text["ifupdown"]
    assert "transmit-hash-policy: layer3+4" in text["netplan"] and "interfaces: [bond0]" in text["netplan"]
    assert ('BONDING_OPTS="mode=802.3ad miimon=100 updelay=0 downdelay=0 xmit_hash_policy=layer3+4"'
            in text["ifcfg"])
    assert "MASTER=bond0" in text["ifcfg"] and "BRIDGE=br0" in text["ifcfg"] and "MTU=9000" in text["ifcfg"]
    assert "type=bond" in text["networkmanager"] and "slave-type=bond" in text["networkmanager"]
    assert all("9000" in t for t in text.values())


def test_transaction_names_its_files_and_commands():
    facts = fact("debian12_docker_eth0")
    plan = planning.plan_bridge(address="172.31.55.11/24", interfaces=facts)
    rendered = backends.render_plan(plan, "ifupdown", facts)
    txn = switch.transaction_id(rendered.files, rendered.remove)
    text = switch.transaction(plan, rendered, 60, txn)
    assert f"TXN={txn}" in text and "TIMEOUT=60" in text
    assert "    step 'ifup br0' || return 1\n" in text
    assert "ip -4 addr flush dev eth0 scope global" in text
    assert switch.transaction_id(rendered.files, rendered.remove) == txn  # same change, same name


def test_qemu_acl():
    assert backends.bridge_acl([], "br0") == ["allow br0"]
    assert backends.bridge_acl(["allow virbr0"], "br0") == ["allow virbr0", "allow br0"]
    assert backends.bridge_acl(["allow br0"], "br0") is None
    assert backends.bridge_acl(["allow all"], "br0") is None


def test_host_script_and_transaction_are_valid_shell():
    import subprocess
    facts = fact("debian12_docker_eth0")
    plan = planning.plan_bridge(address="172.31.55.11/24", interfaces=facts)
    for backend in backends.BACKENDS:
        rendered = backends.render_plan(plan, backend, facts)
        text = switch.transaction(plan, rendered, 60, "t000000000000")
        assert subprocess.run(["sh", "-n"], input=text, text=True).returncode == 0, backend
    assert subprocess.run(["sh", "-n"], input=switch.helper_script(), text=True).returncode == 0


def two_nics():
    return {"links": {"eno1": {"kind": "ether", "master": None, "ipv4": ["172.30.10.41/24"]},
                      "eno2": {"kind": "ether", "master": None, "ipv4": []}},
            "default4": {"gateway": "172.30.10.1", "dev": "eno1"}, "files": {}, "contents": {}, "tools": []}


def test_vlan_is_the_bridges_port_and_one_of_its_devices():
    facts = two_nics()
    plan = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, vlan=100,
                         bond=planning.Bond("bond0", ("eno1", "eno2")))
    assert (plan.uplink, plan.vlan_device, plan.port) == ("bond0", "bond0.100", "bond0.100")
    assert plan.devices == ("bond0.100", "bond0", "eno1", "eno2")
    untagged = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts)
    assert (untagged.vlan_device, untagged.port, untagged.devices) == (None, "eno1", ("eno1",))
    tagged = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, vlan=7)
    assert (tagged.uplink, tagged.port, tagged.devices) == ("eno1", "eno1.7", ("eno1.7", "eno1"))


def test_bond_and_vlan_in_every_backend():
    facts = two_nics()
    plan = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, mtu=9000, vlan=100,
                         bond=planning.Bond("bond0", ("eno1", "eno2")))
    files = {b: backends.render_plan(plan, b, facts).files for b in backends.BACKENDS}
    ifupdown = files["ifupdown"][backends.ifupdown_file("br0")][0]
    assert ("auto bond0.100\niface bond0.100 inet manual\n    vlan-raw-device bond0\n    mtu 9000\n"
            in ifupdown)
    assert "bridge_ports bond0.100\n" in ifupdown
    netplan = files["netplan"][backends.netplan_file("br0")][0]
    assert "  vlans:\n    bond0.100:\n      id: 100\n      link: bond0\n" in netplan
    assert "interfaces: [bond0.100]" in netplan and "interfaces: [eno1, eno2]" in netplan
    ifcfg = {path.rsplit("/", 1)[1]: text for path, (text, _mode) in files["ifcfg"].items()}
    assert "VLAN=yes\nPHYSDEV=bond0\n" in ifcfg["ifcfg-bond0.100"]
    assert "BRIDGE=br0" in ifcfg["ifcfg-bond0.100"] and "MTU=9000" in ifcfg["ifcfg-bond0.100"]
    assert "BRIDGE" not in ifcfg["ifcfg-bond0"] and "MTU=9000" in ifcfg["ifcfg-bond0"]
    assert "MASTER=bond0" in ifcfg["ifcfg-eno1"]
    nm = {path.rsplit("/", 1)[1]: text for path, (text, _mode) in files["networkmanager"].items()}
    vlan = nm["kvm-cluster-br0-port-bond0.100.nmconnection"]
    assert "type=vlan\n" in vlan and "master=br0\nslave-type=bridge\n" in vlan
    assert "[vlan]\nid=100\nparent=bond0\n" in vlan and "mtu=9000" in vlan
    bond = nm["kvm-cluster-bond0.nmconnection"]
    assert "master=" not in bond and "[ipv4]\nmethod=disabled\n" in bond and "mtu=9000" in bond
    rendered = backends.render_plan(plan, "networkmanager", facts)
    assert rendered.apply[-2:] == ("nmcli connection up kvm-cluster-bond0",
                                   "nmcli connection up kvm-cluster-br0")


def test_vlan_on_an_interface_leaves_the_interface_unbridged():
    facts = two_nics()
    plan = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, mtu=9000, vlan=100)
    ifupdown = backends.render_plan(plan, "ifupdown", facts)
    assert "auto eno1\niface eno1 inet manual\n    mtu 9000\n" in ifupdown.files[backends.ifupdown_file("br0")][0]
    assert ifupdown.apply[-3:] == ("ifup eno1", "ifup eno1.100", "ifup br0")
    assert "ip link del eno1 2>/dev/null" not in ifupdown.unapply  # a NIC, not ours to delete
    assert "ip link del eno1.100 2>/dev/null" in ifupdown.unapply
    assert ifupdown.apply[1] == ("[ ! -e /sys/class/net/eno1.100 ] || "
                                 "ip -4 addr flush dev eno1.100 scope global")
    ifcfg = backends.render_plan(plan, "ifcfg", facts).files
    parent = ifcfg[f"{backends.IFCFG_DIR}/ifcfg-eno1"][0]
    assert "BRIDGE" not in parent and "MTU=9000" in parent
    assert "BRIDGE=br0" in ifcfg[f"{backends.IFCFG_DIR}/ifcfg-eno1.100"][0]
    nm = backends.render_plan(plan, "networkmanager", facts)
    link = nm.files[f"{backends.NM_DIR}/kvm-cluster-eno1.nmconnection"][0]
    assert "master=" not in link and "[ipv6]\nmethod=disabled\n" in link
    assert f"{backends.NM_DIR}/kvm-cluster-br0-port-eno1.nmconnection" not in nm.files
    assert "nmcli connection up kvm-cluster-eno1" in nm.apply
    import subprocess
    for backend in backends.BACKENDS:
        text = switch.transaction(plan, backends.render_plan(plan, backend, facts), 60, "t000000000000")
        assert "RUNTIME_DEVICES='eno1 eno1.100 br0'" in text
        assert subprocess.run(["sh", "-n"], input=text, text=True).returncode == 0, backend


def test_bridged_vlan_host_is_up_to_date_and_its_port_checked():
    facts = fact("debian12_vlan_bridged")
    plan = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, vlan=100, mtu=9000)
    assert (plan.uplink, plan.port) == ("eno1", "eno1.100")
    assert planning.runtime_matches(plan, facts) == []
    assert backends.files_in_place(backends.render_plan(plan, "ifupdown", facts), facts)
    other = copy.deepcopy(facts)
    other["links"]["eno1.100"]["vlan_id"] = 200
    assert planning.runtime_matches(plan, other) == ["eno1.100 is not VLAN 100 of eno1"]
    untagged = planning.NetworkPlan(bridge="br0", address="172.30.10.41/24", gateway="172.30.10.1",
                             uplink="eno1", mtu=9000)
    assert planning.runtime_matches(untagged, facts) == ["eno1 is not a port of br0"]
    tagged = planning.NetworkPlan(bridge="br0", address="172.30.10.41/24", gateway="172.30.10.1",
                           uplink="eno1", vlan=101, mtu=9000)
    assert planning.runtime_matches(tagged, facts) == ["eno1.101 is not a port of br0"]


def test_address_on_a_vlan_interface():
    facts = copy.deepcopy(fact("debian12_vlan_bridged"))
    links = facts["links"]
    del links["br0"]
    links["eno1.100"].update(master=None, slave_kind=None, ipv4=["172.30.10.41/24"])
    facts["default4"]["dev"] = "eno1.100"
    assert planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, vlan=100).uplink == "eno1"
    with pytest.raises(planning.NetworkPlanError) as error:
        planning.plan_bridge(address="172.30.10.41/24", interfaces=facts)
    assert str(error.value) == "the address 172.30.10.41 is on eno1.100, VLAN 100 of eno1: set bridge_vlan"
    with pytest.raises(planning.NetworkPlanError) as error:
        planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, vlan=200)
    assert str(error.value).startswith(
        "key 'bridge_vlan' = 200: the address 172.30.10.41 is on eno1.100, VLAN 100 of eno1")
    with pytest.raises(planning.NetworkPlanError) as error:
        planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, uplink="eno1.100", vlan=100)
    assert str(error.value).startswith("key 'bridge_uplink' = 'eno1.100': a VLAN interface")


def test_vlan_interface_name_fits_the_kernel():
    facts = two_nics()
    facts["links"]["enp129s0f1np1"] = {"kind": "ether", "master": None, "ipv4": []}
    with pytest.raises(planning.NetworkPlanError) as error:
        planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, uplink="enp129s0f1np1", vlan=4094)
    assert str(error.value).startswith(
        "key 'bridge_vlan' = 4094: the VLAN interface enp129s0f1np1.4094 would be longer than 15")


def test_files_naming_the_vlan_are_moved_aside_and_unmanaged():
    facts = two_nics()
    facts["files"] = {"/etc/netplan/50-vlan.yaml": {"sha1": "x", "names": ["eno1.100"]},
                      "/etc/netplan/40-other.yaml": {"sha1": "y", "names": ["eno2"]}}
    plan = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, vlan=100)
    assert backends.conflicts(plan, facts, set()) == ("/etc/netplan/50-vlan.yaml",)
    kept = backends.render_plan(plan, "ifupdown", facts, {"active": True}, nm_policy="keep")
    assert kept.files[backends.NM_UNMANAGED][0].endswith(
        "unmanaged-devices=interface-name:br0;interface-name:eno1.100;interface-name:eno1\n")
    facts["contents"][backends.IFUPDOWN_MAIN] = ["source /etc/network/interfaces.d/*"]
    facts["files"][backends.IFUPDOWN_MAIN] = {"sha1": "z", "names": ["eno1.100"]}
    assert backends.IFUPDOWN_MAIN in backends.render_plan(plan, "ifupdown", facts).files


def test_a_bond_without_the_interface_carrying_the_address_is_refused():
    """eno1 carries the address; a bond of eno2 alone would leave eno1 configured
    beside br0, with the same address."""
    facts = {"links": {
        "eno1": {"kind": "ether", "master": None, "mtu": 1500, "mac": "52:54:00:00:00:01", "up": True,
                 "ipv4": ["172.30.10.41/24"], "ipv6": []},
        "eno2": {"kind": "ether", "master": None, "mtu": 1500, "mac": "52:54:00:00:00:02", "up": True,
                 "ipv4": [], "ipv6": []}},
        "default4": {"gateway": "172.30.10.1", "dev": "eno1"}, "files": {}, "contents": {}, "tools": []}
    with pytest.raises(planning.NetworkPlanError) as error:
        planning.plan_bridge(address="172.30.10.41/24", interfaces=facts, bond=planning.Bond(name="bond0", members=("eno2",)))
    assert str(error.value) == (
        "key 'bond_members' = ['eno2']: the address 172.30.10.41 is on eno1 today, which is not a member "
        "of bond bond0: eno1 would keep its configuration and the same address beside br0; add eno1 to "
        "bond_members (or move the address to a member first)")
    plan = planning.plan_bridge(address="172.30.10.41/24", interfaces=facts,
                         bond=planning.Bond(name="bond0", members=("eno1", "eno2")))
    assert plan.port == "bond0" and plan.mac == "52:54:00:00:00:01"


def test_the_probe_reads_every_file_the_network_step_writes():
    """The switch's directories and the backends' files are named once in
    operations; the probe must look where they write: the backends' files in
    its interfaces section (facts.interfaces), the others through the step's
    needs (facts.files)."""
    from fnmatch import fnmatch

    from facts import interfaces as probe
    from operations import network

    assert probe.STATE_FILE == switch.STATE_FILE
    backend_files = (backends.IFUPDOWN_MAIN, backends.ifupdown_file("br0"),
                     backends.netplan_file("br0"), backends.nm_file("kvm-cluster-br0"),
                     f"{backends.IFCFG_DIR}/ifcfg-br0", backends.NM_UNMANAGED,
                     backends.CLOUD_INIT_FILE)
    for path in backend_files:
        assert any(fnmatch(path, glob) for glob in probe.CONFIG_GLOBS), path
    assert set(network.probed_files(bridged=True)) == {
        switch.SCRIPT, switch.BOOT_UNIT, backends.QEMU_BRIDGE_CONF, backends.RESOLV_CONF,
        backends.RESOLVED_DROPIN, backends.NM_DNS}
    assert network.probed_files(bridged=False) == [
        backends.RESOLV_CONF, backends.RESOLVED_DROPIN, backends.NM_DNS]


def test_the_confirmation_keeps_how_the_operation_runs_not_how_it_waits():
    from operations._network_confirm import connector_arguments

    given = {"_sudo": True, "_sudo_user": "root", "_env": {"LC_ALL": "C"}, "_timeout": None,
             "_get_pty": False, "_success_exit_codes": [0], "_retries": 0, "name": "Bridge",
             "_serial": False}
    assert connector_arguments(given) == {"_sudo": True, "_sudo_user": "root", "_env": {"LC_ALL": "C"}}


def test_qemus_acl_is_read_from_the_probe_of_a_real_host():
    """The captured probe of a bridged lab host carries qemu's bridge.conf: the
    ACL step sees ``allow br0`` there, and keeps another bridge's line."""
    facts = fact("debian12_bridged")
    assert facts["contents"]["/etc/qemu/bridge.conf"] == ["allow br0"]
    assert backends.bridge_acl(facts["contents"]["/etc/qemu/bridge.conf"], "br0") is None
    assert backends.bridge_acl(["allow virbr0"], "br0") == ["allow virbr0", "allow br0"]


def _status_script(tmp_path, state: str) -> tuple[Path, Path]:
    """kvm-cluster-net rendered into tmp_path, its transaction t1 and state file set."""
    from operations._render import render
    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / "kvm-cluster-net"
    script.write_text(render("network/kvm-cluster-net.sh.j2", script=str(script), work_dir=str(work),
                             staged=str(work / "staged"), plan_file=str(work / "plan"),
                             state_file=str(work / "state"), log_file=str(work / "log"),
                             backup_dir=str(tmp_path / "backup")))
    (work / "plan").write_text("TXN=t1\n")
    (work / "state").write_text(f"{state}\n")
    return script, work / "state"


def test_a_look_at_the_switch_waits_on_the_host_while_it_is_under_way(tmp_path):
    """``status SECONDS`` answers when the switch is done, not at the deploy's
    next look: started while switching, it prints the state the switch ends in.
    The switch ends at the look's first pause (a ``sleep`` first on PATH that
    writes the new state, then sleeps): no timing."""
    import os
    import stat
    import subprocess
    script, state = _status_script(tmp_path, "switching t1")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "sleep"
    shim.write_text(f"""#!/bin/sh
[ -e '{tmp_path}/ended' ] || {{ : > '{tmp_path}/ended'; echo 'switched t1' > '{state}.tmp'; mv '{state}.tmp' '{state}'; }}
exec /bin/sleep "$@"
""")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    look = subprocess.run(["sh", str(script), "status", "999"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert (look.returncode, look.stdout) == (0, "switched t1\n"), look.stderr
    assert (tmp_path / "ended").exists()  # it paused, and looked again


@pytest.mark.parametrize("state, wait, printed", [
    ("armed t1", "1", "armed t1\n"),                      # still under way: answers after its wait
    ("rolled-back t1 why", "30", "rolled-back t1 why\n"),  # over: answers at once, never waits
    ("switched t1", "30", "switched t1\n"),
    ("confirmed t0", "30", "unknown t1\n"),               # another transaction's state
    ("switching t1", None, "switching t1\n"),             # no wait asked: as before
])
def test_a_look_at_the_switch_waits_only_while_it_is_under_way(tmp_path, state, wait, printed):
    import subprocess
    script, _ = _status_script(tmp_path, state)
    run = subprocess.run(["sh", str(script), "status", *([wait] if wait else [])],
                         capture_output=True, text=True, timeout=15)
    assert (run.returncode, run.stdout) == (0, printed)


@pytest.mark.parametrize("wait", ["x", "-1", "1.5", "1000", "3 ", "010", "08"])
def test_a_look_with_a_wait_that_is_not_0_to_999_seconds_is_refused(tmp_path, wait):
    import subprocess
    script, _ = _status_script(tmp_path, "switching t1")
    run = subprocess.run(["sh", str(script), "status", wait], capture_output=True, text=True, timeout=15)
    assert run.returncode == 2 and "usage:" in run.stderr
