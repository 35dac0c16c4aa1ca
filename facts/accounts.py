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
    """The passwd entry, the groups, then one ``stat`` and one ``sha1sum`` for
    the account's files, put in order by awk (not a process or three per file)."""
    home_ssh = f"{home_dir(user)}/.ssh"
    keys = f"{home_ssh}/authorized_keys"
    # Debian's and Ubuntu's sshd also read authorized_keys2 (AuthorizedKeysFile).
    keys2 = f"{home_ssh}/authorized_keys2"
    sudoers = sudoers_path(user)
    u = quote(user)
    return (
        f"{{ echo \"P $(getent passwd {u})\"; echo \"G $(id -nG {u} 2>/dev/null)\"; "
        f"stat -c 'S %n %a %U %G' {home_ssh} {keys} {sudoers} 2>/dev/null; "
        f"sha1sum {keys} {keys2} {sudoers} 2>/dev/null; }} | awk "
        "'$1 == \"P\" {p = substr($0, 3); next} $1 == \"G\" {g = substr($0, 3); next} "
        "$1 == \"S\" {owner[$2] = $3 \" \" $4; group[$2] = $5; next} {sha[$2] = $1} "
        f"END {{print \"passwd: \" p; print \"groups: \" g; print \"ssh_dir: \" owner[\"{home_ssh}\"]; "
        f"print \"keys: \" owner[\"{keys}\"] \" \" sha[\"{keys}\"]; print \"keys2: \" sha[\"{keys2}\"]; "
        f"s = owner[\"{sudoers}\"]; if (s != \"\") s = s \" \" group[\"{sudoers}\"]; "
        f"print \"sudoers: \" s \" \" sha[\"{sudoers}\"]}}'"
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
