"""The KVM stack's pure plan: packages per distribution, libvirt config, sysctl."""

import re

import pytest

from cluster.model.settings import ConfigError, validate
from operations.kvm import (kvm_packages, libvirt_layout, render_libvirt_conf, render_libvirtd_conf,
                            render_sysctl, sysctl_plan)
from operations.packages import packages_to_install

from .test_settings import hosts


def test_debian_and_ubuntu_share_the_debian_names():
    for os_release in ({"family": "debian", "id": "debian", "major": 12},
                       {"family": "debian", "id": "ubuntu", "major": 24}):
        names = kvm_packages(os_release)
        assert {"qemu-system-x86", "libvirt-daemon-system", "libvirt-clients", "virtinst"} <= set(names)


def test_rhel_names():
    names = kvm_packages({"family": "rhel", "major": 9})
    assert {"qemu-kvm", "libvirt", "virt-install"} <= set(names)
    assert "libvirt-daemon-system" not in names


def test_arm_hosts_get_the_arm_emulator():
    assert "qemu-system-arm" in kvm_packages({"family": "debian"}, arch="aarch64")


def test_an_unknown_family_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="no KVM package list for 'Arch Linux'"):
        kvm_packages({"family": "arch", "pretty_name": "Arch Linux"})


def test_release_without_a_package_skips_it():
    todo, skipped = packages_to_install(
        ["qemu-system-x86", "virt-top", "qemu-utils"],
        {"installed": {"qemu-utils": "1"}, "available": ["qemu-system-x86"], "missing": ["virt-top"]},
    )
    assert todo == ["qemu-system-x86"] and skipped == ["virt-top"]


@pytest.mark.parametrize("tls", [False, True])
def test_libvirtd_conf_never_allows_unauthenticated_tcp(tls):
    text = render_libvirtd_conf("/etc/libvirt/libvirtd.conf", "libvirt", tls=tls)
    settings = dict(re.findall(r'^(\w+) = (.+)$', text, re.M))
    assert settings["auth_tcp"] == '"sasl"'
    assert settings["listen_tcp"] == "0"
    assert settings["unix_sock_group"] == '"libvirt"'
    assert settings["unix_sock_rw_perms"] == '"0660"'
    assert settings["listen_tls"] == ("1" if tls else "0")
    if tls:
        assert settings["tls_no_verify_certificate"] == "0"
        assert settings["ca_file"] == '"/etc/pki/CA/cacert.pem"'


def test_modular_daemons_on_rhel9_monolithic_elsewhere():
    assert libvirt_layout({"family": "rhel", "major": 9}).service == "virtqemud.service"
    assert libvirt_layout({"family": "rhel", "major": 8}).service == "libvirtd.service"
    assert libvirt_layout({"family": "debian", "major": 12}).config == "/etc/libvirt/libvirtd.conf"


def test_uri_default():
    assert 'uri_default = "qemu:///system"' in render_libvirt_conf("qemu:///system")


def test_sysctl_drop_in_and_plan():
    assert render_sysctl({"b.x": "1", "a.y": "0"}).splitlines()[1:] == ["a.y = 0", "b.x = 1"]
    to_set, problems = sysctl_plan(
        {"a.y": "0", "b.x": "1", "c.z": "1", "d.w": "5"},
        {"a.y": {"value": "1", "writable": True}, "b.x": {"value": "1", "writable": True},
         "c.z": None, "d.w": {"value": "4", "writable": False}},
    )
    assert to_set == ["a.y=0"]
    assert problems[0].startswith("c.z: this kernel has no such key")
    assert problems[1].startswith("d.w is 4, wanted 5: /proc/sys is read-only")


def test_tls_needs_its_files(tmp_path):
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), {"libvirt_tls": True, "libvirt_tls_ca_cert": str(tmp_path / "none.pem")})))
    message = str(error.value)
    assert f"host kvm01: key 'libvirt_tls_ca_cert' = '{tmp_path}/none.pem': no such file on the management node" in message
    assert "host kvm01: key 'libvirt_tls_server_key' is missing: libvirt_tls is on" in message


