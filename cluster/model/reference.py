"""The configuration reference (docs/configuration.md), generated from the model.

    python -m cluster.model.reference            # rewrite docs/configuration.md
    python -m cluster.model.reference --check    # exit 1 if it differs from the model

Every key's default, where it acts, whether it is one value for the whole
cluster and what it does come from its :class:`cluster.model.fields.Field`: the
documentation cannot drift from what the model accepts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import kvm as config_kvm
from . import management as config_management
from . import network as config_network
from . import storage as config_storage
from .settings import BASE_FIELDS

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

SECTIONS = (
    ("General, role account, preflight and IOMMU", BASE_FIELDS),
    ("Network", config_network.FIELDS),
    ("KVM and libvirt", config_kvm.FIELDS),
    ("Storage and NFS", config_storage.FIELDS),
    ("Management plane", config_management.FIELDS),
)

HEADER = """# Configuration reference

Generated from the model (`cluster/model/settings.py`, `cluster/model/*.py`) by
`python -m cluster.model.reference`; a test fails when this file and the model disagree.

All configuration is data, merged by pyinfra (later wins): `group_data/all.py`,
`group_data/<group>.py`, host data in the inventory, `--data key=value` for one run. Every
host is checked before the first operation; each refusal names the host, the key, the value as
written, where it was written and why. A key acts on the hosts its "acts on" column names:
written for a group or a host where it acts on nothing, it is refused (in `all.py` it is a
default for everyone). A key marked *one value* must be the same on every host it acts on.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    lines = [HEADER]
    for title, fields in SECTIONS:
        lines += [f"## {title}", "", "| key | default | acts on | meaning |", "| --- | --- | --- | --- |"]
        for spec in fields:
            meaning = spec.help + ("; *one value for the whole cluster*" if spec.cluster_wide else "")
            default = spec.shown_default or f"`{spec.default!r}`"
            lines.append(f"| `{spec.key}` | {_cell(default)} | {_cell(spec.where)} | {_cell(meaning)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.model.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 on a difference")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOCUMENT.read_text() if DOCUMENT.exists() else ""
        if current != text:
            print(f"{DOCUMENT} differs from the model: run python -m cluster.model.reference", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text)
    print(DOCUMENT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
