"""pyinfra inventory of the running lab (written by `python -m lab up`).

Host names are the lab names (mgmt01, kvm01, ...); each is reached over SSH
on 127.0.0.1 at its published port, as root, with the lab key and strict
host key checking against the lab's known_hosts.

Every module-level list is a pyinfra group: private helpers start with "_".
"""
import json
import os
from pathlib import Path

from pyinfra.api.exceptions import InventoryError

_STATE = Path(__file__).resolve().parent / ".state"
_HOSTS_JSON = _STATE / "hosts.json"

if not _HOSTS_JSON.exists():
    raise InventoryError("the lab is not running: run `make lab-up`")

_HOSTS = json.loads(_HOSTS_JSON.read_text())


# The lab's settings (no VT-x, Ganesha, the lab key...) are in lab/group_data/,
# which pyinfra loads after the project's group_data/: they win over it.


# Per-host overrides for one run, as JSON {host: {key: value}} (tests use it to
# give one node a wrong address; --data would give it to every host).
_HOST_DATA = json.loads(os.environ.get("KVMLAB_HOST_DATA") or "{}")


def _entry(host):
    return (host["name"], {
        "cluster_address": host["ip"],
        **_HOST_DATA.get(host["name"], {}),
        "ssh_hostname": "127.0.0.1",
        "ssh_port": host["ssh_port"],
        "ssh_user": "root",
        "ssh_key": str(_STATE / "id_ed25519"),
        "ssh_known_hosts_file": str(_STATE / "known_hosts"),
        "ssh_strict_host_key_checking": "yes",
    })


def _group(group):
    return [_entry(h) for h in _HOSTS if h["group"] == group]


masters = _group("masters")
kvm_nodes = _group("kvm_nodes")
nfs_server = [_entry(h) for h in _HOSTS if h["name"] == "mgmt01"]
