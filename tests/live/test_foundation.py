"""Issue: the foundation, live. The deploy converges on real hosts, a second
run changes nothing, --dry changes nothing, --limit targets one group, bad data
and unready hosts are refused before any change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import lab

from .conftest import ROOT, deploy, etc_checksums, planned_changes, pyinfra

GRUB = "/etc/default/grub"
OS_NAMES = {"bookworm": "Debian GNU/Linux 12 (bookworm)", "trixie": "Debian GNU/Linux 13 (trixie)"}


def nodes() -> list[str]:
    return [h.name for h in lab.state().group("kvm_nodes")]


def masters() -> list[str]:
    return [h.name for h in lab.state().group("masters")]


def machine_extension() -> str:
    """What the containers' CPU advertises is this machine's: the expected value."""
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return "vmx" if "vmx" in flags else "svm" if "svm" in flags else "none"


def read(host: str, path: str) -> str:
    rc, output = lab.exec(host, ["cat", path])
    assert rc == 0, output
    return output


def test_report_reads_the_real_hosts(converged):
    result = subprocess.run([sys.executable, "-m", "report.summary", "lab/inventory.py", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    rows = {row["host"]: row for row in json.loads(result.stdout)}
    assert sorted(rows) == sorted(h.name for h in lab.hosts())
    iommu_groups = Path("/sys/kernel/iommu_groups")
    groups_here = iommu_groups.is_dir() and any(iommu_groups.iterdir())
    for host in lab.hosts():
        row = rows[host.name]
        assert row["reachable"], host.name
        assert row["os"] == OS_NAMES[lab.PERSONAS[host.persona].suite], host.name
        assert row["virtualization"] == machine_extension()
        assert row["dev_kvm"] is False  # no /dev/kvm is passed into the containers
        assert row["iommu_active"] is groups_here
        # NetworkManager owns the network of the persona standing in for RHEL 9 only.
        assert row["network_manager"] == ("active" if host.persona == "debian13-nm" else "absent"), host.name
        assert row["data_volume"] is True  # the Docker volume at /data01
    # The lab policy warns on everything: all ready, exit 0.
    assert result.returncode == 0, result.stderr


def test_dry_run_changes_nothing_and_shows_the_diff(fresh_lab):
    before = etc_checksums()
    run = pyinfra("lab/inventory.py", "deploy.py", "--dry", "--diff")
    assert run.returncode == 0, run.output
    for node in nodes():
        assert f"[{node}]  Will modify /etc/default/grub" in run.output
    assert '+ GRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=pt"' in run.output
    assert '- GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in run.output
    assert etc_checksums() == before
    for node in nodes():
        rc, _ = lab.exec(node, "test -e /var/run/reboot-required")
        assert rc != 0, f"{node}: --dry recorded a reboot"


def test_deploy_converges_then_changes_nothing(fresh_lab_with_a_minimal_install):
    """Every persona, a minimal install among them (it installs everything,
    sudo included, from Debian's archive), converges; a second run changes nothing."""
    original = {host.name: read(host.name, GRUB) for host in lab.hosts()}
    minimal = [host for host in lab.hosts() if host.persona == "minimal"]
    assert minimal, "the lab has no minimal install"
    rc, _ = lab.exec(minimal[0].name, "command -v sudo")
    assert rc != 0, "the minimal install has sudo before the deploy"
    first = deploy()
    assert first.returncode == 0, first.output
    # The minimal node had no virt-host-validate at preflight: it runs once the
    # KVM stack is installed, so the first deploy reports it too.
    for host in minimal:
        assert (f"[{host.name}]  virt-host-validate QEMU: checking for hardware virtualization: "
                "FAIL") in first.output, first.output

    for node in nodes():
        grub = read(node, GRUB)
        assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=pt"' in grub
        assert grub.replace("quiet iommu=pt", "quiet") == original[node]  # nothing else touched
        rc, backups = lab.exec(node, f"ls -d {GRUB}.[0-9]*")
        assert rc == 0 and len(backups.split()) == 1
        assert read(node, backups.strip()) == original[node]
        assert "kvm-cluster-iommu" in read(node, "/var/run/reboot-required.pkgs")
    for master in masters():
        assert read(master, GRUB) == original[master]

    assert planned_changes() == {}

    before = etc_checksums()
    second = deploy()
    assert second.returncode == 0, second.output
    assert second.changed_nothing, second.output
    assert etc_checksums() == before


def test_limit_kvm_nodes_touches_only_kvm_nodes(fresh_lab):
    before = etc_checksums()
    run = deploy("--limit", "kvm_nodes")
    assert run.returncode == 0, run.output
    after = etc_checksums()
    for master in masters():
        assert after[master] == before[master], f"{master} changed under --limit kvm_nodes"
    for node in nodes():
        assert after[node] != before[node], f"{node} was not deployed"


@pytest.mark.parametrize(
    "data, message",
    [
        ("iommu_passthrough=maybe", "key 'iommu_passthrough' = 'maybe' (set in --data): expected true or false"),
        ("data_volume=data01", "key 'data_volume' = 'data01' (set in --data): expected an absolute path"),
        ('preflight_policy={"cpu": "warn"}', "unknown check 'cpu'"),
    ],
)
def test_bad_value_is_refused_before_any_host_changes(lab_up, data, message):
    # Refused before any host is touched, whatever state the hosts are in: no fresh lab needed.
    before = etc_checksums()
    run = deploy("--data", data)
    assert run.returncode != 0
    assert message in run.output
    assert "nothing was changed on any host" in run.output
    assert etc_checksums() == before


def test_default_policy_refuses_a_host_without_virtualization(lab_up):
    if machine_extension() != "none":
        pytest.skip("this machine's CPU exposes vmx/svm to containers: the no-VT-x case cannot be staged")
    before = etc_checksums()
    # The lab's inventory relaxes every check to "warn"; this puts the defaults back.
    run = deploy("--data", "preflight_policy={}")
    assert run.returncode != 0
    for node in nodes():
        assert f"[{node}]" in run.output
    assert "preflight failed; nothing was changed on this host:" in run.output
    assert "cpu_virtualization: the CPU" in run.output
    assert "advertises no hardware virtualization (no vmx or svm flag)" in run.output
    assert "enable Intel VT-x or AMD-V (SVM) in the BIOS/UEFI setup" in run.output
    after = etc_checksums()
    for node in nodes():
        assert after[node] == before[node], f"{node} was changed after failing preflight"


def test_role_account_logs_in_by_key_with_sudo(lab_up):
    run = deploy()
    assert run.returncode == 0, run.output
    for host in lab.hosts():
        result = lab.ssh(host, "id -nG && sudo -n true && echo SUDO_OK", user="kvm-mgr")
        groups = result.stdout.split("\n")[0].split()
        assert {"libvirt", "kvm"} <= set(groups), f"{host.name}: {groups}"
        assert "SUDO_OK" in result.stdout
        rc, mode = lab.exec(host.name, "stat -c '%a %U' /etc/sudoers.d/kvm-cluster-kvm-mgr")
        assert mode.strip() == "440 root"
    # Taken out of a group by hand, then a mode changed by hand: each put back.
    # The probe remembers the account's state and the files' digests only
    # while /etc/group and the files are the same (facts.accounts, facts.files).
    # Last, the user's own group gone, as a useradd killed between writing
    # /etc/passwd and /etc/group leaves it (a node killed mid-deploy): made again.
    for change, check in (("gpasswd -d kvm-mgr libvirt", "id -nG kvm-mgr"),
                          ("chmod 0644 /etc/sudoers.d/kvm-cluster-kvm-mgr",
                           "stat -c '%a' /etc/sudoers.d/kvm-cluster-kvm-mgr"),
                          ("sed -i '/^kvm-mgr:/d' /etc/group /etc/gshadow", "id -gn kvm-mgr; id -g kvm-mgr")):
        rc, before = lab.exec("kvm01", check)
        rc, out = lab.exec("kvm01", change)
        assert rc == 0, out
        run = deploy("--limit", "kvm01")
        assert run.returncode == 0, run.output
        assert lab.exec("kvm01", check)[1] == before, change
    assert deploy("--limit", "kvm01").changed_nothing


def test_role_account_beside_a_leftover_group_and_home(lab_up):
    """A re-provisioned server keeps a group of the account's name and a home
    owned by an old uid: the account takes that group as its own, gets the
    home, and logs in by key (sshd refuses keys in a home owned by another)."""
    host = lab.state()["kvm01"]
    lab.reset(only=[host.name])
    host = lab.state()[host.name]
    rc, out = lab.exec(host.name, "groupadd kvm-mgr && mkdir -p /home/kvm-mgr && chown 4242:4242 /home/kvm-mgr")
    assert rc == 0, out
    run = deploy("--limit", host.name)
    assert run.returncode == 0, run.output
    rc, out = lab.exec(host.name, "id -gn kvm-mgr && stat -c '%U' /home/kvm-mgr")
    assert rc == 0 and out.split() == ["kvm-mgr", "kvm-mgr"], out
    login = lab.ssh(host, "id -un", check=False, user="kvm-mgr")
    assert login.returncode == 0 and login.stdout.strip() == "kvm-mgr", login.stderr


def test_role_account_keeps_only_the_configured_keys(lab_up):
    stray = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHR3c3RyYXlrZXlzdHJheWtleXN0cmF5a2V5c3RyYXk stray@nowhere"
    rc, _ = lab.exec("kvm02", f"echo '{stray}' >> /home/kvm-mgr/.ssh/authorized_keys")
    assert rc == 0
    # Debian's sshd reads authorized_keys2 as well (AuthorizedKeysFile): a key there logs in too.
    rc, out = lab.exec("kvm02", "sshd -T | grep -i '^authorizedkeysfile'")
    assert ".ssh/authorized_keys2" in out, out
    rc, _ = lab.exec("kvm02", f"echo '{stray}' > /home/kvm-mgr/.ssh/authorized_keys2")
    assert rc == 0
    run = deploy("--limit", "kvm02")
    assert run.returncode == 0, run.output
    keys = read("kvm02", "/home/kvm-mgr/.ssh/authorized_keys")
    assert "stray@nowhere" not in keys
    assert keys.strip() == lab.KEY.with_suffix(".pub").read_text().strip()
    assert lab.exec("kvm02", "test -e /home/kvm-mgr/.ssh/authorized_keys2")[0] != 0
    rc, kept = lab.exec("kvm02", "cat /var/backups/kvm-cluster/kvm-mgr.authorized_keys2.*")
    assert rc == 0 and "stray@nowhere" in kept  # moved aside, not lost
    # The replaced authorized_keys too, in a directory only root can enter.
    rc, kept = lab.exec("kvm02", "stat -c '%a %U' /var/backups/kvm-cluster/kvm-mgr "
                                 "&& cat /var/backups/kvm-cluster/kvm-mgr/authorized_keys.*")
    assert rc == 0 and "700 root" in kept and "stray@nowhere" in kept, kept
    assert deploy("--limit", "kvm02").changed_nothing
