"""The deploy's patches of pyinfra's internals still match the pyinfra installed.

A pyinfra upgrade that changes a function a patch replaces, wraps or relies on
fails here, naming it: read the new source, adapt the patch in
cluster/pyinfra_patches.py, then record the new digest there.
"""

import pytest

from cluster import pyinfra_patches


@pytest.mark.parametrize("dotted", sorted(pyinfra_patches.REPLACED))
def test_what_a_patch_replaces_is_unchanged(dotted):
    assert pyinfra_patches.source_digest(dotted) == pyinfra_patches.REPLACED[dotted], (
        f"{dotted} changed in this pyinfra: check the patch in cluster/pyinfra_patches.py")


def test_the_patches_take_effect_once():
    import pyinfra.api.operations as operations
    import pyinfra.api.util as util

    pyinfra_patches.lost_connection_fails_the_host()
    pyinfra_patches.cheap_call_sites()
    wrapped, stack = operations._run_host_op_with_context, util.stack
    assert wrapped.kvm_cluster_patched and stack.kvm_cluster_patched
    pyinfra_patches.lost_connection_fails_the_host()
    pyinfra_patches.cheap_call_sites()
    assert operations._run_host_op_with_context is wrapped and util.stack is stack
    # Same call sites as pyinfra's own lookup, without reading source lines.
    frame = util.getframeinfo(util.stack()[1][0])
    assert frame.code_context is None and frame.filename == __file__
