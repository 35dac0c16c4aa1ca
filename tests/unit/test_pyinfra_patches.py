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
    import pyinfra.api.arguments as arguments
    import pyinfra.api.facts as facts
    import pyinfra.api.operations as operations
    import pyinfra.api.util as util

    pyinfra_patches.lost_connection_fails_the_host()
    pyinfra_patches.cheap_call_sites()
    pyinfra_patches.constant_global_arguments()
    pyinfra_patches.cheap_data_misses()
    wrapped, stack, global_arguments, popped = (
        operations._run_host_op_with_context, util.stack, arguments.all_global_arguments,
        arguments.pop_global_arguments)
    assert wrapped.kvm_cluster_patched and stack.kvm_cluster_patched
    assert global_arguments.kvm_cluster_patched and facts.all_global_arguments is global_arguments
    assert popped.kvm_cluster_patched and facts.pop_global_arguments is popped
    pyinfra_patches.lost_connection_fails_the_host()
    pyinfra_patches.cheap_call_sites()
    pyinfra_patches.constant_global_arguments()
    pyinfra_patches.cheap_data_misses()
    assert operations._run_host_op_with_context is wrapped and util.stack is stack
    assert arguments.all_global_arguments is global_arguments
    assert arguments.pop_global_arguments is popped


def _call_sites_through(depth, patched):
    """Each frame's (file, line, function, context, index), ``depth`` nested
    calls down (one a call written over several lines), as pyinfra reads a
    stack: through the patch, or through inspect itself."""
    import inspect

    import pyinfra.api.util as util

    if depth:
        return _call_sites_through(
            depth - 1,
            patched,
        )
    if patched:
        stack, getframeinfo = util.stack(), util.getframeinfo
    else:
        stack, getframeinfo = inspect.stack(0), lambda frame: inspect.getframeinfo(frame, 0)
    return [tuple(getframeinfo(item[0]))[:5] for item in stack]


def test_call_sites_are_inspects_own():
    """The same frames, files and lines as inspect gives pyinfra, without the
    source: the first entry the caller's frame, as inspect.stack() has it."""
    pyinfra_patches.cheap_call_sites()
    ours, theirs = _call_sites_through(3, True), _call_sites_through(3, False)
    assert ours[0][2] == "_call_sites_through" and ours[0][3:] == (None, None)
    assert len(ours) == len(theirs) > 5
    # The same frames but the first (the two lookups are on different lines)
    # and this test's (its two calls too).
    assert ours[0][:1] == theirs[0][:1] and ours[1:4] == theirs[1:4]
    assert ours[4][:1] == theirs[4][:1] and ours[5:] == theirs[5:]


def test_the_same_code_in_two_files_keeps_each_files_name(tmp_path):
    """Code objects compare equal across files (same name, line and body):
    each frame is still named by its own file, as inspect names it."""
    import inspect

    import pyinfra.api.util as util

    pyinfra_patches.cheap_call_sites()
    body = "import sys\ndef where():\n    return sys._getframe()\n"
    frames = []
    for name in ("a.py", "b.py"):
        path = tmp_path / name
        path.write_text(body)
        namespace = {}
        exec(compile(body, str(path), "exec"), namespace)
        frames.append(namespace["where"]())
    assert frames[0].f_code == frames[1].f_code  # why the code cannot be the key
    for frame, name in zip(frames, ("a.py", "b.py")):
        assert util.getframeinfo(frame).filename == inspect.getframeinfo(frame, 0).filename == str(tmp_path / name)


def test_the_global_arguments_are_pyinfras_own():
    from typing import get_type_hints

    from pyinfra.api.arguments import AllArguments

    pyinfra_patches.constant_global_arguments()
    from pyinfra.api import arguments

    first, second = arguments.all_global_arguments(), arguments.all_global_arguments()
    assert first == list(get_type_hints(AllArguments).items()) and first is not second
    first.clear()  # a caller's change is its own
    assert arguments.all_global_arguments() == second


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


class _Mapping:
    """A data source that is not a dict (pyinfra reads any ``[key]``-able one)."""

    def __init__(self, values):
        self.values = values

    def __getitem__(self, key):
        return self.values[key]


class _Host:
    current_deploy_kwargs = None

    def __init__(self, data):
        from pyinfra.api.host import HostData

        self.data = HostData(self, *data)

    def __str__(self):
        return "kvm01"


def _host_with_data():
    """The host's own data, a mapping, @deploy's callable data, a group's."""
    host = _Host([{"ssh_port": 22, "shared": "host", "_sudo": True}, _Mapping({"in_mapping": {"m": 1}}),
                  lambda: {"from_deploy": ["d"], "_serial": True}, {"shared": "group", "in_group": ["g"],
                                                                   "_env": {"A": "1"}}])
    host.data.assigned = "now"  # as a deploy file may
    return host


def test_host_data_values_are_what_host_data_gives():
    """:func:`_data_value` against ``getattr(host.data, key, sentinel)``, pyinfra's
    own lookup, on every kind of source and for names set nowhere."""
    from pyinfra.api.arguments import default_sentinel

    data = _host_with_data().data
    for key in ("ssh_port", "shared", "in_mapping", "from_deploy", "in_group", "_sudo", "_serial",
                "assigned", "_env", "_timeout", "nowhere", "host", "datas", "get"):
        sources = pyinfra_patches._data_sources(data)
        assert pyinfra_patches._data_value(data, sources, key, default_sentinel, frozenset(dir(type(data)))) \
            == getattr(data, key, default_sentinel), key
    # Copied, as pyinfra copies: changing what was read changes no source.
    pyinfra_patches._data_value(data, pyinfra_patches._data_sources(data), "in_group", None).append("changed")
    assert data.in_group == ["g"]


def test_global_arguments_are_popped_as_pyinfra_pops_them():
    """The patched ``pop_global_arguments`` against pyinfra's: the same
    arguments (from the call, the host's data, the defaults) and keys found."""
    import sys

    import pyinfra.api.arguments as arguments
    from pyinfra.api import Config, State

    pyinfra_patches.cheap_data_misses()
    patched = arguments.pop_global_arguments
    original = patched.__wrapped__
    # Where pyinfra's @operation and @deploy look it up (the modules, which
    # pyinfra.api's decorators of the same names hide as attributes).
    for name in ("pyinfra.api.operation", "pyinfra.api.deploy", "pyinfra.api.facts"):
        assert sys.modules[name].pop_global_arguments is patched, name
    state = State(check_for_changes=False)
    state.config = Config()
    host = _host_with_data()
    for call in ({}, {"_sudo": False, "_timeout": 5, "name": "An operation", "path": "/x"}):
        expected_kwargs, kwargs = dict(call), dict(call)
        assert patched(state, host, kwargs) == original(state, host, expected_kwargs)
        assert kwargs == expected_kwargs  # the same left for the operation itself
