"""The deploy's five patches of pyinfra's internals, in one place.

All are applied by deploy.py (:func:`apply`) before any operation is added,
and each names the pyinfra functions it relies on in :data:`REPLACED`, with
a digest of their source: tests/unit/test_pyinfra_patches.py fails when a pyinfra upgrade
changes any of them, so a patch is never silently lost or wrong.

1. :func:`lost_connection_fails_the_host` (a host that dies mid-deploy must fail alone).

   pyinfra 3.10 runs each operation on every host in a greenlet and re-raises
   whatever a greenlet raised, which stops the whole run. A host that loses
   power mid-operation makes paramiko raise ``EOFError`` (which pyinfra does not
   catch), or makes a fact come back as ``None`` that a built-in operation then
   trips over (``TypeError``): either way every other host stops too, with "An
   internal exception occurred". :func:`lost_connection_fails_the_host` wraps
   pyinfra's per-host operation runner: an exception on a host whose SSH
   connection is gone fails that host (reported, like any failed host) and the
   others carry on. Any other exception is still a bug and still stops the run.
   A command that fails because its connection died (pyinfra reports only
   "executed 0 commands") is reported as the lost connection it is.
   Checked by tests/live/test_faults.py.

2. :func:`cheap_call_sites` (cheaper call-site lookups for pyinfra's operation ordering).

   pyinfra 3.10 orders operations by the line numbers of their call sites and
   finds them with ``inspect.stack()`` and ``inspect.getframeinfo(frame)``,
   which by default also read one line of source per frame (``findsource``
   walks every loaded module to map each frame to its file), and even without
   source look for each frame's file on disk and walk its code's position
   table. Only file names and line numbers are used: the patch walks the
   frames itself (``sys._getframe``, as ``inspect.stack`` does) and gives each
   frame's line (``f_lineno``) and its file as ``inspect`` names it (looked up
   once per file). pyinfra gets exactly the same order (checked against
   ``inspect`` in tests/unit/test_pyinfra_patches.py). Measured on this
   deploy, under the profiler: about 4 ms per operation call with the source
   lines, 0.57 ms without them, 0.04 ms now (docs/benchmarks.md).

3. :func:`commands_without_nagle` (a remote command costs its work, not a 40 ms stall).

   paramiko sets no socket option: Nagle's algorithm stays on on pyinfra's SSH
   connections. Opening a channel and running a command sends several small
   packets in a row; the second waits for the host to acknowledge the first,
   and Linux delays that acknowledgement by 40 ms. Measured on the lab (the
   same over Docker's port proxy and straight to the container): ``true`` over
   an open connection takes 48 ms, 3 ms with ``TCP_NODELAY`` (as OpenSSH's own
   client sets for interactive sessions). Every command of a deploy paid it:
   the probe of a no-op, each of a converge's 50-odd commands per host.
   :func:`commands_without_nagle` sets ``TCP_NODELAY`` on the current host's
   open connection (pyinfra connects every host before it runs deploy.py) and
   on every connection opened later (the network switch's confirmations, a
   reconnect after a reboot) by wrapping the SSH connector's ``connect``.

4. :func:`constant_global_arguments` (the global arguments' list read once).

   Every operation and ``@deploy`` call pops pyinfra's global arguments
   (``_sudo``, ``_serial``...) and asks ``all_global_arguments()`` for their
   names and types, which calls ``typing.get_type_hints`` on the same class
   each time: about 0.3 ms per call, 15 ms per host of a no-op, the largest
   single share of the deploy file's own CPU. The answer depends only on the
   class, fixed when pyinfra is imported: the patch computes it once and
   hands each caller a fresh list of it.

5. :func:`cheap_data_misses` (a global argument set nowhere costs no exceptions).

   Each of those calls also looks each global argument up in ``host.data``
   (``getattr(host.data, "_sudo", sentinel)``...): 32 names, nearly all set
   nowhere. A name set nowhere costs two exceptions (Python's own, then
   ``HostData.__getattr__``'s ``AttributeError`` after a caught ``KeyError``
   from each data source), and each lookup calls every data source again
   (the host's groups' data merged into a new dict each time). The patch is
   pyinfra's ``pop_global_arguments`` with that one lookup made by
   :func:`_data_value`: the sources read once per call (:func:`_data_sources`;
   nothing between two lookups there can change them), a plain dict asked
   whether it holds the name before it is read (any other source read as
   pyinfra reads it): the same value, copied the same way, from the same
   source (checked against ``HostData.__getattr__`` and against pyinfra's
   own function in tests/unit/test_pyinfra_patches.py).
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
import sys

from paramiko import SSHException

logger = logging.getLogger("pyinfra")

# What the patches replace, wrap or rely on (the callers that look the wrapped
# runner up by its module-global name), and the sha1 of each one's source in
# the pyinfra they were written against (3.10.0).
REPLACED = {
    "pyinfra.api.arguments.all_global_arguments": "878c01eb24e42411fcf46df4d5ce7a1f348623b9",
    "pyinfra.api.arguments.pop_global_arguments": "e5164706aaba7e260bce0e8b9932c3db87f56b10",
    "pyinfra.api.facts.FactBase.__init_subclass__": "53dd5cdcce8d6aa6a0bfc571b216613ddba005ae",
    "pyinfra.api.host.HostData.__getattr__": "e33a43e0c23739d9946f221f7586459982a96a72",
    "pyinfra.api.host.HostData.__init__": "9e940abecaad588615da0e55d418a33fd9a5883d",
    "pyinfra.api.host.extract_callable_datas": "66e85241d9a8a06fbab1505aa9b79a2c71b07a9d",
    "pyinfra.api.operations._run_host_op_with_context": "10e9dc15276d58eb6346ec89ee73c22e049a4c3c",
    "pyinfra.api.operations._run_host_ops": "501b668e821b32012800b9d981c353d5076de99d",
    "pyinfra.api.operations._run_single_op": "1999361e551d63ba80f0ca8c17dde009877343dc",
    "pyinfra.api.util.get_caller_frameinfo": "6f8ab90160894cfb10fc5a0a8455a5824eb4d5aa",
    "pyinfra.api.util.get_operation_order_from_stack": "7645c6215f53f600315655c01a1382d577214924",
    "pyinfra.connectors.ssh.SSHConnector.connect": "ad7197975046a525ed083d042d83a2a5daac6944",
}


def source_digest(dotted: str) -> str:
    """sha1 of the source of the pyinfra function ``dotted``."""
    import hashlib
    import importlib

    # The longest importable prefix is the module; the rest are attributes
    # (a function, or a class and its method).
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            function = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            function = getattr(function, name)
        break
    return hashlib.sha1(inspect.getsource(function).encode()).hexdigest()


def connection_lost(host) -> bool:
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    return transport is None or not transport.is_active()


def connection_dead(host) -> bool:
    """After a failed command: is the connection gone? paramiko may not have
    seen the socket close yet (a host killed mid-command), so a trivial
    command is sent to find out (one round trip, only when a command failed)."""
    from pyinfra.api import StringCommand

    if connection_lost(host):
        return True
    try:
        status, _ = host.run_shell_command(StringCommand("true"), _timeout=15)
    except Exception:
        return True
    return not status or connection_lost(host)


def lost_connection_fails_the_host() -> None:
    import pyinfra.api.operations as operations

    original = operations._run_host_op_with_context
    if getattr(original, "kvm_cluster_patched", False):
        return

    def run_host_op(state, host, op_hash):
        try:
            result = original(state, host, op_hash)
        except Exception as error:
            if isinstance(error, (EOFError, SSHException, OSError)) or connection_lost(host):
                logger.error(f"{host.print_prefix}the connection to this host was lost "
                             f"({type(error).__name__}: {error}); it is marked failed")
                return False
            raise
        # A command whose connection died fails without an exception: say why.
        if result is False and connection_dead(host):
            logger.error(f"{host.print_prefix}the connection to this host was lost; it is marked failed")
        return result

    run_host_op.kvm_cluster_patched = True
    operations._run_host_op_with_context = run_host_op


def _stack():
    """``inspect.stack(0)`` as pyinfra reads it: the frames from the caller
    outwards, each the first item of its entry."""
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append((frame,))
        frame = frame.f_back
    return frames


# A frame's file as inspect names it, by the file its code was compiled from
# (code objects compare equal across files: they cannot be the key).
_SOURCE_FILES: dict[str, str] = {}


def _getframeinfo(frame):
    """``inspect.getframeinfo(frame, 0)``: the frame's file (as ``inspect``
    names it, looked up once per file) and line, no source."""
    code = frame.f_code
    filename = _SOURCE_FILES.get(code.co_filename)
    if filename is None:
        filename = _SOURCE_FILES[code.co_filename] = inspect.getsourcefile(code) or inspect.getfile(code)
    return inspect.Traceback(filename, frame.f_lineno, code.co_name, None, None)


def cheap_call_sites() -> None:
    import pyinfra.api.util as util

    if getattr(util.stack, "kvm_cluster_patched", False):
        return
    _stack.kvm_cluster_patched = True
    util.stack = _stack
    util.getframeinfo = _getframeinfo


def constant_global_arguments() -> None:
    import pyinfra.api.arguments as arguments
    import pyinfra.api.facts as facts

    original = arguments.all_global_arguments
    if getattr(original, "kvm_cluster_patched", False):
        return
    names_and_types = tuple(original())

    @functools.wraps(original)
    def all_global_arguments() -> list:
        return list(names_and_types)

    all_global_arguments.kvm_cluster_patched = True
    arguments.all_global_arguments = facts.all_global_arguments = all_global_arguments


def _data_sources(data) -> list:
    """A ``HostData``'s sources as its ``__getattr__`` reads them, in order
    (``extract_callable_datas``: each callable called, now): the deploy's
    assignments, the host's data, its groups' (merged at each call), the
    inventory's, the current @deploy's."""
    return [source() if callable(source) else source for source in data.datas]


def _data_value(data, sources: list, key: str, missing, own_attributes=frozenset()):
    """``getattr(data, key, missing)`` for pyinfra's ``HostData`` ``data``, as
    its ``__getattr__`` reads it (the first of ``sources`` holding ``key``,
    the value copied), without exceptions for a plain dict that does not
    hold it. ``own_attributes``: the class's (its methods), which getattr
    finds before ``__getattr__``."""
    if key in data.__dict__ or key in own_attributes:
        return getattr(data, key)  # the object's own attribute, not data (host, datas, get)
    for source in sources:
        if type(source) is dict and key not in source:
            continue
        try:
            return copy.copy(source[key])
        except KeyError:
            pass
    return missing


def _cheap_pop_global_arguments(original):
    """pyinfra's ``pop_global_arguments`` (pyinfra.api.arguments, 3.10), its
    lookup in ``host.data`` made by :func:`_data_value`; the rest as written
    there."""
    import pyinfra.api.arguments as arguments
    from pyinfra.api.exceptions import ArgumentTypeError
    from pyinfra.api.host import HostData
    from pyinfra.api.util import raise_if_bad_type
    from pyinfra.context import ctx_config

    all_argument_meta, default_sentinel = arguments.all_argument_meta, arguments.default_sentinel
    own_attributes = frozenset(dir(HostData))

    @functools.wraps(original)
    def pop_global_arguments(state, host, kwargs):
        config = state.config
        if ctx_config.isset():
            config = ctx_config.get()
            assert config is not None

        cdkwargs = host.current_deploy_kwargs
        meta_kwargs = cdkwargs or {}

        arguments_ = {}
        found_keys = []
        # Read once for all the names, not once per name: nothing between two
        # lookups here runs code that could change them (pyinfra's defaults
        # and handlers of its own arguments only).
        data = host.data
        sources = _data_sources(data)

        # Through the module, as pyinfra's looks it up (patch 4's).
        for key, type_ in arguments.all_global_arguments():
            argument_meta = all_argument_meta[key]
            handler = argument_meta.handler
            default = argument_meta.default(config)

            host_default = _data_value(data, sources, key, default_sentinel, own_attributes)
            if host_default is not default_sentinel:
                default = host_default

            if key in kwargs:
                found_keys.append(key)
                value = kwargs.pop(key)
            else:
                value = meta_kwargs.get(key, default)

            if handler:
                value = handler(config, value)

            if value != default:
                raise_if_bad_type(
                    value,
                    type_,
                    ArgumentTypeError,
                    f"Invalid argument `{key}`:",
                )

            arguments_[key] = value
        return arguments_, found_keys

    return pop_global_arguments


# The modules that imported pop_global_arguments by name.
POP_GLOBAL_ARGUMENTS_USERS = ("pyinfra.api.arguments", "pyinfra.api.deploy", "pyinfra.api.facts",
                              "pyinfra.api.operation")


def cheap_data_misses() -> None:
    import importlib

    # import_module, not "import pyinfra.api.operation as ...": pyinfra.api
    # names its decorators after these modules (pyinfra.api.operation is
    # the @operation function there).
    modules = [importlib.import_module(name) for name in POP_GLOBAL_ARGUMENTS_USERS]
    original = modules[0].pop_global_arguments
    if getattr(original, "kvm_cluster_patched", False):
        return
    patched = _cheap_pop_global_arguments(original)
    patched.kvm_cluster_patched = True
    for module in modules:
        module.pop_global_arguments = patched


def no_delay(connector) -> bool:
    """Set ``TCP_NODELAY`` on an SSH connector's open connection: False when it
    has none (not connected, or not an SSH connector)."""
    import socket

    client = getattr(connector, "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if sock is None or getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return False  # not connected, or a proxy command's pipe: no TCP here
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # closed meanwhile: pyinfra reports the lost connection itself
        return False
    return True


def commands_without_nagle(host=None) -> None:
    """``TCP_NODELAY`` on ``host``'s open connection and on every SSH
    connection opened from now on."""
    from pyinfra.connectors.ssh import SSHConnector

    original = SSHConnector.connect
    if not getattr(original, "kvm_cluster_patched", False):
        @functools.wraps(original)
        def connect(self) -> None:
            result = original(self)
            no_delay(self)
            return result

        connect.kvm_cluster_patched = True
        SSHConnector.connect = connect
    if host is not None:
        no_delay(host.connector)


def apply(host=None) -> None:
    """All five, each once (``host``: the current host, whose connection is
    already open)."""
    lost_connection_fails_the_host()
    cheap_call_sites()
    constant_global_arguments()
    cheap_data_misses()
    commands_without_nagle(host)
