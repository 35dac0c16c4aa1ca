"""Writing files: each in one remote command, decided from the probe's digest
(put_file); files.put, with commands that must run just before its upload, for the rest."""

from __future__ import annotations

import hashlib
import logging
import posixpath
import shlex
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
    # The backup directory is root's alone: a backup may hold keys or secrets.
    make = ["mkdir", "-p", QuoteString(directory), "&&", "chmod", "700", QuoteString(directory), "&&"] \
        if directory else []
    return StringCommand(
        "if [ -f", QuoteString(path), "]; then", *make, "cp -p", QuoteString(path),
        QuoteString(backup_path(path, directory)), "; fi",
    )


def digest_matches(current: dict | None, content: str, mode: str, user: str, group: str) -> bool:
    """Does the file, as ``facts.files`` saw it, already hold exactly this?"""
    wanted = {"mode": str(mode).lstrip("0") or "0", "user": user, "group": group, "sha1": sha1(content)}
    return bool(current) and all(current.get(key) == value for key, value in wanted.items())


def sha1(content: str) -> str:
    return hashlib.sha1(content.encode()).hexdigest()


# The whole command (content included, quoted once more by ``sh -c``) is one
# argument, which Linux limits to 128 KiB: larger files go through files.put's upload.
ONE_COMMAND_LIMIT = 120 * 1024


def put_file(path: str, content: str, *, mode: str = "644", user: str = "root", group: str = "root",
             current: dict | None = None, backup: bool = True, check: StringCommand | str | None = None,
             secret: bool = False, backup_dir: str | None = None, probed: bool = True) -> Iterator:
    """Write ``content`` to ``path`` (for ``yield from`` inside an operation).

    ``current`` is the file's digest from ``facts.files`` (read in the batched
    probe; None: no such file): when it already matches, nothing is yielded
    and no fact is read, so a no-op re-run costs nothing here. Otherwise the
    file is written in one remote command (:func:`write_command`): ``check``
    (a command that must pass, e.g. a syntax check of the new content) first,
    the old file kept as ``PATH.<timestamp>`` (``backup``; in ``backup_dir``
    if given), the new one written beside it and renamed over it, so a reader
    (a running script, a daemon) sees the old file or the new one, whole.
    ``--diff`` shows the change as pyinfra shows its own uploads. A ``secret``
    (a private key) is never shown by ``--diff``. ``probed=False`` (the probe
    did not read this file), a symlink, or a file too large for one command:
    ``files.put`` does the work, reading the file's facts itself.
    """
    if digest_matches(current, content, mode, user, group):
        return
    if secret:
        yield from _put_secret(path, content, mode, user, group)
        return
    command = write_command(path, content, mode, user, group, backup=backup, backup_dir=backup_dir, check=check)
    too_long = len(shlex.quote(command.get_raw_value()).encode()) > ONE_COMMAND_LIMIT
    if not probed or (current or {}).get("link") or too_long:
        upload = files.put._inner(src=StringIO(content), dest=path, mode=mode, user=user, group=group)
        commands = []
        if check is not None:
            commands.append(check)
        if backup:
            commands.append(backup_command(path, backup_dir))
        yield from before_upload(upload, commands)
        return
    show_diff(path, content)
    yield command


def write_command(path: str, content: str, mode: str, user: str, group: str, *, backup: bool = True,
                  backup_dir: str | None = None, check: StringCommand | str | None = None) -> StringCommand:
    """One command that writes ``content`` to ``path``: ``check`` must pass,
    the old file is backed up, the new one is written next to it with its
    owner and mode, then renamed over it (where a step fails, the file is as
    it was)."""
    # Hidden beside the file, and removed if the write fails: a daemon that
    # reads its whole directory (dnsmasq, ifupdown's interfaces.d) skips dotfiles.
    new = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.kvm-cluster-new")
    bits: list = []
    if check is not None:
        # In a subshell: a check may end with ``exit`` (checked_content does).
        bits += ["(", check, ")", "&&"]
    bits += ["mkdir", "-p", QuoteString(posixpath.dirname(path)), "&&"]
    if backup:
        bits += ["{", backup_command(path, backup_dir), ";", "}", "&&"]
    target = QuoteString(path)
    bits += ["printf", "'%s'", QuoteString(content), ">", QuoteString(new),
             "&&", "chown", f"{user}:{group}", QuoteString(new),
             "&&", "chmod", str(mode), QuoteString(new),
             # A file mounted over (a bind-mounted /etc/resolv.conf) cannot be
             # renamed over: it is written in place, as pyinfra's upload does.
             "&&", "if", "mountpoint", "-q", target, "2>/dev/null;", "then",
             "cat", QuoteString(new), ">", target, "&&", "chown", f"{user}:{group}", target,
             "&&", "chmod", str(mode), target, "&&", "rm", "-f", QuoteString(new), ";",
             "else", "mv", "-f", QuoteString(new), target, ";", "fi",
             "||", "{", "rm", "-f", QuoteString(new), ";", "exit", "1", ";", "}"]
    return StringCommand(*bits)


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
