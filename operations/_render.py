"""Rendering the project's Jinja2 templates (``templates/``) as pure functions."""

from __future__ import annotations

import hashlib
import shlex
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2 import DictLoader, Environment, FileSystemBytecodeCache, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _sources() -> dict[str, str]:
    return {str(path.relative_to(TEMPLATES)): path.read_text()
            for path in sorted(TEMPLATES.rglob("*")) if path.is_file()}


# Read once at import: the templates ship with the deploy, and a loader that
# asks the filesystem later would see pyinfra-testing's faked one.
_SOURCES = _sources()


# How the templates are compiled: the compiled code depends on these as much
# as on the source (trim_blocks, say, is built into it).
_OPTIONS = {"undefined": StrictUndefined, "keep_trailing_newline": True,
            "trim_blocks": True, "lstrip_blocks": True}
_FILTERS = {"shell_quote": shlex.quote}


def _cache_pattern() -> str:
    """The cache files' names: this project's, and another name for another
    Jinja or other options, so that code compiled otherwise (by another
    program of the same user, or before an option here changed) is never
    loaded. Jinja fills ``%s`` with the template's key."""
    compiled_with = f"{jinja2.__version__} {sorted((k, repr(v)) for k, v in _OPTIONS.items())} {sorted(_FILTERS)}"
    return f"kvm-cluster-{hashlib.sha1(compiled_with.encode()).hexdigest()[:12]}-%s.cache"


class _KeptTemplates(FileSystemBytecodeCache):
    """Jinja's own cache of compiled templates, where a cache that cannot be
    read (the file truncated or unreadable) or written (the directory removed
    by a temp cleaner, a full disk) is no error: the template is compiled as
    it would be without one."""

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - whatever the file holds, compile instead
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache(directory: str | None = None) -> FileSystemBytecodeCache | None:
    """The templates' compiled code kept between runs: compiling the templates
    a deploy renders costs about 20 ms of every run, loading their code 1 ms.
    By default in a directory of the user's own (mode 0700, checked at each
    run) in the temporary directory; a template's code is used only for the
    very source it was compiled from (Jinja checks the source's digest), by
    the same Jinja with the same options (:func:`_cache_pattern`). None where
    Jinja finds no safe directory: the templates are then compiled at each run."""
    try:
        return _KeptTemplates(directory, pattern=_cache_pattern())
    except (OSError, RuntimeError):
        return None


@lru_cache(maxsize=1)
def _environment(cache_directory: str | None = None) -> Environment:
    environment = Environment(loader=DictLoader(_SOURCES), bytecode_cache=_bytecode_cache(cache_directory),
                              **_OPTIONS)
    environment.filters.update(_FILTERS)
    return environment


def render(template: str, **variables) -> str:
    """``render("libvirt/libvirtd.conf.j2", group="libvirt")``: the file's text."""
    return _environment().get_template(template).render(**variables)
