"""Account facts: the role account as the deploy would leave it, in one probe."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, key_values, quote


SUDOERS_DIR = "/etc/sudoers.d"


def home_dir(user: str) -> str:
    return f"/home/{user}"


def sudoers_path(user: str) -> str:
    """The role account's sudo drop-in (sudo skips names with a dot: keep it plain)."""
    return f"{SUDOERS_DIR}/kvm-cluster-{user}"


def account_command(user: str) -> str:
    home_ssh = f"{home_dir(user)}/.ssh"
    keys = f"{home_ssh}/authorized_keys"
    keys2 = f"{home_ssh}/authorized_keys2"
    sudoers = sudoers_path(user)
    u = quote(user)
    return (
        f"echo \"passwd: $(getent passwd {u})\"; "
        f"echo \"groups: $(id -nG {u} 2>/dev/null)\"; "
        f"echo \"ssh_dir: $(stat -c '%a %U' {home_ssh} 2>/dev/null)\"; "
        f"echo \"keys: $(stat -c '%a %U' {keys} 2>/dev/null) $(sha1sum {keys} 2>/dev/null | cut -d' ' -f1)\"; "
        # Debian's and Ubuntu's sshd also read authorized_keys2 (AuthorizedKeysFile).
        f"echo \"keys2: $(sha1sum {keys2} 2>/dev/null | cut -d' ' -f1)\"; "
        f"echo \"sudoers: $(stat -c '%a %U %G' {sudoers} 2>/dev/null) "
        f"$(sha1sum {sudoers} 2>/dev/null | cut -d' ' -f1)\""
    )


def parse_account(lines: list[str]) -> dict:
    """Parse the account section: passwd entry, groups, and the files' mode, owner, sha1."""
    values = key_values(lines)
    passwd = values.get("passwd", "").split(":")
    return {
        "exists": len(passwd) >= 7,
        "home": passwd[5] if len(passwd) >= 7 else None,
        "shell": passwd[6] if len(passwd) >= 7 else None,
        "groups": values.get("groups", "").split(),
        "ssh_dir": values.get("ssh_dir", "").split(),
        "keys": values.get("keys", "").split(),
        "keys2": values.get("keys2") or None,
        "sudoers": values.get("sudoers", "").split(),
    }


def account_section(user: str) -> Section:
    return Section("account", account_command(user), parse_account)


class RoleAccount(FactBase):
    """
    The role account's state: ``{"exists": True, "home": "/home/kvm-mgr", "shell": "/bin/bash",
    "groups": ["kvm-mgr", "kvm", "libvirt"], "ssh_dir": ["700", "kvm-mgr"],
    "keys": ["600", "kvm-mgr", "<sha1>"], "sudoers": ["440", "root", "root", "<sha1>"]}``.
    """

    def command(self, user="kvm-mgr"):
        return account_command(user)

    def process(self, output):
        return parse_account(output)
