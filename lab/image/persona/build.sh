#!/bin/sh
# Build one persona's image (run by the Dockerfile): the archive, the
# packages, and the services as an installed server has them.
set -eu
PERSONA=$1
FIREWALLD=${2:-no}
ADDRESSING=${3:-static}
LIB=/usr/local/lib/kvmlab
. /etc/os-release

# Debian's archive for this release (the package lists are kept: a deploy's
# `apt install` works without a fresh `apt-get update`; only .debs are cleaned).
rm -f /etc/apt/sources.list
cat > /etc/apt/sources.list.d/debian.sources <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $VERSION_CODENAME $VERSION_CODENAME-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $VERSION_CODENAME-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt-get update
sed 's/#.*//' /tmp/packages.txt | xargs apt-get install -y --no-install-recommends
if [ "$FIREWALLD" = yes ]; then
    # As a site adds it (RHEL and Rocky run it by default): nftables backend,
    # the public zone as installed.
    apt-get install -y --no-install-recommends firewalld
    # No iptables beside it (libvirt depends on "iptables | firewalld"; a master
    # with firewalld has none): firewalld flushes every iptables table at each
    # start and reload, and in a container that includes the NAT rules of
    # Docker's embedded resolver (127.0.0.11, the lab's dns_upstream): a thing
    # of the lab, not of a server, which would lose its upstream DNS with them.
    apt-get purge -y iptables
fi
apt-get clean
rm -f /tmp/packages.txt

install -d -m 0755 /etc/kvmlab
echo "$PERSONA" > /etc/kvmlab/persona
echo "$ADDRESSING" > /etc/kvmlab/addressing
install -m 0644 "$LIB/sshd-lab.conf" /etc/ssh/sshd_config.d/lab.conf
install -m 0644 "$LIB/ssh-hostkeys.service" "$LIB/kvmlab-installer.service" \
    "$LIB/kvmlab-hotplug.service" /etc/systemd/system/
chmod 0755 "$LIB/kvmlab-installer" "$LIB/udevadm"

# Per-container identity comes at first boot: host keys from
# ssh-hostkeys.service, machine-id from systemd (an empty file means "generate").
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
install -d -m 0700 /root/.ssh
systemctl enable ssh-hostkeys.service ssh.service kvmlab-installer.service

# No udevd in a container: udevadm's control/trigger/settle have nothing to
# talk to (netplan apply calls them); every other use goes to the real one.
if [ -x /usr/bin/udevadm ] || [ -x /bin/udevadm ]; then
    real=$(readlink -f "$(command -v udevadm)")
    dpkg-divert --local --rename --divert "$real.real" --add "$real"
    ln -s "$LIB/udevadm" "$real"
fi

# Preloaded services start disabled, as on a host where the deploy has not
# run yet; the deploy enables each where it belongs.
for unit in libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket \
        virtlogd.socket virtlockd.socket dnsmasq.service chrony.service nfs-ganesha.service; do
    systemctl disable "$unit" 2>/dev/null || true
done
rm -f /etc/chrony/sources.d/* 2>/dev/null || true

# A container may not give libvirt's VMs a mount namespace of their own (libvirtd:
# "Kernel does not provide mount namespace"): qemu.conf turns that off. A server
# keeps libvirt's default. Written before libvirt is installed on the minimal
# persona, and kept by dpkg (the deploy installs with --force-confold).
install -d -m 0755 /etc/libvirt
if [ -f /etc/libvirt/qemu.conf ]; then
    printf '\n# kvmlab: no mount namespaces in a container\nnamespaces = []\n' >> /etc/libvirt/qemu.conf
else
    printf '# kvmlab: no mount namespaces in a container\nnamespaces = []\n' > /etc/libvirt/qemu.conf
fi

if [ "$FIREWALLD" = yes ]; then systemctl enable firewalld.service; fi

case "$PERSONA" in
debian13-nm)
    # RHEL 9 runs libvirt's modular daemons (virtqemud, virtproxyd); Debian 13
    # builds only libvirtd (libvirt 11.3: no virtqemud in any package), so this
    # persona keeps libvirtd: the modular layout is covered by fixtures only.
    systemctl enable NetworkManager.service
    ;;
debian13-netplan)
    # Ubuntu's: networkd renders netplan, resolved answers on 127.0.0.53.
    systemctl enable systemd-networkd.service systemd-resolved.service
    ;;
debian12|debian12-dhcp|debian12-firewalld|minimal)
    systemctl enable networking.service kvmlab-hotplug.service
    ;;
esac
