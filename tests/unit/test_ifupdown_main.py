"""/etc/network/interfaces is edited, not replaced: only the stanzas of the
interfaces the bridge takes over are commented out."""

from operations._network_backends import ifupdown_main_file

INSTALLER_DEFAULT = """# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug eno1
iface eno1 inet dhcp
    dns-nameservers 10.0.0.1

# Storage network
auto eno2
iface eno2 inet static
    address 10.20.0.41/24
    post-up ip route add 10.21.0.0/16 via 10.20.0.1
""".splitlines()


def test_only_the_bridged_interface_is_commented_out():
    text = ifupdown_main_file(INSTALLER_DEFAULT, ["eno1", "br0"], "br0")
    lines = text.splitlines()
    assert "# kvm-cluster, now in interfaces.d/kvm-cluster-br0: allow-hotplug eno1" in lines
    assert "# kvm-cluster, now in interfaces.d/kvm-cluster-br0: iface eno1 inet dhcp" in lines
    assert "# kvm-cluster, now in interfaces.d/kvm-cluster-br0:     dns-nameservers 10.0.0.1" in lines
    # The storage interface, its route and the loopback are untouched.
    for kept in ("auto lo", "iface lo inet loopback", "auto eno2", "iface eno2 inet static",
                 "    address 10.20.0.41/24", "    post-up ip route add 10.21.0.0/16 via 10.20.0.1"):
        assert kept in lines
    assert lines[-1] == "source /etc/network/interfaces.d/*"


def test_an_auto_line_naming_several_interfaces_keeps_the_others():
    lines = ifupdown_main_file(["auto lo eno1 eno2", "iface lo inet loopback"], ["eno1"], "br0").splitlines()
    assert "auto lo eno2" in lines
    assert "# kvm-cluster, now in interfaces.d/kvm-cluster-br0: auto lo eno1 eno2" in lines


def test_a_file_already_sourcing_interfaces_d_gets_no_second_source_line():
    text = ifupdown_main_file(["source /etc/network/interfaces.d/*", "auto eno1", "iface eno1 inet dhcp"],
                              ["eno1"], "br0")
    assert text.count("source /etc/network/interfaces.d/*") == 1


def test_no_file_gives_the_minimal_one():
    assert "source /etc/network/interfaces.d/*" in ifupdown_main_file(None, ["eno1"], "br0")


def test_the_comment_names_the_bridge_file_of_the_bridge_given():
    text = ifupdown_main_file(["auto eno1", "iface eno1 inet dhcp"], ["eno1", "vmbr1"], "vmbr1")
    assert "# kvm-cluster, now in interfaces.d/kvm-cluster-vmbr1: auto eno1" in text.splitlines()
