"""The KVM stack, live: libvirtd running and locked down on every KVM node,
reachable as the role account over SSH with libvirt-python."""

import libvirt

import lab

from .conftest import deploy, idle_libvirtd, libvirt_uri


def nodes():
    return [h for h in lab.hosts() if h.group == "kvm_nodes"]


def test_libvirtd_runs_with_group_only_sockets_and_no_plain_tcp(converged):
    for node in nodes():
        # Asked first: libvirtd exits after two idle minutes (Debian's
        # --timeout 120) and its socket starts it again.
        rc, out = lab.exec(node.name, "virsh -c qemu:///system hostname >/dev/null; "
                                      "systemctl is-active libvirtd.service libvirtd.socket libvirtd-ro.socket")
        assert out.split() == ["active"] * 3, f"{node.name}: {out}"
        rc, out = lab.exec(node.name, "stat -c '%a %U %G' /run/libvirt/libvirt-sock /run/libvirt/libvirt-sock-ro")
        assert out.splitlines() == ["660 root libvirt"] * 2, f"{node.name}: {out}"
        rc, out = lab.exec(node.name, "systemctl is-enabled libvirtd-tcp.socket; ss -Hltn 'sport = :16509'")
        assert out.strip() == "masked", f"{node.name}: {out}"
    for master in (h for h in lab.hosts() if h.group == "masters"):
        rc, out = lab.exec(master.name, "systemctl is-active libvirtd.service")
        assert out.strip() != "active", f"{master.name} runs libvirtd, it is not a KVM node"


def test_an_idle_libvirtd_is_left_to_its_socket(converged):
    """Debian runs libvirtd with --timeout 120: after two quiet minutes it exits
    and its socket starts it at the next connection. A deploy then changes
    nothing (it does not start the daemon), and libvirt still answers."""
    # The probe remembers libvirt's pools from the first run that finds them,
    # the one after the converge (which made them): that run asks libvirt,
    # and wakes it. On a host the fixture has just converged, that is this one.
    settled = deploy()
    assert settled.returncode == 0 and settled.changed_nothing, settled.output
    idle_libvirtd(nodes())
    run = deploy()
    assert run.returncode == 0, run.output
    assert run.changed_nothing, run.output
    for node in nodes():
        rc, out = lab.exec(node.name, "systemctl is-active libvirtd.service")
        assert out.strip() != "active", f"{node.name}: the deploy started libvirtd"
        rc, out = lab.exec(node.name, "virsh -c qemu:///system hostname")
        assert rc == 0 and out.strip() == node.name, f"{node.name}: {out}"


def test_role_account_reaches_libvirt_over_ssh(converged):
    for node in nodes():
        conn = libvirt.open(libvirt_uri(node))
        try:
            assert conn.getURI().startswith("qemu+libssh://kvm-mgr@")
            assert conn.getHostname() == node.name
            conn.listAllStoragePools()
        finally:
            conn.close()
    # virsh as the role account on the node uses uri_default (qemu:///system).
    result = lab.ssh("kvm01", "virsh uri && virsh list --all >/dev/null && echo OK", user="kvm-mgr")
    assert result.stdout.split() == ["qemu:///system", "OK"], result.stderr


def test_a_user_outside_the_libvirt_group_is_refused(converged):
    rc, out = lab.exec("kvm01", "id outsider >/dev/null 2>&1 || useradd -m outsider; "
                                "su outsider -c 'virsh -c qemu:///system list' 2>&1")
    assert rc != 0
    assert "Permission denied" in out or "permission denied" in out.lower(), out


def test_broken_libvirtd_config_fails_the_check_before_install(lab_up):
    """The check the deploy runs before installing libvirtd.conf, on a real host."""
    from operations._files import checked_content
    from operations.kvm import augeas_check, render_libvirtd_conf

    good = render_libvirtd_conf("/etc/libvirt/libvirtd.conf")
    for text, ok in ((good, True), (good + 'auth_tcp = "none\n', False), (good + "no_such_key = 1\n", False)):
        command = checked_content(text, augeas_check("Libvirtd")).get_raw_value()
        rc, out = lab.exec("kvm01", command)
        assert (rc == 0) is ok, out
        if not ok:
            assert "libvirt config does not parse" in out


def test_packages_and_sysctl_are_reported_not_fatal(lab_up):
    run = deploy()
    assert run.returncode == 0, run.output
    # Debian 12 has no virt-top: skipped with a warning, every run.
    assert "not in this release's package archive, skipped: virt-top" in run.output
    # The containers' /proc/sys is read-only: the drop-in is written, and said.
    assert "/proc/sys is read-only here" in run.output
    rc, out = lab.exec("kvm01", "cat /etc/sysctl.d/60-kvm-cluster.conf")
    assert "net.bridge.bridge-nf-call-iptables = 0" in out
