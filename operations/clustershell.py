"""ClusterShell groups from the inventory, on the masters: ``clush -g kvm_nodes``, ``clush -a``.

The groups go to ``/etc/clustershell/groups``, the flat file of the
``local`` group source, which is the default source of ClusterShell's stock
``groups.conf`` (Debian, EPEL): when the file exists it is read instead of
``groups.d/local.cfg``. A YAML file under ``groups.d/`` would be a source of
its own, reachable only as ``@kvm-cluster:kvm_nodes``.
"""

from __future__ import annotations

from pyinfra.api import operation

from ._files import put_file
from ._log import or_noop
from ._probe import section
from ._render import render

GROUPS_PATH = "/etc/clustershell/groups"


def render_groups(groups: dict[str, list[str]]) -> str:
    """``{"kvm_nodes": ["kvm01", "kvm02"]}`` -> the groups file, one ``group: a,b`` a line,
    in the given order, empty groups left out; ``all`` (``clush -a``) is the ``all``
    given, or else every host named, in order of appearance."""
    lines = {group: list(names) for group, names in groups.items() if group != "all" and names}
    everyone = groups.get("all") or [name for names in lines.values() for name in names]
    lines["all"] = list(dict.fromkeys(everyone))
    return render("clustershell/groups.j2", groups=lines)


@operation()
def groups(content: str, current: dict | None = None, path: str = GROUPS_PATH):
    """
    Install the ClusterShell groups file.

    + content: the file (:func:`render_groups`)
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``files`` (the file's digest; nothing is done when it matches)
    + path: the ``local`` source's groups file

    **Example:**

    .. code:: python

        clustershell.groups(
            name="ClusterShell groups",
            content=clustershell.render_groups({"kvm_nodes": ["kvm01", "kvm02"]}),
            current=probe,
        )
    """
    files = section(current, "files", {})
    yield from or_noop(put_file(path, content, current=files.get(path)), f"{path} is in place")
