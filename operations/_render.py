"""Rendering the project's Jinja2 templates (``templates/``) as pure functions."""

from __future__ import annotations

import shlex
from functools import lru_cache
from pathlib import Path

from jinja2 import DictLoader, Environment, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _sources() -> dict[str, str]:
    return {str(path.relative_to(TEMPLATES)): path.read_text()
            for path in sorted(TEMPLATES.rglob("*")) if path.is_file()}


# Read once at import: the templates ship with the deploy, and a loader that
# asks the filesystem later would see pyinfra-testing's faked one.
_SOURCES = _sources()


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=DictLoader(_SOURCES),
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
