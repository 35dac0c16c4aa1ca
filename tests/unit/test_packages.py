"""The packages section of the probe."""

import shutil
import subprocess

import pytest

from facts.packages import packages_command, parse_packages


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="this machine has no dpkg (the probe's Debian branch)")
def test_backend_only_packages_are_not_looked_up_in_the_archive():
    """The packages section, run by this machine's own shell and dpkg: a name
    in ``no_lookup`` is reported as such, never asked of the archive."""
    command = packages_command({"debian": ["dpkg", "kvm-cluster-absent-a", "kvm-cluster-absent-b"]},
                               no_lookup={"debian": ["kvm-cluster-absent-a"]})
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    lines = output.splitlines()
    assert "not looked up: kvm-cluster-absent-a" in lines
    assert "missing: kvm-cluster-absent-b" in lines
    assert any(line.startswith("installed: dpkg ") for line in lines)
    parsed = parse_packages(lines)
    assert parsed["missing"] == ["kvm-cluster-absent-b"] and "kvm-cluster-absent-a" not in parsed["available"]
    # Without no_lookup the command is the one the fact fixtures hold.
    assert "not looked up" not in packages_command({"debian": ["dpkg"]})
