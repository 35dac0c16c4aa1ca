"""Storage, live: the primary pool seen through libvirt-python over SSH, the
NFS export (Ganesha in the lab, lab/inventory.py sets nfs_backend) read from
every KVM node, and the kernel-mount limit reported plainly: this kernel has
no NFS client, so no mount and no secondary pool (never faked).
"""

from __future__ import annotations

import pytest

import lab
from cluster import libvirt_remote

from .conftest import deploy, etc_checksums, planned_changes

NODES = ("kvm01", "kvm02", "kvm03")
SERVER = "mgmt01"
EXPORT = "/data01/secondary"


@pytest.fixture(scope="module")
def deployed(lab_up):
    run = deploy()
    assert run.returncode == 0, run.output
    return run


def test_primary_pool_over_libvirt_python(deployed):
    for node in lab.hosts():
        if node.name not in NODES:
            continue
        uri = libvirt_remote.uri("kvm-mgr", "127.0.0.1", node.ssh_port, str(lab.KEY), str(lab.KNOWN_HOSTS))
        found = libvirt_remote.pools(uri)
        assert libvirt_remote.pool_problems(found, "default", "/data01/primary") == [], (node.name, found)
        rc, out = lab.exec(node.name, "stat -c '%a %U %G' /data01/primary")
        assert (rc, out.strip()) == (0, "775 root kvm")


def test_kernel_mount_impossible_is_reported_and_no_secondary_pool(deployed):
    for node in NODES:
        assert (f"NFS mount of 172.30.10.11:{EXPORT} at /secondary cannot be made on {node}: "
                "this kernel has no NFS client") in deployed.output
        rc, _ = lab.exec(node, "virsh -c qemu:///system pool-info secondary")
        assert rc != 0, f"{node}: the secondary pool was defined on an unmounted /secondary"
        rc, _ = lab.exec(node, "findmnt /secondary")
        assert rc != 0  # nothing faked


def test_export_reachable_from_every_kvm_node(deployed):
    token = "written on mgmt01"
    rc, out = lab.exec(SERVER, f"echo '{token}' > {EXPORT}/lab-probe.txt")
    assert rc == 0, out
    for node in NODES:
        # NFSv3 (libnfs' default): not held up by Ganesha's NFSv4 grace period after a restart.
        rc, out = lab.exec(node, f"nfs-ls nfs://172.30.10.11{EXPORT}")
        assert rc == 0 and "lab-probe.txt" in out, (node, out)
        rc, out = lab.exec(node, f"nfs-cat nfs://172.30.10.11{EXPORT}/lab-probe.txt")
        assert rc == 0 and out.strip() == token, (node, out)


def test_second_deploy_changes_nothing(deployed):
    assert planned_changes() == {}
    before = etc_checksums()
    again = deploy()
    assert again.returncode == 0, again.output
    assert etc_checksums() == before


def test_limit_nfs_server_touches_only_the_server(fresh_lab):
    before = etc_checksums()
    run = deploy("--limit", "nfs_server")
    assert run.returncode == 0, run.output
    after = etc_checksums()
    assert after[SERVER] != before[SERVER]
    for name in before:
        if name != SERVER:
            assert after[name] == before[name], f"{name} changed under --limit nfs_server"
