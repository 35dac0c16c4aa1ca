"""Packages, decided from the batched probe (``facts.packages``)."""

from __future__ import annotations

from pyinfra import host
import posixpath

from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.operations import apt, dnf, yum

from facts.packages import SKIPPED_RECORD

from ._log import warn_once
from ._probe import section


# What to do about an optional package the archive lacks.
HINTS = {
    "clustershell": "on RHEL and Rocky it comes from EPEL (dnf install epel-release, with the "
                    "CRB repository on 9, PowerTools on 8); its groups file is written all the same",
}


def packages_to_install(wanted: list[str], current: dict) -> tuple[list[str], list[str]]:
    """(to install, not in this release's archive): installed names are left alone."""
    installed = current.get("installed", {})
    missing = set(current.get("missing", []))
    todo = [name for name in wanted if name not in installed and name not in missing]
    skipped = [name for name in wanted if name not in installed and name in missing]
    return todo, skipped


@operation()
def install(packages: list[str], os_family: str, os_major: int | None = None, optional=(),
            current: dict | None = None):
    """
    Install the packages that are not installed yet. An ``optional`` one the
    host's release does not have (Debian 12 has no ``virt-top``) is skipped
    with a warning; any other one missing from the package index makes the
    index be refreshed first (stale lists on a fresh image), and the install
    fails the host if the package still does not exist.

    + packages: package names for this host's distribution and release
    + os_family: ``debian`` (apt, without recommends) or ``rhel`` (dnf; yum before 8)
    + os_major: the release's major version
    + optional: names that may be missing from a release
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``packages``
      (installed, available, missing)

    **Example:**

    .. code:: python

        packages.install(
            name="KVM packages",
            packages=["qemu-system-x86", "libvirt-daemon-system", "virt-top"],
            current=probe,
            os_family="debian",
            optional=["virt-top"],
        )
    """
    state = section(current, "packages", {})
    todo, missing = packages_to_install(packages, state)
    skipped = [name for name in missing if name in optional]
    required = [name for name in missing if name not in optional]
    if skipped:
        warn_once(f"not in this release's package archive, skipped: {', '.join(skipped)}"
                  + "".join(f"; {name}: {HINTS[name]}" for name in skipped if name in HINTS))
    recorded = sorted(state.get("recorded", []))
    if required:
        warn_once(f"not in the package index: {', '.join(required)}: refreshing it first")
        yield StringCommand("dnf makecache" if os_family == "rhel" else "apt-get update -q")
        todo = todo + required
    if not todo and sorted(skipped) == recorded:
        host.noop(f"packages installed: {', '.join(n for n in packages if n not in skipped)}")
        return
    if todo and os_family == "rhel" and os_major is not None and os_major < 8:
        yield from yum.packages._inner(packages=todo)
    elif todo and os_family == "rhel":
        yield from dnf.packages._inner(packages=todo)
    elif todo:
        yield from apt.packages._inner(packages=todo, extra_install_args="--no-install-recommends")
    if (todo and skipped) or sorted(skipped) != recorded:
        # Remember the answer until the package index changes (facts.packages):
        # written last, after anything above that refreshed the index.
        yield StringCommand(
            "mkdir -p", QuoteString(posixpath.dirname(SKIPPED_RECORD)), "&& printf '%s'",
            QuoteString("".join(f"{name}\n" for name in sorted(skipped))), ">", QuoteString(SKIPPED_RECORD),
        )
