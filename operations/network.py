"""The network step's operations: bridge br0 with the host's primary address, switched with commit-confirm.

One plan (:class:`NetworkPlan`, pure, built by :func:`plan_bridge` from the
settings and the host's ``interfaces`` facts: ``_network_plan``), rendered by
the backend the host uses (:func:`render_plan`: ifupdown, netplan, ifcfg or
NetworkManager keyfiles: ``_network_backends``).

Never strand a host (:func:`bridge`): the new files are staged on the host,
``kvm-cluster-net arm`` backs up what they replace and arms a transient systemd
timer that restores it; ``kvm-cluster-net start`` runs the switch detached
(systemd-run), so a dropped SSH session cannot leave it half-done
(``_network_switch``); then the deploy opens a FRESH connection through
pyinfra's own connector and confirms, which disarms the rollback
(``_network_confirm``). Without a confirmation in time the host rolls back by
itself and the deploy fails that host, saying why.
"""

from __future__ import annotations

import logging
import posixpath

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation

from ._batch import one_command
from ._files import put_file, sha1, show_diff
from ._log import error_once, fail_command, warn_once
from ._network_backends import (
    BACKENDS,
    NM_DNS,
    QEMU_BRIDGE_CONF,
    RESOLV_CONF,
    RESOLVED_DROPIN,
    backend_unavailable,
    bridge_acl,
    choose_backend,
    dns_file,
    files_in_place,
    render_plan,
)
from ._network_confirm import confirm_switch, connector_arguments
from ._network_plan import (
    Bond,
    NetworkPlan,
    NetworkPlanError,
    plan_bridge,
    plan_from_dict,
    runtime_matches,
)
from ._network_switch import (
    BOOT_UNIT,
    PENDING_STATES,
    PLAN_FILE,
    SCRIPT,
    STAGED,
    boot_unit,
    helper_script,
    transaction,
    transaction_id,
    stage_command,
)
from ._probe import file_digest, section
from ._render import render

# What the deploy functions use from the private modules.
__all__ = [
    "BACKENDS", "Bond", "NetworkPlan", "NetworkPlanError", "backend_unavailable", "bridge",
    "choose_backend", "plan_bridge", "probed_files", "probed_units", "qemu_bridge_acl", "resolvers",
    "switch_helper",
]

logger = logging.getLogger("pyinfra")


def probed_files(bridged: bool) -> list[str]:
    """The files these operations write outside a backend's configuration,
    whose digests they read from ``current["files"]``: the switch's script and
    boot unit and qemu's bridge ACL (on a bridged host), the resolvers' files."""
    written = [SCRIPT, BOOT_UNIT, QEMU_BRIDGE_CONF] if bridged else []
    return written + [RESOLV_CONF, RESOLVED_DROPIN, NM_DNS]


def probed_units(bridged: bool) -> list[str]:
    """The units whose state these operations read from ``current["services"]``."""
    return [posixpath.basename(BOOT_UNIT)] if bridged else []


@operation()
def switch_helper(current: dict | None = None):
    """
    Install ``/usr/local/sbin/kvm-cluster-net``, the host side of the commit-confirm
    switch (arm, switch, confirm, rollback), and enable ``kvm-cluster-net-boot.service``,
    which rolls back at boot a switch that a restart left unconfirmed (its
    transient rollback timer does not survive a reboot); see :func:`bridge`.

    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files``
      (the script's and the unit's digests) and ``services`` (whether the unit is enabled)

    **Example:**

    .. code:: python

        network.switch_helper(current=probe)
    """
    files = section(current, "files", {})
    unit = posixpath.basename(BOOT_UNIT)
    enabled = (section(current, "services", {}).get(unit) or {}).get("enabled") == "enabled"
    # Replaced by a rename (as put_file writes every file): a rollback timer
    # may be running the old script.
    script = list(put_file(SCRIPT, helper_script(), mode="755", current=files.get(SCRIPT), backup=False))
    unit_file = list(put_file(BOOT_UNIT, boot_unit(), current=files.get(BOOT_UNIT), backup=False))
    if not script and not unit_file and enabled:
        host.noop(f"{SCRIPT} and its boot unit are up to date")
        return
    yield from one_command([*script, *unit_file, *(["systemctl daemon-reload"] if unit_file else []),
                            *([StringCommand("systemctl enable", unit)] if unit_file or not enabled else [])])


