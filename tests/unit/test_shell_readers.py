"""The probe's readers that replace a process by the shell's own builtins
(facts._section.print_file, the GRUB assignments, the rollback state), run for
real in this machine's /bin/sh and compared with the tools they replace."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from facts import _section, iommu

from .stand_ins import stand_in_tools, translated


def sh(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True)


@pytest.mark.parametrize("text", [
    "one\ntwo\n",
    "no newline at the end",
    "  leading spaces\n\ttab\\backslash \\n kept\n\n\nblank lines\n",
    "",
])
def test_print_file_prints_what_cat_prints(tmp_path, text):
    path = tmp_path / "f"
    path.write_text(text)
    printed = sh(_section.print_file(_section.quote(str(path))))
    assert printed.returncode == 0 and printed.stderr == ""
    expected = sh(f"cat {path}").stdout
    # The one difference: a last line without a newline gets one.
    assert printed.stdout == (expected if not expected or expected.endswith("\n") else expected + "\n")


def test_print_file_of_a_missing_file_prints_nothing(tmp_path):
    printed = sh(_section.print_file(str(tmp_path / "missing")) + "; echo after")
    assert printed.stdout == "after\n" and printed.stderr == ""


def test_grub_assignments_are_what_grep_finds(tmp_path):
    """Every GRUB_CMDLINE_LINUX(_DEFAULT)= line, in file order, main file first
    then grub.d/*.cfg sorted, as ``grep -sH`` prints them (FILE:LINE)."""
    grub = tmp_path / "grub"
    grub.write_text('# GRUB_CMDLINE_LINUX="commented"\nGRUB_DEFAULT=0\n'
                    'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n  GRUB_CMDLINE_LINUX="indented"\n'
                    'GRUB_CMDLINE_LINUX="a b"\nGRUB_CMDLINE_LINUX_DEFAULTX=1\n'
                    'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX c"')  # no newline at the end
    (tmp_path / "grub.d").mkdir()
    (tmp_path / "grub.d" / "50.cfg").write_text(
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt"\n')
    (tmp_path / "grub.d" / "10.cfg").write_text('GRUB_CMDLINE_LINUX=""\n')
    (tmp_path / "grub.d" / "ignored.conf").write_text('GRUB_CMDLINE_LINUX="no"\n')
    command = iommu.IOMMU_COMMAND.replace(iommu.GRUB_DEFAULT, str(grub))
    assigned = [line for line in sh(command).stdout.splitlines() if line.startswith("assign: ")]
    grep = sh(f"grep -sH -E '^(GRUB_CMDLINE_LINUX|GRUB_CMDLINE_LINUX_DEFAULT)=' {grub} {grub}.d/*.cfg")
    assert assigned == ["assign: " + line for line in grep.stdout.splitlines()]
    assert len(assigned) == 5
    parsed = iommu.parse_iommu(assigned)["grub"]
    assert parsed["GRUB_CMDLINE_LINUX"] == {"value": "", "file": f"{grub}.d/10.cfg"}
    assert parsed["GRUB_CMDLINE_LINUX_DEFAULT"] == {"value": "quiet iommu=pt", "file": f"{grub}.d/50.cfg"}


def test_network_files_digests_and_names(tmp_path):
    """The interfaces section's @files part: each config file's sha1 and the
    interface names it mentions (whole words), by sha1sum, grep and one awk."""
    import hashlib

    from facts import interfaces

    etc = tmp_path / "network"
    (etc / "interfaces.d").mkdir(parents=True)
    main = etc / "interfaces"
    main.write_text("source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n")
    stanza = etc / "interfaces.d" / "br 0"  # a space in the name
    stanza.write_text("auto br0\niface br0 inet static\n  bridge_ports eth0 bond0x\n")
    command = (interfaces.INTERFACES.command.replace("/etc/network", str(etc))
               .replace(_section.REMEMBERED_DIR, str(tmp_path / "probe")))

    def files():
        return interfaces.parse_interfaces(sh(command).stdout.splitlines())["files"]

    found = files()
    assert found[str(main)] == {"sha1": hashlib.sha1(main.read_bytes()).hexdigest(), "names": ["lo"]}
    assert found[str(stanza)]["sha1"] == hashlib.sha1(stanza.read_bytes()).hexdigest()
    # br0 is always looked for; eth0 only where this machine has an eth0; bond0x is no name.
    assert {"br0"} <= set(found[str(stanza)]["names"]) <= {"br0", "eth0"}
    # Remembered while the files are the same; a file rewritten is read again.
    assert len(list((tmp_path / "probe").glob("network-files-*.sh"))) == 1
    assert files() == found
    main.write_text("auto br0\n")
    assert files()[str(main)] == {"sha1": hashlib.sha1(b"auto br0\n").hexdigest(), "names": ["br0"]}


# Counts the runs of sha1sum (an answer asked again) and of the stat that
# keys (stat's format of the watched files), each into its own file.
_COUNTED = {
    "sha1sum": '#!/bin/sh\necho ran >> "$RUNS.sha1sum"\nexec /usr/bin/sha1sum "$@"\n',
    "stat": ('#!/bin/sh\ncase "$3" in \'%n %i %s %z %y|\') echo ran >> "$RUNS.stat";; esac\n'
             'exec /usr/bin/stat "$@"\n'),
}


def _count(path) -> int:
    return path.read_text().count("ran") if path.exists() else 0


@pytest.mark.parametrize("in_the_probe", [True, False], ids=["in the probe", "on its own"])
def test_network_files_are_digested_again_when_one_changes_appears_or_goes(tmp_path, in_the_probe):
    """The @files part's digests, remembered: keyed by the stat of the config
    patterns' matches, taken from the probe's one stat in a probe (one stat a
    run, no other) and by a stat of its own on its own; asked again (sha1sum
    runs) on each change. The main file is also a watched file of the probe
    (as a managed file would be): its record must reach the key all the same.
    Another section's matches changing does not ask again."""
    from facts import interfaces

    etc = tmp_path / "network"
    (etc / "interfaces.d").mkdir(parents=True)
    main = etc / "interfaces"
    main.write_text("auto lo\n")
    (etc / "interfaces.d" / "a").write_text("auto br0\n")
    (tmp_path / "units").mkdir()
    tools = stand_in_tools(tmp_path, _COUNTED)
    command = (interfaces.INTERFACES.command.replace("/etc/network", str(etc))
               .replace(_section.REMEMBERED_DIR, str(tmp_path / "probe")))
    if in_the_probe:
        globs = tuple(g.replace("/etc/network", str(etc)) for g in interfaces.INTERFACES.watched_matches)
        command = _section.watched_prelude(
            ("/etc/hostname", str(main)),
            [("services", (f"{tmp_path}/units/*",)), ("interfaces", globs)]) + "; " + command
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "RUNS": str(tmp_path / "runs")}

    def files():
        stats = _count(tmp_path / "runs.stat")
        run = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)
        assert run.stderr == ""
        assert _count(tmp_path / "runs.stat") - stats == 1  # the probe's, or the section's own
        return interfaces.parse_interfaces(run.stdout.splitlines())["files"], _count(tmp_path / "runs.sha1sum")

    def later():
        time.sleep(0.02)

    found, runs = files()
    assert sorted(found) == [str(main), str(etc / "interfaces.d" / "a")] and runs == 1
    assert files() == (found, 1)  # served again
    (tmp_path / "units" / "x.service").write_text("")  # another section's match
    assert files() == (found, 1)
    later()
    main.write_text("auto LO\n")  # the same size, in place
    assert files()[1] == 2
    later()
    (etc / "interfaces.d" / "b").write_text("auto eth0\n")
    found, runs = files()
    assert str(etc / "interfaces.d" / "b") in found and runs == 3
    (etc / "interfaces.d" / "a").unlink()
    found, runs = files()
    assert str(etc / "interfaces.d" / "a") not in found and runs == 4
    assert files()[1] == 4


def test_the_probes_stat_leaves_each_sections_matches_in_its_own_variable(tmp_path):
    """As a stat of the same words prints them (so an entry keyed by them is
    the same in the probe and on its own), apart from the watched files and
    from the other section's."""
    for name in ("x.conf", "y.conf", "z.unit"):
        (tmp_path / name).write_text("")
    words = (f"{tmp_path}/*.conf", f"{tmp_path}/none*")
    prelude = _section.watched_prelude((str(tmp_path / "x.conf"),),
                                       [("one", words), ("two", (f"{tmp_path}/*.unit",))])
    variable = _section._stat_variable(str(tmp_path / "x.conf"))
    in_probe = sh(prelude + f'; {_section.matches_stat("one", words)}; '
                  f'printf "%s\\n" "${variable}" "$_kc_m" "$_kc_g_two"').stdout.splitlines()
    on_its_own = sh(_section.matches_stat("one", words) + '; printf "%s\\n" "$_kc_m"').stdout.splitlines()
    watched, one, two = in_probe
    assert watched.startswith(f"{tmp_path}/x.conf ")
    # Both matches, x.conf too (a watched file); nothing for the pattern that matches none.
    assert [record.split()[0] for record in one.split("|") if record] == [
        f"{tmp_path}/x.conf", f"{tmp_path}/y.conf"]
    assert on_its_own == [one]
    assert [record.split()[0] for record in two.split("|") if record] == [f"{tmp_path}/z.unit"]
    with pytest.raises(ValueError):
        _section.watched_prelude((), [("one", ("/etc/$(reboot)",))])
    with pytest.raises(ValueError):
        _section.watched_prelude((), [("a-b", ("/etc/x",))])


def _network_probe(tmp_path, etc, in_the_probe, other=None):
    """The interfaces section (its network files under ``etc``), in a probe
    (with a services section's pattern ``other`` before it) or on its own."""
    from facts import interfaces

    command = (interfaces.INTERFACES.command.replace("/etc/network", str(etc))
               .replace(_section.REMEMBERED_DIR, str(tmp_path / "probe")))
    if in_the_probe:
        globs = tuple(g.replace("/etc/network", str(etc)) for g in interfaces.INTERFACES.watched_matches)
        command = _section.watched_prelude(
            ("/etc/hostname",), [("services", (other or f"{tmp_path}/none/*",)), ("interfaces", globs)]
        ) + "; " + command
    return command


def test_the_probe_and_the_section_on_its_own_share_one_entry(tmp_path):
    """Digested once: in a probe, then by the section run on its own (a fact),
    then in a probe again; a name with spaces among the files."""
    etc = tmp_path / "network"
    (etc / "interfaces.d").mkdir(parents=True)
    (etc / "interfaces").write_text("auto lo\n")
    (etc / "interfaces.d" / "a b").write_text("auto br0\n")
    tools = stand_in_tools(tmp_path, _COUNTED)
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "RUNS": str(tmp_path / "runs")}
    for in_the_probe in (True, False, True):
        run = subprocess.run(["sh", "-c", _network_probe(tmp_path, etc, in_the_probe)],
                             capture_output=True, text=True, env=env)
        assert run.stderr == "" and str(etc / "interfaces.d" / "a b") in run.stdout
    assert _count(tmp_path / "runs.sha1sum") == 1


def test_a_name_that_fakes_the_marker_leaves_each_section_to_its_own_stat(tmp_path):
    """A match whose path holds stat's separator and then the marker's name
    (a directory ``x|`` matched by a pattern ending in ``/.``): the probe's
    records cannot be cut right; the sections' variables are unset and each
    key is its own stat, so a network file's change is still seen."""
    etc = tmp_path / "network"
    (etc / "interfaces.d").mkdir(parents=True)
    (etc / "interfaces").write_text("auto lo\n")
    (tmp_path / "units" / "x|").mkdir(parents=True)
    tools = stand_in_tools(tmp_path, _COUNTED)
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "RUNS": str(tmp_path / "runs")}
    command = _network_probe(tmp_path, etc, True, other=f"{tmp_path}/units/*/.")
    marked = sh(command.split("; echo '@ip'")[0] + '; echo "[${_kc_g_interfaces+set}]"').stdout
    assert marked.strip().endswith("[]"), marked  # unset: cut wrong, left to its own stat

    def digests():
        run = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)
        assert run.stderr == ""
        return _count(tmp_path / "runs.sha1sum")
    assert digests() == 1
    assert digests() == 1
    time.sleep(0.02)
    (etc / "interfaces").write_text("auto LO\n")
    assert digests() == 2


