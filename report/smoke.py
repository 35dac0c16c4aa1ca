"""Prove each KVM node can host a VM: ``python -m report.smoke INVENTORY [--json]``.

On every KVM node, in parallel, as a management tool would (libvirt-python
over SSH, as the role account):

1. a leftover of an earlier run (domain ``smoke-<node>``, its volumes) is removed;
2. the node builds a tiny VM from what it already has: its own kernel and a
   busybox initramfs made there (``templates/smoke/prepare.sh``; nothing is
   downloaded, no image shipped), accelerated with KVM where ``/dev/kvm`` works,
   TCG otherwise;
3. a small volume is created in the primary pool (and in the secondary pool
   where the node has it);
4. the VM boots with its NIC on ``br0`` and the MAC of the VM manifest's entry
   ``smoke-<node>`` (validated like every other entry); on its serial console
   (the evidence) it reports the address it got by DHCP from the masters, the
   answer of each master for the node's name, whether it reaches its node, and
   a write and read-back of each disk;
5. the domain is destroyed and the volumes deleted, also when a step fails or
   the run is interrupted.

One row per node (boot, DHCP address, DNS through each master, ping, disks,
time); ``--json`` for machines; the exit status is non-zero when any node
fails, with the step and the console's last lines. Every remote call has a
timeout: a node that does not answer becomes a row that says so.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402

import gevent  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from gevent.threadpool import ThreadPool  # noqa: E402
from pyinfra.api import StringCommand  # noqa: E402

from operations._render import render  # noqa: E402

from cluster.model import network as config_network  # noqa: E402

from . import libvirt_remote, session  # noqa: E402

WORK_DIR = "/var/lib/kvm-cluster/smoke"
VOLUME_BYTES = 8 * 1024 * 1024
MEMORY_MIB = 192
BOOT_TIMEOUT = 90          # seconds from start to "SMOKE done" (TCG boots in a few)
CALL_TIMEOUT = 30          # any one remote call
CONSOLE_LINES = 12         # of the console shown when a node fails


def vm_name(node: str) -> str:
    """The smoke VM's name, its manifest entry and its volumes' stem."""
    return f"smoke-{node}"


# -- pure: the VM, its console ------------------------------------------------

def domain_xml(node: str, accel: str, mac: str, disks: list[dict], cmdline: str,
               bridge: str = config_network.BRIDGE) -> str:
    return render("smoke/domain.xml.j2", name=vm_name(node), accel=accel, memory=MEMORY_MIB,
                  kernel=f"{WORK_DIR}/vmlinuz", initrd=f"{WORK_DIR}/initrd.img", cmdline=cmdline,
                  disks=disks, bridge=bridge, mac=mac)


def kernel_cmdline(node_ip: str, masters: tuple[str, ...], name: str) -> str:
    return (f"console=ttyS0 panic=-1 quiet smoke.node={node_ip} "
            f"smoke.masters={','.join(masters)} smoke.name={name}")


def parse_console(text: str) -> dict:
    """The guest's ``SMOKE <step> <result>`` lines: ``{"boot": True, "dhcp": ip
    or None, "dns": {master: answer}, "ping": bool, "disks": {vda: bool}, "done": bool}``."""
    result: dict = {"boot": False, "dhcp": None, "dns": {}, "ping": None, "disks": {}, "done": False}
    for line in text.splitlines():
        words = line.strip().split()
        if len(words) < 2 or words[0] != "SMOKE":
            continue
        step, rest = words[1], words[2:]
        if step == "boot":
            result["boot"] = True
        elif step == "dhcp" and rest:
            result["dhcp"] = None if rest[0] == "none" else rest[0]
        elif step == "dns" and len(rest) == 2:
            result["dns"][rest[0]] = rest[1]
        elif step == "ping" and rest:
            result["ping"] = rest[0] == "ok"
        elif step == "disk" and len(rest) == 2:
            result["disks"][rest[0]] = rest[1] == "ok"
        elif step == "done":
            result["done"] = True
    return result


def failures(parsed: dict, expected_ip: str, expected_answer: str, masters: tuple[str, ...],
             disks: list[str]) -> list[str]:
    """Every step the console shows failed or missing, first failure first."""
    problems = []
    if not parsed["boot"]:
        return ["boot: the VM printed nothing on its serial console"]
    if parsed["dhcp"] != expected_ip:
        problems.append(f"dhcp: got {parsed['dhcp'] or 'no address'}, expected {expected_ip} "
                        "(the VM manifest's address)")
    for master in masters:
        answer = parsed["dns"].get(master)
        if answer != expected_answer:
            problems.append(f"dns: {master} answered {answer or 'nothing'} for the node's name, "
                            f"expected {expected_answer}")
    if not parsed["ping"]:
        problems.append("ping: the VM did not reach its node")
    for disk in disks:
        if not parsed["disks"].get(disk):
            problems.append(f"disk: writing {disk} and reading it back failed")
    if not parsed["done"] and not problems:
        problems.append("the VM did not finish its steps in time")
    return problems


# -- one node -----------------------------------------------------------------------

@dataclass
class NodeRun:
    node: str
    ok: bool = False
    accel: str | None = None
    kernel: str | None = None
    step: str = "connect"
    dhcp: str | None = None
    dns: dict = field(default_factory=dict)
    ping: bool | None = None
    disks: dict = field(default_factory=dict)
    pools: list = field(default_factory=list)
    seconds: float = 0.0
    boot_seconds: float | None = None
    failures: list = field(default_factory=list)
    console: list = field(default_factory=list)


def _with_timeout(pool: ThreadPool, timeout: float, function, *args):
    """Run a blocking call (libvirt, SSH) in a real thread; TimeoutError after ``timeout``."""
    result = pool.spawn(function, *args)
    value = result.get(timeout=timeout)
    return value


def _cleanup(connection, node: str, pools: list[str]) -> None:
    """Destroy the smoke domain and delete its volumes, whatever state they are in."""
    import libvirt

    try:
        domain = connection.lookupByName(vm_name(node))
        try:
            domain.destroy()
        except libvirt.libvirtError:
            pass
        try:
            domain.undefine()
        except libvirt.libvirtError:
            pass  # transient domains are gone once destroyed
    except libvirt.libvirtError:
        pass
    for pool_name in pools:
        try:
            pool = connection.storagePoolLookupByName(pool_name)
            pool.storageVolLookupByName(f"{vm_name(node)}.img").delete(0)
        except libvirt.libvirtError:
            pass


def _volume(connection, pool_name: str, node: str) -> None:
    pool = connection.storagePoolLookupByName(pool_name)
    pool.createXML(
        f"<volume><name>{vm_name(node)}.img</name><capacity unit='bytes'>{VOLUME_BYTES}</capacity>"
        "<target><format type='raw'/></target></volume>", 0)


def _read_console(connection, domain, sink: list, deadline: float) -> None:
    """Append what the console prints to ``sink`` until the VM stops or the deadline."""
    import libvirt

    stream = connection.newStream(0)
    domain.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
    try:
        while time.monotonic() < deadline:
            try:
                data = stream.recv(4096)
            except libvirt.libvirtError:
                break
            if not data or data == -2:
                break
            sink.append(data.decode(errors="replace") if isinstance(data, bytes) else str(data))
            if "SMOKE done" in "".join(sink[-4:]):
                break
    finally:
        try:
            stream.finish()
        except libvirt.libvirtError:
            pass


def smoke_node(host, settings, vm, pool: ThreadPool, boot_timeout: int = BOOT_TIMEOUT) -> NodeRun:
    """Run the smoke test on one node; never raises (a failure is a row)."""
    import libvirt

    run = NodeRun(settings.name)
    started = time.monotonic()
    if vm is None:
        run.step = "manifest"
        run.failures = [f"no entry {vm_name(settings.name)!r} in the VM manifest (vms): add one "
                        "with a MAC and an address for this node's smoke VM"]
        return run
    uri = libvirt_remote.host_uri(host, settings.role_account)
    connection = None
    pool_names = [settings.primary_pool_name, settings.secondary_pool_name]
    try:
        connection = _with_timeout(pool, CALL_TIMEOUT, libvirt.open, uri)
        run.step = "cleanup"
        _with_timeout(pool, CALL_TIMEOUT, _cleanup, connection, settings.name, pool_names)

        run.step = "prepare"
        prepared = _prepare(host)
        run.kernel, run.accel = prepared.get("kernel"), prepared.get("accel", "tcg")

        run.step = "volumes"
        active = set(_with_timeout(pool, CALL_TIMEOUT, connection.listStoragePools))
        run.pools = [name for name in pool_names if name in active]
        if settings.primary_pool_name not in run.pools:
            raise RuntimeError(f"the primary pool {settings.primary_pool_name} is not active")
        disks = []
        for index, pool_name in enumerate(run.pools):
            _with_timeout(pool, CALL_TIMEOUT, _volume, connection, pool_name, settings.name)
            disks.append({"pool": pool_name, "volume": f"{vm_name(settings.name)}.img",
                          "target": f"vd{chr(ord('a') + index)}"})

        run.step = "boot"
        cmdline = kernel_cmdline(settings.cluster_address, settings.masters,
                                 f"{settings.name}.{settings.cluster_domain}")
        xml = domain_xml(settings.name, run.accel, vm.mac, disks, cmdline)
        boot_started = time.monotonic()
        domain = _with_timeout(pool, CALL_TIMEOUT, connection.createXML, xml,
                               libvirt.VIR_DOMAIN_START_PAUSED)
        console: list = []
        reader = pool.spawn(_read_console, connection, domain, console, boot_started + boot_timeout)
        time.sleep(0.2)  # the console is open before the first instruction runs
        _with_timeout(pool, CALL_TIMEOUT, domain.resume)
        reader.get(timeout=boot_timeout + 5)
        run.boot_seconds = round(time.monotonic() - boot_started, 1)
        text = "".join(console)
        run.console = [line for line in text.replace("\r", "").splitlines() if line.strip()]
        parsed = parse_console(text)
        run.dhcp, run.dns, run.ping, run.disks = parsed["dhcp"], parsed["dns"], parsed["ping"], parsed["disks"]
        run.failures = failures(parsed, vm.ip, settings.cluster_address, settings.masters,
                                [disk["target"] for disk in disks])
        run.step = run.failures[0].split(":")[0] if run.failures else "done"
        run.ok = not run.failures
    except Exception as error:  # libvirt errors, timeouts, SSH: one row says it
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        run.failures.append(f"{run.step}: {message}")
    finally:
        if connection is not None:
            try:
                _with_timeout(pool, CALL_TIMEOUT, _cleanup, connection, settings.name, pool_names)
            except Exception as error:  # noqa: BLE001
                run.failures.append(f"cleanup: {error}")
                run.ok = False
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                pass
        run.seconds = round(time.monotonic() - started, 1)
    return run


def _prepare(host) -> dict:
    """Build the kernel and initramfs on the node (one SSH command, as the
    inventory connects, with sudo where its data asks for it)."""
    files = {f"{WORK_DIR}/prepare.sh": render("smoke/prepare.sh"),
             f"{WORK_DIR}/init.sh": render("smoke/init.sh")}
    script = [f"mkdir -p {WORK_DIR}"]
    script += [f"printf '%s' {shlex.quote(text)} > {path}" for path, text in files.items()]
    script.append(f"sh {WORK_DIR}/prepare.sh {WORK_DIR}")
    ok, output = host.run_shell_command(StringCommand(" && ".join(script)),
                                        _sudo=bool(host.data.get("_sudo")), _timeout=120)
    lines = [line for line in output.stdout_lines]
    if not ok:
        raise RuntimeError("building the VM's kernel and initramfs failed: "
                           + " ".join(output.stderr_lines[-3:] or lines[-3:]))
    return dict(line.split(" ", 1) for line in lines if " " in line)


# -- the whole inventory ----------------------------------------------------------------

def interrupts_here():
    """Ctrl-C delivered to the calling greenlet as KeyboardInterrupt, until
    the returned handler is cancelled. Python raises it in whichever greenlet
    runs when the signal comes: as often as not a paramiko transport, which
    dies of it alone while the run goes on to its end."""
    return gevent.signal_handler(signal.SIGINT, gevent.kill, gevent.getcurrent(), KeyboardInterrupt)


def gather(inventory_path: str, boot_timeout: int = BOOT_TIMEOUT) -> list[NodeRun]:
    import libvirt

    # libvirt prints every error it raises on stderr as well: each is reported in its row.
    libvirt.registerErrorHandler(lambda _context, _error: None, None)
    inventory, settings, connected = session.connect(inventory_path)
    nodes = [host for host in inventory if settings[host.name].in_group("kvm_nodes")]
    pool = ThreadPool(4 * max(len(nodes), 1))
    runs: list[NodeRun] = []
    greenlets = []

    for host in nodes:
        vm = _manifest_entry(settings, host.name)
        if host.name not in connected:
            runs.append(NodeRun(host.name, step="connect",
                                failures=["connect: the node does not answer over SSH"]))
            continue
        greenlets.append(gevent.spawn(smoke_node, host, settings[host.name], vm, pool, boot_timeout))
    interrupt = interrupts_here()
    try:
        gevent.joinall(greenlets)
    except KeyboardInterrupt:
        # Interrupted: every node is cleaned over a new connection until nothing
        # is left (a domain still being created appears a moment later; once
        # destroyed, its console reader ends), for at most CALL_TIMEOUT.
        gevent.killall(greenlets, block=False)
        remaining = [host for host in nodes if host.name in connected]
        deadline = time.monotonic() + CALL_TIMEOUT
        while remaining and time.monotonic() < deadline:
            remaining = [host for host in remaining if not _bounded_cleanup(host, settings[host.name])]
            if remaining:
                gevent.sleep(1)
        raise Interrupted([host.name for host in remaining]) from None
    finally:
        interrupt.cancel()
    runs += [greenlet.value for greenlet in greenlets]
    return sorted(runs, key=lambda run: run.node)


class Interrupted(Exception):
    """The run was interrupted; ``remaining``: nodes whose smoke VM could not be removed."""

    def __init__(self, remaining: list[str]):
        super().__init__(remaining)
        self.remaining = remaining


def _leftovers(connection, node: str, pools: list[str]) -> list[str]:
    """What of the smoke run is still on the node: the domain, volumes."""
    import libvirt

    found = []
    if vm_name(node) in [domain.name() for domain in connection.listAllDomains(0)]:
        found.append(f"domain {vm_name(node)}")
    for pool_name in pools:
        try:
            volumes = connection.storagePoolLookupByName(pool_name).listVolumes()
        except libvirt.libvirtError:
            continue
        if f"{vm_name(node)}.img" in volumes:
            found.append(f"volume {pool_name}/{vm_name(node)}.img")
    return found


def _bounded_cleanup(host, settings) -> bool:
    """Remove the smoke domain and volumes of ``host`` over a new connection;
    True when nothing of them is left (each call at most CALL_TIMEOUT)."""
    import libvirt

    uri = libvirt_remote.host_uri(host, settings.role_account)
    pools = [settings.primary_pool_name, settings.secondary_pool_name]
    pool = ThreadPool(1)
    try:
        connection = _with_timeout(pool, CALL_TIMEOUT, libvirt.open, uri)
        try:
            _with_timeout(pool, CALL_TIMEOUT, _cleanup, connection, settings.name, pools)
            return not _with_timeout(pool, CALL_TIMEOUT, _leftovers, connection, settings.name, pools)
        finally:
            connection.close()
    except BaseException:  # noqa: BLE001: a timeout, an error: try again until the deadline
        return False
    finally:
        pool.kill()


def _manifest_entry(settings: dict, node: str):
    """The VM manifest lives on the masters (where it acts): the node's smoke entry from there."""
    for s in settings.values():
        if s.in_group("masters"):
            return next((vm for vm in s.vms if vm.name == vm_name(node)), None)
    return None


