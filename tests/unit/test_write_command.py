"""operations._files.write_command, run for real in this machine's /bin/sh:
one command checks, backs up, writes beside and renames over the file."""

from __future__ import annotations

import os
import subprocess

from operations._files import checked_content, write_command


def run(command) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True)


def owner():
    import grp
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def test_writes_a_new_file_with_its_mode_in_a_new_directory(tmp_path):
    path = tmp_path / "etc" / "it's.conf"
    user, group = owner()
    assert run(write_command(str(path), "a 'quoted' line\n$HOME\n", "640", user, group)).returncode == 0
    assert path.read_text() == "a 'quoted' line\n$HOME\n"
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert sorted(os.listdir(path.parent)) == ["it's.conf"]


def test_the_old_file_is_backed_up_and_replaced_by_a_rename(tmp_path):
    path = tmp_path / "file.conf"
    path.write_text("old\n")
    inode = path.stat().st_ino
    user, group = owner()
    assert run(write_command(str(path), "new\n", "644", user, group)).returncode == 0
    assert path.read_text() == "new\n"
    assert path.stat().st_ino != inode  # renamed over: a reader keeps the old file whole
    backups = [name for name in os.listdir(tmp_path) if name.startswith("file.conf.")]
    assert len(backups) == 1 and (tmp_path / backups[0]).read_text() == "old\n"


def test_a_check_that_passes_lets_the_file_be_written(tmp_path):
    """checked_content ends with ``exit``: the write must still happen after it."""
    path = tmp_path / "file.conf"
    user, group = owner()
    check = checked_content("good\n", "grep -q good {}")
    assert run(write_command(str(path), "good\n", "644", user, group, check=check)).returncode == 0
    assert path.read_text() == "good\n"


def test_a_check_that_fails_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "file.conf"
    path.write_text("old\n")
    user, group = owner()
    check = checked_content("bad\n", "grep -q good {}")
    result = run(write_command(str(path), "bad\n", "644", user, group, check=check))
    assert result.returncode != 0
    assert path.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["file.conf"]


def test_a_file_mounted_over_is_written_in_place(tmp_path):
    """A bind-mounted file (Docker's /etc/resolv.conf) cannot be renamed over:
    it is written in place, and the mount stays."""
    source, target = tmp_path / "source", tmp_path / "resolv.conf"
    source.write_text("old\n")
    target.write_text("")
    if subprocess.run(["mount", "--bind", str(source), str(target)]).returncode != 0:
        import pytest
        pytest.skip("this machine cannot bind-mount a file (not root, or no CAP_SYS_ADMIN)")
    try:
        user, group = owner()
        result = run(write_command(str(target), "new\n", "644", user, group, backup=False))
        assert result.returncode == 0, result.stderr
        assert target.read_text() == "new\n" and source.read_text() == "new\n"
        assert subprocess.run(["mountpoint", "-q", str(target)]).returncode == 0
        assert not (tmp_path / "resolv.conf.kvm-cluster-new").exists()
    finally:
        subprocess.run(["umount", str(target)])


def test_a_write_that_fails_leaves_the_file_and_no_temporary_file(tmp_path):
    """A step failing after the new content was written beside the file (here:
    an owner that does not exist) leaves the old file, and nothing a daemon
    reading the whole directory would pick up."""
    path = tmp_path / "kvm-cluster.conf"
    path.write_text("old\n")
    result = run(write_command(str(path), "new\n", "644", "no-such-user-kvm", "root", backup=False))
    assert result.returncode != 0
    assert path.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["kvm-cluster.conf"]
