"""System facts: the distribution, as ``/etc/os-release`` states it."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, key_values, print_file, unquote_shell

# Printed by the shell itself (no process): /etc/os-release, else the vendor's copy.
OS_RELEASE_COMMAND = (f"if [ -f /etc/os-release ]; then {print_file('/etc/os-release')}; "
                      f"else {print_file('/usr/lib/os-release')}; fi")

FAMILIES = ("debian", "rhel", "fedora", "suse", "arch")


def parse_os_release(lines: list[str]) -> dict:
    """Parse os-release into id, version, and the family the deploy plans for.

    ``family`` is ``debian`` for Debian and Ubuntu, ``rhel`` for RHEL, CentOS,
    Rocky, Alma (their ID_LIKE names rhel or fedora).
    """
    values = {key: unquote_shell(value) for key, value in key_values(lines, "=").items()}
    os_id = values.get("ID", "").lower()
    like = values.get("ID_LIKE", "").lower().split()
    family = next((name for name in [os_id, *like] if name in FAMILIES), os_id or "unknown")
    if family == "fedora" and os_id != "fedora":
        family = "rhel"
    version_id = values.get("VERSION_ID", "")
    major = version_id.split(".")[0]
    return {
        "id": os_id,
        "like": like,
        "family": family,
        "version_id": version_id,
        "major": int(major) if major.isdigit() else None,
        "codename": values.get("VERSION_CODENAME") or None,
        "pretty_name": values.get("PRETTY_NAME", ""),
    }


OS_RELEASE = Section("os", OS_RELEASE_COMMAND, parse_os_release)


class OsRelease(FactBase):
    """
    The distribution: ``{"id": "ubuntu", "like": ["debian"], "family": "debian",
    "version_id": "24.04", "major": 24, "codename": "noble", "pretty_name": "..."}``.
    """

    command = OS_RELEASE.command

    def process(self, output):
        return OS_RELEASE.parse(output)
