"""The network step's configuration: defaults from the model and the host, and bad
data refused before any change, naming host, key and value."""

import pytest

from cluster.model import network as config_network
from cluster.model import settings as model
from cluster.model.settings import ConfigError, validate

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"


@pytest.fixture(autouse=True)
def network_concern(monkeypatch):
    """config_network joined to the model, as settings.CONCERNS will have it."""
    if config_network not in model.CONCERNS:
        fields = model.BASE_FIELDS + tuple(
            spec for concern in (*model.CONCERNS, config_network) for spec in concern.FIELDS)
        monkeypatch.setattr(model, "CONCERNS", (*model.CONCERNS, config_network))
        monkeypatch.setattr(model, "FIELDS", fields)
        monkeypatch.setattr(model, "FIELDS_BY_KEY", {spec.key: spec for spec in fields})


def cluster(**nodes):
    hosts = [("mgmt01", ("masters", "nfs_server"), {"role_account_keys": [KEY], "cluster_address": "172.30.10.11"}),
             ("mgmt02", ("masters",), {"role_account_keys": [KEY], "cluster_address": "172.30.10.12"})]
    for index, (name, data) in enumerate(nodes.items()):
        hosts.append((name, ("kvm_nodes",),
                      {"role_account_keys": [KEY], "cluster_address": f"172.30.10.{41 + index}", **data}))
    return hosts


def problems(**nodes) -> str:
    with pytest.raises(ConfigError) as error:
        validate(cluster(**nodes))
    return str(error.value)


def test_defaults_bridge_on_kvm_nodes_only_masters_resolve():
    settings = validate(cluster(kvm01={}))
    node, master = settings["kvm01"], settings["mgmt01"]
    assert config_network.bridge_enabled(node) and not config_network.bridge_enabled(master)
    assert config_network.bridge_interface(node) == "172.30.10.41/24"
    assert config_network.resolvers(node, settings) == ("172.30.10.11", "172.30.10.12")
    assert config_network.resolvers(master, settings) == ("172.30.10.11", "172.30.10.12")
    assert config_network.search_domain(node) == "cluster.lan"
    assert node.network_backend == "auto" and node.network_confirm_timeout == 60
    assert node.bond_mode == "802.3ad" and node.bond_miimon == 100
    assert node.bond_xmit_hash_policy == "layer3+4"


def test_override_address_for_the_rollback_test():
    settings = validate(cluster(kvm01={}, kvm02={"bridge_address": "172.30.10.99/24"}))
    assert config_network.bridge_interface(settings["kvm02"]) == "172.30.10.99/24"


@pytest.mark.parametrize("data, message", [
    ({"bridge_address": "10.1.2.3/24"},
     "host kvm01: key 'bridge_address' = '10.1.2.3/24': not in cluster_network 172.30.10.0/24"),
    ({"bridge_address": "172.30.10.41"},
     "host kvm01: key 'bridge_address' = '172.30.10.41': expected an IPv4 address with its prefix"),
    ({"bridge_address": "172.30.10.255/24"},
     "host kvm01: key 'bridge_address' = '172.30.10.255/24': the address is the network or broadcast"),
    ({"bridge_gateway": "172.30.11.1"},
     "host kvm01: key 'bridge_gateway' = '172.30.11.1': outside br0's subnet 172.30.10.0/24"),
    ({"bridge_gateway": "172.30.10.41"},
     "host kvm01: key 'bridge_gateway' = '172.30.10.41': is br0's own address"),
    ({"bond_enable": True},
     "host kvm01: key 'bond_members' = []: bond bond0 needs at least one member interface"),
    ({"bond_enable": True, "bond_members": ["eno1", "eno1"]},
     "host kvm01: key 'bond_members' = ['eno1', 'eno1']: an interface is listed twice"),
    ({"bond_mode": "lacp"}, "host kvm01: key 'bond_mode' = 'lacp': expected one of:"),
    ({"network_mtu": 100000}, "host kvm01: key 'network_mtu' = 100000: expected a whole number"),
    ({"network_backend": "systemd"}, "host kvm01: key 'network_backend' = 'systemd': expected one of:"),
    ({"network_confirm_timeout": 5}, "host kvm01: key 'network_confirm_timeout' = 5"),
    ({"network_ipv6": "static"},
     "host kvm01: key 'network_ipv6_address' is missing: network_ipv6 = 'static' needs an address"),
    ({"network_dns": ["dns1"]}, "host kvm01: key 'network_dns' = ['dns1']: entry 0 ('dns1') is not an IPv4"),
    ({"bridge_vlan": 0}, "host kvm01: key 'bridge_vlan' = 0: expected a whole number from 1 to 4094"),
    ({"bridge_vlan": 4095}, "host kvm01: key 'bridge_vlan' = 4095: expected a whole number from 1 to 4094"),
    ({"bridge_vlan": "100"}, "host kvm01: key 'bridge_vlan' = '100': expected a whole number from 1 to 4094"),
    ({"bridge_vlan": True}, "host kvm01: key 'bridge_vlan' = True: expected a whole number from 1 to 4094"),
    ({"bridge_vlan": 4094, "bridge_uplink": "enp129s0f1np1"},
     "host kvm01: key 'bridge_vlan' = 4094: the VLAN interface enp129s0f1np1.4094 would be longer than 15"),
    ({"bridge_vlan": 100, "bond_enable": True, "bond_members": ["eno1"], "bond_name": "bond-uplink01"},
     "host kvm01: key 'bridge_vlan' = 100: the VLAN interface bond-uplink01.100 would be longer than 15"),
])
def test_bad_network_data_is_refused(data, message):
    assert message in problems(kvm01=data)


