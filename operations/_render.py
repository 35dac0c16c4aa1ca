"""Rendering the project's Jinja2 templates (``templates/``) as pure functions."""

from __future__ import annotations

import shlex
from functools import lru_cache
from pathlib import Path

from jinja2 import DictLoader, Environment, FileSystemBytecodeCache, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _sources() -> dict[str, str]:
    return {str(path.relative_to(TEMPLATES)): path.read_text()
            for path in sorted(TEMPLATES.rglob("*")) if path.is_file()}


# Read once at import: the templates ship with the deploy, and a loader that
# asks the filesystem later would see pyinfra-testing's faked one.
_SOURCES = _sources()


class _KeptTemplates(FileSystemBytecodeCache):
    """Jinja's own cache of compiled templates, where a cache that cannot be
    read or written (the directory removed by a temp cleaner, a full disk) is
    no error: the template is compiled as it would be without one."""

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            pass

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
    very source it was compiled from (Jinja keys it by the source's digest).
    None where Jinja finds no safe directory: the templates are then compiled
    at each run."""
    try:
        return _KeptTemplates(directory)
    except (OSError, RuntimeError):
        return None


@lru_cache(maxsize=1)
def _environment(cache_directory: str | None = None) -> Environment:
    environment = Environment(
        loader=DictLoader(_SOURCES),
        bytecode_cache=_bytecode_cache(cache_directory),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["shell_quote"] = shlex.quote
    return environment


def render(template: str, **variables) -> str:
    """``render("libvirt/libvirtd.conf.j2", group="libvirt")``: the file's text."""
    return _environment().get_template(template).render(**variables)
