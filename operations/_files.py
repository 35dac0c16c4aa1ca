"""Composing file uploads with commands that must run just before them."""

from __future__ import annotations

import hashlib
import logging
import posixpath
from collections.abc import Iterable, Iterator
from io import StringIO

from pyinfra.api import QuoteString, StringCommand
from pyinfra.operations import files
from pyinfra.operations.util import files as file_utils


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


def backup_path(path: str, directory: str | None = None) -> str:
    """Where the file being replaced is kept: ``PATH.<timestamp>`` (pyinfra's
    own backup naming), or ``DIRECTORY/NAME.<timestamp>`` for a file in a
    directory a daemon reads whole (a backup there would be read too)."""
    if directory is None:
        return f"{path}.{file_utils.get_timestamp()}"
    return f"{directory}/{posixpath.basename(path)}.{file_utils.get_timestamp()}"


def backup_command(path: str, directory: str | None = None) -> StringCommand:
    """Keep the file being replaced (if there is one) at :func:`backup_path`."""
    make = ["mkdir", "-p", QuoteString(directory), "&&"] if directory else []
    return StringCommand(
        "if [ -f", QuoteString(path), "]; then", *make, "cp -p", QuoteString(path),
        QuoteString(backup_path(path, directory)), "; fi",
    )


def digest_matches(current: dict | None, content: str, mode: str, user: str, group: str) -> bool:
    """Does the file, as ``facts.files`` saw it, already hold exactly this?"""
    return bool(current) and current == {
        "mode": str(mode).lstrip("0") or "0", "user": user, "group": group, "sha1": sha1(content),
    }


def sha1(content: str) -> str:
    return hashlib.sha1(content.encode()).hexdigest()


def put_file(path: str, content: str, *, mode: str = "644", user: str = "root", group: str = "root",
             current: dict | None = None, backup: bool = True, check: StringCommand | str | None = None,
             secret: bool = False, backup_dir: str | None = None, atomic: bool = False) -> Iterator:
    """Write ``content`` to ``path`` (for ``yield from`` inside an operation).

    ``current`` is the file's digest from ``facts.files`` (read in the batched
    probe): when it already matches, nothing is yielded and no fact is read,
    so a no-op re-run costs nothing here. Otherwise ``files.put._inner`` does
    the work, with ``--diff`` for free; the old file is kept as
    ``PATH.<timestamp>`` (``backup``; in ``backup_dir`` if given) and ``check``
    (a command that must pass,
    e.g. a syntax check of the new content) runs first. A ``secret`` (a
    private key) is never shown by ``--diff``. ``atomic`` replaces the file
    by a rename (pyinfra's upload writes in place): for a script that may be
    running while it is replaced (``sh`` reads its script as it goes).
    """
    if digest_matches(current, content, mode, user, group):
        return
    if secret:
        yield from _put_secret(path, content, mode, user, group)
        return
    if atomic:
        yield from _put_by_rename(path, content, mode, user, group, backup, backup_dir)
        return
    upload = files.put._inner(src=StringIO(content), dest=path, mode=mode, user=user, group=group)
    commands = []
    if check is not None:
        commands.append(check)
    if backup:
        commands.append(backup_command(path, backup_dir))
    yield from before_upload(upload, commands)


def checked_content(content: str, check: str) -> StringCommand:
    """A command that writes ``content`` to a temporary file and runs ``check``
    on it (``{}`` is the file's path): fails, and stops the operation, when the
    check fails, before anything is installed."""
    return StringCommand(
        "check=$(mktemp) && printf '%s'", QuoteString(content), '> "$check" &&',
        check.replace("{}", '"$check"'), '; status=$?; rm -f "$check" ; exit $status',
    )


def _put_secret(path: str, content: str, mode: str, user: str, group: str) -> Iterator:
    """Upload a secret (a private key) without ``files.put``, whose ``--diff``
    would print it: the change is announced, never shown. (Switching
    ``--diff`` off around ``files.put`` is not safe: the config is shared by
    every host's greenlet, and another host could print while it is off here
    and on there.)"""
    from pyinfra import host, state
    from pyinfra.api.command import FileUploadCommand

    if state.config.DIFF:
        host.log(f"Will write {path} (a secret: its content is not shown)", logging.getLogger("pyinfra").info)
    # Into a directory only root can enter, over a file already 0600: the
    # content is never readable by others, not even between upload and chmod.
    directory = posixpath.dirname(path)
    yield StringCommand("mkdir", "-p", QuoteString(directory), "&&", "chmod", "700", QuoteString(directory),
                        "&&", "{", "[", "-e", QuoteString(path), "]", "||", "install", "-m", "600",
                        "/dev/null", QuoteString(path), ";", "}")
    yield FileUploadCommand(StringIO(content), path, remote_temp_filename=host.get_temp_filename(path))
    yield file_utils.chown(path, user, group)
    yield file_utils.chmod(path, mode)


def show_diff(path: str, content: str) -> None:
    """With ``--diff``: the change to ``path``, as pyinfra shows its own uploads
    (for files written without ``files.put``)."""
    from pyinfra import host, state
    from pyinfra.facts.files import FileContents

    from ._log import first_pass

    if not getattr(state.config, "DIFF", False) or not first_pass():
        return
    old = host.get_fact(FileContents, path=path)
    log = logging.getLogger("pyinfra")
    host.log(f"Will {'modify' if old is not None else 'create'} {path}", log.info)
    for line in file_utils.generate_color_diff([f"{line}\n" for line in old or []],
                                               content.splitlines(True)):
        log.info("  %s", line)
    log.info("")


def _put_by_rename(path: str, content: str, mode: str, user: str, group: str, backup: bool,
                   backup_dir: str | None) -> Iterator:
    """Upload next to ``path``, then rename over it: a reader that has the old
    file open keeps it whole."""
    from pyinfra import host
    from pyinfra.api.command import FileUploadCommand

    show_diff(path, content)
    if backup:
        yield backup_command(path, backup_dir)
    temporary = f"{path}.kvm-cluster-tmp"
    yield StringCommand("mkdir", "-p", QuoteString(posixpath.dirname(path)))
    yield FileUploadCommand(StringIO(content), temporary, remote_temp_filename=host.get_temp_filename(temporary))
    yield file_utils.chown(temporary, user, group)
    yield file_utils.chmod(temporary, mode)
    yield StringCommand("mv", "-f", QuoteString(temporary), QuoteString(path))
