"""The model's rules against input that would break a host after other steps
changed it, or quietly do something else: every string checked as the file it
lands in reads it, addresses that must be usable, keys that do nothing where
they are written, keys that must be one value for the whole cluster, SSH keys
parsed. Each refusal names the host, the key, the value as written, and why."""

from __future__ import annotations

import base64

import pytest

from cluster.model.settings import ConfigError, validate

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"


def cluster(per_host=None, everywhere=None, groups=None):
    """mgmt01 (masters, nfs_server), mgmt02 (masters), kvm01, kvm02 (kvm_nodes):
    ``everywhere`` as group_data/all.py gives it, ``groups`` ({group: data}) as
    group_data/<group>.py, ``per_host`` ({host: data}) as the inventory."""
    layout = {"mgmt01": (("masters", "nfs_server"), "172.30.10.11"),
              "mgmt02": (("masters",), "172.30.10.12"),
              "kvm01": (("kvm_nodes",), "172.30.10.41"),
              "kvm02": (("kvm_nodes",), "172.30.10.42")}
    rows = []
    for name, (host_groups, address) in layout.items():
        data = {"role_account_keys": [KEY], "cluster_address": address}
        sources = {"role_account_keys": "all", "cluster_address": f"host {name}"}
        for key, value in (everywhere or {}).items():
            data[key], sources[key] = value, "all"
        for group in host_groups:
            for key, value in (groups or {}).get(group, {}).items():
                data[key], sources[key] = value, f"group {group}"
        for key, value in (per_host or {}).get(name, {}).items():
            data[key], sources[key] = value, f"host {name}"
        rows.append((name, host_groups, data, sources))
    return rows


def refused(**kwargs) -> str:
    with pytest.raises(ConfigError) as error:
        validate(cluster(**kwargs))
    message = str(error.value)
    assert "nothing was changed on any host" in message
    return message


def test_the_example_cluster_is_valid():
    settings = validate(cluster())
    assert settings["kvm01"].cluster_address == "172.30.10.41"


# -- values that land in files --------------------------------------------------

@pytest.mark.parametrize("key, value, shown", [
    ("nfs_export_path", "/data01/secondary\n", r"'/data01/secondary\n'"),
    ("cluster_domain", "cluster.lan\n", r"'cluster.lan\n'"),
    ("libvirt_uri_default", "qemu:///system\n", r"'qemu:///system\n'"),
    ("ntp_servers", ["pool.ntp.org\t"], r"['pool.ntp.org\t']"),
    ("vms", [{"name": "vm01", "mac": "52:54:00:aa:00:01\n", "ip": "172.30.10.101"}], r"52:54:00:aa:00:01\n"),
    ("cluster_domain", "cluster\u200b.lan", r"'cluster\u200b.lan'"),
])
def test_an_invisible_character_anywhere_is_refused_and_shown_escaped(key, value, shown):
    message = refused(everywhere={key: value})
    assert f"key {key!r} = " in message and shown in message, message
    assert "holds an invisible character" in message


@pytest.mark.parametrize("key, value, expected", [
    ("nfs_export_path", "/data01/sec ondary", "a path with whitespace"),
    ("secondary_mount", "/secondary pool", "a path with whitespace"),
    ("cluster_domain", "cluster lan", "expected a DNS domain like cluster.lan"),
    ("libvirt_uri_default", "qemu:///system extra", "expected a libvirt URI"),
    ("ntp_servers", ["pool ntp org"], "is not a host name or IPv4 address"),
    ("role_account", "kvm-mgr ", "expected a user name"),
])
def test_whitespace_where_the_file_splits_on_it_is_refused(key, value, expected):
    message = refused(everywhere={key: value})
    assert f"key {key!r} = {value!r}" in message and expected in message, message


