"""Who is in the lab: names, groups, fixed IPs and MACs on the kvmlab network."""
from dataclasses import dataclass

NETWORK = "kvmlab"
SUBNET = "172.30.10.0/24"
GATEWAY = "172.30.10.1"
PREFIX = "172.30.10."

MASTERS = {"mgmt01": 11, "mgmt02": 12}
FIRST_NODE_OCTET = 41
MAX_NODES = 254 - FIRST_NODE_OCTET + 1
DEFAULT_NODES = 3


@dataclass(frozen=True)
class Host:
    name: str
    group: str  # 'masters' or 'kvm_nodes'
    octet: int

    @property
    def ip(self):
        return f"{PREFIX}{self.octet}"

    @property
    def mac(self):
        """Fixed MAC derived from the IP, so DHCP reservations can be written ahead."""
        return f"52:54:00:1e:0a:{self.octet:02x}"

    @property
    def container(self):
        return f"kvmlab-{self.name}"

    @property
    def volume(self):
        return f"kvmlab-{self.name}-data01"

    @property
    def is_master(self):
        return self.group == "masters"


def topology(nodes=DEFAULT_NODES):
    """The two masters and `nodes` KVM nodes kvm01.. from .41 upward."""
    if not 0 <= nodes <= MAX_NODES:
        raise ValueError(f"nodes must be between 0 and {MAX_NODES}, got {nodes}")
    hosts = [Host(name, "masters", octet) for name, octet in MASTERS.items()]
    hosts += [Host(f"kvm{i:02d}", "kvm_nodes", FIRST_NODE_OCTET + i - 1)
              for i in range(1, nodes + 1)]
    return hosts
