"""Rendering the project's Jinja2 templates (``templates/``) as pure functions."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **variables) -> str:
    """``render("libvirt/libvirtd.conf.j2", group="libvirt")``: the file's text."""
    return _environment().get_template(template).render(**variables)
