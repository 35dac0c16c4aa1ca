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


def test_commands_without_nagle_sets_tcp_nodelay_on_the_connection_and_later_ones():
    """On a real TCP connection: the option pyinfra's SSH connections get, on
    the current host's open one and on every one opened after (the network
    switch's confirmations reconnect)."""
    import socket
    from types import SimpleNamespace

    from pyinfra.connectors.ssh import SSHConnector

    def connector_on(sock):
        transport = SimpleNamespace(sock=sock)
        return SimpleNamespace(client=SimpleNamespace(get_transport=lambda: transport))

    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname()) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        pyinfra_patches.commands_without_nagle(SimpleNamespace(connector=connector_on(sock)))
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    # Not connected, or not over TCP: nothing to set, and no error.
    assert not pyinfra_patches.no_delay(SimpleNamespace(client=None))
    assert not pyinfra_patches.no_delay(connector_on(None))
    left, right = socket.socketpair()
    with left, right:
        assert not pyinfra_patches.no_delay(connector_on(left))
    # Closed since (the host went away after pyinfra connected): no error either.
    closed = socket.socket()
    closed.close()
    assert not pyinfra_patches.no_delay(connector_on(closed))

    patched = SSHConnector.connect
    assert patched.kvm_cluster_patched
    pyinfra_patches.commands_without_nagle()
    assert SSHConnector.connect is patched  # once
