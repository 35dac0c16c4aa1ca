"""CLI: python -m lab up [--nodes N] [--persona HOST=PERSONA ...] [--fresh] | down | status"""
import argparse
import sys
import time

from . import lab
from .engine import LabError
from .personas import PERSONAS
from .topology import DEFAULT_NODES, parse_personas


def _print_hosts(lab_hosts):
    for h in lab_hosts:
        print(f"{h.name:8} {h.group:10} {h.persona:17} {h.ip:14} {h.mac}  127.0.0.1:{h.ssh_port}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build images if needed and start the lab")
    up.add_argument("--nodes", type=int, default=DEFAULT_NODES,
                    help=f"number of KVM nodes (default {DEFAULT_NODES})")
    up.add_argument("--persona", action="append", metavar="HOST=PERSONA", default=[],
                    help="this host runs that persona (" + ", ".join(PERSONAS) + "); "
                         "repeatable; default: the mixed fleet of lab/topology.py")
    up.add_argument("--fresh", action="store_true",
                    help="recreate containers and their data volumes")
    sub.add_parser("down", help="remove containers, volumes, network and state")
    sub.add_parser("status", help="list lab containers")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            started = time.monotonic()
            state = lab.up(nodes=args.nodes, fresh=args.fresh, personas=parse_personas(args.persona))
            _print_hosts(state.hosts)
            print(f"lab up: {len(state.hosts)} hosts in {time.monotonic() - started:.1f} s; "
                  f"inventory: {state.inventory}")
        elif args.command == "down":
            lab.down()
            print("lab down")
        else:
            rows = lab.status()
            if not rows:
                print("lab not running")
            for host, status in rows:
                name = getattr(host, "name", host)
                port = f"127.0.0.1:{host.ssh_port}" if hasattr(host, "ssh_port") else "-"
                print(f"{name:16} {status:10} {port}")
    except (LabError, ValueError) as err:
        print(f"lab: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
