"""CPU virtualization: vendor, vmx/svm, /dev/kvm, kvm modules, nested state."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, key_values, remembered

VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}

CPU_COMMAND = (
    # The CPU's vendor and flags change only with a reboot (firmware settings).
    remembered("cpu-flags", "grep -m1 '^vendor_id' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo")
    + "; "
    "if [ -e /dev/kvm ]; then echo 'dev_kvm: yes'; else echo 'dev_kvm: no'; fi; "
    # Loaded kvm modules: a module loaded from a file has an initstate in
    # /sys/module (what /proc/modules lists; one built into the kernel has none).
    # (Gathered in a variable: a command substitution is a process.)
    "_kc_km=; for _kc_x in kvm_intel kvm_amd kvm; do "
    "[ ! -e /sys/module/$_kc_x/initstate ] || _kc_km=\"$_kc_km$_kc_x \"; done; echo \"kvm_modules: $_kc_km\"; "
    "n=; for f in /sys/module/kvm_intel/parameters/nested /sys/module/kvm_amd/parameters/nested; do "
    "[ -r \"$f\" ] && { read -r n < \"$f\"; break; }; done; echo \"nested: $n\""
)


def parse_cpu(lines: list[str]) -> dict:
    """Parse the CPU section.

    ``extension`` is the hardware virtualization flag the CPU advertises (``vmx``
    on Intel, ``svm`` on AMD) or None: a firmware with VT-x/AMD-V disabled hides
    the flag, so None means "enable it in the BIOS", not "unsupported CPU" only.
    """
    values = key_values(lines)
    vendor_id = values.get("vendor_id", "")
    flags = set(values.get("flags", "").split())
    extension = next((flag for flag in ("vmx", "svm") if flag in flags), None)
    modules = values.get("kvm_modules", "").split()
    nested = values.get("nested", "")
    return {
        "vendor_id": vendor_id,
        "vendor": VENDORS.get(vendor_id, "unknown"),
        "extension": extension,
        "dev_kvm": values.get("dev_kvm") == "yes",
        "kvm_modules": modules,
        "kvm_loaded": "kvm" in modules,
        "nested": {"Y": True, "1": True, "N": False, "0": False}.get(nested),
    }


CPU = Section("cpu", CPU_COMMAND, parse_cpu)


class CpuVirtualization(FactBase):
    """
    Hardware virtualization support of the host CPU.

    .. code:: python

        {
            "vendor_id": "GenuineIntel", "vendor": "intel", "extension": "vmx",
            "dev_kvm": True, "kvm_modules": ["kvm_intel", "kvm"], "kvm_loaded": True,
            "nested": False,
        }
    """

    command = CPU.command

    def process(self, output):
        return CPU.parse(output)
