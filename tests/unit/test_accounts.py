"""When the role account already matches, the deploy reads nothing more."""

import hashlib

import pytest

from operations.accounts import account_matches, sudoers_rule

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEr0Wd8aZ1dm6Uq3UwM3ZiJ0m6yO5Z3y7V2n0cTm1k2a admin@mgmt01"


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


def current(**overrides):
    state = {"exists": True, "home": "/home/kvm-mgr", "shell": "/bin/bash",
             "groups": ["kvm-mgr", "kvm", "libvirt"], "ssh_dir": ["700", "kvm-mgr"],
             "keys": ["600", "kvm-mgr", sha1(KEY + "\n")],
             "sudoers": ["440", "root", "root", sha1(sudoers_rule("kvm-mgr"))]}
    return {**state, **overrides}


def test_matching_account():
    assert account_matches(current(), "kvm-mgr", [KEY], ["libvirt", "kvm"], True)


@pytest.mark.parametrize(
    "overrides, sudo",
    [
        ({"exists": False}, True),
        ({"groups": ["kvm-mgr", "kvm"]}, True),
        ({"keys": ["600", "kvm-mgr", sha1(KEY + "\nssh-ed25519 AAAA stray\n")]}, True),
        ({"keys": ["644", "kvm-mgr", sha1(KEY + "\n")]}, True),
        ({"ssh_dir": ["755", "kvm-mgr"]}, True),
        ({"sudoers": ["644", "root", "root", sha1(sudoers_rule("kvm-mgr"))]}, True),
        ({"sudoers": []}, True),
        ({}, False),  # sudo turned off: the drop-in must go
        ({"shell": "/bin/sh"}, True),
        # Debian's sshd also reads authorized_keys2: a key there would log in too.
        ({"keys2": sha1("ssh-ed25519 AAAA stray\n")}, True),
    ],
)
def test_any_difference_hands_over_to_the_full_operation(overrides, sudo):
    assert not account_matches(current(**overrides), "kvm-mgr", [KEY], ["libvirt", "kvm"], sudo)


def test_no_probe_means_no_shortcut():
    assert not account_matches(None, "kvm-mgr", [KEY], ["libvirt"], True)
