"""The kvmlab: Debian containers with systemd and sshd, each a copy of how an
installer leaves a server (lab/personas.py), for live pyinfra deploys.

Python API (for pytest fixtures)::

    import lab
    state = lab.up()                 # LabState; idempotent, fast when already up
    state["kvm01"].ssh_port          # fixed: 127.0.0.1:22200+octet
    rc, out = lab.exec("kvm01", "systemctl is-active ssh")
    lab.kill("kvm02"); lab.start("kvm02")
    lab.restart("kvm03")             # a reboot: the host comes back from its own configuration
    lab.reset()                      # fresh containers and data volumes
    lab.down()

CLI: python -m lab up [--nodes N] [--persona HOST=PERSONA ...] [--fresh] | down | status
"""
from .engine import LabError, ensure_engine
from .images import ensure_image, ensure_images
from .lab import (HOSTS_JSON, INVENTORY, KEY, KNOWN_HOSTS, LabHost, LabState, down, exec,
                  host_key_files, hosts, kill, reset, restart, ssh, ssh_command, start, state, status, stop, up)
from .personas import PERSONAS, Persona, persona
from .topology import DEFAULT_NODES, DEFAULT_PERSONAS, MINIMAL_INSTALL_NODE, Host, topology

__all__ = [
    "DEFAULT_NODES", "DEFAULT_PERSONAS", "MINIMAL_INSTALL_NODE", "HOSTS_JSON", "INVENTORY", "KEY", "KNOWN_HOSTS", "Host",
    "LabError", "LabHost", "LabState", "PERSONAS", "Persona", "down", "ensure_engine",
    "ensure_image", "ensure_images", "exec", "host_key_files", "hosts", "kill", "persona", "reset", "restart", "ssh",
    "ssh_command", "start", "state", "status", "stop", "topology", "up",
]
