"""Digests of the files the deploy manages, read in the batched probe.

With the digest (mode, owner, group, sha1 of the content) an operation knows
whether its rendered file is already in place without reading pyinfra's file
facts, which cost one SSH command each.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, quote, remembered, watched_with_owners


def watched_files(paths: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """What the digests are remembered by (:func:`file_digests_command`)."""
    return watched_with_owners(paths)


def file_digests_command(paths: list[str] | tuple[str, ...]) -> str:
    """One ``stat`` and one ``sha1sum`` for all paths (not two processes per
    file), remembered (facts._section.remembered) while each file and the
    user databases are the same: a write, a chmod or a chown changes a file's
    change time, a file replaced its inode. Put together by
    :func:`parse_file_digests`, on the management node."""
    if not paths:
        return "true"
    quoted = " ".join(quote(path) for path in paths)
    # stat -L and sha1sum follow a symlink to its file. Asked of the files
    # that exist: a missing file is no error (the output says it is missing,
    # and is remembered), a file that exists and cannot be read is (the
    # answer is printed, not remembered).
    digests = (f"set --; for p in {quoted}; do [ -e \"$p\" ] && set -- \"$@\" \"$p\"; done; "
               "[ $# -eq 0 ] || { s=0; stat -L -c 'S\t%F\t%n\t%a %U %G' -- \"$@\" 2>/dev/null || s=1; "
               "sha1sum -- \"$@\" 2>/dev/null || s=1; [ $s -eq 0 ]; }")
    watched = watched_files(paths)
    if watched:
        digests = remembered("files", digests, watched=watched)
    return (
        f"{digests}; "
        # The shell's own test marks the symlinks (the deploy writes through
        # them): asked every time, it costs no process.
        f"for p in {quoted}; do [ -L \"$p\" ] && printf 'L\\t%s\\n' \"$p\"; done; "
        f"printf 'P\\t%s\\n' {quoted}"
    )


def parse_file_digests(lines: list[str]) -> dict[str, dict | None]:
    """``{path: {"mode", "user", "group", "sha1"}}``; ``None`` for a missing file;
    for a symlink, its file's digest with ``"link": True`` (``{"link": True}``
    alone when it points nowhere): the deploy writes through it with pyinfra's
    own upload, which follows it.

    Lines: stat's ``S<TAB>TYPE<TAB>PATH<TAB>MODE USER GROUP``, sha1sum's
    ``SHA1  PATH``, ``L<TAB>PATH`` for a symlink, ``P<TAB>PATH`` for every path
    asked, in order."""
    meta: dict[str, list[str]] = {}
    digests: dict[str, str] = {}
    links: set[str] = set()
    order: list[str] = []
    for line in lines:
        tag = line[:2]
        if tag == "S\t":
            fields = line.split("\t")
            if len(fields) == 4 and fields[1].startswith("regular"):
                meta[fields[2]] = fields[3].split()
        elif tag == "L\t":
            links.add(line[2:])
        elif tag == "P\t":
            order.append(line[2:])
        else:
            digest, found, path = line.partition("  ")
            if found and len(digest) == 40:
                digests[path] = digest
    result: dict[str, dict | None] = {}
    for path in order:
        link = path in links
        if path in meta and path in digests and len(meta[path]) == 3:
            mode, user, group = meta[path]
            result[path] = {"mode": mode, "user": user, "group": group, "sha1": digests[path]}
            if link:
                result[path]["link"] = True
        else:
            result[path] = {"link": True} if link else None
    return result


def file_digests_section(paths: list[str] | tuple[str, ...]) -> Section:
    return Section("files", file_digests_command(paths), parse_file_digests, watched_files(paths))


class FileDigests(FactBase):
    """
    Mode, owner, group and sha1 of each of ``paths`` (``None`` when missing,
    ``{"link": True}`` for a symlink).

    .. code:: python

        {"/etc/dnsmasq.d/kvm-cluster.conf":
            {"mode": "644", "user": "root", "group": "root", "sha1": "5f0c..."}}
    """

    def command(self, paths):
        return file_digests_command(paths)

    def process(self, output):
        return parse_file_digests(output)
