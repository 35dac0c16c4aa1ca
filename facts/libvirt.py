"""libvirt facts: ``virt-host-validate qemu`` parsed into checks."""

from __future__ import annotations

import re

from pyinfra.api import FactBase

from ._section import PACKAGE_DATABASES, Section, remembered

# The devices its checks look at appear and go with kernel modules, without a
# reboot or a package change: their presence is the remembered entry's key.
VALIDATED_DEVICES = ("/dev/kvm", "/dev/vhost-net", "/dev/net/tun")

# About 14 ms of CPU per run: remembered until a reboot, a package change or
# one of the devices appearing or going (facts._section.remembered).
VIRT_HOST_VALIDATE_COMMAND = remembered(
    "virt-host-validate",
    "if command -v virt-host-validate >/dev/null 2>&1; then echo 'installed: yes'; "
    "virt-host-validate qemu 2>&1 || true; else echo 'installed: no'; fi",
    watched=PACKAGE_DATABASES,
    key_set=f"for _kc_d in {' '.join(VALIDATED_DEVICES)}; do [ ! -e $_kc_d ] || _kc_k=\"$_kc_k$_kc_d \"; done",
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
