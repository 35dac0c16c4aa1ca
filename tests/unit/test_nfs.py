"""NFS: the export for the kernel server and NFS-Ganesha, idmapd, the clients'
mount unit, and the deploy's decisions for Debian, Ubuntu and RHEL."""

import pytest

from cluster.model import storage as cfg
from operations import nfs

DEFAULTS = list(cfg.export_options([]))


def test_export_line_defaults():
    assert nfs.exports_file("/data01/secondary", "172.30.10.0/24", DEFAULTS).splitlines()[1] == (
        "/data01/secondary 172.30.10.0/24(rw,sync,no_subtree_check,all_squash,sec=sys)")


@pytest.mark.parametrize("network", ["*", "0.0.0.0/0", ""])
def test_never_exported_to_everyone(network):
    with pytest.raises(ValueError):
        nfs.exports_file("/data01/secondary", network, DEFAULTS)
    with pytest.raises(ValueError):
        nfs.ganesha_config("/data01/secondary", network, DEFAULTS, "cluster.lan")


def test_ganesha_config_defaults():
    config = nfs.ganesha_config("/data01/secondary", "172.30.10.0/24", DEFAULTS, "cluster.lan")
    assert 'Path = "/data01/secondary";' in config and 'Pseudo = "/data01/secondary";' in config
    client = config.split("CLIENT {")[1]
    assert client.split("}")[0].split() == [
        "Clients", "=", "172.30.10.0/24;", "Access_Type", "=", "RW;", "Squash", "=", "all_squash;"]
    assert "Access_Type = None;" in config.split("CLIENT {")[0]  # nobody else
    assert "Name = VFS;" in config


def test_ganesha_maps_user_options():
    options = list(cfg.export_options(["ro", "no_root_squash", "secure", "anonuid=64055", "sec=sys:krb5"]))
    mapped = nfs.ganesha_options(options)
    assert mapped == {"access": "RO", "squash": "no_root_squash", "sectype": "sys, krb5",
                      "privileged_port": "true", "anonymous_uid": "64055", "anonymous_gid": None}
    config = nfs.ganesha_config("/data01/secondary", "10.0.0.0/8", options, "cluster.lan")
    assert "PrivilegedPort = true;" in config and "Anonymous_Uid = 64055;" in config
    assert "SecType = sys, krb5;" in config


@pytest.mark.parametrize("family, nobody", [("debian", "nogroup"), ("rhel", "nobody")])
def test_idmapd(family, nobody):
    text = nfs.idmapd_conf("cluster.lan", family)
    assert "[General]\nVerbosity = 0\nDomain = cluster.lan\n" in text
    assert f"Nobody-Group = {nobody}" in text


def test_mount_unit():
    unit = nfs.mount_unit("172.30.10.11:/data01/secondary", "/secondary",
                          list(cfg.mount_options(["hard", "timeo=600", "retrans=2"])), 30)
    body = [line for line in unit.splitlines() if line and not line.startswith("#")]
    assert body == [
        "[Unit]", "Description=kvm-cluster secondary storage pool (172.30.10.11:/data01/secondary)",
        "Wants=network-online.target", "After=network-online.target",
        "[Mount]", "What=172.30.10.11:/data01/secondary", "Where=/secondary", "Type=nfs",
        "Options=_netdev,nofail,hard,timeo=600,retrans=2", "TimeoutSec=30",
        "[Install]", "WantedBy=remote-fs.target",
    ]


def test_mount_options_always_netdev_nofail():
    assert cfg.mount_options(["soft", "nofail"]) == ("_netdev", "nofail", "soft")


def test_unsupported_client_is_reported(caplog):
    """The report the live test looks for: names the host, why, and the pool left undefined."""
    from unittest.mock import patch

    client = {"kernel": "none", "supported": False, "helper": True, "exists": True,
              "mounted": False, "source": None, "fstype": None}
    fake_host = type("H", (), {"name": "kvm01", "print_prefix": "[kvm01] "})()
    with patch("operations.nfs.host", fake_host), patch("operations._log.host", fake_host), \
            patch("operations._log.first_pass", lambda: True), \
            patch("operations.nfs.put_file", lambda *a, **k: iter(())):
        list(nfs.mount_unit_file._inner(
            path="/etc/systemd/system/secondary.mount", what="172.30.10.11:/data01/secondary",
            where="/secondary", options=["_netdev", "nofail"], timeout=30,
            pool_name="secondary", current={"nfs_client": client}))
    assert ("[kvm01] NFS mount of 172.30.10.11:/data01/secondary at /secondary cannot be made on kvm01: "
            "this kernel has no NFS client ('nfs' is not in /proc/filesystems and no nfs module can be "
            "loaded); libvirt pool secondary is not defined") in caplog.text
