"""Composing file uploads with commands that must run just before them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def before_upload(upload: Iterator, commands: Iterable) -> Iterator:
    """Yield ``commands``, then the upload's commands, only if the upload changes anything.

    ``files.put._inner`` decides whether the file changes (and, with ``--diff``,
    prints the diff) before its first command. pyinfra's change detection stops
    at an operation's first command, so the upload must be advanced first for
    ``--dry --diff`` to show the change; a backup or a validation then runs
    before the upload itself.
    """
    first = next(upload, None)
    if first is None:
        return
    yield from commands
    yield first
    yield from upload
