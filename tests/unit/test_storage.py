"""Storage: the config model's storage rules, pool XML and plan, AppArmor and
SELinux, the probe's needs (paths, units, packages), libvirt_remote helpers."""

import pytest

from cluster.model import storage as cfg
from cluster.steps import storage as deploy_storage
from report import libvirt_remote
from cluster.model import settings as model
from cluster.model.settings import ConfigError
from operations import nfs, storage

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"


def cluster(**overrides):
    """mgmt01 (masters, nfs_server), mgmt02 (masters) and kvm01/kvm02, each with
    per-host overrides, validated by the shipped model (every concern)."""
    hosts = [("mgmt01", ("masters", "nfs_server"), "172.30.10.11"),
             ("mgmt02", ("masters",), "172.30.10.12"),
             ("kvm01", ("kvm_nodes",), "172.30.10.41"),
             ("kvm02", ("kvm_nodes",), "172.30.10.42")]
    return [(name, groups, {"role_account_keys": [KEY], "cluster_address": address,
                            **overrides.get(name, {})})
            for name, groups, address in hosts]


def problems(**overrides):
    with pytest.raises(ConfigError) as error:
        model.validate(cluster(**overrides))
    return str(error.value)


def test_defaults():
    node = model.validate(cluster())["kvm01"]
    assert node.primary_pool_name == "default" and node.primary_pool_path == "/data01/primary"
    assert node.secondary_pool_name == "secondary" and node.secondary_mount == "/secondary"
    assert node.nfs_backend == "kernel"
    assert node.nfs_export_options == ("rw", "sync", "no_subtree_check", "all_squash", "sec=sys")
    assert node.nfs_mount_options == ("_netdev", "nofail", "hard", "timeo=600", "retrans=2")
    assert cfg.export_network_of(model.validate(cluster())["mgmt01"]) == "172.30.10.0/24"


@pytest.mark.parametrize("host, key, value, expected", [
    ("kvm01", "primary_pool_path", "data01/primary",
     "host kvm01: key 'primary_pool_path' = 'data01/primary': expected an absolute path"),
    ("kvm01", "secondary_mount", "secondary",
     "host kvm01: key 'secondary_mount' = 'secondary': expected an absolute path"),
    ("mgmt01", "nfs_export_network", "*",
     "host mgmt01: key 'nfs_export_network' = '*': the export is never open to everyone"),
    ("mgmt01", "nfs_export_network", "172.30.10.5/24",
     "host mgmt01: key 'nfs_export_network' = '172.30.10.5/24': expected an IPv4 network"),
    ("mgmt01", "nfs_backend", "nfsd", "host mgmt01: key 'nfs_backend' = 'nfsd': expected one of: 'kernel', 'ganesha'"),
    ("mgmt01", "nfs_export_options", ["rw", "ro"],
     "key 'nfs_export_options' = ['rw', 'ro']: options 'rw' and 'ro' contradict each other"),
    ("mgmt01", "nfs_export_options", ["rw", "wdelay"], "unknown export option 'wdelay'"),
    ("kvm01", "nfs_mount_options", ["x-systemd.automount"], "x-systemd.* options do not apply"),
    ("kvm01", "primary_pool_name", "my pool", "host kvm01: key 'primary_pool_name' = 'my pool': expected a libvirt pool name"),
])
def test_bad_values_name_host_key_value(host, key, value, expected):
    assert expected in problems(**{host: {key: value}})


def test_relative_and_differing_paths_are_refused():
    message = problems(kvm02={"primary_pool_path": "/data01/vm"})
    assert "key 'primary_pool_path' differs across hosts" in message
    assert "kvm01=/data01/primary, kvm02=/data01/vm" in message


def test_primary_pool_must_live_on_the_data_volume():
    everywhere = {name: {"primary_pool_path": "/var/lib/libvirt/images"} for name in ("mgmt01", "kvm01", "kvm02")}
    message = problems(**everywhere)
    assert ("host kvm01: key 'primary_pool_path' = '/var/lib/libvirt/images': expected a directory "
            "under data_volume /data01 (never on the root filesystem)") in message


def test_export_network_must_contain_the_clients():
    message = problems(mgmt01={"nfs_export_network": "172.30.10.0/27"})
    assert ("host mgmt01: key 'nfs_export_network' = '172.30.10.0/27': does not contain the NFS clients "
            "(kvm01 172.30.10.41, kvm02 172.30.10.42)") in message


def test_pool_name_clash_is_refused():
    same = {name: {"secondary_pool_name": "default"} for name in ("mgmt01", "kvm01", "kvm02")}
    assert ("host kvm01: key 'secondary_pool_name' = 'default' is also primary_pool_name: "
            "expected two different pool names") in problems(**same)


def test_overlapping_pool_directories_are_refused():
    inside = {name: {"secondary_mount": "/data01/primary/nfs"} for name in ("mgmt01", "kvm01", "kvm02")}
    assert "key 'secondary_mount' = '/data01/primary/nfs' overlaps primary_pool_path" in problems(**inside)


