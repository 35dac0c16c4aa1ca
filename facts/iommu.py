"""IOMMU: what the running kernel booted with, what GRUB boots next, IOMMU groups."""

from __future__ import annotations

import re

from pyinfra.api import FactBase

from ._section import Section, key_values, multi_values, remembered, unquote_shell

GRUB_DEFAULT = "/etc/default/grub"
GRUB_VARIABLES = ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")
GRUB_TOOLS = ("update-grub", "grub-mkconfig", "grub2-mkconfig", "grubby")
GRUB_CONFIGS = ("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/boot/efi/EFI/*/grub.cfg")

IOMMU_COMMAND = (
    # What the running kernel booted with: remembered until the next boot.
    # printf, not echo: dash's echo would decode a backslash on the command line.
    remembered("iommu-boot", "printf 'cmdline: %s\\n' \"$(cat /proc/cmdline)\"; "
                 "echo \"groups: $(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)\"")
    + "; "
    + f"if [ -f {GRUB_DEFAULT} ]; then echo 'grub_file: yes'; else echo 'grub_file: no'; fi; "
    # /etc/default/grub.d/*.cfg (Debian, Ubuntu cloud images) is sourced after
    # the main file and may override it: report every assignment, in order
    # (FILE:LINE, as grep -H prints it; read by the shell, no grep or sed).
    f"for f in {GRUB_DEFAULT} {GRUB_DEFAULT}.d/*.cfg; do [ -f \"$f\" ] || continue; "
    "while IFS= read -r l || [ -n \"$l\" ]; do case \"$l\" in "
    + "|".join(f"{variable}=*" for variable in GRUB_VARIABLES)
    + ") printf 'assign: %s:%s\\n' \"$f\" \"$l\";; esac; done < \"$f\"; done 2>/dev/null; "
    # (Gathered in a variable: a command substitution is a process.)
    "_kc_t=; for _kc_x in " + " ".join(GRUB_TOOLS) + "; do "
    "! command -v $_kc_x >/dev/null 2>&1 || _kc_t=\"$_kc_t$_kc_x \"; done; echo \"tools: $_kc_t\"; "
    # The grub.cfg grub-mkconfig writes: BIOS's (and on RHEL 9 UEFI's too:
    # its EFI directory holds a stub that reads it), else an EFI one.
    f"g=; for f in {' '.join(GRUB_CONFIGS)}; do [ -f \"$f\" ] && {{ g=$f; break; }}; done; "
    "echo \"grub_cfg: $g\"; "
    "if command -v grubby >/dev/null 2>&1; then "
    "grubby --info=DEFAULT 2>/dev/null | grep -m1 '^args=' | sed 's/^args=/grubby_args: /'; fi"
)

_VARIABLE_REFERENCE = r"\$\{?%s\}?(?![A-Za-z0-9_])"


def expand_assignment(rhs: str, variable: str, previous: str) -> str:
    """The value of ``VAR=rhs`` where rhs may reference ``$VAR`` (grub.d drop-ins do)."""
    value = unquote_shell(rhs)
    return re.sub(_VARIABLE_REFERENCE % variable, lambda _: previous, value).strip()


def parse_iommu(lines: list[str]) -> dict:
    """Parse the IOMMU section.

    ``grub`` maps each GRUB command-line variable to its effective value and the
    file that last assigns it (the one to edit), following grub.d overrides.
    """
    values = key_values(lines)
    grub: dict[str, dict] = {}
    for assignment in multi_values(lines, "assign"):
        path, _, rest = assignment.partition(":")
        variable, _, rhs = rest.partition("=")
        previous = grub.get(variable, {}).get("value", "")
        grub[variable] = {"value": expand_assignment(rhs, variable, previous), "file": path}

    grubby_args = values.get("grubby_args")
    groups = values.get("groups", "0")
    return {
        "cmdline": values.get("cmdline", "").split(),
        "grub_file": values.get("grub_file") == "yes",
        "grub": grub,
        "grubby_args": unquote_shell(grubby_args).split() if grubby_args is not None else None,
        "groups": int(groups) if groups.isdigit() else 0,
        "tools": values.get("tools", "").split(),
        "grub_cfg": values.get("grub_cfg") or None,
    }


def grub_file_args(iommu: dict) -> list[str]:
    """The kernel arguments the GRUB defaults files set (both command-line variables)."""
    args: list[str] = []
    for variable in GRUB_VARIABLES:
        args += iommu["grub"].get(variable, {}).get("value", "").split()
    return args


def configured_args(iommu: dict) -> list[str]:
    """The kernel arguments GRUB will boot next (grubby's view where it exists)."""
    if iommu.get("grubby_args") is not None:
        return list(iommu["grubby_args"])
    return grub_file_args(iommu)


def is_configured(iommu: dict, wanted: list[str]) -> bool:
    """Will GRUB boot with every ``wanted`` argument next time?"""
    return not missing_args(wanted, configured_args(iommu))


def arg_key(arg: str) -> str:
    return arg.split("=", 1)[0]


def missing_args(wanted: list[str], present: list[str]) -> list[str]:
    """The wanted arguments not present with exactly that value."""
    return [arg for arg in wanted if arg not in present]


def merge_args(current: str, wanted: list[str]) -> str:
    """Add kernel arguments to a command line without disturbing the others.

    An argument with the same key and another value (``intel_iommu=off``) is
    replaced where it stands; a missing one is appended; order is kept.
    """
    args = current.split()
    for want in wanted:
        keys = [arg_key(arg) for arg in args]
        if want in args:
            continue
        if arg_key(want) in keys and "=" in want:
            args[keys.index(arg_key(want))] = want
        else:
            args.append(want)
    return " ".join(args)


IOMMU = Section("iommu", IOMMU_COMMAND, parse_iommu)


class Iommu(FactBase):
    """
    IOMMU state: the running kernel's arguments, GRUB's next command line,
    IOMMU groups present and the GRUB tools installed.

    .. code:: python

        {
            "cmdline": ["BOOT_IMAGE=/vmlinuz", "ro", "intel_iommu=on"],
            "grub_file": True,
            "grub": {"GRUB_CMDLINE_LINUX_DEFAULT": {"value": "quiet", "file": "/etc/default/grub"}},
            "grubby_args": None, "groups": 42, "tools": ["update-grub"],
            "grub_cfg": "/boot/grub/grub.cfg",
        }
    """

    command = IOMMU.command

    def process(self, output):
        return IOMMU.parse(output)
