"""Bad VM manifests are refused by the model, before any host is touched,
naming the host, the key, the entry and what is wrong."""

import pytest

from cluster.model import settings as model
from cluster.model.settings import ConfigError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"
VM1 = {"name": "vm01", "mac": "52:54:00:aa:00:01", "ip": "172.30.10.101"}
VM2 = {"name": "vm02", "mac": "52:54:00:aa:00:02", "ip": "172.30.10.102"}


def validate(mgmt02=None, **common):
    data = {"role_account_keys": [KEY], **common}
    everywhere = {key: "all" for key in data}  # as group_data/all.py gives them
    return model.validate([
        ("mgmt01", ("masters",), {**data, "cluster_address": "172.30.10.11"}, everywhere),
        ("mgmt02", ("masters",), {**data, "cluster_address": "172.30.10.12", **(mgmt02 or {})}, everywhere),
        ("kvm01", ("kvm_nodes",), {**data, "cluster_address": "172.30.10.41"}, everywhere),
    ])


def problems(**kwargs) -> str:
    with pytest.raises(ConfigError) as error:
        validate(**kwargs)
    message = str(error.value)
    assert "nothing was changed on any host" in message
    return message


@pytest.mark.parametrize(
    "vms, expected",
    [
        ([VM1, {**VM2, "ip": VM1["ip"]}],
         "key 'vms' = [{'name': 'vm01', "),
        ([VM1, {**VM2, "ip": VM1["ip"]}],
         "entry 1 ('vm02') has the ip '172.30.10.101' of entry 0 ('vm01'): expected each ip once"),
        ([VM1, {**VM2, "mac": "52:54:00:AA:00:01"}],
         "entry 1 ('vm02') has the mac '52:54:00:aa:00:01' of entry 0 ('vm01')"),
        ([VM1, {**VM2, "name": "VM01"}],
         "entry 1 ('vm01') has the name 'vm01' of entry 0 ('vm01')"),
        ([VM1, {**VM2, "mac": "52:54:00:aa:00"}],
         "entry 1 ('vm02'): mac '52:54:00:aa:00': expected a MAC address like 52:54:00:1e:0a:29"),
        ([VM1, {**VM2, "mac": "01:00:5e:00:00:01"}],
         "entry 1 ('vm02'): mac '01:00:5e:00:00:01': expected a unicast MAC address"),
        ([{**VM1, "ip": "172.30.10.300"}],
         "entry 0 ('vm01'): ip '172.30.10.300': expected an IPv4 address"),
        ([{**VM1, "name": "vm_01"}],
         "entry 0 ('vm_01'): name 'vm_01': expected a host name"),
        ([{"name": "vm01", "ip": "172.30.10.101"}],
         "entry 0 ('vm01') has no mac: expected name, mac and ip"),
        (["vm01"], "entry 0 ('vm01') is not a mapping with name, mac and ip"),
        ({"vm01": VM1}, "expected a list of {name, mac, ip} or the path of a JSON manifest file"),
    ],
)
def test_bad_manifest_entries(vms, expected):
    message = problems(vms=vms)
    # Written for every host (all), the value is named once, with where it was set.
    assert "key 'vms' = " in message and " (set in all): " in message
    assert expected in message


@pytest.mark.parametrize(
    "vm, expected",
    [
        ({**VM1, "ip": "10.0.0.5"},
         "host mgmt01: key 'vms' entry 0 ('vm01'): ip '10.0.0.5' is outside cluster_network "
         "172.30.10.0/24 (the DHCP subnet)"),
        ({**VM1, "ip": "172.30.10.255"},
         "ip '172.30.10.255' is the network or broadcast address of 172.30.10.0/24"),
        ({**VM1, "ip": "172.30.10.41"},
         "host mgmt01: key 'vms' entry 0 ('vm01'): ip '172.30.10.41' is the cluster address of host kvm01"),
        ({**VM1, "name": "kvm01"},
         "host mgmt01: key 'vms' entry 0 ('kvm01'): name 'kvm01' is the cluster host kvm01's"),
    ],
)
def test_manifest_against_the_cluster(vm, expected):
    assert expected in problems(vms=[vm])


def test_missing_manifest_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = problems(vms="vms.json")
    assert "key 'vms' = 'vms.json' (set in all): the VM manifest file " in message
    assert f"{tmp_path}/vms.json' does not exist" in message


def test_manifest_file_not_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vms.json").write_text("vms:\n  - name: vm01\n")
    message = problems(vms="vms.json")
    assert "key 'vms' = 'vms.json' (set in all): the VM manifest file 'vms.json' is not JSON (" in message


def test_manifest_file_wrong_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vms.json").write_text('[{"name": "vm01"}]')
    assert "is not shaped {\"vms\": [{\"name\", \"mac\", \"ip\"}, ...]}" in problems(vms="vms.json")


def test_manifest_file_entry_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vms.json").write_text('{"vms": [{"name": "vm01", "mac": "zz", "ip": "172.30.10.9"}]}')
    assert "key 'vms' = 'vms.json' (set in all): entry 0 ('vm01'): mac 'zz'" in problems(vms="vms.json")


def test_masters_must_agree():
    message = problems(vms=[VM1], mgmt02={"vms": [VM1, VM2]})
    assert "key 'vms' differs across masters (mgmt01=" in message
    assert "expected the same value on both" in message


def test_router_outside_the_network():
    assert "host mgmt01: key 'dhcp_router' = '10.0.0.1': not in cluster_network 172.30.10.0/24" in problems(
        dhcp_router="10.0.0.1")


def test_bad_ntp_servers_and_switch():
    message = problems(ntp_servers=["pool.ntp.org", "bad name"], ntp_set_clock="no")
    assert "key 'ntp_servers' = ['pool.ntp.org', 'bad name'] (set in all): entry 1 ('bad name') is not a host name" in message
    assert "key 'ntp_set_clock' = 'no' (set in all): expected true or false" in message


def test_a_good_manifest_passes():
    settings = validate(vms=[VM1, VM2], ntp_servers=["0.debian.pool.ntp.org", "192.0.2.10"])
    assert [vm.name for vm in settings["mgmt02"].vms] == ["vm01", "vm02"]
    assert settings["kvm01"].ntp_set_clock is True
    assert settings["kvm01"].dns_upstream == ()


def test_no_masters_no_rules():
    # An inventory without masters (other tests, a --limit-free subset) stays
    # valid: the manifest's rules (VMs inside the DHCP subnet) act on masters only.
    vms = [{**VM1, "ip": "10.0.0.1"}]
    settings = model.validate([("kvm01", ("kvm_nodes",), {
        "role_account_keys": [KEY], "cluster_address": "172.30.10.41", "network_dns": ["10.0.0.53"],
        "vms": vms}, {"vms": "all"})])
    assert [vm.ip for vm in settings["kvm01"].vms] == ["10.0.0.1"]
    # Written for the node itself, the same manifest would act on nothing: refused.
    with pytest.raises(ConfigError) as error:
        model.validate([("kvm01", ("kvm_nodes",), {
            "role_account_keys": [KEY], "cluster_address": "172.30.10.41", "network_dns": ["10.0.0.53"],
            "vms": vms})])
    assert "key 'vms' = " in str(error.value)
    assert "set in host kvm01, does nothing on kvm01: it acts on masters" in str(error.value)