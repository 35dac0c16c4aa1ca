"""The lab's settings for every host, over the project's group_data/all.py
(pyinfra loads group_data/ beside the inventory after the one in the working
directory: these keys win).

The lab's containers have no kernel NFS and no CAP_SYS_TIME (the KVM nodes'
own settings are in kvm_nodes.py).
"""
import json
from pathlib import Path

_STATE = Path(__file__).resolve().parents[1] / ".state"

# No kernel NFS here: the NFS server runs NFS-Ganesha (userspace).
nfs_backend = "ganesha"
# chronyd may not set the clock of a container (no CAP_SYS_TIME).
ntp_set_clock = False
dhcp_router = "172.30.10.1"
# Docker's resolver, inside every container: the masters forward outside
# names to it, so hosts still reach Debian's archive after the deploy.
dns_upstream = ["127.0.0.11"]
# The lab key logs in as the role account too (tests connect as kvm-mgr).
role_account_keys = [(_STATE / "id_ed25519.pub").read_text().strip()]
# The VM smoke test's entry for each KVM node (python -m report.smoke), from
# the node's number: kvm01 gets smoke-kvm01 at .201 with MAC 52:54:00:1e:0c:01.
vms = [{"name": f"smoke-{host['name']}", "ip": f"172.30.10.{200 + int(host['name'][3:])}",
        "mac": f"52:54:00:1e:0c:{int(host['name'][3:]):02x}"}
       for host in json.loads((_STATE / "hosts.json").read_text()) if host["group"] == "kvm_nodes"]
del _STATE  # group data holds only the settings
