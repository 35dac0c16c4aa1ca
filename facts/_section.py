"""Shared pieces of the facts: sections and small parsing helpers."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Section:
    """One probe: a POSIX shell snippet and the pure function parsing its stdout.

    Snippets never fail: a missing file or tool prints an empty value, so that
    one section cannot fail the whole batched :class:`facts.host.HostProbe`.
    """

    name: str
    command: str
    parse: Callable[[list[str]], Any]


def key_values(lines: list[str], sep: str = ":") -> dict[str, str]:
    """``key: value`` lines to a dict (first separator splits; later keys win)."""
    result = {}
    for line in lines:
        key, found, value = line.partition(sep)
        if found:
            result[key.strip()] = value.strip()
    return result


def multi_values(lines: list[str], key: str, sep: str = ":") -> list[str]:
    """All values of a key that may repeat (``device: ...`` lines)."""
    values = []
    for line in lines:
        k, found, value = line.partition(sep)
        if found and k.strip() == key:
            values.append(value.strip())
    return values


def unquote_shell(value: str) -> str:
    """The value of a shell assignment's right-hand side: ``"a b"`` -> ``a b``."""
    try:
        return " ".join(shlex.split(value, posix=True))
    except ValueError:
        return value.strip("\"'")


def quote(value: str) -> str:
    return shlex.quote(value)