# -- addresses ------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, expected", [
    ({"everywhere": {"cluster_network": "0.0.0.0/0"}},
     "key 'cluster_network' = '0.0.0.0/0' (set in all): a /0 reaches far beyond any cluster"),
    ({"everywhere": {"cluster_network": "127.0.0.0/8"}}, "a loopback network"),
    ({"per_host": {"kvm01": {"cluster_address": "172.30.10.0"}}},
     "host kvm01: key 'cluster_address' = '172.30.10.0': the network address of 172.30.10.0/24"),
    ({"per_host": {"kvm01": {"cluster_address": "172.30.10.255"}}},
     "host kvm01: key 'cluster_address' = '172.30.10.255': the broadcast address of 172.30.10.0/24"),
    ({"per_host": {"kvm01": {"bridge_address": "172.30.10.41/25"}}},
     "host kvm01: key 'bridge_address' = '172.30.10.41/25': its prefix /25 disagrees with "
     "cluster_network 172.30.10.0/24: expected 172.30.10.41/24"),
    ({"per_host": {"kvm01": {"bridge_gateway": "172.30.10.255"}}},
     "host kvm01: key 'bridge_gateway' = '172.30.10.255': the broadcast address of 172.30.10.0/24"),
    ({"groups": {"masters": {"dhcp_router": "172.30.10.0"}}},
     "key 'dhcp_router' = '172.30.10.0': the network address of 172.30.10.0/24"),
    ({"groups": {"masters": {"dhcp_router": "172.30.10.41"}}},
     "key 'dhcp_router' = '172.30.10.41': is the cluster address of host kvm01"),
    ({"groups": {"masters": {"dhcp_router": "172.30.10.1",
                             "vms": [{"name": "vm01", "mac": "52:54:00:aa:00:01", "ip": "172.30.10.1"}]}}},
     "key 'vms' entry 0 ('vm01'): ip '172.30.10.1' is dhcp_router, the VMs' gateway"),
])
def test_addresses_must_be_usable_where_they_act(kwargs, expected):
    assert expected in refused(**kwargs)


def test_ipv6_gets_the_checks_ipv4_has():
    static = {"network_ipv6": "static"}
    message = refused(per_host={
        "kvm01": {**static, "network_ipv6_address": "2001:db8::41/64", "network_ipv6_gateway": "2001:db9::1"},
        "kvm02": {**static, "network_ipv6_address": "2001:db8::41/64"},
    })
    assert ("host kvm01: key 'network_ipv6_gateway' = '2001:db9::1': outside br0's prefix "
            "2001:db8::/64") in message
    assert ("key 'network_ipv6_address' = '2001:db8::41/64': address 2001:db8::41 is used by more "
            "than one host (kvm01, kvm02)") in message
    anycast = refused(per_host={"kvm01": {**static, "network_ipv6_address": "2001:db8::/64"}})
    assert "the subnet-router anycast address of 2001:db8::/64" in anycast
    # A link-local gateway (as routers advertise themselves) is fine.
    validate(cluster(per_host={"kvm01": {**static, "network_ipv6_address": "2001:db8::41/64",
                                         "network_ipv6_gateway": "fe80::1"}}))


def test_upstream_resolvers_that_are_the_masters_are_refused():
    message = refused(groups={"masters": {"dns_upstream": ["172.30.10.12", "9.9.9.9"]}})
    assert ("host mgmt01: key 'dns_upstream' = ['172.30.10.12', '9.9.9.9']: 172.30.10.12 is a master "
            "itself (mgmt02): the masters would forward to each other") in message


# -- keys that do nothing where they are written ----------------------------------

def test_a_key_written_for_a_group_where_it_acts_on_nothing_is_refused():
    vms = [{"name": "vm01", "mac": "52:54:00:aa:00:01", "ip": "172.30.10.101"}]
    message = refused(groups={"kvm_nodes": {"vms": vms}})
    assert "key 'vms' = " in message
    assert "set in group kvm_nodes, does nothing on kvm01, kvm02: it acts on masters" in message
    export = refused(per_host={"kvm02": {"nfs_export_options": ["ro"]}})
    assert "set in host kvm02, does nothing on kvm02: it acts on nfs_server" in export
    # Written in all (group_data/all.py), a key is a default for everyone.
    validate(cluster(everywhere={"vms": vms, "nfs_export_options": ["ro"]}))