def render_table(runs: list[NodeRun]) -> str:
    header = ["node", "accel", "boot", "dhcp", "dns", "ping", "disks", "time", "result"]
    table = [header]
    for run in runs:
        dns = "-" if not run.dns else ("both ok" if run.ok or all(run.dns.values()) else
                                      ",".join(f"{k}={v}" for k, v in run.dns.items()))
        table.append([
            run.node, run.accel or "-",
            f"{run.boot_seconds}s" if run.boot_seconds is not None else "-",
            run.dhcp or "-", dns,
            {True: "ok", False: "failed", None: "-"}[run.ping],
            ",".join(f"{d}:{'ok' if ok else 'failed'}" for d, ok in run.disks.items()) or "-",
            f"{run.seconds}s", "ok" if run.ok else f"FAILED at {run.step}",
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table]
    for run in runs:
        if run.accel == "tcg":
            out.append(f"{run.node}: emulated (TCG): /dev/kvm is not usable there")
        for problem in run.failures:
            out.append(f"{run.node}: FAIL {problem}")
        if not run.ok and run.console:
            out.append(f"{run.node}: console, last lines:")
            out += [f"    {line}" for line in run.console[-CONSOLE_LINES:]]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("inventory")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--boot-timeout", type=int, default=BOOT_TIMEOUT,
                        help=f"seconds a VM has for all its steps (default {BOOT_TIMEOUT})")
    args = parser.parse_args(argv)
    try:
        runs = gather(args.inventory, args.boot_timeout)
    except Interrupted as interrupted:
        if interrupted.remaining:
            print(f"interrupted: the smoke VM of {', '.join(interrupted.remaining)} could not be "
                  "removed now; the next run removes it first", file=sys.stderr)
        else:
            print("interrupted: every smoke VM and volume was removed", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps([run.__dict__ for run in runs], indent=2))
    else:
        print(render_table(runs))
    return 0 if runs and all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
