"""The configuration model: good data gives settings, bad data a message that
names the host, the key, the value and what is expected."""

import pytest

from cluster.model.settings import PREFLIGHT_DEFAULTS, ConfigError, validate


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"


def hosts(**per_host):
    """[(name, groups, data)], each host given a valid role account key and its
    own cluster address unless it sets them."""
    return [
        (name, groups, {"role_account_keys": [KEY], "cluster_address": f"172.30.10.{41 + index}",
                        "network_dns": ["172.30.10.11"], **data})
        for index, (name, (groups, data)) in enumerate(per_host.items())
    ]


def test_defaults_fill_missing_keys():
    settings = validate(hosts(kvm01=(("kvm_nodes",), {"ssh_hostname": "172.30.10.99"})))
    node = settings["kvm01"]
    assert node.data_volume == "/data01"
    assert node.preflight_policy == PREFLIGHT_DEFAULTS
    assert node.iommu_enable is True and node.iommu_passthrough is False


def test_partial_policy_is_merged_with_defaults():
    settings = validate(hosts(kvm01=(("kvm_nodes",), {"preflight_policy": {"cpu_virtualization": "warn"}})))
    assert settings["kvm01"].preflight_policy == {**PREFLIGHT_DEFAULTS, "cpu_virtualization": "warn"}


def test_path_is_normalised():
    settings = validate(hosts(kvm01=(("kvm_nodes",), {"data_volume": "/data01/"})))
    assert settings["kvm01"].data_volume == "/data01"


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("data_volume", "data01", "key 'data_volume' = 'data01': expected an absolute path"),
        ("data_volume", "/", "key 'data_volume' = '/': expected a dedicated path, not /"),
        ("data_volume", 5, "key 'data_volume' = 5: expected an absolute path"),
        ("iommu_passthrough", "yes", "key 'iommu_passthrough' = 'yes': expected true or false"),
        ("preflight_policy", {"cpu": "fail"}, "unknown check 'cpu'; checks are: cpu_virtualization"),
        ("preflight_policy", {"iommu": "ignore"}, "check 'iommu' has policy 'ignore'; expected 'fail' or 'warn'"),
        ("preflight_policy", "warn", "expected a dict of check name to 'fail' or 'warn'"),
        ("iommu_enabled", True, "unknown key 'iommu_enabled' (value True, set in host kvm02): "
                                "did you mean 'iommu_enable'?"),
        ("colour", "blue", "unknown key 'colour' (value 'blue', set in host kvm02); known keys: cluster_network"),
    ],
)
def test_bad_values_name_host_key_value(key, value, expected):
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm02=(("kvm_nodes",), {key: value})))
    message = str(error.value)
    assert "host kvm02" in message
    assert expected in message
    assert "nothing was changed on any host" in message


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        validate(hosts(
            kvm01=(("kvm_nodes",), {"iommu_reboot": "no"}),
            kvm02=(("kvm_nodes",), {"data_volume": "relative"}),
        ))
    assert len(error.value.problems) == 2


def test_connector_and_pyinfra_keys_are_not_ours():
    validate(hosts(kvm01=(("kvm_nodes",), {"ssh_port": 2222, "_sudo": True, "ssh_known_hosts_file": "/x"})))


def test_data_volume_must_match_across_nodes():
    with pytest.raises(ConfigError) as error:
        validate(hosts(
            kvm01=(("kvm_nodes",), {"data_volume": "/data01"}),
            kvm02=(("kvm_nodes",), {"data_volume": "/data02"}),
        ))
    assert "key 'data_volume' differs across kvm_nodes (kvm01=/data01, kvm02=/data02)" in str(error.value)


def test_role_account_defaults():
    node = validate(hosts(kvm01=(("kvm_nodes",), {})))["kvm01"]
    assert (node.role_account, node.role_account_keys, node.role_account_groups, node.role_account_sudo) == (
        "kvm-mgr", (KEY,), ("libvirt", "kvm"), True)


