"""Capture a fact fixture from a lab host: the fact's own command, run there over
SSH as pyinfra runs it, and what it printed.

    python -m lab.capture HOST MODULE.FACT NAME [--why TEXT] [--arg KEY=JSON ...]

writes ``tests/facts/MODULE.FACT/NAME.yaml`` (command, output, the parsed fact),
its first line saying where and when it was captured, so that a fixture made
from a real host is told apart from one written by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from importlib import import_module
from pathlib import Path

import yaml

from . import lab

ROOT = Path(__file__).resolve().parents[1]


class _Dumper(yaml.SafeDumper):
    pass


def _string(dumper, data):
    style = '"' if ("\n" in data or "\t" in data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _string)


def capture(host: str, fact_path: str, name: str, why: str = "", args: dict | None = None) -> Path:
    module_name, fact_name = fact_path.rsplit(".", 1)
    fact = getattr(import_module(f"facts.{module_name}"), fact_name)()
    command = fact.command if isinstance(fact.command, str) else fact.command(**(args or {}))
    lab_host = lab.state()[host]
    run = lab.ssh(lab_host, f"sh -c {_quote(command)}", check=False)
    if run.returncode != 0:
        raise SystemExit(f"{host}: the fact's command failed ({run.returncode}): {run.stderr}")
    output = run.stdout
    value = fact.process(output.splitlines())
    today = datetime.date.today().isoformat()
    header = (f"# Captured {today} from lab host {host} (persona {lab_host.persona}) with "
              f"`python -m lab.capture`.{(' ' + why) if why else ''}\n")
    document = {}
    if args:
        document["arg"] = args
    document.update(command=command, output=output, fact=value)
    path = ROOT / "tests" / "facts" / fact_path / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.dump(document, Dumper=_Dumper, width=10**6, sort_keys=False,
                                       allow_unicode=True))
    return path


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.capture", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host")
    parser.add_argument("fact", help="MODULE.FACT, e.g. interfaces.Interfaces")
    parser.add_argument("name", help="the fixture's file name, without .yaml")
    parser.add_argument("--why", default="", help="what the host shows (goes into the header)")
    parser.add_argument("--arg", action="append", default=[], metavar="KEY=JSON")
    args = parser.parse_args(argv)
    fact_args = {}
    for pair in args.arg:
        key, _, value = pair.partition("=")
        fact_args[key] = json.loads(value)
    print(capture(args.host, args.fact, args.name, args.why, fact_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
