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

from pyinfra import host, state
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation

from ._files import sha1
from ._log import error_once, fail_command, first_pass, warn_once
from ._network_backends import (
    BACKENDS,
    NM_DNS,
    QEMU_BRIDGE_CONF,
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
    BOOT_UNIT_LINK,
    PENDING_STATES,
    PLAN_FILE,
    SCRIPT,
    STAGED,
    boot_unit,
    helper_script,
    transaction,
    transaction_id,
    write_command,
)
from ._render import render

# What the deploy functions use from the private modules.
__all__ = [
    "BACKENDS", "Bond", "NetworkPlan", "NetworkPlanError", "backend_unavailable", "bridge",
    "choose_backend", "plan_bridge", "qemu_bridge_acl", "resolvers", "switch_helper",
]

logger = logging.getLogger("pyinfra")


def _show_diff(path: str, content: str) -> None:
    """With --diff: the change to each file, as pyinfra shows its own uploads."""
    if not getattr(state.config, "DIFF", False) or not first_pass():
        return
    from pyinfra.facts.files import FileContents
    from pyinfra.operations.util.files import generate_color_diff

    old = host.get_fact(FileContents, path=path)
    host.log(f"Will {'modify' if old is not None else 'create'} {path}", logger.info)
    for line in generate_color_diff([f"{line}\n" for line in old or []], content.splitlines(True)):
        logger.info("  %s", line)
    logger.info("")


@operation()
def switch_helper(current: dict | None = None):
    """
    Install ``/usr/local/sbin/kvm-cluster-net``, the host side of the commit-confirm
    switch (arm, switch, confirm, rollback), and enable ``kvm-cluster-net-boot.service``,
    which rolls back at boot a switch that a restart left unconfirmed (its
    transient rollback timer does not survive a reboot); see :func:`bridge`.

    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``interfaces``
      (the files' digests are read there)

    **Example:**

    .. code:: python

        network.switch_helper(current=probe)
    """
    digests = ((current or {}).get("interfaces") or {}).get("files") or {}
    wanted = {SCRIPT: (helper_script(), "755"), BOOT_UNIT: (boot_unit(), "644")}
    stale = [path for path, (content, _mode) in wanted.items()
             if (digests.get(path) or {}).get("sha1") != sha1(content)]
    if not stale and BOOT_UNIT_LINK in digests:
        host.noop(f"{SCRIPT} and its boot unit are up to date")
        return
    for path in stale:
        yield write_command(path, *wanted[path])
    if BOOT_UNIT in stale:
        yield "systemctl daemon-reload"
    if BOOT_UNIT in stale or BOOT_UNIT_LINK not in digests:
        yield StringCommand("systemctl enable", BOOT_UNIT.rsplit("/", 1)[1])


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
    interfaces = (current or {}).get("interfaces") or {"links": {}, "files": {}, "contents": {}}
    network_manager = (current or {}).get("network_manager")
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
        _show_diff(path, content)
    yield StringCommand("rm -rf", STAGED)
    for path, (content, mode) in rendered.files.items():
        yield write_command(f"{STAGED}{path}", content, mode)
    yield write_command(PLAN_FILE, transaction(plan, rendered, confirm_timeout, txn), "600")
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
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``interfaces``
      (file digests, tools) and ``network_manager`` (where it runs, it owns
      ``/etc/resolv.conf``)

    ``/etc/resolv.conf`` is written in place (``cat >``), never replaced by a
    rename: Docker bind-mounts it. The old file is kept as ``FILE.<timestamp>``.

    **Example:**

    .. code:: python

        network.resolvers(dns=["172.30.10.11", "172.30.10.12"], search="cluster.lan",
                          backend="ifupdown", bridged=True, current=probe)
    """
    interfaces = (current or {}).get("interfaces") or {"files": {}}
    nm_active = bool(((current or {}).get("network_manager") or {}).get("active"))
    target = dns_file(backend, bridged, interfaces, dns, search, nm_active)
    if target is None:
        host.noop(f"resolvers {', '.join(dns)} are in the {backend} bridge configuration")
        return
    path, content = target
    digest = interfaces["files"].get(path)
    if digest and digest["sha1"] == sha1(content):
        host.noop(f"{path} already lists {', '.join(dns)}")
        return
    _show_diff(path, content)
    from pyinfra.operations.util.files import get_timestamp
    if digest:
        yield StringCommand("cp -p", path, f"{path}.{get_timestamp()}")
    directory = path.rsplit("/", 1)[0]
    yield StringCommand("mkdir -p", directory, "&& printf '%s'", QuoteString(content), ">", path)
    if path == RESOLVED_DROPIN:
        yield "systemctl try-restart systemd-resolved"
    elif path == NM_DNS:
        yield "systemctl try-reload-or-restart NetworkManager"


@operation()
def qemu_bridge_acl(bridge: str, current: dict | None = None):
    """
    Let qemu's bridge helper attach VMs to the bridge: ``allow br0`` in /etc/qemu/bridge.conf.

    + bridge: the bridge, ``br0``
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``interfaces``
      (the file's content is read there)

    **Example:**

    .. code:: python

        network.qemu_bridge_acl(bridge="br0", current=probe)
    """
    interfaces = (current or {}).get("interfaces") or {"files": {}, "contents": {}}
    acl = interfaces["contents"].get(QEMU_BRIDGE_CONF, []) \
        if QEMU_BRIDGE_CONF in interfaces["files"] else []
    lines = bridge_acl(acl, bridge)
    if lines is None:
        host.noop(f"{QEMU_BRIDGE_CONF} allows {bridge}")
        return
    content = render("network/qemu-bridge.conf.j2", lines=lines)
    _show_diff(QEMU_BRIDGE_CONF, content)
    yield StringCommand("mkdir -p /etc/qemu && printf '%s'", QuoteString(content), ">",
                        QEMU_BRIDGE_CONF, "&& chmod 644", QEMU_BRIDGE_CONF)
