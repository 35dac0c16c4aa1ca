"""The management node's own connections to an inventory's hosts, outside a
deploy: the readiness report and the VM smoke test read hosts this way."""

from __future__ import annotations

import os

from pyinfra.api import Config, State
from pyinfra.api.connect import connect_all
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from cluster.model.settings import cluster_settings
from cluster.pyinfra_patches import commands_without_nagle


def connect(inventory_path: str):
    """(inventory, validated settings, names of the hosts that answered SSH)."""
    state = State(check_for_changes=False)
    ctx_state.set(state)
    inventory = make_inventory(inventory_path, cwd=os.getcwd())
    settings = cluster_settings(inventory)
    state.init(inventory, Config())
    commands_without_nagle()
    connect_all(state)
    return inventory, settings, {host.name for host in inventory.get_active_hosts()}
