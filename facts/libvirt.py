"""libvirt facts: ``virt-host-validate qemu`` parsed into checks."""

from __future__ import annotations

import re

from pyinfra.api import FactBase

from ._section import Section

VIRT_HOST_VALIDATE_COMMAND = (
    "if command -v virt-host-validate >/dev/null 2>&1; then echo 'installed: yes'; "
    "virt-host-validate qemu 2>&1 || true; else echo 'installed: no'; fi"
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CHECK = re.compile(
    r"^\s*(?P<driver>[A-Z]+):\s+Checking\s+(?P<check>.*?)\s*:\s+"
    r"(?P<result>PASS|WARN|FAIL)(?:\s+\((?P<message>.*)\))?\s*$"
)


def parse_virt_host_validate(lines: list[str]) -> dict:
    """Parse ``virt-host-validate`` output into (check, result, message) rows."""
    installed = False
    checks = []
    for raw in lines:
        line = _ANSI.sub("", raw)
        if line.strip() == "installed: yes":
            installed = True
            continue
        match = _CHECK.match(line)
        if match:
            checks.append(
                {
                    "driver": match["driver"],
                    "check": match["check"],
                    "result": match["result"],
                    "message": match["message"] or "",
                }
            )
    return {"installed": installed, "checks": checks}


VIRT_HOST_VALIDATE = Section(
    "virt_host_validate", VIRT_HOST_VALIDATE_COMMAND, parse_virt_host_validate
)


class VirtHostValidate(FactBase):
    """
    ``virt-host-validate qemu`` as a list of checks, where the tool is installed.

    .. code:: python

        {"installed": True, "checks": [
            {"driver": "QEMU", "check": "for hardware virtualization",
             "result": "FAIL", "message": "Only emulated CPUs are available, ..."}]}
    """

    command = VIRT_HOST_VALIDATE.command

    def process(self, output):
        return VIRT_HOST_VALIDATE.parse(output)