def test_a_stat_that_answers_nothing_keeps_nothing(tmp_path):
    """No stat (or one that prints nothing for the key's format): the key
    would never change, so the digests are asked every time."""
    etc = tmp_path / "network"
    (etc / "interfaces.d").mkdir(parents=True)
    (etc / "interfaces").write_text("auto lo\n")
    tools = stand_in_tools(tmp_path, {
        "sha1sum": _COUNTED["sha1sum"],
        "stat": '#!/bin/sh\ncase "$3" in \'%n %i %s %z %y|\') exit 1;; esac\nexec /usr/bin/stat "$@"\n'})
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "RUNS": str(tmp_path / "runs")}
    for in_the_probe in (True, False, True, False):
        subprocess.run(["sh", "-c", _network_probe(tmp_path, etc, in_the_probe)], env=env, check=True,
                       capture_output=True)
    assert _count(tmp_path / "runs.sha1sum") == 4
    assert not list((tmp_path / "probe").glob("network-files-*.sh"))


def test_links_and_both_default_routes_from_one_ip_are_what_three_ips_give(tmp_path):
    """The interfaces section's one ``ip -batch`` (in a here-document) against
    the three ip runs it replaces, on this machine's own links and routes
    (veth links left out: Docker makes and removes them as it likes)."""
    import json

    from facts import interfaces

    def ip(*args):
        return json.loads(subprocess.run(["ip", "-j", *args], capture_output=True, text=True,
                                         check=True).stdout or "[]")

    def first_default(routes):
        found = [r for r in routes if r.get("gateway")]
        return {"gateway": found[0]["gateway"], "dev": found[0].get("dev")} if found else None

    default4 = first_default(ip("-4", "route", "show", "default"))
    if default4 is None:
        pytest.skip("this machine has no IPv4 default route to compare")
    run = sh(interfaces.INTERFACES.command.replace(_section.REMEMBERED_DIR, str(tmp_path / "probe")))
    assert run.returncode == 0, run.stderr
    parsed = interfaces.parse_interfaces(run.stdout.splitlines())
    assert sorted(name for name, link in parsed["links"].items() if link["kind"] != "veth") == sorted(
        link["ifname"] for link in ip("-d", "addr", "show")
        if (link.get("linkinfo") or {}).get("info_kind") != "veth")
    assert parsed["default4"] == default4
    assert parsed["default6"] == first_default(ip("-6", "route", "show", "default"))


