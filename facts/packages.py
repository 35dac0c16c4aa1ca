"""Which of the deploy's packages are installed, installable or unknown to the release."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import PACKAGE_DATABASES, Section, quote, remembered

# Names the deploy found missing from the archive, recorded by
# operations.packages so that later runs need not ask the archive again
# (``apt-cache show`` costs about 0.2 s of CPU per name) until the package
# index changes.
SKIPPED_RECORD = "/var/lib/kvm-cluster/packages-not-in-archive"


def packages_command(names: dict[str, list[str]], no_lookup: dict[str, list[str]] | None = None) -> str:
    """dpkg or rpm, whichever the host has, asked about the names for its
    family (``{"debian": [...], "rhel": [...]}``: the probe runs before the
    deploy knows the distribution). Only a package that is not installed is
    looked up in the archive (about 0.1 s of CPU each), so a converged host
    pays one ``dpkg-query``; and not those of ``no_lookup`` (per family: the
    network backends' packages, needed only where that backend turns out to
    run, which the probe cannot know: a host of another backend would look
    them up at every run)."""
    deb = " ".join(quote(name) for name in names.get("debian", ()))
    rpm = " ".join(quote(name) for name in names.get("rhel", ()))
    if not (deb or rpm):
        return "true"
    skip_deb = " ".join(quote(name) for name in (no_lookup or {}).get("debian", ()))
    skip_rpm = " ".join(quote(name) for name in (no_lookup or {}).get("rhel", ()))
    lookup = ("if grep -qx \"$p\" \"$rec\" 2>/dev/null || ! look \"$p\"; then echo \"missing: $p\"; "
              "else echo \"available: $p\"; fi")
    skip = {"debian": "", "rhel": ""}
    skip_check = ""
    if skip_deb or skip_rpm:
        skip_check = "case \" $skip \" in *\" $p \"*) continue;; esac; "
        lookup = f"case \" $skip \" in *\" $p \"*) echo \"not looked up: $p\";; *) {lookup};; esac"
        skip = {"debian": f"skip='{skip_deb}'; ", "rhel": f"skip='{skip_rpm}'; "}
    return (
        f"{skip['debian']}if command -v dpkg-query >/dev/null 2>&1; then names='{deb}'; "
        "installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev} ${Version}\\n' $names 2>/dev/null"
        " | awk '$2 ~ /^ii/ {print $1 \" \" $3}'); "
        "index=/var/cache/apt/pkgcache.bin; "
        # One apt-cache for every name not installed (about 0.1 s each otherwise).
        "prepare() { avail=$(apt-cache policy \"$@\" 2>/dev/null | awk '/^[^ ].*:$/ "
        "{p = substr($0, 1, length($0) - 1)} /^  Candidate:/ && $2 != \"(none)\" {print p}'); }; "
        "look() { case \"\n$avail\n\" in *\"\n$1\n\"*) true;; *) false;; esac; }; "
        f"elif command -v rpm >/dev/null 2>&1; then names='{rpm}'; {skip['rhel']}"
        "installed=$(rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' $names 2>/dev/null | grep -v ' is not installed'); "
        "index=/var/cache/dnf; "
        "prepare() { :; }; "
        "look() { dnf -q list --available \"$1\" >/dev/null 2>&1 || yum -q list available \"$1\" >/dev/null 2>&1; }; "
        "else names=''; installed=''; prepare() { :; }; look() { false; }; fi; "
        f"rec={SKIPPED_RECORD}; "
        "if [ -f \"$rec\" ] && [ \"$rec\" -nt \"$index\" ]; then sed 's/^/recorded: /' \"$rec\"; else rec=/nonexistent; fi; "
        "[ -z \"$names\" ] || { printf '%s\\n' \"$installed\" | sed '/^$/d; s/^/installed: /'; "
        # Asked of the archive: the names neither installed nor recorded as missing.
        "recorded=$(cat \"$rec\" 2>/dev/null); wanted=''; for p in $names; do "
        "case \"\n$installed\n$recorded\n\" in *\"\n$p \"*|*\"\n$p\n\"*) ;; "
        f"*) {skip_check}wanted=\"$wanted $p\";; esac; done; [ -z \"$wanted\" ] || prepare $wanted; "
        "for p in $names; do case \"\n$installed\" in *\"\n$p \"*) ;; "
        f"*) {lookup};; esac; done; }}"
    )


def parse_packages(lines: list[str]) -> dict:
    """``{"installed": {name: version}, "available": [names], "missing": [names],
    "recorded": [names]}``: ``missing`` are names the host's archive does not
    have; ``recorded`` those a previous run recorded as missing (still valid
    while the package index is unchanged)."""
    result: dict = {"installed": {}, "available": [], "missing": [], "recorded": []}
    for line in lines:
        kind, _, rest = line.partition(": ")
        if kind == "installed":
            name, _, version = rest.partition(" ")
            result["installed"][name] = version
        elif kind in ("available", "missing", "recorded"):
            result[kind].append(rest.strip())
    return result


# What the packages section's answer depends on besides the names asked: the
# installed packages, the archive's index, the record of names found missing.
PACKAGE_STATE_FILES = (*PACKAGE_DATABASES, "/var/lib/apt/lists", "/var/cache/apt/pkgcache.bin",
                       "/var/cache/dnf", SKIPPED_RECORD)


def packages_section(names: dict[str, list[str]], no_lookup: dict[str, list[str]] | None = None) -> Section:
    """Remembered on the host until a package change, an archive update or a
    new record of missing names (``dpkg-query`` alone is about 4 ms of CPU)."""
    command = packages_command(names, no_lookup)
    if command != "true":
        command = remembered("packages", command, watched=PACKAGE_STATE_FILES)
    return Section("packages", command, parse_packages)


class PackageState(FactBase):
    """
    Installed versions of ``names`` (``{"debian": [...], "rhel": [...]}``: the
    list for the host's package manager), and which of the others the archive has.

    .. code:: python

        {"installed": {"qemu-utils": "1:7.2+dfsg-7"}, "available": ["virtinst"],
         "missing": ["virt-top"]}
    """

    def command(self, names):
        return packages_command(names)

    def process(self, output):
        return parse_packages(output)
