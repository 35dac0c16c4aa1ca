"""Preflight: can this host become a KVM hypervisor, and what is missing?

The checks are pure (:func:`evaluate` turns a :class:`facts.host.HostProbe`
result into findings); :func:`verify` reports them and, when any check whose
policy is ``fail`` finds a problem, fails the host before any change on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation

from facts.iommu import is_configured

from ._log import error_once, fail_command, warn_once

logger = logging.getLogger("pyinfra")

@dataclass(frozen=True)
class Finding:
    check: str
    policy: str
    problem: str
    fix: str

    def line(self) -> str:
        return f"{self.check}: {self.problem}. Fix: {self.fix}"


def _cpu_virtualization(probe, ctx):
    cpu = probe["cpu"]
    if cpu["extension"] is None:
        vendor = cpu["vendor_id"] or "unknown vendor"
        yield (
            f"the CPU ({vendor}) advertises no hardware virtualization (no vmx or svm flag)",
            "enable Intel VT-x or AMD-V (SVM) in the BIOS/UEFI setup and boot again"
            " (on a virtual machine: enable nested virtualization on its hypervisor)",
        )


def _kvm_device(probe, ctx):
    cpu = probe["cpu"]
    if not cpu["dev_kvm"]:
        module = {"intel": "kvm_intel", "amd": "kvm_amd"}.get(cpu["vendor"], "kvm_intel or kvm_amd")
        loaded = ", ".join(cpu["kvm_modules"]) or "none"
        yield (
            f"/dev/kvm does not exist (kvm modules loaded: {loaded})",
            f"enable virtualization in the BIOS, then `modprobe {module}`"
            " (the KVM stack step installs and loads it)",
        )


def _iommu(probe, ctx):
    iommu = probe["iommu"]
    if iommu["groups"] == 0:
        pending = is_configured(iommu, ctx["iommu_args"])
        if pending and ctx["iommu_args"]:
            fix = f"{' '.join(ctx['iommu_args'])} is configured for the next boot: reboot"
        else:
            fix = ("enable VT-d / AMD-Vi in the BIOS; this deploy adds the kernel options"
                   " to GRUB, then reboot")
        yield ("IOMMU is not active in the running kernel (no /sys/kernel/iommu_groups)", fix)


def _grub(probe, ctx):
    iommu = probe["iommu"]
    if ctx["iommu_args"] and not iommu["grub_file"] and iommu["grubby_args"] is None:
        yield (
            "no GRUB configuration (/etc/default/grub): kernel options cannot be managed here",
            f"add {' '.join(ctx['iommu_args'])} to this host's boot loader by hand",
        )


def _data_volume(probe, ctx):
    volume = probe["data_volume"]
    path = ctx["data_path"]
    if not volume["exists"]:
        yield (f"the data volume {path} does not exist",
               f"create the storage (RAID10/RAID5 on local disks), mount it at {path}"
               " and add it to /etc/fstab")
    elif not volume["mounted"]:
        yield (f"{path} is not a mount point: VM disks would land on the root filesystem",
               f"mount the data volume at {path} and add it to /etc/fstab")


def _virt_host_validate(probe, ctx):
    for row in probe["virt_host_validate"]["checks"]:
        if row["result"] == "FAIL":
            yield (f"virt-host-validate {row['driver']}: checking {row['check']}: FAIL"
                   + (f" ({row['message']})" if row["message"] else ""),
                   "see the message above (virt-host-validate qemu)")


CHECKS = {
    "cpu_virtualization": _cpu_virtualization,
    "kvm_device": _kvm_device,
    "iommu": _iommu,
    "grub": _grub,
    "data_volume": _data_volume,
    "virt_host_validate": _virt_host_validate,
}
HYPERVISOR_CHECKS = tuple(CHECKS)


def evaluate(probe: dict, checks, policy: dict, data_path: str = "/data01",
             iommu_args=()) -> list[Finding]:
    """Run the named checks against a HostProbe result; every problem is a Finding."""
    ctx = {"data_path": data_path, "iommu_args": list(iommu_args)}
    findings = []
    for check in checks:
        for problem, fix in CHECKS[check](probe, ctx):
            findings.append(Finding(check, policy.get(check, "fail"), problem, fix))
    return findings


@operation()
def verify(checks, policy: dict, data_path: str = "/data01", iommu_args=(), data_problems=(),
           current: dict | None = None):
    """
    Check that a host can become a KVM hypervisor; fail it, before any change, if not.

    + checks: names of the checks to run (see ``CHECKS``)
    + policy: per check, ``fail`` (stop this host) or ``warn`` (report and go on)
    + data_path: the data volume the storage pools live on
    + iommu_args: the IOMMU kernel options the deploy configures
    + data_problems: configuration this host's facts refuse (e.g. an uplink
      interface the host does not have), each naming the key and value:
      always a failure, found here so that nothing is changed on the host
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): every
      section the checks read

    A check set to ``warn`` is logged; any ``fail`` finding makes this operation
    print every finding to stderr and exit non-zero, so pyinfra marks the host
    failed and runs nothing more on it while the other hosts carry on.

    **Example:**

    .. code:: python

        preflight.verify(
            checks=["cpu_virtualization", "data_volume"],
            policy={"cpu_virtualization": "fail", "data_volume": "fail"},
            current=host.get_fact(HostProbe, data_path="/data01"),
        )
    """
    findings = evaluate(current or {}, checks, policy, data_path, iommu_args)
    findings += [Finding("data", "fail", problem, "correct the host's data (inventory or group_data)")
                 for problem in data_problems]
    failures = [finding for finding in findings if finding.policy == "fail"]
    for finding in findings:
        if finding.policy == "warn":
            warn_once(f"preflight warning: {finding.line()}")

    if failures:
        lines = ["preflight failed; nothing was changed on this host:"]
        lines += [f"  - {finding.line()} (policy: fail)" for finding in failures]
        for finding in failures:
            error_once(f"preflight failure: {finding.line()}")
        yield fail_command(*lines)
        return

    warnings = len(findings)
    host.noop(f"preflight passed{f' with {warnings} warning(s)' if warnings else ''}")



def _report_host_validation(state, host, policy: str) -> bool:
    """Run virt-host-validate now that the KVM stack is installed, and say what it finds."""
    from facts.libvirt import VIRT_HOST_VALIDATE_COMMAND, parse_virt_host_validate

    ok, output = host.run_shell_command(StringCommand(VIRT_HOST_VALIDATE_COMMAND), print_output=False)
    result = parse_virt_host_validate(output.stdout_lines)
    if not ok or not result["installed"]:
        warn_once("virt-host-validate: still not installed after the KVM stack step")
        return True
    findings = [row for row in result["checks"] if row["result"] in ("FAIL", "WARN")]
    for row in findings:
        warn_once(f"virt-host-validate {row['driver']}: checking {row['check']}: {row['result']}"
                  + (f" ({row['message']})" if row["message"] else "")
                  + (" (policy fail: the next run's preflight stops this host)"
                     if policy == "fail" and row["result"] == "FAIL" else ""))
    if not findings:
        host.log_styled("virt-host-validate: every check passed", log_func=logger.info)
    return True


@operation()
def host_validation(installed_at_preflight: bool, policy: str = "warn"):
    """
    Run ``virt-host-validate qemu`` once the KVM stack is in place, where the
    preflight could not (the tool comes with the packages): a first deploy
    reports it too. Its findings are warnings here (the host has changed
    already); with policy ``fail`` the next run's preflight stops the host.

    + installed_at_preflight: the probe found the tool (the preflight ran it)
    + policy: the preflight policy of ``virt_host_validate``

    **Example:**

    .. code:: python

        preflight.host_validation(installed_at_preflight=False, policy="warn")
    """
    if installed_at_preflight:
        host.noop("virt-host-validate ran at preflight")
        return
    yield FunctionCommand(_report_host_validation, (), {"policy": policy})