def test_missing_ssh_key_is_refused():
    with pytest.raises(ConfigError) as error:
        validate([("kvm01", ("kvm_nodes",), {})])
    assert "host kvm01: key 'role_account_keys' is missing: expected at least one SSH public key" in str(error.value)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("role_account_keys", [], "key 'role_account_keys' = []: expected at least one SSH public key"),
        ("role_account_keys", ["not a key"], "entry 0 is not an SSH public key"),
        ("role_account", "root", "key 'role_account' = 'root': expected a user name like kvm-mgr"),
        ("role_account", "KVM Manager", "expected a user name like kvm-mgr"),
        ("role_account_groups", "libvirt", "expected a list of group names"),
    ],
)
def test_bad_role_account(key, value, expected):
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), {key: value})))
    assert "host kvm01" in str(error.value) and expected in str(error.value)


def test_every_preflight_check_has_a_default_policy():
    from operations.preflight import CHECKS

    assert set(CHECKS) == set(PREFLIGHT_DEFAULTS)


def test_cluster_address_defaults_to_an_ssh_hostname_inside_the_network():
    settings = validate([("kvm01", ("kvm_nodes",), {"role_account_keys": [KEY], "ssh_hostname": "172.30.10.41",
                                                  "network_dns": ["172.30.10.11"]})])
    assert settings["kvm01"].cluster_address == "172.30.10.41"
    assert settings["kvm01"].cluster_interface == "172.30.10.41/24"


def test_cluster_address_is_required_when_ssh_hostname_is_a_name():
    with pytest.raises(ConfigError) as error:
        validate([("kvm01", ("kvm_nodes",), {"role_account_keys": [KEY], "ssh_hostname": "kvm01.example"})])
    assert ("host kvm01: key 'cluster_address' is missing: ssh_hostname 'kvm01.example' "
            "is not an address in cluster_network 172.30.10.0/24") in str(error.value)


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"cluster_address": "10.1.1.1"}, "host kvm02: key 'cluster_address' = '10.1.1.1': not in cluster_network 172.30.10.0/24"),
        ({"cluster_address": "172.30.10.300"}, "host kvm02: key 'cluster_address' = '172.30.10.300': expected an IPv4 address"),
        ({"cluster_network": "172.30.10.1/24"}, "host kvm02: key 'cluster_network' = '172.30.10.1/24': expected an IPv4 network with its prefix and no host bits"),
    ],
)
def test_bad_cluster_addressing(data, expected):
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), {}), kvm02=(("kvm_nodes",), data)))
    assert expected in str(error.value)


def test_two_hosts_with_one_address_are_refused():
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), {"cluster_address": "172.30.10.50"}),
                       kvm02=(("kvm_nodes",), {"cluster_address": "172.30.10.50"})))
    assert ("key 'cluster_address' = '172.30.10.50' is used by more than one host (kvm01, kvm02)"
            in str(error.value))


def test_a_misspelt_group_is_refused():
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), {}), kvm02=(("kvm_node",), {}), mgmt01=(("masters",), {})))
    assert ("group 'kvm_node' (hosts kvm02) is not a group of this deploy: expected masters, "
            "kvm_nodes, nfs_server") in str(error.value)


def test_own_groups_and_the_inventory_file_group_are_allowed():
    validate(hosts(kvm01=(("kvm_nodes", "rack1", "inventory"), {"custom_groups": ["rack1"]}),
                   kvm02=(("kvm_nodes", "inventory"), {})))


@pytest.mark.parametrize("key, value, expected", [
    ("data_volume", "/var", "key 'data_volume' = '/var': /var is a system directory"),
    ("data_volume", "/var/lib", "key 'data_volume' = '/var/lib': /var/lib is a system directory (or holds one)"),
    ("secondary_mount", "/var/lib/libvirt",
     "key 'secondary_mount' = '/var/lib/libvirt': /var/lib/libvirt is a system directory"),
    ("network_dns", [], "key 'network_dns' = []: expected at least one IPv4 address"),
    ("kvm_sysctl", {"net.ipv4.ip_forward": "1; reboot"},
     "key 'kvm_sysctl' = {'net.ipv4.ip_forward': '1; reboot'}: the value of net.ipv4.ip_forward must be"),
])
def test_values_that_would_hurt_a_host_are_refused(key, value, expected):
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), {key: value})))
    assert f"host kvm01: {expected}" in str(error.value), str(error.value)


