"""IOMMU kernel options: add them to GRUB's default command line, regenerate GRUB.

The plan is pure (:func:`plan_kernel_options`, :func:`set_grub_variable`);
:func:`kernel_options` turns it into commands. A reboot is recorded, in the
place Debian's tools and motd look (``/var/run/reboot-required``), and only
performed when asked for.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace
from io import StringIO

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.files import FileContents
from pyinfra.operations import files, server

from facts.iommu import GRUB_DEFAULT, grub_file_args, merge_args, missing_args

from ._files import backup_path, before_upload
from ._log import warn_once
from ._probe import section

REBOOT_MARKER = "/var/run/reboot-required"
REBOOT_REASON = "kvm-cluster-iommu"


def iommu_args(vendor: str, passthrough: bool = False) -> list[str]:
    """The kernel options that turn the IOMMU on for this CPU vendor.

    Intel needs ``intel_iommu=on``; AMD's IOMMU is on by default when the
    firmware enables it. ``iommu=pt`` (passthrough) is optional.
    """
    args = ["intel_iommu=on"] if vendor == "intel" else []
    if passthrough:
        args.append("iommu=pt")
    return args


def grub_variable(os_family: str) -> str:
    """Debian and Ubuntu put options in ..._DEFAULT; RHEL uses GRUB_CMDLINE_LINUX."""
    return "GRUB_CMDLINE_LINUX_DEFAULT" if os_family == "debian" else "GRUB_CMDLINE_LINUX"


@dataclass(frozen=True)
class KernelOptionsPlan:
    file: str | None = None
    variable: str | None = None
    add: list[str] = field(default_factory=list)
    regenerate: str | None = None
    note: str | None = None

    @property
    def changes(self) -> bool:
        return bool(self.add or self.regenerate)


def plan_kernel_options(wanted: list[str], iommu_state: dict, os_family: str) -> KernelOptionsPlan:
    """What to change so that GRUB boots with ``wanted`` next time.

    - the GRUB defaults file gets the options missing from its command line, in
      the file that last assigns the variable (grub.d drop-ins included);
    - GRUB is regenerated the distribution's way: ``grubby`` where it manages
      the boot entries (RHEL 8+), else ``update-grub`` or ``grub2-mkconfig``;
    - with no ``grub.cfg`` under /boot, GRUB is not this host's boot loader:
      the defaults file is still kept right, nothing is regenerated, and the
      note says so.
    """
    if not wanted:
        return KernelOptionsPlan()
    variable = grub_variable(os_family)
    add = missing_args(wanted, grub_file_args(iommu_state)) if iommu_state["grub_file"] else []
    target = iommu_state["grub"].get(variable, {}).get("file", GRUB_DEFAULT)
    tools = iommu_state["tools"]
    grub_cfg = iommu_state["grub_cfg"]

    if iommu_state["grubby_args"] is not None:
        grubby_missing = missing_args(wanted, iommu_state["grubby_args"])
        regenerate = None
        if grubby_missing:
            regenerate = "grubby --update-kernel=ALL --args=" + shlex.quote(" ".join(grubby_missing))
        return KernelOptionsPlan(target, variable, add, regenerate)

    if not iommu_state["grub_file"]:
        return KernelOptionsPlan(note="no GRUB configuration on this host: kernel options not managed")
    if not add:
        return KernelOptionsPlan()
    if not grub_cfg:
        return KernelOptionsPlan(
            target, variable, add, None,
            note=f"no grub.cfg under /boot: GRUB is not this host's boot loader; "
                 f"{target} is kept up to date, nothing is regenerated",
        )
    if "update-grub" in tools:
        regenerate = "update-grub"
    else:
        mkconfig = next((tool for tool in ("grub2-mkconfig", "grub-mkconfig") if tool in tools), None)
        regenerate = f"{mkconfig} -o {shlex.quote(grub_cfg)}" if mkconfig else None
    note = None if regenerate else "no update-grub or grub-mkconfig found: GRUB not regenerated"
    return KernelOptionsPlan(target, variable, add, regenerate, note)


_ASSIGNMENT = r"^\s*{0}=(.*)$"


def set_grub_variable(lines: list[str], variable: str, add: list[str]) -> str:
    """The GRUB defaults file with ``add`` merged into ``variable``'s last assignment.

    Other lines, comments and other arguments are kept as they are; a file that
    does not assign the variable gets a new line at the end.
    """
    pattern = re.compile(_ASSIGNMENT.format(re.escape(variable)))
    result = list(lines)
    index = max((i for i, line in enumerate(result) if pattern.match(line)), default=None)
    if index is None:
        result.append(f'{variable}="{" ".join(add)}"')
    else:
        raw = pattern.match(result[index]).group(1).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            quote_char, raw = raw[0], raw[1:-1]
        else:
            quote_char = '"'
        result[index] = f"{variable}={quote_char}{merge_args(raw, add)}{quote_char}"
    return "\n".join(result) + "\n"


@operation()
def kernel_options(wanted: list[str], os_family: str, reboot: bool = False, current: dict | None = None):
    """
    Add kernel options to GRUB's default command line without disturbing the others.

    + wanted: the kernel options, e.g. ``["intel_iommu=on", "iommu=pt"]``
    + os_family: ``debian`` (GRUB_CMDLINE_LINUX_DEFAULT, update-grub) or ``rhel``
      (GRUB_CMDLINE_LINUX, grubby or grub2-mkconfig)
    + reboot: reboot the host when the options changed (otherwise the reboot is
      recorded in /var/run/reboot-required)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``iommu``
      (``facts.iommu.Iommu``)

    The edited file is backed up next to itself (``FILE.TIMESTAMP``) first.

    **Example:**

    .. code:: python

        iommu.kernel_options(
            wanted=["intel_iommu=on"],
            current={"iommu": host.get_fact(Iommu)},
            os_family="debian",
        )
    """
    plan = plan_kernel_options(wanted, section(current, "iommu", {}), os_family)
    if plan.note:
        warn_once(plan.note)
    if not plan.changes:
        host.noop(f"kernel options {' '.join(wanted) or '(none)'} already configured")
        return

    if plan.add:
        lines = host.get_fact(FileContents, path=plan.file)
        content = set_grub_variable(lines or [], plan.variable, plan.add)
        upload = files.put._inner(src=StringIO(content), dest=plan.file, create_remote_dir=False)
        backup = []
        copy = None
        if lines is not None:
            copy = backup_path(plan.file)
            backup.append(StringCommand("cp", "-p", QuoteString(plan.file), QuoteString(copy)))
        yield from before_upload(upload, backup)
        if plan.regenerate and copy is not None:
            # Regenerated, or the edit is undone: a failed update-grub (a full
            # /boot) must not leave a file that the next run calls configured.
            yield StringCommand(
                "{", plan.regenerate, ";", "}", "||", "{", "cp", "-p", QuoteString(copy),
                QuoteString(plan.file), ";", "echo", "'GRUB was not regenerated: the edit of",
                QuoteString(plan.file), "is undone'", ">&2;", "exit", "1;", "}",
            )
            plan = replace(plan, regenerate=None)

    if plan.regenerate:
        yield plan.regenerate

    yield (
        f"printf '*** System restart required ***\\n' > {REBOOT_MARKER} && "
        f"(grep -qsx {REBOOT_REASON} {REBOOT_MARKER}.pkgs || echo {REBOOT_REASON} >> {REBOOT_MARKER}.pkgs)"
    )
    if reboot:
        yield from server.reboot._inner()
