"""The kvmlab: Debian 12 containers with systemd and sshd for live pyinfra deploys.

Python API (for pytest fixtures)::

    import lab
    state = lab.up(nodes=3)          # LabState; idempotent, fast when already up
    state["kvm01"].ssh_port
    rc, out = lab.exec("kvm01", "systemctl is-active ssh")
    lab.kill("kvm02"); lab.start("kvm02")
    lab.reset()                      # fresh containers and data volumes
    lab.down()

CLI: python -m lab up [--nodes N] [--fresh] | down | status
"""
from .engine import LabError, ensure_engine
from .images import ensure_images
from .lab import (HOSTS_JSON, INVENTORY, KEY, KNOWN_HOSTS, LabHost, LabState, down, exec,
                  hosts, kill, reset, ssh, ssh_command, start, state, status, stop, up)
from .topology import Host, topology

__all__ = [
    "HOSTS_JSON", "INVENTORY", "KEY", "KNOWN_HOSTS", "Host", "LabError", "LabHost",
    "LabState", "down", "ensure_engine", "ensure_images", "exec", "hosts", "kill", "reset",
    "ssh", "ssh_command", "start", "state", "status", "stop", "topology", "up",
]
