"""Logging from inside an operation, once per run.

pyinfra 3 may run an operation's generator twice (change detection, then
execution; ``-y`` skips the first). Messages meant for the user are logged in
whichever of the two comes first.
"""

from __future__ import annotations

import logging

from pyinfra import host, state
from pyinfra.api import QuoteString, StringCommand

logger = logging.getLogger("pyinfra")


def first_pass() -> bool:
    checks_first = getattr(state, "should_check_for_changes", lambda: False)()
    return not (checks_first and getattr(state, "is_executing", False))


def warn_once(message: str) -> None:
    if first_pass():
        logger.warning(f"{host.print_prefix}{message}")


def error_once(message: str) -> None:
    """Shown while preparing (so ``--dry`` shows it); execution prints its own stderr."""
    if not getattr(state, "is_executing", False) and first_pass():
        logger.error(f"{host.print_prefix}{message}")


def or_noop(commands, message: str):
    """Yield ``commands``, as few remote commands as they can be
    (``_batch.one_command``); if there were none, tell pyinfra why (``host.noop``)."""
    from ._batch import one_command

    empty = True
    for command in one_command(commands):
        empty = False
        yield command
    if empty:
        host.noop(message)


def fail_command(*lines: str) -> StringCommand:
    """The command that fails a host with ``lines`` on its stderr (pyinfra shows
    it): the one way every operation fails a host. ``printf``, not ``echo``: a
    value with a backslash is printed as it was written."""
    return StringCommand("printf", "'%s\\n'", *(QuoteString(line) for line in lines), ">&2; exit 1")
