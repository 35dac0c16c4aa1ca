"""The managed files' and the pool directories' stat and sha1, remembered by
the probe (facts.files, facts.pools: facts._section.remembered, keyed by the
files' own stat) and asked again when a file changes: run for real in this
machine's /bin/sh, with a sha1sum and a stat that count their runs (but for
the stat of the watched files)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time

import pytest

from facts import _section
from facts.files import file_digests_command, file_digests_section, parse_file_digests, watched_files
from facts.host import watched_by
from facts.pools import parse_pool_paths, pool_paths_command, pool_paths_section, pool_paths_watched

from .stand_ins import stand_in_tools

# Counts its runs, but for the stat that watches files (the key, not the answer).
COUNTING = ('#!/bin/sh\ncase "$3" in \'%n %i %s %z %y|\') ;; *) echo ran >> "$RUNS";; esac\n'
            'exec {real} "$@"\n')


@pytest.fixture
def place(tmp_path, monkeypatch):
    monkeypatch.setattr(_section, "REMEMBERED_DIR", str(tmp_path / "probe"))
    tools = stand_in_tools(tmp_path, {name: COUNTING.format(real=f"/usr/bin/{name}")
                                      for name in ("sha1sum", "stat")})
    files = tmp_path / "etc"
    files.mkdir()
    (files / "a.conf").write_text("one\n")
    (files / "b.conf").write_text("two\n")
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "RUNS": str(tmp_path / "runs")}
    return tmp_path, env


def reader(place, command, parse, prelude):
    """(parsed answer, how many times sha1sum or stat ran so far)."""
    tmp_path, env = place
    if prelude is not None:
        # The probe's one stat of its watched files, with others around them.
        command = _section.watched_prelude(("/etc/hostname", *prelude, "/etc/os-release")) + "; " + command

    def run():
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)
        assert result.stderr == ""
        runs = tmp_path / "runs"
        return parse(result.stdout.splitlines()), runs.read_text().count("ran") if runs.exists() else 0
    return run


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def asked_now(place, monkeypatch, build, parse):
    """The answer of a command that cannot remember (its place is not a
    directory): what the host says now."""
    tmp_path, env = place
    monkeypatch.setattr(_section, "REMEMBERED_DIR", str(tmp_path / "etc" / "a.conf" / "probe"))
    result = subprocess.run(["sh", "-c", build()], capture_output=True, text=True, env=env)
    return parse(result.stdout.splitlines())


def later():
    """A file's times move on at the kernel's clock tick (a few ms)."""
    time.sleep(0.02)


CHANGES = {
    "rewritten in place, same size": lambda p: p.write_text("ONE\n"),
    "mode changed": lambda p: p.chmod(0o600),
    "replaced by another file": lambda p: (p.with_suffix(".new").write_text("uno\n"),
                                           p.with_suffix(".new").rename(p)),
    "removed": lambda p: p.unlink(),
}


@pytest.mark.parametrize("in_probe", [False, True], ids=["on its own", "in the probe"])
@pytest.mark.parametrize("change", CHANGES)
def test_file_digests_are_served_again_until_a_file_changes(place, monkeypatch, in_probe, change):
    tmp_path = place[0]
    paths = [str(tmp_path / "etc" / "a.conf"), str(tmp_path / "etc" / "b.conf"), str(tmp_path / "etc" / "c.conf")]
    run = reader(place, file_digests_command(paths), parse_file_digests,
                 watched_files(paths) if in_probe else None)
    first, runs = run()
    assert first[paths[0]]["sha1"] == sha1("one\n")
    assert first[paths[2]] is None and runs > 0
    assert run() == (first, runs)
    later()
    CHANGES[change](tmp_path / "etc" / "a.conf")
    second, more = run()
    assert more > runs
    assert second != first and second[paths[1]] == first[paths[1]]
    # What changed is what the host says now, as asked without remembering.
    assert second == asked_now(place, monkeypatch, lambda: file_digests_command(paths), parse_file_digests)
    assert run()[0] == second


def test_a_file_that_appears_is_seen(place):
    tmp_path = place[0]
    paths = [str(tmp_path / "etc" / "a.conf"), str(tmp_path / "etc" / "c.conf")]
    run = reader(place, file_digests_command(paths), parse_file_digests, watched_files(paths))
    first, _ = run()
    assert first[paths[1]] is None
    (tmp_path / "etc" / "c.conf").write_text("three\n")
    assert run()[0][paths[1]]["sha1"] == sha1("three\n")


def test_a_symlink_put_in_place_of_a_file_is_seen(place):
    """stat -L and sha1sum follow it to its file; the shell's own test says it
    is a link."""
    tmp_path = place[0]
    target = tmp_path / "etc" / "a.conf"
    link = tmp_path / "etc" / "b.conf"
    paths = [str(link)]
    run = reader(place, file_digests_command(paths), parse_file_digests, watched_files(paths))
    assert "link" not in run()[0][str(link)]
    link.unlink()
    link.symlink_to(target)
    assert run()[0][str(link)].get("link") is True


@pytest.mark.parametrize("in_probe", [False, True], ids=["on its own", "in the probe"])
def test_pool_directories_are_served_again_until_one_changes(place, in_probe):
    tmp_path = place[0]
    for name in ("pool", "other"):
        (tmp_path / name).mkdir(mode=0o755)
    paths = [str(tmp_path / "pool"), str(tmp_path / "other")]
    run = reader(place, pool_paths_command(paths), parse_pool_paths,
                 pool_paths_watched(paths) if in_probe else None)
    first, runs = run()
    assert first["dirs"][paths[0]]["mode"] == "755"
    assert run() == (first, runs)
    later()
    (tmp_path / "pool").chmod(0o770)
    second, more = run()
    assert more > runs and second["dirs"][paths[0]]["mode"] == "770"
    assert run() == (second, more)


def test_a_missing_pool_directory_is_remembered_until_it_appears(place):
    tmp_path = place[0]
    (tmp_path / "pool").mkdir()
    paths = [str(tmp_path / "pool"), str(tmp_path / "nowhere")]
    run = reader(place, pool_paths_command(paths), parse_pool_paths, pool_paths_watched(paths))
    first, runs = run()
    assert first["dirs"][paths[1]] is None
    assert run() == (first, runs)
    (tmp_path / "nowhere").mkdir()
    assert run()[0]["dirs"][paths[1]] is not None


def test_a_file_that_cannot_be_read_is_asked_every_time(place):
    """A path the deploy manages that sha1sum cannot read (here a directory):
    its answer is printed, not remembered."""
    tmp_path = place[0]
    (tmp_path / "etc" / "d.conf").mkdir()
    paths = [str(tmp_path / "etc" / "a.conf"), str(tmp_path / "etc" / "d.conf")]
    run = reader(place, file_digests_command(paths), parse_file_digests, watched_files(paths))
    first, runs = run()
    assert first[paths[0]]["sha1"] == sha1("one\n") and first[paths[1]] is None
    again, more = run()
    assert again == first and more > runs


def test_the_probe_stats_every_watched_file_once(place):
    """In the probe, the entries take their files' stat from its one stat:
    no entry stats its own."""
    tmp_path, env = place
    (tmp_path / "pool").mkdir()
    files = [str(tmp_path / "etc" / "a.conf"), str(tmp_path / "etc" / "b.conf")]
    pools = [str(tmp_path / "pool")]
    sections = [file_digests_section(files), pool_paths_section(pools)]
    command = "; ".join([watched_by(sections), *(section.command for section in sections)])
    watching = tmp_path / "bin" / "stat"
    watching.write_text('#!/bin/sh\ncase "$3" in \'%n %i %s %z %y|\') echo watch >> "$RUNS.watch";; esac\n'
                        'exec /usr/bin/stat "$@"\n')
    for _ in range(3):
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)
        assert result.returncode == 0 and result.stderr == ""
    assert (tmp_path / "runs.watch").read_text().count("watch") == 3


def test_the_probe_covers_what_each_section_watches():
    """Every path a section's remembered parts watch is in the probe's one stat."""
    from facts.host import probe_command, sections

    args = dict(data_path="/data01", user="kvm-mgr", files=("/etc/chrony/chrony.conf", "/etc/qemu/bridge.conf"),
                pool_paths=("/data01/primary", "/secondary"))
    command = probe_command(**args)
    prelude = command[:command.index("@@kvm-cluster:")]
    watched = {path for section in sections(**args) for path in section.watched}
    assert {"/etc/passwd", "/home/kvm-mgr/.ssh/authorized_keys", "/etc/qemu/bridge.conf",
            "/secondary"} <= watched
    for path in watched:
        assert f'"{path} "*) {_section._stat_variable(path)}=$_kc_r;;' in prelude, path
    # The patterns and words too (the network files, the units' files), after
    # the services' setup that finds the units' files.
    stat_words = prelude[prelude.index("_kc_all=$(stat"):].split(")", 1)[0].split()
    extra = {word for section in sections(**args) for word in section.watched_matches}
    assert {"/etc/netplan/*.yaml", "$_kc_found"} <= extra <= set(stat_words)
    assert prelude.index("_kc_found=") < prelude.index("_kc_all=$(stat")


def test_paths_that_cannot_be_watched_are_asked_every_time(place):
    tmp_path = place[0]
    odd = tmp_path / "etc" / "with space.conf"
    odd.write_text("x\n")
    assert watched_files([str(odd)]) == ()
    run = reader(place, file_digests_command([str(odd)]), parse_file_digests, None)
    _, runs = run()
    assert run()[1] > runs
