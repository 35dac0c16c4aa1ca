"""facts._section.remembered: the probe's cache of what only a reboot or a
package change can change, run for real in this machine's /bin/sh."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from facts import _section


@pytest.fixture
def place(tmp_path, monkeypatch):
    monkeypatch.setattr(_section, "REMEMBERED_DIR", str(tmp_path / "probe"))
    (tmp_path / "db").write_text("1\n")
    (tmp_path / "value").write_text("one\n")
    return tmp_path


def cached_reader(place, key="", prelude=None):
    """A remembered command that counts its runs; (run it, runs so far).
    ``prelude``: the files the probe's one stat covers (None: the section run
    on its own, as a fact)."""
    command = _section.remembered(
        "t", f"echo ran >> {place}/runs; cat {place}/value",
        watched=(str(place / "db"), str(place / "missing")), key=key)
    if prelude is not None:
        command = _section.watched_prelude(prelude) + "; " + command

    def run():
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        assert result.stderr == ""
        runs = (place / "runs").read_text().count("ran") if (place / "runs").exists() else 0
        return result.stdout, runs
    return run


def touch_later(path):
    time.sleep(0.01)
    os.utime(path)


def test_the_output_is_remembered_and_served_again(place):
    run = cached_reader(place)
    assert run() == ("one\n", 1)
    assert run() == ("one\n", 1)


def test_a_package_database_change_forgets_it(place):
    run = cached_reader(place)
    run()
    (place / "value").write_text("two\n")
    touch_later(place / "db")
    assert run() == ("two\n", 2)
    assert run() == ("two\n", 2)


def test_a_file_that_appears_later_forgets_it(place):
    run = cached_reader(place)
    run()
    (place / "value").write_text("two\n")
    time.sleep(0.01)
    (place / "missing").write_text("")
    assert run() == ("two\n", 2)


def test_a_different_key_forgets_it(place):
    run = cached_reader(place, key=f"cat {place}/key 2>/dev/null")
    run()
    (place / "key").write_text("/dev/kvm\n")
    (place / "value").write_text("two\n")
    assert run() == ("two\n", 2)
    assert run() == ("two\n", 2)


def test_other_arguments_are_another_entry():
    assert _section.remembered("t", "echo a") != _section.remembered("t", "echo b")


def test_where_it_cannot_be_written_the_command_runs_every_time(place, monkeypatch):
    (place / "not-a-dir").write_text("")
    monkeypatch.setattr(_section, "REMEMBERED_DIR", str(place / "not-a-dir" / "probe"))
    run = cached_reader(place)
    assert run() == ("one\n", 1)
    assert run() == ("one\n", 2)


def test_a_file_set_back_in_time_still_forgets_it(place):
    """Restored with cp -p, or the clock set back: its times are older than the
    entry's, but not the same as when it was remembered."""
    run = cached_reader(place)
    run()
    (place / "value").write_text("two\n")
    (place / "db").write_text("2\n")
    os.utime(place / "db", (time.time() - 3600, time.time() - 3600))
    assert run() == ("two\n", 2)


@pytest.fixture(params=["on its own", "in the probe", "in a probe that does not cover it"])
def reader(request, place):
    """The same remembered entry run alone, after the probe's one stat of its
    files, and after one that left its files out (each stat'ed by the entry)."""
    prelude = {"on its own": None, "in the probe": (str(place / "db"), str(place / "missing")),
               "in a probe that does not cover it": (str(place / "other"),)}[request.param]
    return lambda key="": cached_reader(place, key, prelude)


def test_every_way_of_reading_the_files_remembers_and_forgets(place, reader):
    run = reader()
    assert run() == ("one\n", 1)
    assert run() == ("one\n", 1)
    (place / "value").write_text("two\n")
    touch_later(place / "db")
    assert run() == ("two\n", 2)
    (place / "value").write_text("three\n")
    (place / "missing").write_text("")
    assert run() == ("three\n", 3)
    assert run() == ("three\n", 3)