def test_export_path_under_the_servers_data_volume():
    everywhere = {name: {"nfs_export_path": "/srv/nfs"} for name in ("mgmt01", "kvm01", "kvm02")}
    assert ("host mgmt01: key 'nfs_export_path' = '/srv/nfs': expected a directory under data_volume /data01"
            in problems(**everywhere))


def test_at_most_one_nfs_server():
    hosts = [(name, groups, data) for name, groups, data in cluster()]
    # None is fine: the secondary pool is optional (the seed's "optionally").
    model.validate([("mgmt01", ("masters",), hosts[0][2]), *hosts[1:]])
    hosts[1] = (hosts[1][0], (*hosts[1][1], "nfs_server"), hosts[1][2])
    with pytest.raises(ConfigError) as error:
        model.validate(hosts)
    assert "group 'nfs_server' has 2 hosts" in str(error.value)


def test_no_root_squash_only_when_asked():
    assert "no_root_squash" not in cfg.export_options(None or [])
    assert cfg.export_options(["no_root_squash"]) == ("no_root_squash", "rw", "sync", "no_subtree_check", "sec=sys")
    assert cfg.export_options("ro,async") == ("ro", "async", "no_subtree_check", "all_squash", "sec=sys")
    # A squash option of the user's own: no all_squash beside it.
    assert cfg.export_options(["root_squash"]) == ("root_squash", "rw", "sync", "no_subtree_check", "sec=sys")


def test_every_client_writes_the_export_as_the_one_squash_id():
    """The secondary pool is writable by libvirt and qemu on every node: all of
    them are squashed to nfs_squash_id, which owns the export (setgid, 2770)."""
    server = model.validate(cluster())["mgmt01"]
    assert server.export_options == ("rw", "sync", "no_subtree_check", "all_squash", "sec=sys",
                                     "anonuid=64055", "anongid=64055")
    assert cfg.export_owner(server) == ("64055", "64055", "2770")
    chosen = model.validate(cluster(mgmt01={"nfs_squash_id": 990}))["mgmt01"]
    assert chosen.export_options[-2:] == ("anonuid=990", "anongid=990")
    rooted = model.validate(cluster(mgmt01={"nfs_export_options": ["root_squash"]}))["mgmt01"]
    assert "anonuid=64055" not in rooted.export_options and cfg.export_owner(rooted) == ("root", "root", "755")


def test_the_secondary_pool_lives_in_a_directory_only_the_export_has():
    node = model.validate(cluster())["kvm01"]
    assert node.secondary_pool_path == "/secondary/images"


def test_pool_xml():
    assert storage.pool_xml("default", "/data01/primary").endswith(
        '<pool type="dir">\n  <name>default</name>\n  <target>\n    <path>/data01/primary</path>\n'
        "  </target>\n</pool>\n")
    assert "<path>/srv/a&amp;b</path>" in storage.pool_xml("odd", "/srv/a&b")


def test_pool_plan():
    up = {"virsh": "up", "pools": {}}
    assert storage.plan_pool(up, "default", "/data01/primary") == storage.PoolPlan(
        define=True, build=True, start=True, autostart=True)
    assert storage.plan_pool({"virsh": "down", "pools": {}}, "default", "/p").unknown
    matching = {"virsh": "up", "pools": {"default": {"active": True, "autostart": True, "type": "dir",
                                                     "path": "/data01/primary"}}}
    assert not storage.plan_pool(matching, "default", "/data01/primary").changes
    with pytest.raises(storage.PoolClash, match="libvirt pool default already exists as a dir pool at "
                                                "/data01/primary, not a dir pool at /data02/primary"):
        storage.plan_pool(matching, "default", "/data02/primary")
    netfs = {"virsh": "up", "pools": {"default": {**matching["pools"]["default"], "type": "netfs"}}}
    with pytest.raises(storage.PoolClash, match="as a netfs pool"):
        storage.plan_pool(netfs, "default", "/data01/primary")


def test_apparmor_local_abstraction():
    assert storage.apparmor_local(["/data01/primary", "/secondary"]).splitlines()[2:] == [
        '  "/data01/primary/" r,', '  "/data01/primary/**" rwk,',
        '  "/secondary/" r,', '  "/secondary/**" rwk,',
    ]


def test_selinux_only_where_enabled_and_needed():
    assert storage.selinux_commands({"selinux": False}, ["/p"], ["/p"], nfs=True) == []
    done = {"selinux": True, "virt_use_nfs": "on",
            "contexts": {"/p": {"policy": "virt_image_t", "actual": "virt_image_t"}}}
    assert storage.selinux_commands(done, ["/p"], ["/p"], nfs=True) == []
    relabel = {**done, "contexts": {"/p": {"policy": "virt_image_t", "actual": "default_t"}}}
    assert [str(c) for c in storage.selinux_commands(relabel, ["/p"], ["/p"])] == ["restorecon -R /p"]


