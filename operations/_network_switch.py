"""The switch on the host: where its transaction lives, the file that describes it, the host script.

``kvm-cluster-net`` (``templates/network/kvm-cluster-net.sh``) does the
switch on the host: it sources the transaction file (:func:`transaction`),
backs up what the new files replace, arms a rollback timer, switches detached
from SSH, and rolls back unless the deploy confirms
(:mod:`operations._network_confirm`). The directories below are named here
only: the script and its boot unit are rendered with them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pyinfra.api import StringCommand

from ._files import write_command
from ._render import render

if TYPE_CHECKING:
    from ._network_plan import NetworkPlan

SCRIPT = "/usr/local/sbin/kvm-cluster-net"
BOOT_UNIT = "/etc/systemd/system/kvm-cluster-net-boot.service"
WORK_DIR = "/var/lib/kvm-cluster/network"
STAGED = f"{WORK_DIR}/staged"
PLAN_FILE = f"{WORK_DIR}/plan"
STATE_FILE = f"{WORK_DIR}/state"
LOG_FILE = f"{WORK_DIR}/log"
BACKUP_DIR = "/var/backups/kvm-cluster/network"

# States of kvm-cluster-net's last transaction in which its rollback timer runs.
PENDING_STATES = ("armed", "switching", "switched", "rolling-back")


def _locations() -> dict:
    return dict(script=SCRIPT, work_dir=WORK_DIR, staged=STAGED, plan_file=PLAN_FILE,
                state_file=STATE_FILE, log_file=LOG_FILE, backup_dir=BACKUP_DIR)


def helper_script() -> str:
    """``kvm-cluster-net``, with this module's directories."""
    return render("network/kvm-cluster-net.sh.j2", **_locations())


def boot_unit() -> str:
    """``kvm-cluster-net-boot.service``: rolls back at boot a switch a restart left unconfirmed."""
    return render("network/kvm-cluster-net-boot.service.j2", **_locations())


def transaction_id(plan_files: dict, remove) -> str:
    """Names the transaction's units and backup: the same change, the same name."""
    digest = hashlib.sha1()
    for path, (content, mode) in sorted(plan_files.items()):
        digest.update(f"{path}\0{mode}\0{content}\0".encode())
    for path in remove:
        digest.update(f"rm\0{path}\0".encode())
    return "t" + digest.hexdigest()[:12]


def _sh_lines(paths) -> list[str]:
    return [path.replace("'", "'\\''") for path in paths]


def transaction(plan: NetworkPlan, rendered, timeout: int, txn: str) -> str:
    """The transaction file the host script sources (:data:`PLAN_FILE`): ``rendered``
    (a backend's ``Rendered``) gives its files and commands."""
    return render(
        "network/transaction.sh.j2", txn=txn, backend=rendered.backend, bridge=plan.bridge,
        address=plan.address, timeout=timeout, nm_stop=rendered.nm_stop,
        runtime_devices=[*plan.ethernets, *plan.virtual, plan.bridge],
        install=_sh_lines(rendered.files),
        remove=_sh_lines(rendered.remove), validate=list(rendered.validate),
        pre_switch=list(rendered.pre_switch), apply=list(rendered.apply),
        unapply=list(rendered.unapply), reapply=list(rendered.reapply), boot=list(rendered.boot),
    )


def stage_command(path: str, content: str, mode: str = "644") -> StringCommand:
    """Write one of the transaction's own files (a staged copy, the plan) in one
    command, atomically (a temporary file renamed over it). They are not the
    host's configuration: ``--diff`` shows the change against the files they
    will replace (the configuration files, and every other file the network
    step writes, go through ``put_file``)."""
    return write_command(path, content, mode, "root", "root", backup=False)
