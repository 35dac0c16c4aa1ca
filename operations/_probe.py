"""Reading an operation's ``current``: the probe's sections by name (``facts.host.HostProbe``).

A step passes the whole probe, a fixture only the sections the operation
reads; a section the probe did not give is ``default``.
"""

from __future__ import annotations

from typing import Any


def section(current: dict | None, name: str, default: Any = None) -> Any:
    """The section ``name`` of ``current`` (``default`` when missing or empty)."""
    return (current or {}).get(name) or default


def file_digest(current: dict | None, path: str) -> dict | None:
    """``path``'s digest in the ``files`` section (``facts.files``), None if not there."""
    return section(current, "files", {}).get(path)