def test_a_bridge_key_on_a_host_without_the_bridge_is_refused():
    message = refused(per_host={"mgmt02": {"bridge_uplink": "eno1"}})
    assert ("key 'bridge_uplink' = 'eno1', set in host mgmt02, does nothing on mgmt02: it acts on "
            "the hosts with br0") in message
    validate(cluster(per_host={"mgmt02": {"bridge_enable": True, "bridge_uplink": "eno1"}}))


@pytest.mark.parametrize("data, expected", [
    ({"bond_members": ["eno1", "eno2"]},
     "key 'bond_members' = ['eno1', 'eno2'], set in host kvm01, does nothing: bond_enable is false"),
    ({"network_ipv6_address": "2001:db8::41/64"},
     "key 'network_ipv6_address' = '2001:db8::41/64', set in host kvm01, does nothing: "
     "network_ipv6 is 'auto', not 'static'"),
    ({"bond_enable": True, "bond_members": ["eno1"], "bridge_uplink": "eno1"},
     "key 'bridge_uplink' = 'eno1', set in host kvm01, does nothing: bond_enable is true"),
])
def test_a_key_that_only_acts_with_another_is_refused_alone(data, expected):
    assert f"host kvm01: {expected}" in refused(per_host={"kvm01": data})


@pytest.mark.parametrize("key, first, second", [
    ("cluster_domain", "cluster.lan", "other.lan"),
    ("nfs_idmap_domain", "cluster.lan", "other.lan"),
    ("role_account", "kvm-mgr", "kvm-admin"),
])
def test_a_cluster_wide_key_may_not_differ_between_hosts(key, first, second):
    message = refused(per_host={"kvm01": {key: first}, "kvm02": {key: second}})
    assert f"key {key!r} differs across the hosts it acts on (" in message
    assert f"kvm01={first!r} (host kvm01)" in message and f"kvm02={second!r} (host kvm02)" in message
    assert "expected one value for the whole cluster" in message


def test_a_group_data_file_for_no_group_is_refused():
    from pyinfra.api import Inventory

    from cluster.model.settings import unused_group_data

    inventory = Inventory((["mgmt01", "kvm01"], {}), masters=(["mgmt01"], {}), kvm_nodes=(["kvm01"], {}),
                          master=([], {"dns_upstream": ["9.9.9.9"]}))
    assert unused_group_data(inventory) == [
        "group_data for group 'master' (keys dns_upstream) applies to no host: no host is in "
        "group 'master'; did you mean 'masters'?"]


# -- credentials ----------------------------------------------------------------------

def _blob(*fields: bytes) -> str:
    return base64.b64encode(b"".join(len(f).to_bytes(4, "big") + f for f in fields)).decode()


@pytest.mark.parametrize("key, expected", [
    (KEY[:60], "its key data does not decode (cut short or damaged)"),
    ("ssh-ed25519 " + _blob(b"ssh-ed25519", b"x" * 31), "the key data is cut short or damaged"),
    ("ssh-ed25519 " + _blob(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 256),
     "its data names the type 'ssh-rsa', not 'ssh-ed25519'"),
    ("ssh-rsa " + _blob(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 128),
     "an RSA key of 1024 bits: expected at least 2048"),
    ("ssh-dss " + _blob(b"ssh-dss", b"x"), "expected an SSH public key line 'TYPE DATA [COMMENT]', "
                                           "TYPE one of ssh-ed25519"),
])
def test_ssh_public_keys_are_parsed_not_pattern_matched(key, expected):
    message = refused(everywhere={"role_account_keys": [key]})
    assert "key 'role_account_keys' = " in message
    assert f"entry 0 is not an SSH public key: {expected}" in message, message


