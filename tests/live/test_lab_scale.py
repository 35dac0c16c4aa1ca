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
