"""Digests of the files the deploy manages, read in the batched probe.

With the digest (mode, owner, group, sha1 of the content) an operation knows
whether its rendered file is already in place without reading pyinfra's file
facts, which cost one SSH command each.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, quote


def file_digests_command(paths: list[str] | tuple[str, ...]) -> str:
    """One ``stat`` and one ``sha1sum`` for all paths (not two processes per
    file), merged by awk into ``PATH<TAB>MODE USER GROUP SHA1`` or ``PATH<TAB>-``."""
    if not paths:
        return "true"
    quoted = " ".join(quote(path) for path in paths)
    return (
        # stat -L and sha1sum follow a symlink to its file; the shell's own
        # test marks the symlinks (the deploy writes through them).
        f"{{ stat -L -c 'S\t%F\t%n\t%a %U %G' {quoted} 2>/dev/null; "
        f"sha1sum {quoted} 2>/dev/null | sed 's/^/H\t/'; "
        f"for p in {quoted}; do [ -L \"$p\" ] && printf 'L\t%s\n' \"$p\"; done; "
        f"printf 'P\t%s\n' {quoted}; }} | awk -F'\t' "
        "'$1==\"S\" && $2 ~ /^regular/ {meta[$3]=$4} $1==\"L\" {link[$2]=1} "
        "$1==\"H\" {i=index($2, \"  \"); sha[substr($2, i+2)]=substr($2, 1, i-1)} "
        "$1==\"P\" {order[++n]=$2} "
        "END {for (k=1; k<=n; k++) {p=order[k]; l=(p in link) ? \"link \" : \"\"; "
        "if ((p in meta) && (p in sha)) printf \"%s\\t%s%s %s\\n\", p, l, meta[p], sha[p]; "
        "else if (l != \"\") printf \"%s\\tlink\\n\", p; "
        "else printf \"%s\\t-\\n\", p}}'"
    )


def parse_file_digests(lines: list[str]) -> dict[str, dict | None]:
    """``{path: {"mode", "user", "group", "sha1"}}``; ``None`` for a missing file;
    for a symlink, its file's digest with ``"link": True`` (``{"link": True}``
    alone when it points nowhere): the deploy writes through it with pyinfra's
    own upload, which follows it."""
    result: dict[str, dict | None] = {}
    for line in lines:
        path, found, rest = line.partition("\t")
        if not found:
            continue
        fields = rest.split()
        link = fields[:1] == ["link"]
        if link:
            fields = fields[1:]
        if len(fields) == 4:
            mode, user, group, digest = fields
            result[path] = {"mode": mode, "user": user, "group": group, "sha1": digest}
            if link:
                result[path]["link"] = True
        else:
            result[path] = {"link": True} if link else None
    return result


def file_digests_section(paths: list[str] | tuple[str, ...]) -> Section:
    return Section("files", file_digests_command(paths), parse_file_digests)


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
