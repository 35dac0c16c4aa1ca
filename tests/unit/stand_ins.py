"""Stand-in tools for the tests that run the probe's shell for real: a
directory to put first on PATH, and tools that answer as a translated one would."""

from __future__ import annotations

import shutil


def stand_in_tools(tmp_path, scripts: dict[str, str], links: tuple[str, ...] = ()):
    """A directory of stand-in tools: each of ``scripts`` (name: shell
    script) and this machine's own ``links``."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in links:
        (tools / name).symlink_to(shutil.which(name))
    for name, script in scripts.items():
        (tools / name).write_text(script)
        (tools / name).chmod(0o755)
    return tools


def translated(english: list[str], german: list[str]) -> str:
    """A tool as gettext translates it: ``german``'s lines where the locale it
    finds (LC_ALL, then LC_MESSAGES, then LANG) is German, ``english``'s otherwise."""
    def lines(words):
        return " ".join(f"'{line}'" for line in words)
    return ('#!/bin/sh\ncase "${LC_ALL:-${LC_MESSAGES:-$LANG}}" in\n'
            f"de*) printf '%s\\n' {lines(german)};;\n*) printf '%s\\n' {lines(english)};;\nesac\n")