@pytest.mark.parametrize("os_release, node, server", [
    ({"family": "debian", "id": "debian", "major": 12}, ["nfs-common"], ["nfs-kernel-server"]),
    ({"family": "debian", "id": "ubuntu", "major": 24}, ["nfs-common"], ["nfs-kernel-server"]),
    ({"family": "rhel", "id": "rhel", "major": 9}, ["nfs-utils", "policycoreutils-python-utils"], ["nfs-utils"]),
    ({"family": "rhel", "id": "centos", "major": 7}, ["nfs-utils", "policycoreutils-python"], ["nfs-utils"]),
])
def test_packages(os_release, node, server):
    hosts = model.validate(cluster())
    assert list(deploy_storage.needs(hosts["kvm01"], os_release).packages) == node
    assert list(deploy_storage.needs(hosts["mgmt01"], os_release).packages) == server
    ganesha = model.validate(cluster(mgmt01={"nfs_backend": "ganesha"}))["mgmt01"]
    assert list(deploy_storage.needs(ganesha, os_release).packages) == ["nfs-ganesha", "nfs-ganesha-vfs"]


def test_the_probe_reads_the_files_units_and_directories_of_each_role():
    hosts = model.validate(cluster(mgmt01={"nfs_backend": "ganesha"}))
    debian = {"family": "debian"}
    node = deploy_storage.needs(hosts["kvm01"], debian)
    assert node.files == (
        "/etc/kvm-cluster/storage/pool-default.xml", "/etc/kvm-cluster/storage/pool-secondary.xml",
        "/etc/systemd/system/secondary.mount", "/etc/apparmor.d/local/abstractions/libvirt-qemu",
        "/etc/idmapd.conf")
    assert node.units == ("secondary.mount",)
    assert node.directories == ("/data01/primary", "/secondary")
    server = deploy_storage.needs(hosts["mgmt01"], debian)
    assert server.files == ("/etc/idmapd.conf", "/etc/ganesha/ganesha.conf")
    assert server.units == ("nfs-ganesha.service",)
    assert server.directories == ("/data01/secondary", "/data01/secondary/images")
    kernel = deploy_storage.needs(model.validate(cluster())["mgmt01"], debian)
    assert kernel.files[-1] == "/etc/exports.d/kvm-cluster.exports"
    assert kernel.units == ("nfs-server.service",)


@pytest.mark.parametrize("path, unit", [
    # systemd-escape --path --suffix=mount, run in the lab image
    ("/secondary", "secondary.mount"), ("/mnt/sec-ondary", "mnt-sec\\x2dondary.mount"),
    ("/srv/a.b/c d", "srv-a.b-c\\x20d.mount"), ("/var/lib/é", "var-lib-\\xc3\\xa9.mount"),
])
def test_mount_unit_name_is_systemd_escape(path, unit):
    assert nfs.mount_unit_name(path) == unit


def test_libvirt_uri_checks_host_keys_with_libssh():
    assert libvirt_remote.uri("kvm-mgr", "127.0.0.1", 2201, "/lab/id", "/lab/known_hosts") == (
        "qemu+libssh://kvm-mgr@127.0.0.1:2201/system?keyfile=/lab/id&known_hosts=/lab/known_hosts"
        "&sshauth=privkey")
    assert libvirt_remote.uri("root", "kvm01") == "qemu+ssh://root@kvm01/system"


def test_pool_problems():
    rows = [{"name": "default", "type": "dir", "active": True, "autostart": False, "path": "/data01/primary"}]
    assert libvirt_remote.pool_problems(rows, "default", "/data01/primary") == ["pool default is not autostarted"]
    assert libvirt_remote.pool_problems(rows, "secondary", "/secondary") == ["pool secondary is not defined"]


def test_pools_through_the_test_driver():
    """libvirt-python for real, against libvirt's built-in test driver (its 'default-pool')."""
    rows = libvirt_remote.pools("test:///default")
    assert rows == [{"name": "default-pool", "type": "dir", "active": True, "autostart": False,
                     "path": "/default-pool"}]


@pytest.mark.parametrize("escaped, path", [
    ("/data/a&amp;b", "/data/a&b"),
    ("/x&lt;y&gt;&quot;&apos;", "/x<y>\"'"),
    ("/s&#32;p&#x41;", "/s pA"),
    ("&amp;amp;", "&amp;"),  # once, as an XML parser reads it
    ("/plain", "/plain"),
    ("/a&copy;", "/a&copy;"),  # an HTML name, not XML's: as written
    ("/n&#0;", "/n&#0;"),  # no character 0 in XML
    ("/s&#xD800;", "/s&#xD800;"),  # nor a surrogate half
])
def test_a_pool_path_is_read_as_xml_escapes_it(escaped, path):
    from facts.pools import xml_unescape
    assert xml_unescape(escaped) == path