@operation()
def bridge(plan: dict | None = None, problem: str | None = None, backend: str = "ifupdown",
           nm_policy: str = "disable", confirm_timeout: int = 60, current: dict | None = None):
    """
    Put the host's primary address on bridge br0 (over its uplink or a bond, or a VLAN on either), with
    commit-confirm: the host rolls back by itself unless the deploy reaches it
    again over a new connection (pyinfra's own connector, ``_network_confirm``).

    + plan: the :class:`NetworkPlan` as a dict (``dataclasses.asdict``), from :func:`plan_bridge`
    + problem: why no plan could be made (an interface missing on the host...):
      the host fails here, before any change
    + backend: ``ifupdown``, ``netplan``, ``ifcfg`` or ``networkmanager`` (:func:`choose_backend`)
    + nm_policy: ``disable`` (stop and disable NetworkManager where another backend
      takes over) or ``keep`` (its devices unmanaged)
    + confirm_timeout: seconds before the host rolls back without a confirmation
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``interfaces``
      (``facts.interfaces``) and ``network_manager`` (``facts.network``)

    A host whose bridge carries its address, matches the plan, and whose files
    are in place gets no change and no restart.

    **Example:**

    .. code:: python

        network.bridge(
            plan=asdict(plan_bridge(address="172.30.10.41/24", interfaces=probe["interfaces"])),
            backend="ifupdown", current=probe,
        )
    """
    if problem:
        message = f"network: {problem}; nothing was changed on this host"
        error_once(message)
        yield fail_command(message)
        return
    interfaces = section(current, "interfaces", {"links": {}, "files": {}, "contents": {}})
    network_manager = section(current, "network_manager")
    plan = plan_from_dict(plan)
    # The confirmation runs kvm-cluster-net as this operation does (_sudo...).
    arguments = connector_arguments(host.current_op_global_arguments)
    last = interfaces.get("last_transaction")
    if last and last["state"] in ("rolled-back", "failed", "invalid"):
        warn_once(f"the last network switch ({last['txn']}) ended {last['state']}: {last['detail']}")

    rendered = render_plan(plan, backend, interfaces, network_manager, nm_policy)
    in_place = files_in_place(rendered, interfaces)
    missing = runtime_matches(plan, interfaces)
    txn = transaction_id(rendered.files, rendered.remove)
    if last and last["state"] in PENDING_STATES:
        # An earlier run did not finish (interrupted while it waited for the
        # confirmation): its rollback timer is still armed. Never call that a
        # no-op, never stage a new plan over it.
        if last["state"] == "switched" and last["txn"] == txn and in_place and not missing:
            warn_once(f"network: switch {txn} was never confirmed: confirming it now")
            yield FunctionCommand(confirm_switch, (), {
                "txn": txn, "arguments": arguments, "timeout": confirm_timeout, "address": plan.address,
            })
            return
        if last.get("rollback_armed") is False:
            # Its safety net is gone (the timer was stopped or lost): nothing
            # would ever roll it back. Roll it back now; the next deploy
            # starts from the restored configuration (these facts are older).
            message = (f"network: switch {last['txn']} was left {last['state']} with no rollback "
                       "armed (its timer is gone): rolled back to the configuration before it; "
                       "deploy again to switch")
            error_once(message)
            yield StringCommand(SCRIPT, "recover", ">&2", "&&", fail_command(message))
            return
        message = (f"network: switch {last['txn']} is {last['state']} and not confirmed; it rolls "
                   f"back by itself within network_confirm_timeout: deploy again after that; "
                   "nothing was changed on this host")
        error_once(message)
        yield fail_command(message)
        return
    if in_place and not rendered.remove and not missing and not rendered.nm_stop:
        host.noop(f"{plan.bridge} carries {plan.address} over {plan.port} ({backend})")
        return

    reasons = missing + ([] if in_place else ["configuration files differ"])
    reasons += [f"{path} is moved aside" for path in rendered.remove]
    if rendered.nm_stop:
        reasons.append("NetworkManager is stopped and disabled")
    warn_once(f"network: switching to {plan.bridge} {plan.address} via {plan.gateway} over "
              f"{plan.port} ({backend}) with commit-confirm, {confirm_timeout} s: "
              + "; ".join(reasons))

    digests = interfaces["files"]
    for path, (content, mode) in rendered.files.items():
        if path in digests and digests[path]["sha1"] == sha1(content):
            continue
        show_diff(path, content)
    yield StringCommand("rm -rf", STAGED)
    for path, (content, mode) in rendered.files.items():
        yield stage_command(f"{STAGED}{path}", content, mode)
    yield stage_command(PLAN_FILE, transaction(plan, rendered, confirm_timeout, txn), "600")
    yield StringCommand(SCRIPT, "arm")
    yield StringCommand(SCRIPT, "start")
    yield FunctionCommand(confirm_switch, (), {
        "txn": txn, "arguments": arguments, "timeout": confirm_timeout, "address": plan.address,
    })


