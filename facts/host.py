"""One round trip for everything the deploy decides from.

Facts are not cached in pyinfra 3 and every SSH command costs a PAM session on
the host (about 50 ms here), so the deploy reads the host once through
:class:`HostProbe`: every section of the per-concern facts, run back to back
in one command, and parsed by the same pure functions.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import C_LOCALE, SHARED_UNITS, Section, printed_at_once, watched_prelude
from .accounts import account_section
from .cpu import CPU
from .files import file_digests_section
from .firewall import FIREWALL
from .packages import PACKAGE_STATE_FILES, packages_section
from .pools import POOL_STATE_FILES, POOLS, pool_paths_section
from .services import services_section
from .sysctl import sysctl_section
from .interfaces import INTERFACES
from .iommu import IOMMU
from .nfs import nfs_client_section
from .libvirt import VIRT_HOST_VALIDATE
from .network import NETWORK_MANAGER
from .storage import data_volume_section
from .system import OS_RELEASE

MARKER = "@@kvm-cluster:"

# The files the remembered sections watch (packages, virt-host-validate,
# libvirt's pools), with those of the probe's arguments (Section.watched: the
# managed files, the role account's, the pool directories): stat'ed once for
# all of them (facts._section.watched_prelude).
WATCHED_BY_REMEMBERED = (*PACKAGE_STATE_FILES, *POOL_STATE_FILES)

# The probe runs before the distribution is known: steps ask it about the
# package names, files and units of every family (and layout) at once.
PROBED_RELEASES = ({"family": "debian"}, {"family": "rhel", "major": 9})


def _skipped(section: Section) -> Section:
    """The section, not run: its parser's answer for no output."""
    return Section(section.name, "true", section.parse)


def sections(data_path: str, user: str = "kvm-mgr", files=(), units=(), packages=None,
             sysctl=(), pool_paths=(), mount_point="/secondary", hypervisor=True,
             packages_no_lookup=None) -> list[Section]:
    """Every section; ``virt-host-validate`` and libvirt's pools (the costly
    ones) only on a hypervisor."""
    only_hypervisor = (lambda section: section) if hypervisor else _skipped
    # First: the other sections read the shared units' states it leaves behind.
    all_units = tuple(dict.fromkeys((*units, *SHARED_UNITS)))
    return [
        services_section(all_units),
        OS_RELEASE,
        CPU,
        IOMMU,
        NETWORK_MANAGER,
        INTERFACES,
        data_volume_section(data_path),
        only_hypervisor(VIRT_HOST_VALIDATE),
        account_section(user),
        file_digests_section(files),
        packages_section(packages or {}, packages_no_lookup),
        sysctl_section(sysctl),
        only_hypervisor(POOLS),
        pool_paths_section(pool_paths),
        nfs_client_section(mount_point),
        FIREWALL,
    ]


def watched_by(probed: list[Section]) -> str:
    """Shell: the probe's one stat of every file the remembered parts of the
    ``probed`` sections watch."""
    return watched_prelude((*WATCHED_BY_REMEMBERED, *(path for section in probed for path in section.watched)),
                           [(section.name, section.watched_matches) for section in probed])


def before_sections(probed: list[Section]) -> str:
    """Shell: what the probe runs before its sections: their setups, then the
    one stat (:func:`watched_by`), which takes what the setups found."""
    return "; ".join([*(section.setup for section in probed if section.setup), watched_by(probed)])


def probe_command(data_path: str, user: str = "kvm-mgr", files=(), units=(), packages=None,
                  sysctl=(), pool_paths=(), mount_point="/secondary", hypervisor=True,
                  packages_no_lookup=None) -> str:
    # First: the C locale, then the one stat of every file the remembered
    # parts of the sections watch.
    probed = sections(data_path, user, files, units, packages, sysctl, pool_paths,
                      mount_point, hypervisor, packages_no_lookup)
    parts = [C_LOCALE, before_sections(probed)]
    parts += [f"echo '{MARKER}{section.name}'; {{ {section.command}; }}" for section in probed]
    # A section that fails must not fail the fact (pyinfra fails the host on a
    # non-zero fact command): each prints what it can, the whole ends true.
    return printed_at_once("; ".join(parts) + "; true")


def split_sections(lines: list[str]) -> dict[str, list[str]]:
    """Cut the combined output at the markers: {section name: its lines}."""
    result: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line.startswith(MARKER):
            current = line[len(MARKER):].strip()
            result[current] = []
        elif current is not None:
            result[current].append(line)
    return result


def parse_probe(lines: list[str], data_path: str = "/data01") -> dict:
    by_name = split_sections(lines)
    return {section.name: section.parse(by_name.get(section.name, [])) for section in sections(data_path)}


class HostProbe(FactBase):
    """
    Everything the deploy reads from a host, in one command: ``os``, ``cpu``,
    ``iommu``, ``network_manager``, ``interfaces`` (links, addresses, routes, network config files), ``data_volume`` (for ``data_path``),
    ``virt_host_validate``, ``account`` (the role account ``user``) and
    ``files`` (digests of the managed ``files``), ``services`` (state of
    ``units``), ``packages`` (of ``packages``, per family) and ``sysctl`` (the
    ``sysctl`` keys), ``pools`` (libvirt's), ``pool_paths`` (owner, mode,
    labels of ``pool_paths``), ``nfs_client`` (NFS support, what is at
    ``mount_point``) and ``firewall`` (firewalld's zones, what the deploy opened),
    each shaped as the fact of the same concern returns it.
    """

    def command(self, data_path="/data01", user="kvm-mgr", files=(), units=(), packages=None,
                sysctl=(), pool_paths=(), mount_point="/secondary", hypervisor=True,
                packages_no_lookup=None):
        return probe_command(data_path, user, files, units, packages, sysctl, pool_paths, mount_point,
                             hypervisor, packages_no_lookup)

    def process(self, output):
        # data_path only changes the data-volume *command*; parsing ignores it.
        return parse_probe(output)
