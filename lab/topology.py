"""Who is in the lab: names, groups, personas, fixed IPs, MACs and SSH ports.

The default lab is a mixed fleet, as real racks are: the masters on Debian 12
(ifupdown) with firewalld running (mgmt01, also the NFS server) and Debian 13
with netplan; one KVM node per persona (see lab/personas.py). Extra nodes (a
bigger lab) are Debian 12.
"""
from dataclasses import dataclass

from .personas import DEFAULT_PERSONA, persona as persona_named

NETWORK = "kvmlab"
SUBNET = "172.30.10.0/24"
GATEWAY = "172.30.10.1"
PREFIX = "172.30.10."

SITE_DHCP_OCTET = 2  # the site's DHCP server (lab/lab.py), for the DHCP-configured personas
MASTERS = {"mgmt01": 11, "mgmt02": 12}
FIRST_NODE_OCTET = 41
MAX_NODES = 254 - FIRST_NODE_OCTET + 1

# Each host keeps one SSH address across restarts (127.0.0.1:BASE+octet), as a
# server keeps its address: the inventory stays valid after a reboot.
# Below Linux's ephemeral port range (32768-60999): a port in it may be held
# for a moment as the source port of some outgoing connection, and the
# container's proxy could not bind it ("address already in use", seen once
# when 32 nodes came up while the suite's SSH connections came and went).
SSH_PORT_BASE = 22200

DEFAULT_PERSONAS = {
    "mgmt01": "debian12-firewalld",
    "mgmt02": "debian13-netplan",
    "kvm01": "debian12",
    "kvm02": "debian13-nm",
    "kvm03": "debian13-netplan",
    "kvm04": "debian12-dhcp",
}

# A minimal install (no sudo, none of the deploy's packages) is where installing
# is what a test proves: tests/live asks for it on this node (its dpkg alone
# takes 17-19 s here, which every other test would wait for).
MINIMAL_INSTALL_NODE = "kvm04"
DEFAULT_NODES = sum(name.startswith("kvm") for name in DEFAULT_PERSONAS)


@dataclass(frozen=True)
class Host:
    name: str
    group: str  # 'masters' or 'kvm_nodes'
    octet: int
    persona: str = DEFAULT_PERSONA

    @property
    def ip(self):
        return f"{PREFIX}{self.octet}"

    @property
    def mac(self):
        """Fixed MAC derived from the IP, so DHCP reservations can be written ahead."""
        return f"52:54:00:1e:0a:{self.octet:02x}"

    @property
    def ssh_port(self):
        return SSH_PORT_BASE + self.octet

    @property
    def container(self):
        return f"kvmlab-{self.name}"

    @property
    def volume(self):
        return f"kvmlab-{self.name}-data01"

    @property
    def is_master(self):
        return self.group == "masters"


def parse_personas(pairs):
    """{host: persona} from ``["kvm01=minimal", ...]`` (the CLI's --persona)."""
    chosen = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"--persona {pair!r}: expected HOST=PERSONA, like kvm01=minimal")
        persona_named(value)
        chosen[name] = value
    return chosen


def topology(nodes=DEFAULT_NODES, personas=None):
    """The two masters and `nodes` KVM nodes kvm01.. from .41 upward, each with
    its persona: ``personas`` ({host: persona}) wins over the default fleet."""
    if not 0 <= nodes <= MAX_NODES:
        raise ValueError(f"nodes must be between 0 and {MAX_NODES}, got {nodes}")
    chosen = {**DEFAULT_PERSONAS, **(personas or {})}
    names = [(name, "masters", octet) for name, octet in MASTERS.items()]
    names += [(f"kvm{i:02d}", "kvm_nodes", FIRST_NODE_OCTET + i - 1) for i in range(1, nodes + 1)]
    unknown = sorted(set(personas or {}) - {name for name, _, _ in names})
    if unknown:
        raise ValueError(f"--persona for {', '.join(unknown)}: no such host in this lab")
    return [Host(name, group, octet, persona_named(chosen.get(name, DEFAULT_PERSONA)).name)
            for name, group, octet in names]
