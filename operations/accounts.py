"""The role account: the user the management node and kvm-mgr log in as.

The seed: "a good practice is to use a role account as the user with access
rights to manage KVM hosts ... there is no need to use the root account".
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.operations import files, server

from facts.accounts import home_dir, sudoers_path

from ._files import before_upload, checked_content, sha1
from ._probe import section


BACKUP_DIR = "/var/backups/kvm-cluster"


def sudoers_rule(user: str) -> str:
    """The sudo drop-in for the role account (passwordless: it logs in by key only)."""
    return (
        "# Managed by kvm-cluster: the role account manages KVM hosts.\n"
        f"{user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    )


def account_matches(current: dict | None, user: str, public_keys: list[str], groups: list[str],
                    sudo: bool) -> bool:
    """Is the account already exactly as :func:`role_account` leaves it?

    ``current`` is the ``account`` part of ``facts.host.HostProbe``. A match
    lets the deploy skip pyinfra's user, group and file operations, which read
    about a dozen facts (one SSH command each) even when nothing changes; a
    mismatch, or no ``current``, hands over to them.
    """
    if not current or not current["exists"]:
        return False
    keys = "\n".join(public_keys) + "\n"
    sudoers_ok = (current["sudoers"] == ["440", "root", "root", sha1(sudoers_rule(user))]
                  if sudo else current["sudoers"] == [])
    return (
        current["home"] == home_dir(user)
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
      (the account as the host has it, ``facts.accounts.RoleAccount``);
      when it already matches, nothing else is read from the host

    **Example:**

    .. code:: python

        accounts.role_account(
            user="kvm-mgr",
            public_keys=["ssh-ed25519 AAAA... admin@mgmt01"],
            groups=["libvirt", "kvm"],
        )
    """
    account = section(current, "account")
    if account_matches(account, user, public_keys, groups, sudo):
        host.noop(f"role account {user} is up to date")
        return

    for group in groups:
        yield from server.group._inner(group=group, system=True)

    yield from server.user._inner(
        user=user,
        home=home_dir(user),
        shell="/bin/bash",
        groups=list(groups),
        create_home=True,
        public_keys=list(public_keys),
        delete_keys=True,
    )
    if account and account.get("keys2"):
        # Keys of its own: only public_keys may log in; nothing is lost.
        keys2 = f"{home_dir(user)}/.ssh/authorized_keys2"
        backup = f"{BACKUP_DIR}/{user}.authorized_keys2.{account['keys2'][:12]}"
        yield StringCommand("mkdir -p", BACKUP_DIR, "&& chmod 700", BACKUP_DIR, "&& mv -f",
                            QuoteString(keys2), QuoteString(backup))

    path = sudoers_path(user)
    if not sudo:
        yield from files.file._inner(path=path, present=False)
        return

    rule = sudoers_rule(user)
    upload = files.put._inner(src=StringIO(rule), dest=path, user="root", group="root", mode="440")
    # The very same content is checked with visudo before it is installed.
    yield from before_upload(upload, [checked_content(rule, "visudo -cf {} >/dev/null")])
