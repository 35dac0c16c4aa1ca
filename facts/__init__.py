"""Custom pyinfra facts for the KVM cluster deploy.

Each fact is a shell command plus a pure ``process``; the parsing lives in
module-level ``parse_*`` functions so it is tested without a host. Each concern
(cpu, iommu, network, storage, libvirt, system) is also a *section* of
:class:`facts.host.HostProbe`, which runs them all in one SSH round trip.
"""
