"""Per-host readiness summary: ``python -m cluster.report INVENTORY [--json]``.

Reads every host of an inventory through the same batched fact the deploy
uses (facts.host.HostProbe), evaluates the preflight checks with each host's
configured policy, and prints one row per host (or JSON). Exits non-zero when
any host is unreachable or fails a check whose policy is ``fail``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from pyinfra.api import Config, State  # noqa: E402
from pyinfra.api.connect import connect_all  # noqa: E402
from pyinfra.api.facts import get_facts  # noqa: E402
from pyinfra.context import ctx_state  # noqa: E402
from pyinfra_cli.inventory import make_inventory  # noqa: E402

from facts.host import HostProbe  # noqa: E402
from facts.iommu import is_configured, missing_args  # noqa: E402
from operations.preflight import evaluate  # noqa: E402

from . import deploys  # noqa: E402
from .settings import cluster_settings  # noqa: E402


def host_row(settings, probe: dict | None) -> dict:
    """One host's readiness, from its settings and HostProbe result (pure)."""
    row = {"host": settings.name, "groups": list(settings.groups), "reachable": probe is not None}
    if probe is None:
        row["ready"] = False
        return row

    wanted = deploys.wanted_iommu_args(settings, probe)
    iommu = probe["iommu"]
    findings = evaluate(probe, deploys.preflight_checks(settings), settings.preflight_policy,
                        settings.data_volume, wanted)
    hypervisor = settings.in_group("kvm_nodes")
    configured = is_configured(iommu, wanted) if hypervisor else None
    row.update(
        os=probe["os"]["pretty_name"],
        virtualization=probe["cpu"]["extension"] or "none",
        dev_kvm=probe["cpu"]["dev_kvm"],
        iommu_active=iommu["groups"] > 0,
        iommu_configured=configured,
        reboot_pending=(bool(wanted) and configured and missing_args(wanted, iommu["cmdline"]) != []
                        if hypervisor else None),
        network_manager=("active" if probe["network_manager"]["active"] else
                         "installed" if probe["network_manager"]["installed"] else "absent"),
        data_volume=probe["data_volume"]["mounted"],
        warnings=[f.line() for f in findings if f.policy == "warn"],
        failures=[f.line() for f in findings if f.policy == "fail"],
    )
    row["ready"] = not row["failures"]
    return row


def _yes(value) -> str:
    return {True: "yes", False: "no", None: "-"}.get(value, str(value))


COLUMNS = (("host", "host"), ("virt", "virtualization"), ("/dev/kvm", "dev_kvm"),
           ("iommu on", "iommu_active"), ("iommu cfg", "iommu_configured"),
           ("reboot", "reboot_pending"), ("NM", "network_manager"),
           ("data vol", "data_volume"), ("ready", "ready"))


def render_table(rows: list[dict], colour: bool = False) -> str:
    header = [title for title, _ in COLUMNS]
    table = [header]
    for row in rows:
        if not row["reachable"]:
            table.append([row["host"], "unreachable"] + [""] * (len(COLUMNS) - 3) + ["no"])
            continue
        table.append([_yes(row.get(key, "")) for _, key in COLUMNS])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for index, line in enumerate(table):
        text = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
        if colour and index:
            text = ("\033[32m" if line[-1] == "yes" else "\033[31m") + text + "\033[0m"
        out.append(text)
    for row in rows:
        for failure in row.get("failures", []):
            out.append(f"{row['host']}: FAIL {failure}")
        for warning in row.get("warnings", []):
            out.append(f"{row['host']}: warn {warning}")
    return "\n".join(out)


def gather(inventory_path: str) -> list[dict]:
    state = State(check_for_changes=False)
    ctx_state.set(state)
    inventory = make_inventory(inventory_path, cwd=os.getcwd())
    settings = cluster_settings(inventory)
    state.init(inventory, Config())
    connect_all(state)
    probes = {}
    # One HostProbe per distinct (data volume, role account): usually one.
    for data_path, user in sorted({(s.data_volume, s.role_account) for s in settings.values()}):
        results = get_facts(state, HostProbe, kwargs={"data_path": data_path, "user": user})
        for host, probe in results.items():
            if (settings[host.name].data_volume, settings[host.name].role_account) == (data_path, user):
                probes[host.name] = probe
    return [host_row(settings[host.name], probes.get(host.name)) for host in inventory]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inventory")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    rows = gather(args.inventory)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(render_table(rows, colour=sys.stdout.isatty()))
    return 0 if all(row["ready"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
