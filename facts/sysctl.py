"""Kernel parameters: current value, and whether this host can set them."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, quote


def sysctl_path(key: str) -> str:
    """``net.ipv4.ip_forward`` -> ``/proc/sys/net/ipv4/ip_forward``."""
    return "/proc/sys/" + key.replace(".", "/")


def sysctl_command(keys: list[str] | tuple[str, ...]) -> str:
    """Whether each key exists and is writable (the shell's own tests), then
    every existing key's value from one ``grep`` (not a process or two per
    key: dash's ``read`` cannot read every /proc/sys file, it reads a byte at a time)."""
    if not keys:
        return "true"
    checks = "; ".join(
        f"f={quote(sysctl_path(key))}; if [ -e \"$f\" ]; then set -- \"$@\" \"$f\"; "
        f"if [ -w \"$f\" ]; then w=rw; else w=ro; fi; printf '%s %s %s\\n' {quote(key)} \"$w\" \"$f\"; "
        f"else printf '%s absent\\n' {quote(key)}; fi"
        for key in keys)
    return f"set --; {checks}; [ $# -eq 0 ] || grep -sH '' \"$@\""


def parse_sysctl(lines: list[str]) -> dict[str, dict | None]:
    """``{key: {"value": "0", "writable": True}}``; ``None`` where the kernel lacks the key.

    Lines: ``KEY rw|ro PATH`` or ``KEY absent``, then ``PATH:VALUE`` (grep's) for
    each existing key; a value of several fields (``32768<TAB>60999``) has them
    joined by one space; of several lines, the first counts."""
    result: dict[str, dict | None] = {}
    paths: dict[str, str] = {}
    values: dict[str, str] = {}
    for line in lines:
        if line.startswith("/proc/sys/"):
            path, _, value = line.partition(":")
            values.setdefault(path, " ".join(value.split()))
            continue
        parts = line.split(" ", 2)
        if len(parts) == 2 and parts[1] == "absent":
            result[parts[0]] = None
        elif len(parts) == 3 and parts[1] in ("rw", "ro"):
            result[parts[0]] = {"value": "", "writable": parts[1] == "rw"}
            paths[parts[0]] = parts[2]
    for key, path in paths.items():
        result[key]["value"] = values.get(path, "")
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
