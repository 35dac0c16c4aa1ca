"""Kernel parameters: current value, and whether this host can set them."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, quote


def sysctl_command(keys: list[str] | tuple[str, ...]) -> str:
    if not keys:
        return "true"
    quoted = " ".join(quote(key) for key in keys)
    return (
        f"for k in {quoted}; do f=/proc/sys/$(printf '%s' \"$k\" | tr . /); "
        "if [ -e \"$f\" ]; then if [ -w \"$f\" ]; then w=rw; else w=ro; fi; "
        "printf '%s %s %s\\n' \"$k\" \"$w\" \"$(cat \"$f\" 2>/dev/null | tr '\\t' ' ')\"; "
        "else printf '%s absent\\n' \"$k\"; fi; done"
    )


def parse_sysctl(lines: list[str]) -> dict[str, dict | None]:
    """``{key: {"value": "0", "writable": True}}``; ``None`` where the kernel lacks the key."""
    result: dict[str, dict | None] = {}
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[1] == "absent":
            result[parts[0]] = None
        elif len(parts) == 3 and parts[1] in ("rw", "ro"):
            result[parts[0]] = {"value": parts[2].strip(), "writable": parts[1] == "rw"}
    return result


def sysctl_section(keys: list[str] | tuple[str, ...]) -> Section:
    return Section("sysctl", sysctl_command(keys), parse_sysctl)


class Sysctl(FactBase):
    """
    Each of ``keys`` as the running kernel has it.

    .. code:: python

        {"net.bridge.bridge-nf-call-iptables": {"value": "1", "writable": False},
         "net.ipv4.no_such_key": None}
    """

    def command(self, keys):
        return sysctl_command(keys)

    def process(self, output):
        return parse_sysctl(output)