def test_two_hosts_with_one_bridge_address():
    text = problems(kvm01={}, kvm02={"bridge_address": "172.30.10.41/24"})
    assert ("host kvm02: key 'bridge_address' = '172.30.10.41/24': address 172.30.10.41 is used by "
            "more than one host (kvm01, kvm02)") in text


def test_no_masters_and_no_resolvers():
    hosts = [("kvm01", ("kvm_nodes",), {"role_account_keys": [KEY], "cluster_address": "172.30.10.41"})]
    with pytest.raises(ConfigError) as error:
        validate(hosts)
    assert "host kvm01: key 'network_dns' is missing: no masters in the inventory" in str(error.value)


def test_packages_per_backend():
    settings = validate(cluster(kvm01={}, kvm02={"bond_enable": True, "bond_members": ["eno1", "eno2"]}))
    debian = {"family": "debian", "id": "debian", "major": 12}
    assert config_network.packages(settings["kvm01"], debian, "ifupdown") == ["ifupdown", "bridge-utils"]
    assert config_network.packages(settings["kvm02"], debian, "ifupdown") == ["ifupdown", "bridge-utils", "ifenslave"]
    # A Debian host whose uplink NetworkManager or netplan owns gets no ifupdown.
    assert config_network.packages(settings["kvm01"], debian, "networkmanager") == []
    assert config_network.packages(settings["kvm01"], debian, "netplan") == []
    assert config_network.packages(settings["kvm01"], {"family": "debian", "id": "ubuntu", "major": 24}, "netplan") == []
    assert config_network.packages(settings["kvm01"], {"family": "rhel", "id": "rhel", "major": 8}, "ifcfg") == ["network-scripts"]
    assert config_network.packages(settings["kvm01"], {"family": "rhel", "id": "rhel", "major": 9}, "networkmanager") == []
    assert config_network.packages(settings["mgmt01"], debian, "ifupdown") == []


def test_packages_the_probe_asks_about_cover_every_backend_of_the_distribution():
    settings = validate(cluster(kvm01={}))
    assert config_network.packages(settings["kvm01"], {"family": "debian", "id": "debian", "major": 13}) \
        == ["ifupdown", "bridge-utils"]
    assert config_network.packages(settings["kvm01"], {"family": "rhel", "id": "rhel", "major": 8}) \
        == ["network-scripts"]


def test_a_forced_backend_wins_over_the_one_the_host_uses():
    settings = validate(cluster(kvm01={"network_backend": "ifupdown"}))
    debian = {"family": "debian", "id": "debian", "major": 13}
    assert config_network.packages(settings["kvm01"], debian) == ["ifupdown", "bridge-utils"]


def test_vlan_default_untagged_and_its_package():
    settings = validate(cluster(kvm01={}, kvm02={"bridge_vlan": 100},
                                kvm03={"bridge_vlan": 4094, "bond_enable": True, "bond_members": ["eno1"]}))
    assert settings["kvm01"].bridge_vlan is None and settings["kvm02"].bridge_vlan == 100
    debian = {"family": "debian", "id": "debian", "major": 12}
    assert config_network.packages(settings["kvm01"], debian, "ifupdown") == ["ifupdown", "bridge-utils"]
    assert config_network.packages(settings["kvm02"], debian, "ifupdown") == ["ifupdown", "bridge-utils", "vlan"]
    assert config_network.packages(settings["kvm03"], debian, "ifupdown") == ["ifupdown", "bridge-utils", "ifenslave", "vlan"]
    assert config_network.packages(settings["kvm02"], {"family": "debian", "id": "ubuntu", "major": 24}, "netplan") == []
    assert config_network.packages(settings["kvm02"], {"family": "rhel", "id": "rhel", "major": 8}, "ifcfg") == ["network-scripts"]
