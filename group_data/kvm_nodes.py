"""Settings for the hypervisors."""

# Preflight: for each check, "fail" stops this host before any change,
# "warn" reports and goes on. Checks: cpu_virtualization, kvm_device, iommu,
# grub, data_volume, virt_host_validate (defaults in cluster/model/settings.py).
preflight_policy = {
    "cpu_virtualization": "fail",
    "data_volume": "fail",
}

# IOMMU kernel options: intel_iommu=on on Intel (AMD needs none by default),
# plus iommu=pt when iommu_passthrough is set. A changed command line needs a
# reboot: recorded in /var/run/reboot-required, done only if iommu_reboot.
iommu_enable = True
iommu_passthrough = False
iommu_reboot = False
