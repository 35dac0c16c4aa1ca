"""The lab itself: images are reused while their inputs are unchanged, and the
lab scales to 32 KVM nodes on this 2-core machine (then back to the default)."""

from __future__ import annotations

import subprocess
import sys

import lab

from .conftest import NODES, ROOT, pyinfra


def test_images_are_reused_while_their_inputs_are_unchanged(lab_up):
    client = lab.ensure_engine()
    tags = lab.ensure_images(client)
    assert set(tags) == set(lab.PERSONAS)
    ids = {persona: client.images.get(tag).id for persona, tag in tags.items()}
    assert lab.ensure_images(client) == tags
    assert {persona: client.images.get(tag).id for persona, tag in tags.items()} == ids
    # Every running host uses exactly its persona's image.
    for host in lab.hosts():
        assert client.containers.get(host.container).image.id == ids[host.persona], host.name


def test_each_host_boots_with_its_own_host_keys_put_in_place_as_an_installer_leaves_them(lab_up):
    """The image has no host keys: `lab up` puts each host's own in /etc/ssh
    before its first boot (made once per host name), and known_hosts holds them."""
    known = lab.KNOWN_HOSTS.read_text().splitlines()
    seen = set()
    for host in lab.hosts():
        rc, output = lab.exec(host.name, "cat /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_rsa_key.pub; "
                                         "stat -c '%a %U' /etc/ssh/ssh_host_rsa_key; "
                                         "systemctl show -p ConditionResult --value ssh-hostkeys.service")
        assert rc == 0, output
        ed25519, rsa, mode, condition = output.splitlines()
        files = lab.host_key_files(host.name)
        assert ed25519.encode() + b"\n" == files["ssh_host_ed25519_key.pub"], host.name
        assert rsa.encode() + b"\n" == files["ssh_host_rsa_key.pub"], host.name
        assert mode == "600 root", host.name
        assert condition == "no", f"{host.name}: ssh-hostkeys.service made keys at boot"
        assert f"[127.0.0.1]:{host.ssh_port} {' '.join(ed25519.split()[:2])}" in known, host.name
        seen.add(ed25519)
    assert len(seen) == len(lab.hosts()), "two hosts share a host key"


def test_a_host_that_is_not_healthy_is_recreated_not_reused(lab_up):
    """A host whose network is broken (SSH does not answer) is recreated by
    `lab up`, which says so; a healthy one is kept as it is."""
    client = lab.ensure_engine()
    victim, kept = lab.state().group("masters")
    before = {h.name: client.containers.get(h.container).id for h in (victim, kept)}
    rc, output = lab.exec(victim.name, "ip -4 addr flush dev eth0 scope global")
    assert rc == 0, output
    run = subprocess.run([sys.executable, "-m", "lab", "up"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"lab: recreating {victim.name} ({victim.persona}): SSH does not answer" in run.stdout, run.stdout
    assert client.containers.get(victim.container).id != before[victim.name]
    assert client.containers.get(kept.container).id == before[kept.name]
    assert lab.ssh(lab.state()[victim.name], "true", check=False).returncode == 0


def test_lab_scales_to_32_kvm_nodes(lab_up):
    try:
        state = lab.up(nodes=32)
        names = [host.name for host in state.hosts]
        assert len(state.group("kvm_nodes")) == 32 and names[-1] == "kvm32"
        # Every host answers pyinfra over SSH, host keys checked.
        run = pyinfra("-y", "lab/inventory.py", "exec", "--", "hostname", timeout=300)
        assert run.returncode == 0, run.output
        for name in names:
            assert f"[{name}]" in run.output and f"] {name}\n" in run.output.replace("  ", " ")
    finally:
        state = lab.up(nodes=NODES)
    assert len(state.group("kvm_nodes")) == NODES
