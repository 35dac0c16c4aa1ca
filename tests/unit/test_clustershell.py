"""ClusterShell groups from the inventory (the ``local`` source's flat file)."""

from cluster.model import settings as model
from cluster.steps import management as step
from operations import clustershell

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"


def test_groups_file_from_the_inventory():
    data = {"role_account_keys": [KEY]}
    settings = model.validate([
        # "inventory": pyinfra's group named after the inventory file, every host in it
        ("mgmt01", ("inventory", "masters", "nfs_server"), {**data, "cluster_address": "172.30.10.11"}),
        ("mgmt02", ("inventory", "masters"), {**data, "cluster_address": "172.30.10.12"}),
        ("kvm01", ("inventory", "kvm_nodes"), {**data, "cluster_address": "172.30.10.41"}),
        ("kvm02", ("kvm_nodes", "inventory"), {**data, "cluster_address": "172.30.10.42"}),
    ])
    assert clustershell.render_groups(step.inventory_groups(settings)) == (
        "# Managed by kvm-cluster: ClusterShell groups from the inventory\n"
        "# (the \"local\" group source: clush -g <group>, clush -a).\n"
        "masters: mgmt01,mgmt02\n"
        "kvm_nodes: kvm01,kvm02\n"
        "nfs_server: mgmt01\n"
        "all: mgmt01,mgmt02,kvm01,kvm02\n"
    )


def test_empty_groups_are_left_out():
    assert clustershell.render_groups({"kvm_nodes": [], "masters": ["m1"]}).endswith(
        "masters: m1\nall: m1\n")
    assert clustershell.render_groups({"masters": ["m1"], "all": ["m1", "x"]}).endswith(
        "masters: m1\nall: m1,x\n")