@pytest.mark.parametrize("value, expected", [
    ("0.0.0.0/00", "the export is never open to everyone"),
    ("10.0.0.0/8", "reaches beyond cluster_network 172.30.10.0/24"),
])
def test_the_export_stays_inside_the_cluster_network(value, expected):
    with pytest.raises(ConfigError) as error:
        validate(hosts(mgmt01=(("masters", "nfs_server"), {"nfs_export_network": value}),
                       kvm01=(("kvm_nodes",), {})))
    assert expected in str(error.value)


def test_a_multi_word_sysctl_value_is_one_quoted_argument():
    from operations.kvm import sysctl_plan

    settings = validate(hosts(kvm01=(("kvm_nodes",), {"kvm_sysctl": {"net.ipv4.ip_local_port_range": "32768 60999"}})))
    values = settings["kvm01"].kvm_sysctl
    to_set, _ = sysctl_plan(values, {"net.ipv4.ip_local_port_range": {"value": "1024 65000", "writable": True}})
    assert to_set == ["net.ipv4.ip_local_port_range=32768 60999"]


def _probe_with(links, tools=("ifup",), os_release=None):
    return {"os": os_release or {"family": "debian", "id": "debian", "major": 12},
            "interfaces": {"links": links, "default4": {"gateway": "172.30.10.1", "dev": "eth0"},
                           "default6": None, "tools": list(tools), "files": {}, "contents": {},
                           "last_transaction": None}}


def test_host_facts_refuse_data_before_any_change():
    from cluster.steps.network import data_problems

    eth0 = {"kind": "ether", "master": None, "mtu": 1500, "mac": "52:54:00:00:00:01", "up": True,
            "ipv4": ["172.30.10.11/24"], "ipv6": []}
    settings = validate(hosts(mgmt01=(("masters",), {"cluster_address": "172.30.10.12"}),
                              kvm01=(("kvm_nodes",), {"bridge_uplink": "eth9"})))
    assert data_problems(settings["mgmt01"], settings, _probe_with({"eth0": eth0})) == [
        "network: key 'cluster_address' = '172.30.10.12': no interface of this host has this "
        "address (it has: 172.30.10.11/24)"]
    problems = data_problems(settings["kvm01"], settings, _probe_with({"eth0": eth0}))
    assert problems and "key 'bridge_uplink' = 'eth9': no such interface on this host" in problems[0]


def test_a_backend_the_host_cannot_run_is_refused_before_any_change():
    from cluster.steps.network import data_problems

    eth0 = {"kind": "ether", "master": None, "mtu": 1500, "mac": "52:54:00:00:00:01", "up": True,
            "ipv4": ["172.30.10.41/24"], "ipv6": []}
    rhel9 = {"family": "rhel", "id": "rocky", "major": 9, "pretty_name": "Rocky Linux 9.4"}
    settings = validate(hosts(mgmt01=(("masters",), {"cluster_address": "172.30.10.11"}),
                              kvm01=(("kvm_nodes",), {"network_backend": "ifcfg"}),
                              kvm02=(("kvm_nodes",), {"network_backend": "netplan"})))
    assert data_problems(settings["kvm01"], settings, _probe_with({"eth0": eth0}, ["nmcli"], rhel9)) == [
        "network: key 'network_backend' = 'ifcfg': the network-scripts are not installed on Rocky "
        "Linux 9.4, and the deploy does not install them there"]
    problems = data_problems(settings["kvm02"], settings, _probe_with({"eth0": eth0}, ["ifup"]))
    assert problems == ["network: key 'network_backend' = 'netplan': netplan is not installed on "
                        "debian, and the deploy does not install them there"]
    # What the deploy installs itself (ifupdown on Debian) is no problem.
    settings = validate(hosts(mgmt01=(("masters",), {"cluster_address": "172.30.10.11"}),
                              kvm01=(("kvm_nodes",), {"network_backend": "ifupdown"})))
    assert data_problems(settings["kvm01"], settings, _probe_with({"eth0": eth0}, ["nmcli"])) == []