@pytest.mark.parametrize("data, expected", [
    ({"kvm_sysctl": {"net bridge": 1}}, "key 'kvm_sysctl' = {'net bridge': 1}: 'net bridge' is not a sysctl key"),
    ({"libvirt_uri_default": "system"}, "key 'libvirt_uri_default' = 'system': expected a libvirt URI"),
    ({"kvm_extra_packages": "htop"}, "key 'kvm_extra_packages' = 'htop': expected a list of package names"),
])
def test_bad_kvm_settings(data, expected):
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), data)))
    assert f"host kvm01: {expected}" in str(error.value)


def test_the_role_account_must_be_in_the_libvirt_group():
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), {"role_account_groups": ["kvm"]})))
    assert ("host kvm01: key 'role_account_groups' = ['kvm'] lacks libvirt_group 'libvirt'"
            in str(error.value))


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A CA, kvm01's server certificate and key, and another CA's certificate."""
    from tests.pki import certificate, new_key, pem

    folder = tmp_path_factory.mktemp("pki")
    ca_key, other_ca_key, server_key = new_key(), new_key(), new_key()
    files = {
        "ca.pem": pem(certificate("CA", ca_key, "CA", ca_key, ca=True)),
        "other-ca.pem": pem(certificate("Other CA", other_ca_key, "Other CA", other_ca_key, ca=True)),
        "server.pem": pem(certificate("kvm01", server_key, "CA", ca_key, server=["kvm01.cluster.lan"])),
        "server-key.pem": pem(key=server_key),
        "other-key.pem": pem(key=new_key()),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "a-directory").mkdir()
    return folder


def _tls(folder, **paths):
    data = {"libvirt_tls": True,
            "libvirt_tls_ca_cert": str(folder / "ca.pem"),
            "libvirt_tls_server_cert": str(folder / "server.pem"),
            "libvirt_tls_server_key": str(folder / "server-key.pem")}
    data.update({f"libvirt_tls_{key}": str(folder / name) for key, name in paths.items()})
    return hosts(kvm01=(("kvm_nodes",), data))


def test_tls_files_that_belong_together_pass(tls_files):
    assert validate(_tls(tls_files))["kvm01"].libvirt_tls is True


@pytest.mark.parametrize("paths, expected", [
    ({"server_cert": "server-key.pem"},
     "key 'libvirt_tls_server_cert' = '{d}/server-key.pem': holds a PRIVATE KEY where a certificate belongs"),
    ({"ca_cert": "server-key.pem"},
     "key 'libvirt_tls_ca_cert' = '{d}/server-key.pem': holds a PRIVATE KEY where a certificate belongs"),
    ({"server_key": "server.pem"},
     "key 'libvirt_tls_server_key' = '{d}/server.pem': holds a certificate where the private key belongs"),
    ({"server_key": "other-key.pem"},
     "key 'libvirt_tls_server_key' = '{d}/other-key.pem': is not the key of the server certificate"),
    ({"ca_cert": "other-ca.pem"},
     "key 'libvirt_tls_server_cert' = '{d}/server.pem': not signed by the CA certificate '{d}/other-ca.pem'"),
    ({"ca_cert": "a-directory"}, "key 'libvirt_tls_ca_cert' = '{d}/a-directory': a directory, not a file"),
    ({"server_cert": "nothing.pem"}, "key 'libvirt_tls_server_cert' = '{d}/nothing.pem': no such file"),
])
def test_tls_files_are_parsed_and_checked_before_any_upload(tls_files, paths, expected):
    with pytest.raises(ConfigError) as error:
        validate(_tls(tls_files, **paths))
    message = str(error.value)
    assert f"host kvm01: {expected.format(d=tls_files)}" in message, message
    assert "BEGIN" not in message  # a key's content is never shown


def test_tls_files_without_tls_are_refused(tls_files):
    data = {"libvirt_tls_ca_cert": str(tls_files / "ca.pem")}
    with pytest.raises(ConfigError) as error:
        validate(hosts(kvm01=(("kvm_nodes",), data)))
    assert "key 'libvirt_tls_ca_cert' = " in str(error.value)
    assert "does nothing: libvirt_tls is false" in str(error.value)
