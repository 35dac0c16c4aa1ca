"""Digests of the files the deploy manages, read in the batched probe.

With the digest (mode, owner, group, sha1 of the content) an operation knows
whether its rendered file is already in place without reading pyinfra's file
facts, which cost one SSH command each.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, quote


def file_digests_command(paths: list[str] | tuple[str, ...]) -> str:
    if not paths:
        return "true"
    quoted = " ".join(quote(path) for path in paths)
    return (
        f"for p in {quoted}; do if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then "
        "printf '%s\\t%s %s\\n' \"$p\" \"$(stat -c '%a %U %G' \"$p\")\" "
        "\"$(sha1sum < \"$p\" | cut -d' ' -f1)\"; "
        "else printf '%s\\t-\\n' \"$p\"; fi; done"
    )


def parse_file_digests(lines: list[str]) -> dict[str, dict | None]:
    """``{path: {"mode", "user", "group", "sha1"}}``; ``None`` for a missing file
    (or a symlink, which the deploy always hands to pyinfra's own checks)."""
    result: dict[str, dict | None] = {}
    for line in lines:
        path, found, rest = line.partition("\t")
        if not found:
            continue
        fields = rest.split()
        if len(fields) == 4:
            mode, user, group, digest = fields
            result[path] = {"mode": mode, "user": user, "group": group, "sha1": digest}
        else:
            result[path] = None
    return result


def file_digests_section(paths: list[str] | tuple[str, ...]) -> Section:
    return Section("files", file_digests_command(paths), parse_file_digests)


class FileDigests(FactBase):
    """
    Mode, owner, group and sha1 of each of ``paths`` (``None`` when missing).

    .. code:: python

        {"/etc/dnsmasq.d/kvm-cluster.conf":
            {"mode": "644", "user": "root", "group": "root", "sha1": "5f0c..."}}
    """

    def command(self, paths):
        return file_digests_command(paths)

    def process(self, output):
        return parse_file_digests(output)
