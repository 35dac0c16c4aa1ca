"""The pure side of the IOMMU step: kernel arguments and GRUB files."""

import pytest

from facts.iommu import configured_args, merge_args, missing_args
from operations.iommu import iommu_args, plan_kernel_options, set_grub_variable


@pytest.mark.parametrize(
    "current, wanted, expected",
    [
        ("quiet", ["intel_iommu=on"], "quiet intel_iommu=on"),
        ("", ["intel_iommu=on", "iommu=pt"], "intel_iommu=on iommu=pt"),
        ("quiet intel_iommu=off splash", ["intel_iommu=on"], "quiet intel_iommu=on splash"),
        ("quiet intel_iommu=on", ["intel_iommu=on"], "quiet intel_iommu=on"),
        ("iommu=soft quiet", ["iommu=pt"], "iommu=pt quiet"),
        ("$GRUB_CMDLINE_LINUX_DEFAULT nomodeset", ["intel_iommu=on"],
         "$GRUB_CMDLINE_LINUX_DEFAULT nomodeset intel_iommu=on"),
    ],
)
def test_merge_args_keeps_the_others(current, wanted, expected):
    assert merge_args(current, wanted) == expected


def test_missing_args_compares_exact_values():
    assert missing_args(["intel_iommu=on"], ["intel_iommu=off"]) == ["intel_iommu=on"]
    assert missing_args(["intel_iommu=on"], ["quiet", "intel_iommu=on"]) == []


@pytest.mark.parametrize(
    "vendor, passthrough, expected",
    [("intel", False, ["intel_iommu=on"]), ("intel", True, ["intel_iommu=on", "iommu=pt"]),
     ("amd", False, []), ("amd", True, ["iommu=pt"]), ("unknown", False, [])],
)
def test_iommu_args_per_vendor(vendor, passthrough, expected):
    assert iommu_args(vendor, passthrough) == expected


def test_set_grub_variable_appends_when_unassigned():
    assert set_grub_variable(["GRUB_DEFAULT=0"], "GRUB_CMDLINE_LINUX_DEFAULT", ["intel_iommu=on"]) == (
        'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=on"\n'
    )


def test_set_grub_variable_edits_the_last_assignment_and_keeps_quotes():
    lines = ["GRUB_CMDLINE_LINUX_DEFAULT='quiet'", "# comment", "GRUB_CMDLINE_LINUX_DEFAULT='quiet splash'"]
    assert set_grub_variable(lines, "GRUB_CMDLINE_LINUX_DEFAULT", ["intel_iommu=on"]).splitlines() == [
        "GRUB_CMDLINE_LINUX_DEFAULT='quiet'", "# comment",
        "GRUB_CMDLINE_LINUX_DEFAULT='quiet splash intel_iommu=on'",
    ]


def _state(**overrides):
    state = {"cmdline": [], "grub_file": True,
             "grub": {"GRUB_CMDLINE_LINUX": {"value": "", "file": "/etc/default/grub"}},
             "grubby_args": None, "groups": 0, "tools": ["grub2-mkconfig"],
             "grub_cfg": "/boot/efi/EFI/centos/grub.cfg"}
    return {**state, **overrides}


def test_rhel7_regenerates_with_grub2_mkconfig_to_the_detected_cfg():
    plan = plan_kernel_options(["intel_iommu=on"], _state(), "rhel")
    assert plan.variable == "GRUB_CMDLINE_LINUX"
    assert plan.add == ["intel_iommu=on"]
    assert plan.regenerate == "grub2-mkconfig -o /boot/efi/EFI/centos/grub.cfg"


def test_grubby_only_when_the_file_is_already_right():
    state = _state(grub={"GRUB_CMDLINE_LINUX": {"value": "intel_iommu=on", "file": "/etc/default/grub"}},
                   grubby_args=["ro", "quiet"], tools=["grubby"])
    plan = plan_kernel_options(["intel_iommu=on"], state, "rhel")
    assert plan.add == []
    assert plan.regenerate == "grubby --update-kernel=ALL --args=intel_iommu=on"


def test_no_grub_at_all_changes_nothing_and_says_so():
    plan = plan_kernel_options(["intel_iommu=on"], _state(grub_file=False, grub={}), "debian")
    assert not plan.changes
    assert "no GRUB configuration" in plan.note


def test_configured_args_prefers_grubby():
    assert configured_args(_state(grubby_args=["a=1"])) == ["a=1"]
    assert configured_args(_state(grub={"GRUB_CMDLINE_LINUX": {"value": "x y"},
                                         "GRUB_CMDLINE_LINUX_DEFAULT": {"value": "z"}})) == ["x", "y", "z"]
