"""facts._section.remembered: the probe's cache of what only a reboot or a
package change can change, run for real in this machine's /bin/sh."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from facts import _section

from .stand_ins import stand_in_tools, translated


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
        watched=(str(place / "db"), str(place / "missing")), key_set=f"_kc_k=$({key})" if key else "")
    if prelude is not None:
        command = _section.watched_prelude(prelude) + "; " + command

    def run():
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=place)
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


def test_a_key_the_shell_sets_itself_forgets_it_when_it_changes(place):
    """``key_set``: the key left in ``$_kc_k`` by the shell's own words (no
    command substitution), here whether a file exists, as the devices of
    virt-host-validate's key are looked at."""
    command = _section.remembered(
        "t", f"echo ran >> {place}/runs; cat {place}/value", watched=(str(place / "db"),),
        key_set=f"for _kc_d in {place}/dev-a {place}/dev-b; do [ ! -e $_kc_d ] || _kc_k=\"$_kc_k$_kc_d \"; done")

    def run():
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=place)
        assert result.stderr == ""
        return result.stdout, (place / "runs").read_text().count("ran")
    assert run() == ("one\n", 1)
    assert run() == ("one\n", 1)
    (place / "dev-b").write_text("")
    (place / "value").write_text("two\n")
    assert run() == ("two\n", 2)
    assert run() == ("two\n", 2)
    (place / "dev-b").unlink()
    assert run() == ("two\n", 3)  # the key went back to an older one: asked again


def test_a_key_set_by_the_shell_is_another_entry_than_none():
    def entry(command):
        return re.search(r"c=(\S+);", command).group(1)
    assert entry(_section.remembered("t", "echo a", key_set="_kc_k=x")) != entry(_section.remembered("t", "echo a"))


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
    """A key command printing several lines remembers, and forgets when its
    second line changes."""
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
    run = cached_reader(place, key="printf '%s' \"it's\"")
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


def test_an_entry_that_is_not_a_whole_file_is_a_miss(place):
    """An empty entry (a write cut short) and a directory in its place are
    asked again, not served as an empty answer."""
    run = cached_reader(place)
    run()
    (entry,) = (place / "probe").glob("*.sh")
    entry.write_text("")
    assert run() == ("one\n", 2)
    entry.unlink()
    entry.mkdir()
    assert run() == ("one\n", 3)


@pytest.fixture
def as_nobody():
    """(a directory the user nobody may enter, the command prefix that runs as
    nobody): pytest's own temporary directories are root's alone."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to run the probe as another user")
    base = Path(tempfile.mkdtemp(prefix="kvm-cluster-test-"))
    base.chmod(0o755)
    yield base, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    shutil.rmtree(base)


def test_an_entry_the_probe_cannot_read_is_a_miss_not_the_shells_exit(as_nobody, monkeypatch):
    """Run as a user who may not read the entry (a probe without sudo): the
    command runs and the probe goes on (``.`` of a file that cannot be opened
    ends a POSIX shell; ``command .`` does not)."""
    base, nobody = as_nobody
    monkeypatch.setattr(_section, "REMEMBERED_DIR", str(base / "probe"))
    (base / "value").write_text("one\n")
    (base / "value").chmod(0o644)
    command = _section.remembered("t", f"cat {base}/value")
    (base / "probe").mkdir(mode=0o755)
    entry = Path(command.split("c=", 1)[1].split(";", 1)[0])
    entry.write_text("printf '%s\\n' stale\n")
    os.chown(entry, 65534, 65534)
    entry.chmod(0o000)
    result = subprocess.run([*nobody, "sh", "-c", command + "; echo after"], capture_output=True, text=True)
    assert result.stdout == "one\nafter\n"


def test_an_entry_of_another_user_is_never_sourced(place):
    """Only an entry the probe's own user wrote is run."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to give a file to another user")
    run = cached_reader(place)
    run()
    (entry,) = (place / "probe").glob("*.sh")
    entry.write_text(f"touch {place}/pwned\n")
    os.chown(entry, 65534, 65534)
    assert run() == ("one\n", 2)
    assert not (place / "pwned").exists()


def test_two_probes_at_once_each_serve_their_answer_and_leave_a_whole_entry(place):
    """Two probes miss at once (two deploys, a report during a deploy), the
    first one done before the second's command ends: the second still serves
    its own answer, and what is left serves the answer after them."""
    release = place / "release"
    command = _section.remembered(
        "t", f"echo ran >> {place}/runs; until [ -e {release}-$WHO ]; do sleep 0.02; done; cat {place}/value")

    def start(who):
        return subprocess.Popen(["sh", "-c", command], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "WHO": who})

    def runs():
        return (place / "runs").read_text().count("ran") if (place / "runs").exists() else 0

    first, second = start("first"), start("second")
    while runs() < 2:  # both are running their command
        time.sleep(0.02)
    Path(f"{release}-first").touch()
    assert first.communicate(timeout=30)[0] == "one\n"
    Path(f"{release}-second").touch()
    assert second.communicate(timeout=30)[0] == "one\n"
    again = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env={**os.environ, "WHO": "x"})
    assert again.stdout == "one\n" and runs() == 2


def test_what_is_remembered_is_in_the_c_locale_whoever_asks(place):
    """A fact run on its own, outside the probe's C locale, on a host whose
    sessions are German: the entry holds the tool's own words, which every
    later reader (the probe) is served."""
    tools = stand_in_tools(place, {"tool": translated(english=["connected"], german=["verbunden"])})
    command = _section.remembered("t", "tool")
    env = {"PATH": f"{tools}:{os.environ['PATH']}", "LANG": "de_DE.UTF-8"}
    for _ in range(2):  # asked, then served
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)
        assert result.stdout == "connected\n"
