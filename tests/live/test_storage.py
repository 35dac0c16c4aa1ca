"""Storage, live: the primary pool seen through libvirt-python over SSH, the
NFS export (Ganesha in the lab, lab/inventory.py sets nfs_backend) read from
every KVM node, and the kernel-mount limit reported plainly: this kernel has
no NFS client, so no mount and no secondary pool (never faked).
"""

from __future__ import annotations

import pytest

import lab
from report import libvirt_remote

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


def test_every_node_creates_in_the_export_as_the_one_squash_id(deployed):
    """The secondary pool must be writable by libvirt and qemu on every node:
    all_squash maps every client user (root included) to nfs_squash_id, which
    owns the export and its pool directory (setgid, 2770, nobody else).
    Proven through the export with a userspace NFS client (this kernel mounts
    no NFS): each node, as root, creates a file in the pool directory, and the
    server sees it owned by the squash id.

    What cannot be proven here: the write of its content. NFS-Ganesha's VFS
    backend in these containers creates the file but answers every SETATTR and
    WRITE with NFS3ERR_JUKEBOX, also for root with no_root_squash (checked by
    hand), so libnfs's nfs-cp fails after the create; a kernel NFS server
    (the deploy's default) has no such limit. The test accepts exactly that
    failure, and checks the content whenever the write goes through."""
    rc, out = lab.exec(SERVER, f"stat -c '%a %u %g' {EXPORT} {EXPORT}/images")
    assert out.split("\n")[:2] == ["2770 64055 64055", "2770 64055 64055"], out
    for node in NODES:
        name = f"{node}-volume.img"
        lab.exec(SERVER, f"rm -f {EXPORT}/images/{name}")
        rc, out = lab.exec(node, f"head -c 65536 /dev/urandom > /tmp/{name} && "
                                 f"nfs-cp /tmp/{name} nfs://172.30.10.11{EXPORT}/images/{name}")
        if rc == 0:
            rc, out = lab.exec(node, f"nfs-cat nfs://172.30.10.11{EXPORT}/images/{name} | cmp - /tmp/{name}")
            assert rc == 0, (node, out)
        else:
            assert "Setattr failed with NFS3ERR_JUKEBOX" in out, (node, out)
        rc, out = lab.exec(SERVER, f"stat -c '%u %g' {EXPORT}/images/{name} && rm {EXPORT}/images/{name}")
        assert rc == 0 and out.split("\n")[0] == "64055 64055", (node, out)


def test_a_secondary_pool_never_starts_on_the_bare_mount_point(deployed):
    """The server down at boot (the mount is nofail): /secondary stays an empty
    directory of the node's root filesystem. The pool lives in /secondary/images,
    which only the export has: libvirt, restarted, cannot start the pool there,
    so no VM lands on the root filesystem. (The deploy defines this pool only
    where NFS mounts: here it is defined by hand from the deploy's own XML.)"""
    from operations.storage import pool_xml

    node = NODES[0]
    xml = pool_xml("secondary", "/secondary/images").replace("'", "'\\''")
    rc, out = lab.exec(node, f"mkdir -p /secondary && printf '%s' '{xml}' > /tmp/secondary.xml && "
                             "virsh -q pool-define /tmp/secondary.xml && virsh -q pool-autostart secondary && "
                             "systemctl restart libvirtd && sleep 1 && virsh -q pool-list --all")
    try:
        assert rc == 0, out
        pools = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}
        assert pools["secondary"] == "inactive", out
        rc, out = lab.exec(node, "virsh pool-start secondary")
        assert rc != 0 and "cannot open directory '/secondary/images'" in out, out
        assert lab.exec(node, "test -e /secondary/images")[0] != 0
    finally:
        lab.exec(node, "virsh -q pool-undefine secondary")


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
