"""GRUB, live: a regeneration that fails undoes the edit of the GRUB defaults,
so the next run tries again instead of calling the host configured.

Containers boot no kernel of their own: update-grub cannot find the root
device here and fails, which is exactly the failure to stage. (Successful
regeneration and the reboot are not testable in the lab; see docs/testing.md.)
"""

import lab

from .conftest import deploy

GRUB = "/etc/default/grub"


def test_a_failed_grub_regeneration_undoes_the_edit(lab_up):
    # Only kvm03 is deployed here: only kvm03 needs to be as installed.
    lab.reset(only=["kvm03"])
    rc, out = lab.exec("kvm03", "mkdir -p /boot/grub && echo '# placeholder' > /boot/grub/grub.cfg")
    assert rc == 0, out
    try:
        rc, original = lab.exec("kvm03", ["cat", GRUB])
        run = deploy("--limit", "kvm03")
        assert run.returncode != 0, run.output
        assert "GRUB was not regenerated: the edit of /etc/default/grub is undone" in run.output
        rc, after = lab.exec("kvm03", ["cat", GRUB])
        assert after == original
        rc, backups = lab.exec("kvm03", f"ls {GRUB}.[0-9]*")
        assert rc == 0 and backups.strip(), "the edited file was not backed up first"
    finally:
        lab.exec("kvm03", "rm -f /boot/grub/grub.cfg")
