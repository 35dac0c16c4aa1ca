"""The switch's confirmation connects the way pyinfra does: a new instance of the
host's own connector, with the inventory's ``ssh_*`` settings (here an ssh
config file that gives the address and port), and its host key checked.

Every switch in test_network.py is confirmed this way; these cases show the
settings it inherits, against a real lab host, without switching anything.
"""

from __future__ import annotations

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.exceptions import ConnectError

import lab
from operations._network_confirm import run_fresh


def _host(name: str, data: dict):
    inventory = Inventory(([name], data))
    state = State(inventory, Config(CONNECT_TIMEOUT=5))
    return state, inventory.get_host(name)


def test_a_fresh_connection_follows_the_ssh_config_file(lab_up, tmp_path):
    node = lab_up["kvm01"]
    config = tmp_path / "ssh_config"
    # Only the config file knows where "kvm01-via-config" is.
    config.write_text(f"Host kvm01-via-config\n  HostName 127.0.0.1\n  Port {node.ssh_port}\n")
    state, host = _host("kvm01-via-config", {
        "ssh_config_file": str(config), "ssh_user": "root", "ssh_key": str(lab.KEY),
        "ssh_known_hosts_file": str(lab.KNOWN_HOSTS), "ssh_strict_host_key_checking": "yes",
    })
    status, output = run_fresh(state, host, "cat /etc/hostname", {}, timeout=10)
    assert (status, output) == (0, "kvm01")


def test_a_fresh_connection_refuses_an_unknown_host_key(lab_up, tmp_path):
    node = lab_up["kvm01"]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    state, host = _host("127.0.0.1", {
        "ssh_port": node.ssh_port, "ssh_user": "root", "ssh_key": str(lab.KEY),
        "ssh_known_hosts_file": str(empty), "ssh_strict_host_key_checking": "yes",
    })
    with pytest.raises(ConnectError):
        run_fresh(state, host, "true", {}, timeout=10)
    assert empty.read_text() == ""  # nothing was learnt


def test_a_fresh_connection_runs_as_the_operation_did(lab_up):
    """The operation's own global arguments, as pyinfra fills them in (every
    connector key, ``_timeout`` among them), reach the fresh connection:
    ``_sudo`` runs the script through sudo."""
    from pyinfra.api.arguments import pop_global_arguments

    from operations._network_confirm import connector_arguments

    node = lab_up["kvm01"]
    state, host = _host("127.0.0.1", {
        "ssh_port": node.ssh_port, "ssh_user": "root", "ssh_key": str(lab.KEY),
        "ssh_known_hosts_file": str(lab.KNOWN_HOSTS), "ssh_strict_host_key_checking": "yes",
    })
    plain, _keys = pop_global_arguments(state, host, {})
    assert "_timeout" in plain  # what made every confirmation fail once
    assert run_fresh(state, host, "echo $SUDO_USER", connector_arguments(plain), timeout=10) == (0, "")
    with_sudo, _keys = pop_global_arguments(state, host, {"_sudo": True})
    assert run_fresh(state, host, "echo $SUDO_USER", connector_arguments(with_sudo),
                     timeout=10) == (0, "root")
