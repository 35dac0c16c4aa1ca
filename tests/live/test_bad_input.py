"""Bad input, live: malformed inventories and group_data files are refused
before any host is touched, with a message naming the key and the value.

Each case is a real pyinfra run against the lab with a broken inventory or
group_data file (written to a temporary directory next to a copy of the lab
inventory); every host's /etc is checksummed before and after.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from .conftest import ROOT, etc_checksums, pyinfra

# A copy of the lab inventory that a case can extend (extra groups, per-host data).
INVENTORY = textwrap.dedent('''
    import json, os, sys
    sys.path.insert(0, {root!r})
    os.environ["KVMLAB_HOST_DATA"] = json.dumps({host_data})
    from lab.inventory import masters, kvm_nodes, nfs_server  # noqa: E402
    {extra}
''')

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"
VM = {"name": "vm01", "mac": "52:54:00:aa:00:01", "ip": "172.30.10.101"}

# (case id, per-host data, group_data files, extra inventory lines, expected text)
CASES = [
    ("address-outside-network", {"kvm01": {"cluster_address": "10.0.0.5"}}, {}, "",
     "host kvm01: key 'cluster_address' = '10.0.0.5': not in cluster_network 172.30.10.0/24"),
    ("address-malformed", {"kvm01": {"cluster_address": "172.30.10.256"}}, {}, "",
     "host kvm01: key 'cluster_address' = '172.30.10.256': expected an IPv4 address"),
    ("two-hosts-one-address", {"kvm02": {"cluster_address": "172.30.10.41"}}, {}, "",
     "key 'cluster_address' = '172.30.10.41' is used by more than one host (kvm01, kvm02)"),
    ("network-with-host-bits", {}, {"all": "cluster_network = '172.30.10.1/24'"}, "",
     "key 'cluster_network' = '172.30.10.1/24': expected an IPv4 network"),
    ("bridge-prefix-out-of-range", {"kvm01": {"bridge_address": "172.30.10.41/33"}}, {}, "",
     "host kvm01: key 'bridge_address' = '172.30.10.41/33'"),
    ("gateway-outside-subnet", {"kvm01": {"bridge_gateway": "10.1.1.1"}}, {}, "",
     "host kvm01: key 'bridge_gateway' = '10.1.1.1'"),
    ("bond-without-members", {"kvm01": {"bond_enable": True, "bond_members": []}}, {}, "",
     "host kvm01: key 'bond_members'"),
    ("unknown-key", {"kvm01": {"iommu_enabled": True}}, {}, "",
     "host kvm01: unknown key 'iommu_enabled' (value True)"),
    ("wrong-type", {}, {"kvm_nodes": "iommu_reboot = 'yes'"}, "",
     "key 'iommu_reboot' = 'yes': expected true or false"),
    ("relative-data-volume", {}, {"kvm_nodes": "data_volume = 'data01'"}, "",
     "key 'data_volume' = 'data01': expected an absolute path"),
    ("data-volume-differs", {"kvm02": {"data_volume": "/data02"}}, {}, "",
     "key 'data_volume' differs across kvm_nodes"),
    ("relative-pool-path", {}, {"kvm_nodes": "primary_pool_path = 'primary'"}, "",
     "key 'primary_pool_path' = 'primary'"),
    ("pool-path-differs", {"kvm03": {"primary_pool_path": "/data01/other"}}, {}, "",
     "key 'primary_pool_path' differs across hosts"),
    ("pool-name-clash", {}, {"all": "secondary_pool_name = 'default'"}, "",
     "key 'secondary_pool_name' = 'default' is also primary_pool_name"),
    ("export-to-the-world", {}, {"nfs_server": "nfs_export_network = '*'"}, "",
     "key 'nfs_export_network' = '*'"),
    ("export-misses-clients", {}, {"nfs_server": "nfs_export_network = '10.9.0.0/24'"}, "",
     "does not contain the NFS clients"),
    ("unknown-group", {}, {}, "kvm_node = [kvm_nodes[0][0]]",
     "group 'kvm_node' (hosts kvm01) is not a group of this deploy"),
    ("missing-ssh-key", {"mgmt02": {"role_account_keys": []}}, {}, "",
     "host mgmt02: key 'role_account_keys' = []: expected at least one SSH public key"),
    ("malformed-ssh-key", {"mgmt02": {"role_account_keys": ["ssh-ed25519 not-base64!"]}}, {}, "",
     "host mgmt02: key 'role_account_keys' = ['ssh-ed25519 not-base64!']: entry 0 is not an SSH public key"),
    ("malformed-mac", {}, {"all": f"vms = [{json.dumps({**VM, 'mac': '52:54:00:zz:00:01'})}]"}, "",
     "52:54:00:zz:00:01"),
    ("duplicate-vm-ip", {}, {"all": f"vms = [{json.dumps(VM)}, {json.dumps({**VM, 'name': 'vm02', 'mac': '52:54:00:aa:00:02'})}]"}, "",
     "172.30.10.101"),
    ("duplicate-vm-name", {}, {"all": f"vms = [{json.dumps(VM)}, {json.dumps({**VM, 'ip': '172.30.10.102', 'mac': '52:54:00:aa:00:02'})}]"}, "",
     "vm01"),
    ("vm-outside-dhcp-subnet", {}, {"all": f"vms = [{json.dumps({**VM, 'ip': '10.0.0.9'})}]"}, "",
     "10.0.0.9"),
    ("manifest-file-missing", {}, {"all": "vms = '/nonexistent/vms.json'"}, "",
     "/nonexistent/vms.json"),
    ("bad-preflight-policy", {"kvm03": {"preflight_policy": {"iommu": "ignore"}}}, {}, "",
     "host kvm03: key 'preflight_policy' = {'iommu': 'ignore'}: check 'iommu' has policy 'ignore'"),
    ("confirm-timeout-not-a-number", {"kvm01": {"network_confirm_timeout": "60s"}}, {}, "",
     "host kvm01: key 'network_confirm_timeout' = '60s'"),
]


@pytest.fixture(scope="module")
def etc_before(lab_up):
    return etc_checksums()


@pytest.mark.parametrize("case, host_data, group_data, extra, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_change(etc_before, tmp_path, case, host_data, group_data,
                                                extra, expected):
    (tmp_path / "inventory.py").write_text(
        INVENTORY.format(root=str(ROOT), host_data=repr(host_data), extra=extra))
    if group_data:
        (tmp_path / "group_data").mkdir()
        for group, text in group_data.items():
            (tmp_path / "group_data" / f"{group}.py").write_text(text + "\n")
    run = pyinfra("-y", str(tmp_path / "inventory.py"), "deploy.py")
    assert run.returncode != 0, run.output
    assert "invalid configuration (nothing was changed on any host)" in run.output, run.output
    assert expected in run.output, run.output
    assert etc_checksums() == etc_before, f"{case}: a host's /etc changed"