@operation()
def resolvers(dns: list, search: str, backend: str, bridged: bool, current: dict | None = None):
    """
    Point the host's DNS at the cluster's resolvers (the masters), the backend's way.

    + dns: the resolvers, primary first
    + search: the search domain
    + backend: the host's network backend (:func:`choose_backend`)
    + bridged: whether the bridge configuration (which carries them) is this host's
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files``
      (the resolver file's digest), ``interfaces`` (tools) and ``network_manager``
      (where it runs, it owns ``/etc/resolv.conf``)

    The file is written with the shared ``put_file`` (``--diff`` shows it), in
    place as pyinfra uploads (never by a rename: a bind-mounted
    ``/etc/resolv.conf`` stays); the old one is kept as ``FILE.<timestamp>``.

    **Example:**

    .. code:: python

        network.resolvers(dns=["172.30.10.11", "172.30.10.12"], search="cluster.lan",
                          backend="ifupdown", bridged=True, current=probe)
    """
    interfaces = section(current, "interfaces", {"files": {}})
    nm_active = bool(section(current, "network_manager", {}).get("active"))
    target = dns_file(backend, bridged, interfaces, dns, search, nm_active)
    if target is None:
        host.noop(f"resolvers {', '.join(dns)} are in the {backend} bridge configuration")
        return
    path, content = target
    commands = list(put_file(path, content, current=file_digest(current, path)))
    if not commands:
        host.noop(f"{path} already lists {', '.join(dns)}")
        return
    yield from commands
    if path == RESOLVED_DROPIN:
        yield "systemctl try-restart systemd-resolved"
    elif path == NM_DNS:
        yield "systemctl try-reload-or-restart NetworkManager"


@operation()
def qemu_bridge_acl(bridge: str, current: dict | None = None):
    """
    Let qemu's bridge helper attach VMs to the bridge: ``allow br0`` in /etc/qemu/bridge.conf.

    + bridge: the bridge, ``br0``
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files``
      (the file's digest) and ``interfaces`` (its content)

    **Example:**

    .. code:: python

        network.qemu_bridge_acl(bridge="br0", current=probe)
    """
    digest = file_digest(current, QEMU_BRIDGE_CONF)
    contents = section(current, "interfaces", {}).get("contents") or {}
    acl = contents.get(QEMU_BRIDGE_CONF, []) if digest else []
    lines = bridge_acl(acl, bridge)
    if lines is None:
        host.noop(f"{QEMU_BRIDGE_CONF} allows {bridge}")
        return
    yield from put_file(QEMU_BRIDGE_CONF, render("network/qemu-bridge.conf.j2", lines=lines),
                        current=digest)
