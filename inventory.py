"""Example production inventory: a pair of masters and the KVM nodes.

Every module-level list is a pyinfra group. Host data here is only how to
reach a host; everything else is in group_data/ (validated by
cluster.model.settings before any host is touched). Addresses follow the seed's
example network (172.30.10.0/24: masters .11 and .12, nodes from .41).

    pyinfra inventory.py deploy.py --dry --diff
    pyinfra inventory.py deploy.py --limit kvm_nodes
"""

# The management plane: primary and secondary DNS/DHCP, NTP.
masters = [
    ("mgmt01", {"ssh_hostname": "172.30.10.11"}),
    ("mgmt02", {"ssh_hostname": "172.30.10.12"}),
]

# The hypervisors.
kvm_nodes = [
    ("kvm01", {"ssh_hostname": "172.30.10.41"}),
    ("kvm02", {"ssh_hostname": "172.30.10.42"}),
    ("kvm03", {"ssh_hostname": "172.30.10.43"}),
]

# Exports the secondary (NFS) storage pool; by default the first master.
nfs_server = ["mgmt01"]
