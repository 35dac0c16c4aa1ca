"""The lab itself: images are reused while their inputs are unchanged, and the
lab scales to 32 KVM nodes on this 2-core machine (then back to the default)."""

from __future__ import annotations

import lab

from .conftest import NODES, pyinfra


def test_images_are_reused_while_their_inputs_are_unchanged(lab_up):
    client = lab.ensure_engine()
    tag = lab.ensure_images(client)
    image_id = client.images.get(tag).id
    assert lab.ensure_images(client) == tag
    assert client.images.get(tag).id == image_id
    # The running hosts use exactly that image.
    for host in lab.hosts():
        assert client.containers.get(host.container).image.id == image_id


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
