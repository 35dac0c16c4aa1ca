"""Host personas: each lab host is a copy of how an installer leaves a server.

A persona says which Debian release the host runs, which service owns its
network configuration (and so which file the installer wrote for its uplink),
and whether the deploy's packages are preloaded (so
that a lab deploy measures the deploy, not the archive) or must come from the
archive as on a fresh minimal install.

What a container cannot have, and what stands in for it, is said in
``lab/image/Dockerfile`` and ``lab/image/persona/kvmlab-installer``:
Docker's address on eth0 is removed at every boot before the network service
runs (the host's own configuration brings it back), Docker's bind-mounted
``/etc/resolv.conf`` is unmounted, udev's part in bringing up ``allow-hotplug``
interfaces is played by a unit, and ``udevadm control/trigger/settle`` (no
udevd in a container) succeed as no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    name: str
    suite: str               # Debian release: bookworm (12) or trixie (13)
    network: str             # the service owning the uplink: ifupdown | networkmanager | netplan
    preloaded: bool = True   # the deploy's packages are in the image (services disabled)
    stands_for: str = ""
    firewalld: bool = False  # firewalld installed and running, its default zone as installed
    packages: str = ""       # the package list (packages/<this>.txt): the persona's name by default
    addressing: str = "static"  # how its installer configured eth0: static | dhcp (the site's DHCP server)

    @property
    def packages_file(self) -> str:
        return f"packages/{self.packages or self.name}.txt"


PERSONAS = {
    persona.name: persona
    for persona in (
        Persona("debian12", "bookworm", "ifupdown",
                stands_for="Debian 12 as its installer leaves a server: ifupdown, a static "
                           "allow-hotplug stanza for eth0 in /etc/network/interfaces"),
        Persona("debian13-nm", "trixie", "networkmanager",
                stands_for="RHEL 9 / Rocky 9: NetworkManager owns eth0 through a keyfile "
                           "(method=manual), no ifupdown (libvirt stays monolithic: Debian "
                           "13 ships no virtqemud or virtproxyd)"),
        Persona("debian13-netplan", "trixie", "netplan",
                stands_for="Ubuntu server and cloud images: netplan with systemd-networkd, "
                           "eth0 static in /etc/netplan/50-cloud-init.yaml, systemd-resolved"),
        Persona("debian12-firewalld", "bookworm", "ifupdown", firewalld=True, packages="debian12",
                stands_for="Debian 12 with firewalld running, its public zone as installed "
                           "(ssh, dhcpv6-client), as RHEL and Rocky run it by default"),
        Persona("debian12-dhcp", "bookworm", "ifupdown", addressing="dhcp", packages="debian12",
                stands_for="Debian 12 as its installer leaves a server on a network with a DHCP "
                           "server (the installer's default: allow-hotplug eth0, iface eth0 "
                           "inet dhcp, a reservation for the host on the site's server)"),
        Persona("minimal", "bookworm", "ifupdown", preloaded=False, addressing="dhcp",
                stands_for="a Debian 12 minimal install on a network with a DHCP server (the "
                           "installer's default: allow-hotplug eth0, iface eth0 inet dhcp, a "
                           "reservation for the host on the site's server): no sudo, nothing of "
                           "the deploy's packages; the deploy installs everything from the archive"),
    )
}

DEFAULT_PERSONA = "debian12"

# The site's DHCP server (lab/lab.py) runs dnsmasq from this persona's image.
SITE_DHCP_IMAGE = "debian12"


def persona(name: str) -> Persona:
    try:
        return PERSONAS[name]
    except KeyError:
        raise ValueError(f"unknown persona {name!r}; personas: {', '.join(PERSONAS)}") from None
