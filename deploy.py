"""The whole KVM cluster deploy, in order, by group.

    pyinfra inventory.py deploy.py                 # apply
    pyinfra inventory.py deploy.py --dry --diff    # show what would change
    pyinfra inventory.py deploy.py --limit kvm_nodes

The configuration of every host is validated first (cluster.model.settings): a bad
value stops the run before any host is changed.
"""

import sys

from pyinfra import host, state

# pyinfra turns writing compiled modules off for the whole run, so the deploy's
# own modules were compiled from source at every run (about 20 ms of CPU): they
# are kept in __pycache__ as any package's are, unless Python itself was told
# not to (-B, PYTHONDONTWRITEBYTECODE); pyinfra's setting is restored after.
pyinfra_setting, sys.dont_write_bytecode = sys.dont_write_bytecode, bool(sys.flags.dont_write_bytecode)
from cluster import pyinfra_patches

# Before the deploy's own facts and operations are defined: pyinfra asks
# for its global arguments as each is (patch 4 answers from what it read once).
pyinfra_patches.apply(host)

from cluster.model.settings import cluster_settings
from cluster.steps import common as deploys
from cluster.steps.firewall import configure_firewall
from cluster.steps.kvm import configure_kvm
from cluster.steps.management import configure_clustershell, configure_dns, configure_ntp
from cluster.steps.network import configure_network
from cluster.steps.storage import configure_nfs_server, configure_primary_pool, configure_secondary_pool

sys.dont_write_bytecode = pyinfra_setting

all_settings = cluster_settings(state.inventory)
settings = all_settings[host.name]
probe = deploys.read_host(settings)

deploys.run_preflight(settings, probe, all_settings)
deploys.install_packages(settings, probe, all_settings)
deploys.configure_role_account(settings, probe)
if settings.in_group("masters"):
    configure_dns(settings, probe, all_settings)
configure_ntp(settings, probe)
if settings.in_group("masters"):
    configure_clustershell(settings, probe, all_settings)
# After dnsmasq serves: every host's resolvers become the masters.
configure_network(settings, probe, all_settings)
configure_firewall(settings, probe, all_settings)

if settings.in_group("kvm_nodes"):
    deploys.configure_iommu(settings, probe)
    configure_kvm(settings, probe)
    configure_primary_pool(settings, probe)

if settings.in_group("nfs_server"):
    configure_nfs_server(settings, probe)

if settings.in_group("kvm_nodes"):
    configure_secondary_pool(settings, probe, all_settings)
