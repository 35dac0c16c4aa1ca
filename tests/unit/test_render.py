"""operations._render: the templates, compiled once and kept between runs."""

from __future__ import annotations

import os
import shutil
import stat

import jinja2.bccache
import pytest
from jinja2 import Environment

from operations import _render

CHRONY = "chrony/chrony.conf.j2"
CLIENT = {"sources": ["10.0.0.1"], "serve": False, "allow": None, "local_stratum": 10,
          "driftfile": "/var/lib/chrony/drift", "set_clock": True}


@pytest.fixture
def compiled(monkeypatch):
    """The Python source of each template Jinja compiles from now on."""
    sources = []
    original = Environment._compile
    monkeypatch.setattr(Environment, "_compile",
                        lambda self, source, filename: sources.append(source) or original(self, source, filename))
    return sources


def new_environment(directory):
    return _render._environment.__wrapped__(str(directory))  # not the process's own


def test_a_compiled_template_is_kept_and_used_for_the_same_source_only(tmp_path, compiled, monkeypatch):
    expected = _render.render(CHRONY, **CLIENT)
    compiled.clear()
    assert new_environment(tmp_path).get_template(CHRONY).render(**CLIENT) == expected
    assert len(compiled) == 1 and len(list(tmp_path.iterdir())) == 1  # compiled, its code kept
    assert new_environment(tmp_path).get_template(CHRONY).render(**CLIENT) == expected
    assert len(compiled) == 1  # the next run loads it

    # Another source under the same name is compiled anew, never served the old code.
    monkeypatch.setitem(_render._SOURCES, CHRONY, "changed {{ sources[0] }}\n")
    assert new_environment(tmp_path).get_template(CHRONY).render(**CLIENT) == "changed 10.0.0.1\n"
    assert len(compiled) == 2


def test_a_cache_that_cannot_be_written_or_read_is_no_error(tmp_path, compiled):
    expected = _render.render(CHRONY, **CLIENT)
    directory = tmp_path / "cache"
    directory.mkdir()
    environment = new_environment(directory)
    shutil.rmtree(directory)  # a temp cleaner, between the start and the render
    assert environment.get_template(CHRONY).render(**CLIENT) == expected

    directory.mkdir()
    new_environment(directory).get_template(CHRONY)
    (kept,) = directory.iterdir()
    whole = kept.read_bytes()
    header = len(jinja2.bccache.bc_magic)
    for broken in (whole[:header + 1], whole[:len(whole) // 3], whole[:-10], b"", b"\0" * len(whole)):
        kept.write_bytes(broken)  # cut short by a crash, or garbage
        compiled.clear()
        assert new_environment(directory).get_template(CHRONY).render(**CLIENT) == expected
        assert len(compiled) == 1, "compiled again"


def test_code_compiled_with_other_options_is_not_loaded(tmp_path, compiled, monkeypatch):
    """Options are compiled into the code (trim_blocks, say): code another
    program of the same user, or this one before an option changed, kept
    under the same template name is never used."""
    compiled.clear()
    new_environment(tmp_path).get_template(CHRONY)
    monkeypatch.setitem(_render._OPTIONS, "trim_blocks", False)
    trimmed_not = new_environment(tmp_path).get_template(CHRONY).render(**CLIENT)
    assert len(compiled) == 2 and len(list(tmp_path.iterdir())) == 2
    assert trimmed_not != _render.render(CHRONY, **CLIENT)


def test_the_default_cache_is_the_users_own_directory():
    cache = _render._bytecode_cache()
    assert isinstance(cache, jinja2.bccache.FileSystemBytecodeCache)
    found = os.lstat(cache.directory)
    assert stat.S_ISDIR(found.st_mode) and stat.S_IMODE(found.st_mode) == 0o700
    assert found.st_uid == os.getuid()


def test_no_safe_directory_means_no_cache(monkeypatch):
    """Jinja refuses a temp directory it cannot make the user's own: the
    templates are then compiled at each run, the deploy goes on."""
    def refuse(self):
        raise RuntimeError("Cannot determine safe temp directory.  You need to explicitly provide one.")

    monkeypatch.setattr(jinja2.bccache.FileSystemBytecodeCache, "_get_default_cache_dir", refuse)
    assert _render._bytecode_cache() is None
