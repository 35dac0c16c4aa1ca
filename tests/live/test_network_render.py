"""Bonds and VLANs, validated by the backends' own tools on a real host.

This kernel has no bonding or VLAN driver, so neither can be brought up in
the lab. What can be checked for real: the files the deploy renders for a
bond (802.3ad, MTU 9000, under br0), and for a VLAN on that bond, are
accepted by ``netplan generate`` (and turned into systemd-networkd units with
a bond and a VLAN) on the host standing in for Ubuntu (Debian 13's netplan.io),
and by ifupdown's own parser on a Debian 12 host (ifupdown 0.8). A broken
file is refused by the same tools, so the checks can fail.
"""

from __future__ import annotations

import shlex

import pytest

import lab
from operations.network import Bond, plan_bridge, render_plan

def host_with(*personas: str) -> str:
    return next(h.name for h in lab.hosts() if h.persona in personas)


def netplan_host() -> str:
    return host_with("debian13-netplan")


def ifupdown_host() -> str:
    return host_with("debian12-firewalld", "debian12")

# Facts of a host with two NICs (as facts.interfaces reports them).
INTERFACES = {
    "links": {
        "lo": {"kind": "loopback", "master": None, "mtu": 65536, "mac": "00:00:00:00:00:00",
               "up": True, "ipv4": ["127.0.0.1/8"], "ipv6": []},
        "eno1": {"kind": "ether", "master": None, "mtu": 1500, "mac": "52:54:00:1e:0a:29",
                 "up": True, "ipv4": ["172.30.10.41/24"], "ipv6": []},
        "eno2": {"kind": "ether", "master": None, "mtu": 1500, "mac": "52:54:00:1e:0a:2a",
                 "up": True, "ipv4": [], "ipv6": []},
    },
    "default4": {"gateway": "172.30.10.1", "dev": "eno1"},
    "default6": None, "tools": [], "files": {}, "contents": {}, "last_transaction": None,
}


def bond_plan(vlan=None):
    return plan_bridge(
        address="172.30.10.41/24", interfaces=INTERFACES, bridge="br0", mtu=9000, vlan=vlan,
        bond=Bond(name="bond0", members=("eno1", "eno2"), mode="802.3ad", miimon=100,
                  xmit_hash_policy="layer3+4"),
        dns=("172.30.10.11", "172.30.10.12"), search="cluster.lan",
    )


def write_tree(host: str, root: str, files: dict) -> None:
    """Write rendered files under ``root`` on a lab host."""
    script = [f"rm -rf {root}"]
    for path, (content, _mode) in files.items():
        target = f"{root}{path}"
        script.append(f"mkdir -p {shlex.quote(target.rsplit('/', 1)[0])}")
        script.append(f"printf '%s' {shlex.quote(content)} > {shlex.quote(target)}")
    rc, output = lab.exec(host, " && ".join(script))
    assert rc == 0, output


def test_netplan_accepts_the_bond_and_generates_networkd_units(lab_up):
    rendered = render_plan(bond_plan(), "netplan", INTERFACES)
    write_tree(netplan_host(), "/tmp/np", rendered.files)
    rc, output = lab.exec(netplan_host(), "netplan generate --root-dir /tmp/np && "
                                "cat /tmp/np/run/systemd/network/*bond0*.netdev")
    assert rc == 0, output
    assert "Kind=bond" in output and "Mode=802.3ad" in output, output
    assert "TransmitHashPolicy=layer3+4" in output and "MTUBytes=9000" in output, output


def test_netplan_accepts_a_vlan_on_the_bond(lab_up):
    rendered = render_plan(bond_plan(vlan=100), "netplan", INTERFACES)
    write_tree(netplan_host(), "/tmp/npv", rendered.files)
    rc, output = lab.exec(netplan_host(), "netplan generate --root-dir /tmp/npv && "
                                "cat /tmp/npv/run/systemd/network/*bond0.100*.netdev "
                                "/tmp/npv/run/systemd/network/*bond0.100*.network")
    assert rc == 0, output
    assert "Kind=vlan" in output and "Id=100" in output and "Bridge=br0" in output, output


def test_netplan_refuses_a_broken_file(lab_up):
    files = render_plan(bond_plan(), "netplan", INTERFACES).files
    path, (content, mode) = next(iter(files.items()))
    write_tree(netplan_host(), "/tmp/np-bad", {path: (content.replace("bonds:", "bondz:"), mode)})
    rc, output = lab.exec(netplan_host(), "netplan generate --root-dir /tmp/np-bad")
    assert rc != 0, output


@pytest.mark.parametrize("broken", [False, True])
@pytest.mark.parametrize("vlan", [None, 100])
def test_ifupdown_parses_the_bond(lab_up, broken, vlan):
    files = render_plan(bond_plan(vlan), "ifupdown", INTERFACES).files
    # Only the deploy's own stanzas: the main file's `source` line would pull
    # in the lab host's real configuration.
    text = "".join(content for path, (content, _) in files.items()
                   if path.startswith("/etc/network/interfaces.d/"))
    if broken:
        text = text.replace("iface br0 inet static", "iface br0 inet stattic")
    write_tree(ifupdown_host(), "/tmp/ifu", {"/interfaces": (text, "644")})
    # A state directory of its own: the host's real ifupdown state (br0 is
    # up on a bridged node) must not answer for this file.
    names = "bond0 bond0.100 br0" if vlan else "bond0 br0"
    rc, output = lab.exec(ifupdown_host(), "rm -rf /tmp/ifu/state && mkdir -p /tmp/ifu/state && "
                                f"ifup --no-act --state-dir /tmp/ifu/state -i /tmp/ifu/interfaces {names} 2>&1")
    if broken:
        assert rc != 0 and "unknown or no method" in output, output
        return
    assert rc == 0, output
    # What ifupdown would run: the bond at MTU 9000, the address on br0.
    assert "ip link set dev bond0 mtu 9000" in output, output
    assert "ip addr add 172.30.10.41/255.255.255.0" in output and "dev br0" in output, output
    assert "ip route add default via 172.30.10.1  dev br0" in output, output
    own = lab.state()[ifupdown_host()].ip
    assert own not in output, f"the lab host's own configuration ({own}) leaked in"
    if vlan:
        assert "bond0.100" in output, output
