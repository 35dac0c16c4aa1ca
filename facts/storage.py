"""Storage facts: the pre-mounted data volume the primary pool lives on."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, key_values, mount_line, parse_mount, quote


def data_volume_command(data_path: str) -> str:
    path = quote(data_path)
    return (
        f"if [ -d {path} ]; then echo 'exists: yes'; else echo 'exists: no'; fi; "
        + mount_line(data_path) + "; "
        # df's size and available space: blocks times the fragment size (statfs).
        f"set -- $(stat -f -c '%b %a %S' {path} 2>/dev/null); "
        "[ $# -ne 3 ] || { echo \"size: $(($1 * $3))\"; echo \"avail: $(($2 * $3))\"; }"
    )


def parse_data_volume(lines: list[str]) -> dict:
    """Parse the data-volume section: is the path a mount point, its filesystem, space."""
    values = key_values(lines)
    mount = parse_mount(values.get("mount", ""))

    def number(key):
        value = values.get(key, "")
        return int(value) if value.isdigit() else None

    return {
        "exists": values.get("exists") == "yes",
        "mounted": bool(mount),
        "source": mount.get("source"),
        "fstype": mount.get("fstype"),
        "size_bytes": number("size"),
        "avail_bytes": number("avail"),
    }


class DataVolume(FactBase):
    """
    The data volume at ``data_path``: present, a mount point, filesystem, free space.

    .. code:: python

        {"exists": True, "mounted": True, "source": "/dev/md0", "fstype": "xfs",
         "size_bytes": 4000787030016, "avail_bytes": 3800000000000}
    """

    def command(self, data_path="/data01"):
        return data_volume_command(data_path)

    def process(self, output):
        return parse_data_volume(output)


def data_volume_section(data_path: str) -> Section:
    return Section("data_volume", data_volume_command(data_path), parse_data_volume)
