"""Several remote commands as one: each command pyinfra runs is an SSH session
with its own PAM session on the host (about 50 ms on a lab host under load),
so an operation's commands are sent together where they can be."""

from __future__ import annotations

from collections.abc import Iterable

from pyinfra.api import StringCommand


def one_command(commands: Iterable) -> list:
    """``commands`` with every run of consecutive shell commands joined into
    one: run in order, the first that fails stops the rest and fails the
    operation, as separate commands would. Other commands (an upload, a
    function run on the management node) stay as they are, in their place."""
    result: list = []
    run: list = []

    def flush():
        if len(run) == 1:
            result.append(run[0])
        elif run:
            bits: list = []
            for command in run:
                # Each in a subshell: an ``exit`` in one ends only that one.
                bits += (["&&"] if bits else []) + ["(", command, ")"]
            result.append(StringCommand(*bits))
        run.clear()

    for command in commands:
        if isinstance(command, str):
            command = StringCommand(command)
        if type(command) is StringCommand and not command.connector_arguments:
            run.append(command)
        else:
            flush()
            result.append(command)
    flush()
    return result
