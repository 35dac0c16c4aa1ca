"""The confirmation of a network switch, over fresh connections made by pyinfra's own connector.

After ``kvm-cluster-net start`` the host switches detached from SSH and rolls
back by itself unless it is confirmed. The deploy confirms over a connection
opened AFTER the switch: that connection proves the host is reachable with
its new network. Each connection is a new instance of the host's own
connector class (pyinfra's SSH connector, with every ``ssh_*`` setting the
inventory gives: port, user, key and passphrase, known_hosts and host key
policy, ssh config file with its ProxyCommand, retries), never the one the
deploy already holds, which may still ride the old network.
"""

from __future__ import annotations

import logging
import time

from pyinfra.api import StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS

from ._network_switch import BACKUP_DIR, LOG_FILE, SCRIPT

logger = logging.getLogger("pyinfra")

# Between two looks at the switch: it takes about a second on a host, and each
# look is a new connection (a fraction of a second of the management node's CPU).
POLL_INTERVAL = 0.3
# How long a look waits on the host while the switch is under way (``status
# SECONDS``): the answer comes as the switch ends, not at the next look.
STATUS_WAIT = 3
# Between two looks, once the confirmation's time is over, for the host's own
# rollback (at the timeout): each look is one connection attempt (bounded by
# pyinfra's connect timeout where nothing answers at all).
ROLLBACK_POLL_INTERVAL = 0.5


# The connector arguments of the operation that do not say how the command
# runs (who, in which shell and environment) but how pyinfra waits for it:
# the confirmation sets its own.
_HOW_TO_WAIT = {"_timeout", "_get_pty", "_stdin", "_success_exit_codes", "_retries",
                "_retry_delay", "_retry_until"}


def connector_arguments(global_arguments: dict | None) -> dict:
    """The connector arguments (``_sudo``, ``_sudo_user``, ``_env``...) among an
    operation's global arguments (``host.current_op_global_arguments`` while it
    is built): the confirmation runs the host script as the operation that
    started it did."""
    return {key: value for key, value in (global_arguments or {}).items()
            if key in CONNECTOR_ARGUMENT_KEYS and key not in _HOW_TO_WAIT}


def run_fresh(state, host, command: str, arguments: dict, timeout: float) -> tuple[int, str]:
    """Run ``command`` on ``host`` over a NEW connection of its connector class:
    (exit status, its standard output). Raises what the connector raises when the
    host cannot be reached (pyinfra's ``ConnectError``).

    ``timeout`` bounds the command; connecting is bounded by pyinfra's own
    ``--connect-timeout`` (and ``ssh_connect_retries``), as every connection of
    the deploy is. The connection is closed whatever happens; the connector's
    ``disconnect`` is not called: it clears a cache of SFTP clients that every
    connection of the run shares."""
    connector = host.connector_cls(state, host)
    try:
        connector.connect()
        status, output = connector.run_shell_command(
            StringCommand(command), **{**arguments, "_timeout": timeout})
        return (0 if status else 1), output.stdout.strip()
    finally:
        client = getattr(connector, "client", None)
        if client is not None:
            client.close()


def confirm_switch(state, host, txn: str, arguments: dict, timeout: int, address: str):
    """Confirm the switch over fresh connections, or fail the host.

    Polls ``kvm-cluster-net status`` (each time over a new connection, which
    waits on the host up to :data:`STATUS_WAIT` s while the switch is under
    way) until the detached switch has finished; then opens one more
    connection, made after the switch, and confirms. No confirmation before the host's own rollback
    timer: the host restores its previous network by itself; the deploy waits
    for it to answer again and says so.
    """
    paramiko_log = logging.getLogger("paramiko")
    level = paramiko_log.level
    paramiko_log.setLevel(logging.CRITICAL)  # its transport thread logs every refused banner
    try:
        started = time.monotonic()
        confirmed, last = _confirm(state, host, txn, arguments, started + timeout - 5)
        elapsed = time.monotonic() - started
        if confirmed:
            host.log_styled(f"network switched to {address}, confirmed over a new SSH "
                            f"connection after {elapsed:.1f} s", log_func=logger.info)
            return True
        after = _after_rollback(state, host, arguments, started + timeout + 30)
        host.log_styled(
            f"network switch to {address} NOT confirmed within {timeout} s (last answer: {last}); "
            f"{after}; backup in {BACKUP_DIR}/{txn}, log in {LOG_FILE}; nothing more is run "
            "on this host", fg="red", log_func=logger.error)
        return False
    finally:
        paramiko_log.setLevel(level)


def _confirm(state, host, txn: str, arguments: dict, deadline: float) -> tuple[bool, str]:
    last = "no answer"
    switched = False
    while time.monotonic() < deadline:
        try:
            if not switched:
                _rc, last = run_fresh(state, host, f"{SCRIPT} status {STATUS_WAIT}", arguments,
                                      timeout=STATUS_WAIT + 5)
                words = last.split()
                if words and words[0] in ("failed", "rolled-back", "rolling-back", "invalid"):
                    return False, last
                switched = bool(words) and words[0] == "switched" and words[1:2] == [txn]
                if switched:
                    continue  # confirm over the next, newer connection
            else:
                rc, last = run_fresh(state, host, f"{SCRIPT} confirm", arguments, timeout=5)
                if rc == 0:
                    return True, last
        except Exception as error:  # ConnectError, timeouts, paramiko's SSHException...
            last = f"{type(error).__name__}: {error}".strip()
        time.sleep(POLL_INTERVAL)
    return False, last


def _after_rollback(state, host, arguments: dict, deadline: float) -> str:
    """Once the host's rollback timer has fired: is it back? (what to tell the user)"""
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            _rc, last = run_fresh(state, host, f"{SCRIPT} status", arguments, timeout=5)
            if last.split()[:1] == ["rolled-back"]:
                return f"the host rolled back by itself and answers again ({last})"
        except Exception as error:
            last = f"{type(error).__name__}: {error}".strip()
        time.sleep(ROLLBACK_POLL_INTERVAL)
    return f"the host does not answer after its rollback time either (last: {last}): check its console"
