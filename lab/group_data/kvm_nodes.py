"""The lab's KVM nodes: every preflight check only warns (containers have no
VT-x, /dev/kvm or IOMMU; a test proves the default policy refuses them). The
CPU of this machine is AMD, which needs no IOMMU option: iommu=pt makes the
GRUB step run for real on every node."""

iommu_passthrough = True

preflight_policy = {
    "cpu_virtualization": "warn",
    "kvm_device": "warn",
    "iommu": "warn",
    "grub": "warn",
    "data_volume": "warn",
    "virt_host_validate": "warn",
}
