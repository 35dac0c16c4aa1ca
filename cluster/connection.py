"""A host that dies mid-deploy must fail alone.

pyinfra 3.10 runs each operation on every host in a greenlet and re-raises
whatever a greenlet raised, which stops the whole run. A host that loses
power mid-operation makes paramiko raise ``EOFError`` (which pyinfra does not
catch), or makes a fact come back as ``None`` that a built-in operation then
trips over (``TypeError``): either way every other host stops too, with "An
internal exception occurred". :func:`lost_connection_fails_the_host` wraps
pyinfra's per-host operation runner: an exception on a host whose SSH
connection is gone fails that host (reported, like any failed host) and the
others carry on. Any other exception is still a bug and still stops the run.
Checked by tests/live/test_faults.py.
"""

from __future__ import annotations

import logging

from paramiko import SSHException

logger = logging.getLogger("pyinfra")


def connection_lost(host) -> bool:
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    return transport is None or not transport.is_active()


def lost_connection_fails_the_host() -> None:
    import pyinfra.api.operations as operations

    original = operations._run_host_op_with_context
    if getattr(original, "kvm_cluster_patched", False):
        return

    def run_host_op(state, host, op_hash):
        try:
            return original(state, host, op_hash)
        except Exception as error:
            if isinstance(error, (EOFError, SSHException, OSError)) or connection_lost(host):
                logger.error(f"{host.print_prefix}the connection to this host was lost "
                             f"({type(error).__name__}: {error}); it is marked failed")
                return False
            raise

    run_host_op.kvm_cluster_patched = True
    operations._run_host_op_with_context = run_host_op
