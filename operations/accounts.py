"""The role account: the user the management node and kvm-mgr log in as.

The seed: "a good practice is to use a role account as the user with access
rights to manage KVM hosts ... there is no need to use the root account".
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from facts.accounts import home_dir, sudoers_path

from ._batch import one_command
from ._files import checked_content, put_file, sha1
from ._probe import section


BACKUP_DIR = "/var/backups/kvm-cluster"


def sudoers_rule(user: str) -> str:
    """The sudo drop-in for the role account (passwordless: it logs in by key only)."""
    return (
        "# Managed by kvm-cluster: the role account manages KVM hosts.\n"
        f"{user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    )


def primary_group_unnamed(account: dict) -> bool:
    """Whether the account's primary group has no name: ``id -nG`` prints its
    number first (a ``useradd`` killed after it wrote /etc/passwd and before
    /etc/group leaves the user so; group names cannot be all digits)."""
    groups = account.get("groups") or []
    return bool(account.get("exists")) and bool(groups) and groups[0].isdigit()


def account_matches(current: dict | None, user: str, public_keys: list[str], groups: list[str],
                    sudo: bool) -> bool:
    """Is the account already exactly as :func:`role_account` leaves it?

    ``current`` is the ``account`` part of ``facts.host.HostProbe``: a match
    yields nothing; otherwise only the parts that differ are done, each in one
    command (no fact is read: the probe has read them all).
    """
    if not current or not current["exists"]:
        return False
    keys = "\n".join(public_keys) + "\n"
    sudoers_ok = (current["sudoers"] == ["440", "root", "root", sha1(sudoers_rule(user))]
                  if sudo else current["sudoers"] == [])
    return (
        not primary_group_unnamed(current)
        and current["home"] == home_dir(user)
        and current["shell"] == "/bin/bash"
        and set(groups) <= set(current["groups"])
        and current["ssh_dir"] == ["700", user]
        and current["keys"] == ["600", user, sha1(keys)]
        and not current.get("keys2")
        and sudoers_ok
    )


@operation()
def role_account(user: str, public_keys: list[str], groups: list[str], sudo: bool = True,
                 current: dict | None = None):
    """
    Ensure the role account: its groups, its SSH keys (only these), and sudo.

    + user: the account name, e.g. ``kvm-mgr``
    + public_keys: the SSH public keys allowed to log in (others are removed, and
      ``~/.ssh/authorized_keys2``, which Debian's and Ubuntu's sshd also read, is
      moved to ``/var/backups/kvm-cluster/``)
    + groups: secondary groups, created as system groups when missing
      (``libvirt`` and ``kvm`` before the KVM stack creates them is harmless)
    + sudo: install a passwordless sudo drop-in, checked with ``visudo -cf``
      before it is installed, so a bad rule can never lock sudo out
    + current: the host's state, as the probe reads it (``facts.host.HostProbe``): ``account``
      (the account as the host has it, ``facts.accounts.RoleAccount``):
      only what differs from it is changed

    **Example:**

    .. code:: python

        accounts.role_account(
            user="kvm-mgr",
            public_keys=["ssh-ed25519 AAAA... admin@mgmt01"],
            groups=["libvirt", "kvm"],
        )
    """
    account = section(current, "account") or {}
    if account_matches(account, user, public_keys, groups, sudo):
        host.noop(f"role account {user} is up to date")
        return
    yield from one_command(_account_commands(account, user, public_keys, groups, sudo))


def _account_commands(account: dict, user: str, public_keys: list[str], groups: list[str], sudo: bool):
    """Only what differs from the probe's ``account``, a command for each part."""
    home, u = home_dir(user), QuoteString(user)
    missing_groups = [group for group in groups if group not in account.get("groups", [])]
    # The secondary groups, created as system groups where missing.
    make_groups = StringCommand("for g in", *(QuoteString(group) for group in groups),
                                "; do getent group \"$g\" >/dev/null || groupadd --system \"$g\" || exit 1; done")
    if not account.get("exists"):
        # A group of the user's name left from before is its primary group
        # (useradd refuses to create it again); a home left from before is
        # handed to the user (sshd refuses keys in a home owned by another).
        yield StringCommand(
            make_groups, "&&",
            "if getent group", u, ">/dev/null; then set -- -g", u, "; else set -- -U; fi &&",
            "useradd -d", QuoteString(home), "-s /bin/bash -m", *(["-G", ",".join(groups)] if groups else []),
            '"$@"', u, "&&", "chown", f"{user}:", QuoteString(home))
    elif (unnamed := primary_group_unnamed(account)) or account.get("home") != home \
            or account.get("shell") != "/bin/bash" or missing_groups:
        # A primary group without a name: the user's own group again, under
        # the number its files carry, as useradd would have made it (a group
        # of its name under another number: that one).
        own_group = (["{ getent group", u, ">/dev/null || groupadd -g \"$(id -g", u, ')"', u, "; } &&"]
                     if unnamed else [])
        yield StringCommand(
            *own_group, make_groups, "&&", "usermod", *(["-g", u] if unnamed else []), "-d", QuoteString(home),
            "-s /bin/bash", *(["-a -G", ",".join(groups)] if groups else []), u)

    keys = "\n".join(public_keys) + "\n"
    if account.get("ssh_dir") != ["700", user] or account.get("keys") != ["600", user, sha1(keys)]:
        yield StringCommand("install -d -m 700 -o", u, "-g", u, QuoteString(f"{home}/.ssh"))
        # Only these keys may log in; the file they replace is kept, root's only.
        yield from put_file(f"{home}/.ssh/authorized_keys", keys, mode="600", user=user, group=user,
                            backup_dir=f"{BACKUP_DIR}/{user}")
    if account.get("keys2"):
        # Keys of its own: only public_keys may log in; nothing is lost.
        keys2 = f"{home}/.ssh/authorized_keys2"
        backup = f"{BACKUP_DIR}/{user}.authorized_keys2.{account['keys2'][:12]}"
        yield StringCommand("mkdir -p", BACKUP_DIR, "&& chmod 700", BACKUP_DIR, "&& mv -f",
                            QuoteString(keys2), QuoteString(backup))

    path = sudoers_path(user)
    if not sudo:
        if account.get("sudoers"):
            yield StringCommand("rm -f", QuoteString(path))
        return
    rule = sudoers_rule(user)
    if account.get("sudoers") != ["440", "root", "root", sha1(rule)]:
        # The very same content is checked with visudo before it is installed;
        # the old rule is kept out of /etc/sudoers.d (sudo would read it).
        yield from put_file(path, rule, mode="440", backup_dir=BACKUP_DIR,
                            check=checked_content(rule, "visudo -cf {} >/dev/null"))