def test_a_whole_rsa_key_passes():
    key = "ssh-rsa " + _blob(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 256) + " admin@mgmt01"
    assert validate(cluster(everywhere={"role_account_keys": [key]}))["kvm01"].role_account_keys == (key,)


def test_every_pattern_matches_the_whole_string():
    """``re.match`` with ``$`` also matches before a final newline: each
    validator must refuse a value with one, even called on its own."""
    from cluster.model import kvm as config_kvm
    from cluster.model import storage as config_storage
    from cluster.model import fields as f
    from cluster.model.fields import Invalid

    cases = [(f.hostname, "vm01\n"), (f.domain_name, "cluster.lan\n"), (f.mac_address, "52:54:00:aa:00:01\n"),
             (f.interface_name, "eth0\n"), (f.account_name, "kvm-mgr\n"), (f.group_names, ["libvirt\n"]),
             (f.public_key, KEY + "\n\nssh-ed25519 AAAA"), (config_storage.pool_name, "default\n"),
             (config_storage.mount_options, ["hard\n"]), (config_storage.export_options, ["sec=sys\n"]),
             (config_kvm._uri, "qemu:///system\n"), (config_kvm._packages, ["qemu-utils\n"]),
             (config_kvm._sysctl, {"net.ipv4.ip_forward\n": 1}), (f.absolute_path, "/data01\n")]
    for check, value in cases:
        with pytest.raises(Invalid):
            check(value)


def test_the_configuration_reference_is_the_models():
    from cluster.model import reference

    assert reference.DOCUMENT.read_text() == reference.render(), \
        "docs/configuration.md differs from the model: run python -m cluster.model.reference"


def test_every_key_says_its_default_and_where_it_acts():
    from cluster.model.settings import FIELDS

    for spec in FIELDS:
        assert spec.help and spec.where, spec.key
        if isinstance(spec.default, (str, int)) and not isinstance(spec.default, bool):
            assert str(spec.default) in (spec.shown_default or str(spec.default)), spec.key
        if isinstance(spec.default, bool):
            assert spec.shown_default == f"`{spec.default}`", spec.key


# -- derived values, resolved once -----------------------------------------------------

def test_each_derived_value_is_resolved_once_by_the_model():
    settings = validate(cluster(
        per_host={"kvm02": {"bridge_address": "172.30.10.99/24"}, "mgmt02": {"bridge_enable": True}},
        groups={"nfs_server": {"nfs_export_network": "172.30.10.0/25"}}))
    node, other, master, server = (settings[n] for n in ("kvm01", "kvm02", "mgmt02", "mgmt01"))
    assert (node.bridged, node.bridge_cidr) == (True, "172.30.10.41/24")
    assert (other.bridged, other.bridge_cidr) == (True, "172.30.10.99/24")
    assert (master.bridged, master.bridge_cidr) == (True, "172.30.10.12/24")
    assert (server.bridged, server.bridge_cidr) == (False, None)
    assert node.resolvers == node.masters == ("172.30.10.11", "172.30.10.12")
    assert node.search_domain == node.idmap_domain == "cluster.lan"
    assert server.export_network == "172.30.10.0/25" and node.export_network is None


def test_the_report_checks_br0_against_the_address_br0_carries():
    from report.summary import bridge_problem, bridge_state

    other = validate(cluster(per_host={"kvm02": {"bridge_address": "172.30.10.99/24"}}))["kvm02"]
    found = bridge_state(other, {"interfaces": {"links": {"br0": {"ipv4": ["172.30.10.99/24"]}}}})
    assert bridge_problem(other, found) is None
    assert bridge_problem(other, "br0 172.30.10.42/24") == \
        "bridge: expected br0 172.30.10.99/24, found br0 172.30.10.42/24"
