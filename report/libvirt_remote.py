"""libvirt over SSH from the management node, with libvirt-python.

The deploy's hosts are changed with pyinfra (``virsh`` on the host where
needed); checking them is done the way a management tool talks to libvirt:
``qemu+libssh://user@host/system`` (see :func:`uri`) and the libvirt API. Used by the readiness
report and the live tests.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode


def uri(user: str, host: str, port: int | None = None, keyfile: str | None = None,
        known_hosts: str | None = None) -> str:
    """The libvirt URI of a host's system daemon over SSH, host key checked.

    With ``known_hosts`` the transport is ``qemu+libssh://``: libvirt's plain
    ``qemu+ssh://`` runs the ssh binary and does not pass ``known_hosts`` to
    it (checked with libvirt 9.0: "Host key verification failed" with a
    correct file), so the host key could only be checked against the user's
    own ~/.ssh/known_hosts. libssh reads the given file, ``[host]:port``
    entries included, and refuses a host whose key differs. Without
    ``known_hosts``: ``qemu+ssh://`` and the user's OpenSSH configuration.

    >>> uri("kvm-mgr", "127.0.0.1", 2201, "/k", "/kh")
    'qemu+libssh://kvm-mgr@127.0.0.1:2201/system?keyfile=/k&known_hosts=/kh&sshauth=privkey'
    """
    netloc = f"{quote(user, safe='')}@{host}" + (f":{int(port)}" if port else "")
    params = {}
    if keyfile:
        params["keyfile"] = keyfile
    if known_hosts:
        params["known_hosts"] = known_hosts
        if keyfile:
            params["sshauth"] = "privkey"
    scheme = "qemu+libssh" if known_hosts else "qemu+ssh"
    query = f"?{urlencode(params, safe='/')}" if params else ""
    return f"{scheme}://{netloc}/system{query}"


def host_uri(host, user: str) -> str:
    """:func:`uri` for a pyinfra host, as its inventory data says to reach it."""
    data = host.data
    return uri(user, data.get("ssh_hostname") or host.name, data.get("ssh_port"), data.get("ssh_key"),
               data.get("ssh_known_hosts_file"))


def _target_path(xml: str) -> str | None:
    import xml.etree.ElementTree as ElementTree

    node = ElementTree.fromstring(xml).find("./target/path")
    return node.text if node is not None else None


def _pool_type(xml: str) -> str | None:
    import xml.etree.ElementTree as ElementTree

    return ElementTree.fromstring(xml).get("type")


def pools(connection_uri: str) -> list[dict]:
    """Every storage pool of the host: ``[{name, type, active, autostart, path}]``,
    sorted by name. Raises ``libvirt.libvirtError`` when the host cannot be reached."""
    import libvirt

    connection = libvirt.open(connection_uri)
    try:
        result = []
        for pool in connection.listAllStoragePools(0):
            xml = pool.XMLDesc(0)
            result.append({
                "name": pool.name(),
                "type": _pool_type(xml),
                "active": bool(pool.isActive()),
                "autostart": bool(pool.autostart()),
                "path": _target_path(xml),
            })
        return sorted(result, key=lambda row: row["name"])
    finally:
        connection.close()


def pool_problems(found: list[dict], name: str, path: str, autostart: bool = True) -> list[str]:
    """What is wrong with pool ``name`` in a :func:`pools` result ([] when
    it is an active, autostarted dir pool at ``path``)."""
    pool = next((row for row in found if row["name"] == name), None)
    if pool is None:
        return [f"pool {name} is not defined"]
    problems = []
    if pool.get("type", "dir") != "dir":
        problems.append(f"pool {name} is a {pool['type']} pool, not dir")
    if pool["path"] != path:
        problems.append(f"pool {name} is at {pool['path']}, not {path}")
    if not pool["active"]:
        problems.append(f"pool {name} is not active")
    if autostart and not pool["autostart"]:
        problems.append(f"pool {name} is not autostarted")
    return problems
