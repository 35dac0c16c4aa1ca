"""operations._batch.one_command: shell commands run together, in order."""

from __future__ import annotations

import subprocess
from io import StringIO

from pyinfra.api import StringCommand
from pyinfra.api.command import FileUploadCommand

from operations._batch import one_command


def test_consecutive_commands_become_one_that_stops_at_the_first_failure(tmp_path):
    log = tmp_path / "log"
    commands = one_command([f"echo one >> {log}", StringCommand("false"), f"echo three >> {log}"])
    assert len(commands) == 1
    result = subprocess.run(["sh", "-c", commands[0].get_raw_value()])
    assert result.returncode != 0
    assert log.read_text() == "one\n"


def test_an_upload_stays_in_its_place_between_two_joined_runs():
    upload = FileUploadCommand(StringIO("x"), "/tmp/x")
    commands = one_command(["echo a", "echo b", upload, "echo c", "echo d"])
    assert [type(command).__name__ for command in commands] == ["StringCommand", "FileUploadCommand",
                                                                 "StringCommand"]
    assert commands[0].get_raw_value() == "( echo a ) && ( echo b )"


def test_a_command_with_its_own_connection_arguments_is_not_joined():
    sudo = StringCommand("id", _sudo=True)
    commands = one_command(["echo a", sudo, "echo b"])
    assert len(commands) == 3 and commands[1] is sudo


def test_an_exit_in_one_command_ends_only_that_one(tmp_path):
    """A check ends with ``exit $status``: a passing one must not end the rest."""
    log = tmp_path / "log"
    commands = one_command(["true; exit 0", f"echo after >> {log}"])
    assert subprocess.run(["sh", "-c", commands[0].get_raw_value()]).returncode == 0
    assert log.read_text() == "after\n"


def test_nothing_stays_nothing():
    assert one_command([]) == []
