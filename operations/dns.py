"""DNS and static DHCP for the cluster: dnsmasq, the same file on both masters.

:func:`render_dnsmasq_conf` is pure (tested without a host); :func:`dnsmasq`
installs the file, checked with ``dnsmasq --test`` on a temporary copy before
it is installed, and keeps dnsmasq running, restarted when its file changed.

Listening: dnsmasq binds the master's cluster address only
(``listen-address`` + ``bind-dynamic``, which binds it when it appears: a
master whose network comes up after dnsmasq at boot still serves), so nobody on the master's other
networks (a public interface, docker0, ...) can query it. dnsmasq cannot in
addition filter queries by source address: ``local-service`` (drop queries
from non-local subnets) has no effect once ``listen-address`` or
``interface`` is set (dnsmasq(8), and checked with 2.90: a query from a
routed 10.99.0.5 was answered), and on its own it binds the wildcard address
on every interface, serving every subnet the master is attached to. So a
query routed to the cluster address from another network is answered for the
cluster's names; refusing it is the router's or a firewall's job. What such a
query cannot do is use the master as a resolver for the world: with no
``dns_upstream`` nothing is forwarded (dnsmasq answers REFUSED), and names in
the cluster domain are never forwarded (``local=``).
"""

from __future__ import annotations

import ipaddress

from pyinfra.api import operation

from ._files import checked_content, digest_matches, put_file
from ._log import or_noop, warn_once
from ._probe import section
from ._render import render
from .services import service_commands

CONF_PATH = "/etc/dnsmasq.d/kvm-cluster.conf"
UNIT = "dnsmasq.service"
LEASE_TIME = "12h"
# dnsmasq reads every file of its conf-dir (Debian skips only .dpkg-*, RHEL
# .rpm*): a backup next to the file would be read as configuration too.
BACKUP_DIR = "/var/backups/kvm-cluster"


def render_dnsmasq_conf(domain: str, network: str, listen_address: str, hosts: list[tuple[str, str]],
                        vms: list, upstream: list[str], dns_servers: list[str],
                        router: str | None = None, lease_time: str = LEASE_TIME) -> str:
    """The dnsmasq drop-in for one master.

    + domain: the cluster's DNS domain (``cluster.lan``)
    + network: the cluster network, the DHCP subnet (``172.30.10.0/24``)
    + listen_address: this master's cluster address (the only one it listens on)
    + hosts: ``[(name, address)]`` of every cluster host
    + vms: the VM manifest (``name``, ``mac``, ``ip`` attributes or keys)
    + upstream: resolvers for other names (empty: nothing is forwarded)
    + dns_servers: the masters' addresses, offered by DHCP as DNS and NTP servers
    + router: the default gateway offered by DHCP (``None``: none is offered)
    """
    net = ipaddress.IPv4Network(network)
    return render(
        "dnsmasq/kvm-cluster.conf.j2",
        domain=domain,
        network=str(net.network_address),
        netmask=str(net.netmask),
        listen_address=listen_address,
        hosts=[{"name": name, "ip": ip} for name, ip in hosts],
        vms=[_vm(vm) for vm in vms],
        upstream=list(upstream),
        dns_servers=list(dns_servers),
        router=router,
        lease_time=lease_time,
    )


def _vm(vm) -> dict:
    if isinstance(vm, dict):
        return {"name": vm["name"], "mac": vm["mac"], "ip": vm["ip"]}
    return {"name": vm.name, "mac": vm.mac, "ip": vm.ip}


@operation()
def dnsmasq(config: str, current: dict | None = None, path: str = CONF_PATH, unit: str = UNIT,
            masters_left_out: tuple = ()):
    """
    Install the cluster's dnsmasq configuration and keep dnsmasq running.

    + config: the file's content (:func:`render_dnsmasq_conf`)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files`` (digests; ``path``
      among them) and ``services`` (``unit`` among them)
    + path: where the drop-in goes (Debian and RHEL both read ``/etc/dnsmasq.d``)
    + unit: the dnsmasq service
    + masters_left_out: the other masters this run does not reach (``--limit``):
      both serve DHCP authoritatively from the same data, so a master whose data
      would change without them keeps its file (a warning says why and how to
      deploy both): the master left behind would NAK the new VMs

    The new file is checked with ``dnsmasq --test`` before it replaces the
    old one (kept as ``/var/backups/kvm-cluster/<name>.<timestamp>``: not in
    the conf-dir, where dnsmasq would read it); dnsmasq is restarted only when
    the file changed, and must stay up (the host fails with its log otherwise).

    **Example:**

    .. code:: python

        dns.dnsmasq(
            name="dnsmasq: DNS and static DHCP for the cluster",
            config=dns.render_dnsmasq_conf(...),
            current=probe,
        )
    """
    files, services = section(current, "files", {}), section(current, "services", {})
    withheld = masters_left_out and not digest_matches(files.get(path), config, "644", "root", "root")
    message = (f"{path} is kept as it is (master {', '.join(masters_left_out)} is not in this run)"
               if withheld else f"{path} is in place and {unit} running")
    yield from or_noop(_dnsmasq_commands(config, files, services, path, unit, tuple(masters_left_out)),
                       message)


def _dnsmasq_commands(config: str, files: dict, services: dict, path: str, unit: str,
                      masters_left_out: tuple = ()):
    changed = not digest_matches(files.get(path), config, "644", "root", "root")
    if changed and masters_left_out:
        warn_once(f"dnsmasq is left as it is: its DNS/DHCP data changed, but master "
                  f"{', '.join(masters_left_out)} is not in this run, and both masters answer DHCP "
                  "authoritatively from the same data (the other would refuse the new VMs' "
                  "leases); deploy both: --limit masters, or no --limit")
        yield from service_commands(unit, services.get(unit), restart=False)
        return
    if changed:
        yield from put_file(path, config, current=files.get(path), backup_dir=BACKUP_DIR,
                            check=checked_content(config, "dnsmasq --test -C {}"))
    yield from service_commands(unit, services.get(unit), restart=changed)
