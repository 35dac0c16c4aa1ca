"""Account facts: the role account as the deploy would leave it, in one probe."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import USER_DATABASES, Section, quote, remembered


SUDOERS_DIR = "/etc/sudoers.d"


def home_dir(user: str) -> str:
    return f"/home/{user}"


def sudoers_path(user: str) -> str:
    """The role account's sudo drop-in (sudo skips names with a dot: keep it plain)."""
    return f"{SUDOERS_DIR}/kvm-cluster-{user}"


def account_files(user: str) -> tuple[str, str, str, str]:
    """The role account's ``.ssh`` directory, its two authorized keys files
    (Debian's and Ubuntu's sshd also read authorized_keys2: AuthorizedKeysFile)
    and its sudo drop-in."""
    home_ssh = f"{home_dir(user)}/.ssh"
    return home_ssh, f"{home_ssh}/authorized_keys", f"{home_ssh}/authorized_keys2", sudoers_path(user)


def account_watched(user: str) -> tuple[str, ...]:
    """What the account's state is remembered by (:func:`account_command`)."""
    return (*USER_DATABASES, *account_files(user))


def account_command(user: str) -> str:
    """The passwd entry, the groups, then one ``stat`` and one ``sha1sum`` for
    the account's files (not a process or three per file), remembered
    (facts._section.remembered) while the user databases and the account's
    files are the same; put together by :func:`parse_account`, on the
    management node. Users and groups from elsewhere than the files (LDAP,
    through nsswitch.conf) count as they were when last asked: the deploy
    makes the role account and its groups in the files."""
    home_ssh, keys, keys2, sudoers = account_files(user)
    u = quote(user)
    return remembered(
        "account",
        # printf, not echo: dash's echo would decode a backslash in the entry
        # (its GECOS). No such user (getent's 2) and missing files are
        # answers, remembered; any other failure is printed, not remembered.
        f"p=$(getent passwd {u}); s=$?; [ $s -ne 2 ] || s=0; printf 'P %s\\n' \"$p\"; "
        f"printf 'G %s\\n' \"$(id -nG {u} 2>/dev/null)\"; "
        f"set --; for p in {home_ssh} {keys} {sudoers}; do "
        "{ [ -e \"$p\" ] || [ -L \"$p\" ]; } && set -- \"$@\" \"$p\"; done; "
        "[ $# -eq 0 ] || stat -c 'S %a %U %G %n' -- \"$@\" 2>/dev/null || s=1; "
        f"set --; for p in {keys} {keys2} {sudoers}; do [ -e \"$p\" ] && set -- \"$@\" \"$p\"; done; "
        "[ $# -eq 0 ] || sha1sum -- \"$@\" 2>/dev/null || s=1; [ $s -eq 0 ]",
        watched=account_watched(user)) + "; true"


def _account_file(path: str) -> str | None:
    """Which of the account's files ``path`` is."""
    for suffix, name in (("/.ssh", "ssh_dir"), ("/.ssh/authorized_keys", "keys"),
                         ("/.ssh/authorized_keys2", "keys2")):
        if path.endswith(suffix):
            return name
    return "sudoers" if path.startswith(f"{SUDOERS_DIR}/") else None


def parse_account(lines: list[str]) -> dict:
    """Parse the account section: passwd entry (``P``), groups (``G``), the
    files' mode and owner (``S MODE USER GROUP PATH``) and sha1 (sha1sum's lines)."""
    passwd, groups = [], []
    owners: dict[str | None, list[str]] = {}
    digests: dict[str | None, str] = {}
    for line in lines:
        tag, _, rest = line.partition(" ")
        if tag == "P":
            passwd = rest.strip().split(":")
        elif tag == "G":
            groups = rest.split()
        elif tag == "S":
            fields = rest.split(" ", 3)
            if len(fields) == 4:
                owners[_account_file(fields[3])] = fields[:3]
        elif len(tag) == 40 and rest.startswith(" "):
            digests[_account_file(rest[1:])] = tag

    def state(name: str, fields: int) -> list[str]:
        return owners.get(name, [])[:fields] + ([digests[name]] if name in digests else [])

    return {
        "exists": len(passwd) >= 7,
        "home": passwd[5] if len(passwd) >= 7 else None,
        "shell": passwd[6] if len(passwd) >= 7 else None,
        "groups": groups,
        "ssh_dir": owners.get("ssh_dir", [])[:2],
        "keys": state("keys", 2),
        "keys2": digests.get("keys2"),
        "sudoers": state("sudoers", 3),
    }


def account_section(user: str) -> Section:
    return Section("account", account_command(user), parse_account, account_watched(user))


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