def test_default_routes_of_other_tables_and_a_broken_tail_are_left_out():
    from facts import interfaces

    lines = ["@ip",
             '[{"ifname":"eno1","flags":["UP"],"addr_info":[]}]',
             '[{"dst":"default","gateway":"10.9.9.1","dev":"eno2","table":"100"},'
             '{"dst":"default","gateway":"fe80::1","dev":"eno1","table":"main"},'
             '{"dst":"default","dev":"wg0","table":"main"},'
             '{"dst":"default","gateway":"10.0.0.1","dev":"eno1","table":"main"}]',
             '[{"dst":"default","gateway":"10.',
             "@tools", "ifup"]
    parsed = interfaces.parse_interfaces(lines)
    assert list(parsed["links"]) == ["eno1"]
    assert parsed["default4"] == {"gateway": "10.0.0.1", "dev": "eno1"}
    assert parsed["default6"] == {"gateway": "fe80::1", "dev": "eno1"}
    assert parsed["tools"] == ["ifup"]


def test_role_account_files_read_by_one_stat_and_one_sha1sum(tmp_path, monkeypatch):
    """The account section, run for real on files laid out as the deploy leaves
    them (the account itself: this machine's root, which exists everywhere)."""
    import hashlib
    import os

    from facts import accounts

    home = tmp_path / "home"
    monkeypatch.setattr(accounts, "home_dir", lambda user: str(home))
    monkeypatch.setattr(accounts, "SUDOERS_DIR", str(tmp_path / "sudoers.d"))
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh").chmod(0o700)
    keys = home / ".ssh" / "authorized_keys"
    keys.write_text("ssh-ed25519 AAAA one\n")
    keys.chmod(0o600)
    (tmp_path / "sudoers.d").mkdir()
    sudoers = tmp_path / "sudoers.d" / "kvm-cluster-root"
    sudoers.write_text("root ALL=(ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    user = __import__("pwd").getpwuid(os.getuid()).pw_name
    group = __import__("grp").getgrgid(os.getgid()).gr_name
    command = accounts.account_command("root").replace("kvm-cluster-root", sudoers.name)
    found = accounts.parse_account(sh(command).stdout.splitlines())
    assert found["exists"] and found["home"] == "/root" and "root" in found["groups"]
    assert found["ssh_dir"] == ["700", user]
    assert found["keys"] == ["600", user, hashlib.sha1(keys.read_bytes()).hexdigest()]
    assert found["keys2"] is None
    assert found["sudoers"] == ["440", user, group, hashlib.sha1(sudoers.read_bytes()).hexdigest()]
    keys.unlink()
    (home / ".ssh" / "authorized_keys2").write_text("ssh-ed25519 AAAA two\n")
    found = accounts.parse_account(sh(command).stdout.splitlines())
    assert found["keys"] == [] and found["keys2"] == hashlib.sha1(b"ssh-ed25519 AAAA two\n").hexdigest()


def test_a_backslash_in_the_account_entry_is_kept(tmp_path, monkeypatch):
    """A GECOS field with a backslash (``KVM\\cluster``): printed as it is (dash's
    ``echo`` stops its output at ``\\c``, losing the home and the shell)."""
    from facts import accounts

    tools = stand_in_tools(tmp_path, {"getent": "#!/bin/sh\nprintf '%s\\n' 'kvm-mgr:x:1001:1001:KVM\\cluster:/home/kvm-mgr:/bin/bash'\n",
                              "id": "#!/bin/sh\necho kvm-mgr libvirt\n"})
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    found = accounts.parse_account(sh(accounts.account_command("kvm-mgr")).stdout.splitlines())
    assert found["exists"] and found["home"] == "/home/kvm-mgr" and found["shell"] == "/bin/bash"
    assert found["groups"] == ["kvm-mgr", "libvirt"]


def test_printed_at_once_holds_the_output_until_the_command_ends():
    """The first read of the output already holds the line printed after a
    pause: nothing was written before the command ended (printed line by line,
    the first read gets the first line alone)."""
    import ast
    import sys

    # A pause long enough that the first read, here, is never that late.
    lines = "printf 'first\\n'; sleep 1; printf 'second\\n'"
    # Read in a Python of its own: this session's gevent changes subprocess's pipes.
    reader = (
        "import os, subprocess, sys\n"
        "process = subprocess.Popen(['sh', '-c', sys.argv[1]], stdout=subprocess.PIPE)\n"
        "first = os.read(process.stdout.fileno(), 65536)\n"
        "print(repr((first, first + process.stdout.read())))\n"
        "process.wait()\n")

    def first_read(command):
        done = subprocess.run([sys.executable, "-c", reader, command], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return ast.literal_eval(done.stdout)

    assert first_read(lines) == (b"first\n", b"first\nsecond\n")
    chunk, whole = first_read(_section.printed_at_once(lines))
    assert chunk.startswith(b"first\nsecond") and whole == b"first\nsecond\n"


@pytest.mark.parametrize("shell", ["sh", "bash"])  # Debian's dash, RHEL's sh
def test_printed_at_once_keeps_the_lines_and_drops_only_trailing_empty_ones(shell):
    command = "echo a; echo; printf '  b\\\\c\\n'; case x in x) echo ')';; esac; echo; echo; false"
    printed = subprocess.run([shell, "-c", _section.printed_at_once(command)], capture_output=True, text=True)
    assert (printed.stdout, printed.returncode) == ("a\n\n  b\\c\n)\n", 0)


ZONE = ('<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <short>{name}</short>\n'
        '  <service name="ssh"/>\n{extra}</zone>')


@pytest.fixture
def firewalld_files(tmp_path):
    """firewalld's files under ``tmp_path``: the conf, two shipped zones, the
    administrator's copy of one (no newline at its end), the deploy's record."""
    (tmp_path / "etc/firewalld/zones").mkdir(parents=True)
    (tmp_path / "usr/lib/firewalld/zones").mkdir(parents=True)
    (tmp_path / "var/lib/kvm-cluster").mkdir(parents=True)
    (tmp_path / "etc/firewalld/firewalld.conf").write_text("# comment\nDefaultZone=internal\n")
    for name in ("public", "internal"):
        (tmp_path / f"usr/lib/firewalld/zones/{name}.xml").write_text(
            ZONE.format(name=name, extra="") + "\n")
    (tmp_path / "etc/firewalld/zones/internal.xml").write_text(
        ZONE.format(name="internal", extra='  <interface name="br0"/>\n  <service name="dns"/>\n'))
    (tmp_path / "var/lib/kvm-cluster/firewall-opened").write_text("internal dns\n")
    return tmp_path


def _firewall_command(files_root) -> str:
    from facts import firewall

    command = firewall.FIREWALL_COMMAND
    for path in ("/etc/firewalld", "/usr/lib/firewalld", "/var/lib/kvm-cluster"):
        command = command.replace(path, f"{files_root}{path}")
    return command


def _firewall_tools(tmp_path, awk_script: str | None) -> dict:
    """The environment of a firewall section: a PATH with cat, a firewall-cmd
    and ``awk_script`` as awk (None: no awk at all)."""
    scripts = {"firewall-cmd": "#!/bin/sh\n", **({"awk": awk_script} if awk_script is not None else {})}
    return {"PATH": str(stand_in_tools(tmp_path, scripts, links=("cat",)))}


EXPECTED_FIREWALL = {
    "running": True, "default": "internal",
    "zones": {"internal": {"interfaces": ["br0"], "sources": [], "services": ["dns", "ssh"], "ports": []},
              "public": {"interfaces": [], "sources": [], "services": ["ssh"], "ports": []}},
    "opened": {"internal": ["dns"]},
}


@pytest.mark.parametrize("awk", [True, False], ids=["by awk", "by the shell, no awk"])
def test_firewalld_files_read_in_one_go(firewalld_files, tmp_path, monkeypatch, awk):
    """The zone files, the conf and the record, each after its marker, as
    firewall.parse_firewall reads them; with awk (which must be the one
    reading them) and without."""
    from facts import firewall
    monkeypatch.setattr(firewall, "ZONE_DIRS", tuple(f"{firewalld_files}{d}" for d in firewall.ZONE_DIRS))
    real_awk = sh("command -v awk").stdout.strip()
    log = tmp_path / "awk-ran"
    env = _firewall_tools(tmp_path, f"#!/bin/sh\necho ran >> {log}\nexec {real_awk} \"$@\"\n" if awk else None)
    result = subprocess.run(["/bin/sh", "-c", "KC_firewalld_service_active=active; " + _firewall_command(firewalld_files)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stderr == ""
    assert log.exists() == awk
    assert firewall.parse_firewall(result.stdout.splitlines()) == EXPECTED_FIREWALL
    # The administrator's file, with no newline at its end, still ends before the next marker.
    assert "</zone>\n@" in result.stdout


def test_a_zone_file_removed_while_read_costs_only_itself(firewalld_files, tmp_path, monkeypatch):
    """A zone file the shell found and awk cannot open (removed meanwhile):
    the zones after it and the record are still read (mawk given them as its
    input would have stopped there)."""
    from facts import firewall
    monkeypatch.setattr(firewall, "ZONE_DIRS", tuple(f"{firewalld_files}{d}" for d in firewall.ZONE_DIRS))
    gone = firewalld_files / "usr/lib/firewalld/zones/block.xml"
    gone.write_text(ZONE.format(name="block", extra=""))
    real_awk = sh("command -v awk").stdout.strip()
    env = _firewall_tools(tmp_path, f"#!/bin/sh\n/bin/rm -f {gone}\nexec {real_awk} \"$@\"\n")
    result = subprocess.run(["/bin/sh", "-c", "KC_firewalld_service_active=active; " + _firewall_command(firewalld_files)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0
    assert firewall.parse_firewall(result.stdout.splitlines()) == EXPECTED_FIREWALL


def mounted(path: str) -> dict:
    """What the probe's mount reader finds at ``path``, parsed."""
    printed = sh(_section.mount_line(path))
    assert printed.returncode == 0 and printed.stderr == ""
    values = dict(line.split(": ", 1) for line in printed.stdout.splitlines())
    return _section.parse_mount(values.get("mount", ""))


def test_the_mount_table_read_as_findmnt_reads_it():
    """Every directory mount point of this machine (a container's: overlay,
    proc, tmpfs, bind mounts), against ``findmnt --mountpoint``'s answer (the
    last of several: the one in use). Mount points are directories here (the
    data volume, the NFS mount point); a file's is not looked up."""
    import os

    points = []
    with open("/proc/self/mountinfo") as table:
        for line in table:
            point = line.split()[4]
            if "\\\\" not in point and point not in points and os.path.isdir(point):
                points.append(point)
    assert len(points) > 3
    for point in points:
        found = sh(f"findmnt -n -r -o FSTYPE,SOURCE --mountpoint {_section.quote(point)}").stdout.splitlines()
        assert mounted(point) == _section.parse_mount(found[-1] if found else ""), point


def test_a_fake_mount_table(tmp_path, monkeypatch):
    """Over-mounted (the last wins), reached through a symlink, not mounted,
    missing; a source with an escaped space."""
    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir()
    other.mkdir()
    (tmp_path / "link").symlink_to(data)
    table = tmp_path / "mountinfo"
    table.write_text(
        f"30 1 0:40 / {data} rw,relatime shared:9 - xfs /dev/md0 rw\n"
        f"31 30 0:41 / {data} rw,relatime - nfs4 server:/export\\040one rw,vers=4.2\n"
        "32 1 0:42 / /elsewhere rw - tmpfs tmpfs rw\n")
    monkeypatch.setattr(_section, "MOUNT_TABLE", str(table))
    assert mounted(str(data)) == {"fstype": "nfs4", "source": "server:/export one"}
    assert mounted(str(tmp_path / "link")) == {"fstype": "nfs4", "source": "server:/export one"}
    assert mounted(str(other)) == {}
    assert mounted(str(tmp_path / "missing")) == {}
    # Printed as the table writes it (dash's echo would have made \\012 a
    # line break, cutting the source there).
    table.write_text(f"30 1 0:40 / {other} rw - nfs4 server:/a\\012b rw\n")
    monkeypatch.setattr(_section, "MOUNT_TABLE", str(table))
    assert mounted(str(other)) == {"fstype": "nfs4", "source": "server:/a\nb"}


def test_mount_escapes_decoded():
    assert _section.parse_mount("nfs4 host:/a\\040b\\134c") == {"fstype": "nfs4", "source": "host:/a b\\c"}
    assert _section.parse_mount("nfs4 host:/a\\x20b") == {"fstype": "nfs4", "source": "host:/a b"}
    assert _section.parse_mount("") == {}


def test_a_path_the_mount_table_escapes_is_asked_of_findmnt(tmp_path, monkeypatch):
    """A real path with a space: findmnt's raw output (hex escapes), its last
    line (the mount in use)."""
    data = tmp_path / "data 01"
    data.mkdir()
    tools = stand_in_tools(tmp_path, {"findmnt": "#!/bin/sh\nprintf '%s\\n' 'xfs /dev/md0' 'nfs4 server:/a\\x20b'\n"})
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setattr(_section, "MOUNT_TABLE", str(tmp_path / "no-table"))
    assert mounted(str(data)) == {"fstype": "nfs4", "source": "server:/a b"}


def test_a_mount_point_that_cannot_be_entered_is_found_as_written(tmp_path, monkeypatch):
    """A stale NFS handle, a mount root may not enter: ``cd`` fails, the path
    as written (escaped as the table writes it) is looked up."""
    table = tmp_path / "mountinfo"
    table.write_text("40 1 0:50 / /srv/stale\\040nfs rw - nfs4 server:/export rw\n")
    monkeypatch.setattr(_section, "MOUNT_TABLE", str(table))
    assert mounted("/srv/stale nfs") == {"fstype": "nfs4", "source": "server:/export"}
    assert mounted("/srv/elsewhere") == {}


# nmcli as a German host's answers, and as it answers in C.
TRANSLATED_NMCLI = translated(
    english=["eth0:ethernet:connected:eth0", "eth1:ethernet:unmanaged:", "lo:loopback:unmanaged:"],
    german=["eth0:ethernet:verbunden:eth0", "eth1:ethernet:nicht verwaltet:", "lo:loopback:nicht verwaltet:"])


@pytest.mark.parametrize("in_c_locale", [True, False], ids=["as the probe runs it", "without the C locale"])
def test_the_probe_reads_tools_in_the_c_locale(tmp_path, in_c_locale):
    """On a host whose sessions get a German locale, the probe's tools still
    answer in the words its parsers read: eth1, which NetworkManager does
    not manage, is not taken for managed. (Without the C locale the same
    section reads it wrong: the stand-in nmcli does translate.)"""
    from facts import network

    tools = stand_in_tools(tmp_path, {
        "nmcli": TRANSLATED_NMCLI,
        "NetworkManager": "#!/bin/sh\n",
        "systemctl": "#!/bin/sh\ncase $1 in is-active) echo active;; is-enabled) echo enabled;; esac\n",
    }, links=("sed",))
    command = network.NETWORK_MANAGER.command
    if in_c_locale:
        command = f"{_section.C_LOCALE}; {command}"
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                            env={"PATH": str(tools), "LANG": "de_DE.UTF-8"})
    state = network.parse_network_manager(result.stdout.splitlines())
    if in_c_locale:
        assert state["managed"] == ["eth0"]
        assert state["devices"]["eth0"]["state"] == "connected"
    else:
        assert state["managed"] == ["eth0", "eth1"]


def test_the_whole_probe_runs_in_the_c_locale():
    from facts import host

    command = host.probe_command("/data01")
    assert command.startswith(_section.printed_at_once(f"{_section.C_LOCALE}; ")[:-len('); printf \'%s\\n\' "$_kc_out"')])
