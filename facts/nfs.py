"""NFS facts: can this kernel mount NFS, and what is mounted at the secondary mount point."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import PACKAGE_DATABASES, Section, key_values, mount_line, parse_mount, quote, remembered


def nfs_module_command() -> str:
    """Whether the running kernel could load nfs (asked only while it has not):
    its modules change with a package (a kernel's, or DKMS's build) or a boot,
    and ``modprobe`` costs about 1.2 ms of each probe."""
    return remembered(
        "nfs-module",
        "if modprobe -n -q nfs 2>/dev/null; then echo 'kernel: module'; else echo 'kernel: none'; fi",
        watched=PACKAGE_DATABASES,
    )


def nfs_client_command(mount_point: str) -> str:
    path = quote(mount_point)
    return (
        # nfs among the kernel's filesystems ("nodev<TAB>nfs"), read by the shell.
        "k=; while read -r a b || [ -n \"$a\" ]; do [ \"$a\" = nfs ] || [ \"$b\" = nfs ] "
        "&& { k=nfs; break; }; done < /proc/filesystems 2>/dev/null; "
        f"if [ -n \"$k\" ]; then echo 'kernel: builtin'; else {nfs_module_command()}; fi; "
        "if command -v mount.nfs >/dev/null 2>&1; then echo 'helper: yes'; else echo 'helper: no'; fi; "
        f"if [ -d {path} ]; then echo 'exists: yes'; else echo 'exists: no'; fi; "
        + mount_line(mount_point)
    )


def parse_nfs_client(lines: list[str]) -> dict:
    """``kernel``: ``builtin`` (nfs in /proc/filesystems), ``module`` (loadable)
    or ``none``; ``helper``: mount.nfs installed; what is mounted at the mount point."""
    values = key_values(lines)
    mount = parse_mount(values.get("mount", ""))
    kernel = values.get("kernel", "none")
    return {
        "kernel": kernel,
        "supported": kernel in ("builtin", "module"),
        "helper": values.get("helper") == "yes",
        "exists": values.get("exists") == "yes",
        "mounted": bool(mount),
        "source": mount.get("source"),
        "fstype": mount.get("fstype"),
    }


def nfs_client_section(mount_point: str) -> Section:
    return Section("nfs_client", nfs_client_command(mount_point), parse_nfs_client)


class NfsClient(FactBase):
    """
    NFS client support of the running kernel and the mount at ``mount_point``.

    .. code:: python

        {"kernel": "module", "supported": True, "helper": True, "exists": True,
         "mounted": True, "source": "172.30.10.11:/data01/secondary", "fstype": "nfs4"}
    """

    def command(self, mount_point="/secondary"):
        return nfs_client_command(mount_point)

    def process(self, output):
        return parse_nfs_client(output)


def describe_unsupported(state: dict) -> str:
    """Why the kernel cannot mount NFS, in words for a warning."""
    return ("this kernel has no NFS client ('nfs' is not in /proc/filesystems and no nfs "
            "module can be loaded)")
