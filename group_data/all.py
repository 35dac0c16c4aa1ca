"""Settings for every host. Each key is checked by cluster/model/settings.py.

Override per group in group_data/<group>.py, per host in the inventory, or
for one run with ``--data key=value``.
"""

# How pyinfra connects: a role account with sudo is the seed's advice; root
# over SSH keys works too. Host keys are checked (known_hosts must list them).
ssh_user = "root"
ssh_strict_host_key_checking = "yes"

# The pre-mounted data volume (RAID10/RAID5 on local disks), same path on all
# nodes; the primary storage pool lives under it.
data_volume = "/data01"

# The role account the management node (and kvm-mgr) uses on every host: SSH
# keys only, in the libvirt and kvm groups, passwordless sudo through a
# drop-in checked with visudo. Required: at least one public key, e.g. the
# contents of the management node's ~/.ssh/id_ed25519.pub.
role_account = "kvm-mgr"
role_account_keys = []
