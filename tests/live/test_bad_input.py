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
     "key 'cluster_network' = '172.30.10.1/24' (set in all): expected an IPv4 network"),
    ("bridge-prefix-out-of-range", {"kvm01": {"bridge_address": "172.30.10.41/33"}}, {}, "",
     "host kvm01: key 'bridge_address' = '172.30.10.41/33': expected an IPv4 address with its prefix"),
    ("gateway-outside-subnet", {"kvm01": {"bridge_gateway": "10.1.1.1"}}, {}, "",
     "host kvm01: key 'bridge_gateway' = '10.1.1.1': outside br0's subnet 172.30.10.0/24"),
    ("bond-without-members", {"kvm01": {"bond_enable": True, "bond_members": []}}, {}, "",
     "host kvm01: key 'bond_members' = []: bond bond0 needs at least one member interface"),
    ("unknown-key", {"kvm01": {"iommu_enabled": True}}, {}, "",
     "host kvm01: unknown key 'iommu_enabled' (value True, set in host kvm01): did you mean 'iommu_enable'?"),
    ("wrong-type", {}, {"kvm_nodes": "iommu_reboot = 'yes'"}, "",
     "key 'iommu_reboot' = 'yes': expected true or false"),
    ("relative-data-volume", {}, {"kvm_nodes": "data_volume = 'data01'"}, "",
     "key 'data_volume' = 'data01': expected an absolute path"),
    ("data-volume-differs", {"kvm02": {"data_volume": "/data02"}}, {}, "",
     "key 'data_volume' differs across kvm_nodes"),
    ("relative-pool-path", {}, {"kvm_nodes": "primary_pool_path = 'primary'"}, "",
     "key 'primary_pool_path' = 'primary': expected an absolute path"),
    ("pool-path-differs", {"kvm03": {"primary_pool_path": "/data01/other"}}, {}, "",
     "key 'primary_pool_path' differs across hosts"),
    ("pool-name-clash", {}, {"all": "secondary_pool_name = 'default'"}, "",
     "key 'secondary_pool_name' = 'default' is also primary_pool_name"),
    ("export-to-the-world", {}, {"nfs_server": "nfs_export_network = '*'"}, "",
     "key 'nfs_export_network' = '*': the export is never open to everyone"),
    ("export-misses-clients", {}, {"nfs_server": "nfs_export_network = '10.9.0.0/24'"}, "",
     "does not contain the NFS clients"),
    ("unknown-group", {}, {}, "kvm_node = [kvm_nodes[0][0]]",
     "group 'kvm_node' (hosts kvm01) is not a group of this deploy"),
    ("missing-ssh-key", {"mgmt02": {"role_account_keys": []}}, {}, "",
     "host mgmt02: key 'role_account_keys' = []: expected at least one SSH public key"),
    ("malformed-ssh-key", {"mgmt02": {"role_account_keys": ["ssh-ed25519 not-base64!"]}}, {}, "",
     "host mgmt02: key 'role_account_keys' = ['ssh-ed25519 not-base64!']: entry 0 is not an SSH public "
     "key: its key data does not decode (cut short or damaged)"),
    ("malformed-mac", {}, {"all": f"vms = [{json.dumps({**VM, 'mac': '52:54:00:zz:00:01'})}]"}, "",
     "entry 0 ('vm01'): mac '52:54:00:zz:00:01': expected a MAC address like 52:54:00:1e:0a:29"),
    ("duplicate-vm-ip", {}, {"all": f"vms = [{json.dumps(VM)}, {json.dumps({**VM, 'name': 'vm02', 'mac': '52:54:00:aa:00:02'})}]"}, "",
     "entry 1 ('vm02') has the ip '172.30.10.101' of entry 0 ('vm01'): expected each ip once"),
    ("duplicate-vm-name", {}, {"all": f"vms = [{json.dumps(VM)}, {json.dumps({**VM, 'ip': '172.30.10.102', 'mac': '52:54:00:aa:00:02'})}]"}, "",
     "entry 1 ('vm01') has the name 'vm01' of entry 0 ('vm01'): expected each name once"),
    ("vm-outside-dhcp-subnet", {}, {"all": f"vms = [{json.dumps({**VM, 'ip': '10.0.0.9'})}]"}, "",
     "key 'vms' entry 0 ('vm01'): ip '10.0.0.9' is outside cluster_network 172.30.10.0/24 (the DHCP subnet)"),
    ("manifest-file-missing", {}, {"all": "vms = '/nonexistent/vms.json'"}, "",
     "key 'vms' = '/nonexistent/vms.json' (set in all): the VM manifest file '/nonexistent/vms.json' does not exist"),
    # Values that land in files: matched whole, no invisible characters, no whitespace where it splits.
    ("newline-in-export-path", {}, {"nfs_server": r"nfs_export_path = '/data01/secondary\n/ *(rw,no_root_squash)'"}, "",
     r"host mgmt01: key 'nfs_export_path' = '/data01/secondary\n/ *(rw,no_root_squash)': holds an invisible character (\n)"),
    ("space-in-export-path", {}, {"nfs_server": "nfs_export_path = '/data01/sec ondary'"}, "",
     "host mgmt01: key 'nfs_export_path' = '/data01/sec ondary': a path with whitespace"),
    # Addresses that must be usable.
    ("cluster-network-the-internet", {}, {"all": "cluster_network = '0.0.0.0/0'"}, "",
     "key 'cluster_network' = '0.0.0.0/0' (set in all): a /0 reaches far beyond any cluster"),
    ("host-on-the-broadcast-address", {"kvm02": {"cluster_address": "172.30.10.255"}}, {}, "",
     "host kvm02: key 'cluster_address' = '172.30.10.255': the broadcast address of 172.30.10.0/24"),
    ("bridge-prefix-disagrees", {"kvm01": {"bridge_address": "172.30.10.41/16"}}, {}, "",
     "host kvm01: key 'bridge_address' = '172.30.10.41/16': its prefix /16 disagrees with cluster_network"),
    ("upstream-is-a-master", {}, {"masters": "dns_upstream = ['172.30.10.12']"}, "",
     "172.30.10.12 is a master itself (mgmt02): the masters would forward to each other"),
    # Keys that do nothing where they are written.
    ("group-data-file-for-no-group", {}, {"master": "dns_upstream = ['9.9.9.9']"}, "",
     "group_data for group 'master' (keys dns_upstream) applies to no host: no host is in group "
     "'master'; did you mean 'masters'?"),
    ("vm-manifest-in-kvm-nodes", {}, {"kvm_nodes": f"vms = [{json.dumps(VM)}]"}, "",
     "set in group kvm_nodes, does nothing on kvm01, kvm02, kvm03, kvm04: it acts on masters"),
    ("domain-differs-between-hosts", {"kvm01": {"cluster_domain": "other.lan"}}, {}, "",
     "key 'cluster_domain' differs across the hosts it acts on ("),
    ("bond-members-without-a-bond", {"kvm01": {"bond_members": ["eth0"]}}, {}, "",
     "host kvm01: key 'bond_members' = ['eth0'], set in host kvm01, does nothing: bond_enable is false"),
    # Credentials, parsed.
    ("truncated-ssh-key", {"mgmt02": {"role_account_keys": [KEY[:50]]}}, {}, "",
     "entry 0 is not an SSH public key: its key data does not decode (cut short or damaged)"),
    ("private-key-as-certificate", {"kvm01": {"libvirt_tls": True, "libvirt_tls_ca_cert": "{tmp}/ca.pem",
                                              "libvirt_tls_server_cert": "{tmp}/server-key.pem",
                                              "libvirt_tls_server_key": "{tmp}/server-key.pem"}}, {}, "",
     "key 'libvirt_tls_server_cert' = '{tmp}/server-key.pem': holds a PRIVATE KEY where a certificate belongs"),
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
    # The files a case names ({tmp}/...): a CA certificate and a private key.
    from tests.pki import certificate, new_key, pem

    ca_key = new_key()
    (tmp_path / "ca.pem").write_text(pem(certificate("CA", ca_key, "CA", ca_key, ca=True)))
    (tmp_path / "server-key.pem").write_text(pem(key=new_key()))
    host_data = json.loads(json.dumps(host_data).replace("{tmp}", str(tmp_path)))
    expected = expected.replace("{tmp}", str(tmp_path))
    (tmp_path / "inventory.py").write_text(
        INVENTORY.format(root=str(ROOT), host_data=repr(host_data), extra=extra))
    # The case's group_data is loaded last, over the lab's (lab/group_data), as
    # pyinfra loads every --group-data directory in the order given.
    (tmp_path / "case_data").mkdir()
    for group, text in group_data.items():
        (tmp_path / "case_data" / f"{group}.py").write_text(text + "\n")
    # The lab's settings (lab/group_data) as the lab inventory gets them.
    run = pyinfra("-y", str(tmp_path / "inventory.py"), "deploy.py",
                  "--group-data", str(ROOT / "lab" / "group_data"),
                  "--group-data", str(tmp_path / "case_data"))
    assert run.returncode != 0, run.output
    assert "invalid configuration (nothing was changed on any host)" in run.output, run.output
    assert expected in run.output, run.output
    assert "BEGIN" not in run.output  # no key or certificate is ever shown
    assert etc_checksums() == etc_before, f"{case}: a host's /etc changed"