def test_a_watched_path_must_be_plain():
    with pytest.raises(ValueError):
        _section.remembered("t", "true", watched=("/tmp/a b",))
    with pytest.raises(ValueError):
        _section.watched_prelude(("/tmp/$(reboot)",))


def test_a_key_of_several_lines_is_one(place):
    """The key file is read back as one line: a key command printing two still
    remembers, and forgets when its second line changes."""
    (place / "key").write_text("a\nb\n")
    run = cached_reader(place, key=f"cat {place}/key")
    assert run() == ("one\n", 1)
    assert run() == ("one\n", 1)
    (place / "key").write_text("a\nc\n")
    assert run() == ("one\n", 2)


def test_a_failing_command_is_not_remembered(place):
    """Its output is served, and it runs again next time (libvirt not answering
    once must not be remembered until the next package change)."""
    command = _section.remembered("f", f"echo ran >> {place}/runs; echo down; false")
    for expected in (1, 2):
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        assert result.stdout == "down\n"
        assert (place / "runs").read_text().count("ran") == expected


@pytest.mark.parametrize("loadable, expected", [(True, "kernel: module"), (False, "kernel: none")])
def test_whether_nfs_could_load_is_asked_once(place, monkeypatch, loadable, expected):
    """The NFS section's modprobe, asked at the first probe only (either
    answer): a package change or a reboot is what changes it."""
    from facts import nfs

    tools = place / "bin"
    tools.mkdir()
    modprobe = tools / "modprobe"
    modprobe.write_text(f"#!/bin/sh\necho ran >> {place}/runs\nexit {0 if loadable else 1}\n")
    modprobe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    command = nfs.nfs_module_command()
    for _ in range(2):
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        assert (result.stdout, result.stderr) == (f"{expected}\n", "")
    assert (place / "runs").read_text() == "ran\n"


@pytest.mark.parametrize("output", [
    "it's 'quoted'\n", "back\\slash \\n %s %%\n", "", "no newline at the end",
    "trailing blank lines\n\n\n", "$(touch pwned) `touch pwned` $HOME\n", "\n\nleading blank lines\n"])
def test_the_output_is_served_again_as_printed(place, output):
    """An entry is a script the probe sources: what the command printed comes
    back the same from it, whatever quotes, escapes or expansions it holds, and
    nothing in it runs. (A last line without its newline gets one, as the shell
    prints lines; trailing empty lines are dropped by the probe's own capture.)"""
    (place / "value").write_bytes(output.encode())
    run = cached_reader(place, key=f"printf '%s' \"it's\"")
    expected = output if output.endswith("\n") or not output else output + "\n"
    assert run() == (expected, 1)
    assert run() == (expected, 1)
    assert not (place / "pwned").exists()
    assert [p.name.endswith(".sh") for p in (place / "probe").iterdir()] == [True]


def test_an_entry_of_an_older_probe_is_never_sourced(place):
    """Older probes kept the plain output at the entry's name without ``.sh``:
    it is neither run nor served."""
    command = _section.remembered("t", f"echo ran >> {place}/runs; cat {place}/value")
    entry = command.split("c=", 1)[1].split(";", 1)[0]
    assert entry.endswith(".sh")
    (place / "probe").mkdir()
    Path(entry.removesuffix(".sh")).write_text(f"touch {place}/pwned\n")
    Path(entry.removesuffix(".sh") + ".key").write_text("key:\n")
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert result.stdout == "one\n"
    assert (place / "runs").read_text() == "ran\n"
    assert not (place / "pwned").exists()


def test_an_entry_that_cannot_be_read_is_asked_again(place):
    """An entry that is not a file it can read is a miss, not the probe shell's
    exit (``.`` of a file it cannot open ends a POSIX shell)."""
    run = cached_reader(place)
    run()
    (entry,) = (place / "probe").iterdir()
    entry.unlink()
    entry.mkdir()
    assert run() == ("one\n", 2)
