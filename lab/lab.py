"""Bring the lab up and down: systemd+sshd containers reached over loopback SSH.

Every step is idempotent: `up` reuses a host only when it is healthy (systemd
booted, SSH answering at its fixed address) and made from its persona's current
image; any other is recreated, and `up` says why. The state files (hosts.json,
known_hosts) are rewritten from what is actually running.
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import docker

from .engine import LabError, ensure_engine, ensure_tool, tune_host
from .images import ensure_images, prune_stale_images
from .personas import SITE_DHCP_IMAGE, persona as persona_named
from .topology import DEFAULT_NODES, GATEWAY, NETWORK, PREFIX, SITE_DHCP_OCTET, SUBNET, topology

LAB_DIR = Path(__file__).resolve().parent
STATE_DIR = LAB_DIR / ".state"
KEY = STATE_DIR / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "known_hosts"
HOSTS_JSON = STATE_DIR / "hosts.json"
# Made once per host name on this machine and kept with its other lab state
# that outlives a clone (as the images do): a fresh clone's suite, which
# recreates the lab's hosts a dozen times and scales it to 32 nodes, makes none.
_CACHE_HOME = os.environ.get("XDG_CACHE_HOME", "")
HOST_KEYS_DIR = ((Path(_CACHE_HOME) if os.path.isabs(_CACHE_HOME) else Path.home() / ".cache")
                 / "kvm-cluster-lab" / "host-keys")
# What Debian's openssh-server makes at install time (ssh-keygen -A).
HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")
INVENTORY = LAB_DIR / "inventory.py"

LABEL = "kvmlab"
BOOT_TIMEOUT = 120
# How long a lab host's shutdown may take before docker cuts its power (docker
# stop/restart's timeout). A clean shutdown here takes under half a second;
# what runs longer is Debian 13's libvirtd (11.3) caught in its own shutdown
# deadlock (its node-device driver joins its udev thread while holding the lock
# that thread needs; about one stop in fifteen on an idle lab) until libvirt's
# 30 s timer ends it. The lab tests what a host comes back with after a reboot,
# not how long its services take to stop: after 10 s the rest is a power cut.
SHUTDOWN_GRACE = 10
MAX_WORKERS = 16


@dataclass(frozen=True)
class LabHost:
    """A running lab host, as recorded in hosts.json."""
    name: str
    group: str
    ip: str
    mac: str
    ssh_port: int
    container: str
    persona: str = "debian12"


@dataclass
class LabState:
    hosts: list
    key: Path = KEY
    known_hosts: Path = KNOWN_HOSTS
    inventory: Path = INVENTORY

    def __getitem__(self, name):
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def group(self, group):
        return [h for h in self.hosts if h.group == group]


# -- docker objects -----------------------------------------------------------

def _client():
    return docker.from_env(version="auto", timeout=300)


def _ensure_network(client):
    """Create the kvmlab network, or check an existing one has our subnet."""
    for net in client.networks.list(names=[NETWORK]):
        configs = net.attrs.get("IPAM", {}).get("Config") or []
        if any(c.get("Subnet") == SUBNET for c in configs):
            return net
        raise LabError(f"docker network {NETWORK} exists with another subnet: "
                       f"remove it (`python -m lab down`) and retry")
    ipam = docker.types.IPAMConfig(pool_configs=[
        docker.types.IPAMPool(subnet=SUBNET, gateway=GATEWAY)])
    return client.networks.create(NETWORK, driver="bridge", ipam=ipam,
                                  labels={LABEL: "1"})


def _run_spec(host, image):
    """Keyword arguments of containers.create, minus the per-client parts.

    The only combination known to work here (--privileged fails): a few
    capabilities, no seccomp filter, tmpfs /run, cgroupfs read-only.
    """
    caps = ["NET_ADMIN", "SYS_ADMIN"] + (["DAC_READ_SEARCH"] if host.is_master else [])
    # A hypervisor's VMs need TAP devices (/dev/net/tun); /dev/kvm is left out:
    # a KVM-accelerated guest hung in a first try here, TCG boots (the smoke
    # test says which it used).
    devices = [] if host.is_master else ["/dev/net/tun:/dev/net/tun:rwm"]
    return dict(
        image=image,
        name=host.container,
        hostname=host.name,
        mac_address=host.mac,
        cap_add=caps,
        devices=devices,
        security_opt=["seccomp=unconfined"],
        tmpfs={"/run": "", "/run/lock": ""},
        volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"},
                 host.volume: {"bind": "/data01", "mode": "rw"}},
        # IPv6 on, as on a server (Docker turns it off; /proc/sys is read-only
        # inside, so no network service could turn it on): networkd waits for
        # an IPv6 link-local address before it calls a link configured.
        sysctls={"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.default.disable_ipv6": "0"},
        ports={"22/tcp": ("127.0.0.1", host.ssh_port)},
        # Which host keys it was given (_seed_host_keys): part of the spec, so
        # a container made with other keys (by an older lab, or before the
        # cache was cleared) is recreated, not reused with keys known nowhere.
        labels={LABEL: "1", f"{LABEL}.group": host.group, f"{LABEL}.ip": host.ip,
                f"{LABEL}.persona": host.persona, f"{LABEL}.host-keys": _host_keys_digest(host.name)},
    )


def _spec_hash(spec):
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _create(client, host, image):
    spec = _run_spec(host, image)
    spec["labels"][f"{LABEL}.spec"] = _spec_hash(spec)
    client.volumes.create(host.volume, labels={LABEL: "1"})
    endpoint = client.api.create_endpoint_config(ipv4_address=host.ip)
    return client.containers.create(detach=True, network=NETWORK,
                                    networking_config={NETWORK: endpoint}, **spec)


# -- the site's DHCP server --------------------------------------------------

SITE_DHCP = "kvmlab-site-dhcp"
SITE_DHCP_IP = f"{PREFIX}{SITE_DHCP_OCTET}"


def dhcp_hosts(hosts):
    """The hosts whose installer configured eth0 by DHCP (their persona says so)."""
    return [h for h in hosts if persona_named(h.persona).addressing == "dhcp"]


def _site_dhcp_spec(image, hosts):
    """The site's DHCP server, as a rack has one: dnsmasq answering DHCP only (no
    DNS), a reservation for each DHCP-configured host (the address Docker gives
    it, by its fixed MAC), nothing for anyone else (the masters' own DHCP tests
    see no second server answering an unknown MAC). It is the lab's, not a lab
    host: dnsmasq runs as the container's only process, from a persona's image
    (which has dnsmasq), not under systemd."""
    reservations = [f"--dhcp-host={h.mac},{h.ip},{h.name}" for h in dhcp_hosts(hosts)]
    return dict(
        image=image,
        name=SITE_DHCP,
        hostname="site-dhcp",
        entrypoint=["/usr/sbin/dnsmasq"],
        command=["--keep-in-foreground", "--log-facility=-", "--port=0", "--no-resolv", "--no-hosts",
                 "--user=root", "--dhcp-leasefile=/tmp/site-dhcp.leases",
                 f"--dhcp-range={PREFIX}0,static,255.255.255.0,1h",
                 f"--dhcp-option=option:router,{GATEWAY}",
                 # Each container's own Docker resolver, as the static personas have it.
                 "--dhcp-option=option:dns-server,127.0.0.11",
                 *reservations],
        cap_add=["NET_ADMIN", "NET_RAW"],
        labels={LABEL: "1", f"{LABEL}.role": "site-dhcp"},
    )


def _ensure_site_dhcp(client, image, hosts, existing):
    """Run the site's DHCP server for the DHCP-configured ``hosts`` (reused when
    its spec is the current one and it runs); before they boot, as on a site."""
    spec = _site_dhcp_spec(image, hosts)
    spec["labels"][f"{LABEL}.spec"] = _spec_hash(spec)
    container = existing.get(SITE_DHCP)
    if container is not None:
        if container.labels.get(f"{LABEL}.spec") == spec["labels"][f"{LABEL}.spec"] \
                and container.status == "running":
            return container
        _remove(client, SITE_DHCP)
    endpoint = client.api.create_endpoint_config(ipv4_address=SITE_DHCP_IP)
    container = client.containers.create(detach=True, network=NETWORK,
                                         networking_config={NETWORK: endpoint}, **spec)
    container.start()
    return container


def _start(container, attempts=10):
    """Start a new container. Its fixed SSH port may still be held for a
    moment by the proxy of the container it replaces (Docker releases it
    after the removal returns): wait for it, a few seconds at most."""
    for attempt in range(attempts):
        try:
            return container.start()
        except docker.errors.APIError as error:
            if "address already in use" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.5)


def _lab_containers(client):
    return {c.name: c for c in client.containers.list(all=True, filters={"label": LABEL})}


def _remove(client, container_name, volume=None):
    """Force-remove a container and, if given, its data volume."""
    try:
        client.containers.get(container_name).remove(force=True)
    except docker.errors.NotFound:
        pass
    if volume:
        try:
            client.volumes.get(volume).remove(force=True)
        except docker.errors.NotFound:
            pass


def _container(name_or_host):
    name = getattr(name_or_host, "container", None) or (
        name_or_host if str(name_or_host).startswith("kvmlab-") else f"kvmlab-{name_or_host}")
    return _client().containers.get(name)


# -- readiness and ssh --------------------------------------------------------

def _exec(container, cmd, env=None):
    """Run `cmd` (a shell string or argv) in a container: (rc, combined output).

    Not docker-py's ``exec_run``: it reads the command's output from the raw
    socket under the HTTP response, and loses what came in with the response's
    headers (already in the response's buffer): a quick command's whole output
    now and then (docker/docker-py#2042, #3332; here 1 ``echo`` in 360, six at
    once). The frames are read through the response's buffered reader instead.
    """
    argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    api = container.client.api
    exec_id = api.exec_create(container.id, argv, stdout=True, stderr=True, environment=env)["Id"]
    response = api._post_json(api._url("/exec/{0}/start", exec_id), stream=True,
                              headers={"Connection": "Upgrade", "Upgrade": "tcp"},
                              data={"Tty": False, "Detach": False})
    try:
        api._raise_for_status(response)
        # A command may be quiet for longer than the client's timeout (as exec_run allows).
        api._disable_socket_timeout(api._get_raw_response_socket(response))
        reader = response.raw._fp.fp  # buffered: holds what arrived with the headers
        output = bytearray()
        while True:
            # Each frame: stream (1 byte), 3 zero bytes, the size (4 bytes, big endian).
            header = reader.read(8)
            if len(header) < 8:
                break
            output += reader.read(int.from_bytes(header[4:], "big"))
    finally:
        response.close()
    return api.exec_inspect(exec_id)["ExitCode"], bytes(output).decode(errors="replace")


def _wait_booted(container):
    """Wait until systemd finished booting; return its state (running/degraded)."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    boot_state = "unknown"
    while time.monotonic() < deadline:
        container.reload()
        if container.status != "running":
            raise LabError(f"{container.name} stopped while booting (exit code "
                           f"{container.attrs['State']['ExitCode']}): see `docker logs`")
        # --wait: systemctl returns the moment the boot ends (not at the next poll);
        # it answers at once while systemd cannot be asked yet, hence the loop.
        left = max(1, int(deadline - time.monotonic()))
        boot_state = _exec(container, ["timeout", str(left), "systemctl", "is-system-running",
                                       "--wait"])[1].strip() or boot_state
        if boot_state in ("running", "degraded"):
            return boot_state
        time.sleep(0.1)
    raise LabError(f"{container.name}: systemd did not finish booting in {BOOT_TIMEOUT} s "
                   f"(state {boot_state}); `python -m lab up --fresh` recreates the lab")


def _install_key(container, pubkey):
    rc, out = _exec(container, 'install -d -m 0700 /root/.ssh && '
                    'printf "%s\\n" "$KEY" > /root/.ssh/authorized_keys && '
                    'chmod 0600 /root/.ssh/authorized_keys', env={"KEY": pubkey})
    if rc:
        raise LabError(f"{container.name}: installing authorized_keys failed: {out}")


def _host_key(container, timeout=30):
    """The host's ed25519 key (ssh-hostkeys.service may still be writing it)."""
    deadline = time.monotonic() + timeout
    while True:
        rc, out = _exec(container, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        if rc == 0 and len(out.split()) >= 2:
            keytype, blob = out.split()[:2]
            return f"{keytype} {blob}"
        if time.monotonic() > deadline:
            raise LabError(f"{container.name}: no ed25519 host key: {out}")
        time.sleep(0.2)


def _ssh_port(container):
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get("22/tcp") or []
    if not bindings:
        raise LabError(f"{container.name}: port 22 is not published")
    return int(bindings[0]["HostPort"])


def ssh_command(host, *command, user="root"):
    """argv of a real ssh to a lab host (as ``user``), with strict host key checking."""
    return ["ssh", "-i", str(KEY), "-p", str(host.ssh_port),
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
            f"{user}@127.0.0.1", *command]


def _wait_ssh(host, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(ssh_command(host, "true"), capture_output=True, text=True)
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: ssh failed: {proc.stderr.strip()}")
        time.sleep(0.1)


def _host_keys_complete(directory):
    return all((directory / f"ssh_host_{t}_key{suffix}").is_file()
               and (directory / f"ssh_host_{t}_key{suffix}").stat().st_size > 0
               for t in HOST_KEY_TYPES for suffix in ("", ".pub"))


def host_key_files(name):
    """The SSH host keys of the lab host ``name``: {file name in /etc/ssh: bytes},
    made once per host name (ssh-keygen, as Debian's openssh-server does at
    install time) and kept in :data:`HOST_KEYS_DIR`. Made in a directory of
    their own, put in place whole (a rename): a run cut short, or another
    lab's at the same time, never leaves half a set."""
    directory = HOST_KEYS_DIR / name
    if not _host_keys_complete(directory):
        HOST_KEYS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        made = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=HOST_KEYS_DIR))
        try:
            for key_type in HOST_KEY_TYPES:
                subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", f"root@{name}",
                                "-f", str(made / f"ssh_host_{key_type}_key")],
                               check=True, stdin=subprocess.DEVNULL)
            if not _host_keys_complete(made):
                raise LabError(f"ssh-keygen did not make every host key of {name} in {made}")
            if directory.exists() and not _host_keys_complete(directory):
                # Moved aside first (one run wins the rename), then removed.
                aside = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=HOST_KEYS_DIR))
                try:
                    directory.rename(aside / name)
                except OSError:
                    pass  # another run moved it (or put a whole set there)
                shutil.rmtree(aside, ignore_errors=True)
            try:
                made.rename(directory)
            except OSError:  # made meanwhile by another run: theirs is whole
                if not _host_keys_complete(directory):
                    raise
        finally:
            shutil.rmtree(made, ignore_errors=True)
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def _host_keys_digest(name):
    return hashlib.sha256(b"".join(data for file_name, data in host_key_files(name).items()
                                   if file_name.endswith(".pub"))).hexdigest()[:12]


def _seed_host_keys(container, name):
    """Put the host's SSH host keys in its /etc/ssh before its first boot, as an
    installer leaves them (the image has none; its ssh-hostkeys.service makes
    them at first boot where none were put). Made in each container at every
    recreation, they cost 1-3 s of each boot's critical path (RSA's primes, with
    the other hosts booting on the same cores) at each of the suite's resets."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for file_name, data in host_key_files(name).items():
            info = tarfile.TarInfo(file_name)
            info.size, info.mtime = len(data), int(time.time())
            info.mode = 0o644 if file_name.endswith(".pub") else 0o600
            tar.addfile(info, io.BytesIO(data))
    if not container.put_archive("/etc/ssh", archive.getvalue()):
        raise LabError(f"{container.name}: could not put its SSH host keys in /etc/ssh")


def ensure_key():
    """Generate the lab's ed25519 key once; return the public key line."""
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    ensure_tool("ssh", "openssh-client")
    if not KEY.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kvmlab",
                        "-f", str(KEY)], check=True)
    return KEY.with_suffix(".pub").read_text().strip()


# -- state files --------------------------------------------------------------

def _write_state(lab_hosts, host_keys):
    KNOWN_HOSTS.write_text("".join(f"[127.0.0.1]:{h.ssh_port} {host_keys[h.name]}\n"
                                   for h in lab_hosts))
    tmp = HOSTS_JSON.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(h) for h in lab_hosts], indent=2) + "\n")
    tmp.replace(HOSTS_JSON)


def _clear_state():
    for path in (HOSTS_JSON, KNOWN_HOSTS):
        path.unlink(missing_ok=True)


def _read_hosts():
    if not HOSTS_JSON.exists():
        raise LabError("the lab is not running: run `make lab-up`")
    return [LabHost(**h) for h in json.loads(HOSTS_JSON.read_text())]


def _recorded_hosts():
    return _read_hosts() if HOSTS_JSON.exists() else []


# -- public API ---------------------------------------------------------------

def _unhealthy(container, host, wanted_spec):
    """Why an existing container may not be reused as it is (None: reuse it)."""
    if container.labels.get(f"{LABEL}.spec") != wanted_spec:
        return "its image or run spec is not the current one"
    if container.status != "running":
        return f"it is {container.status}"
    state = _exec(container, ["systemctl", "is-system-running"])[1].strip()
    if state not in ("running", "degraded"):
        return f"systemd is {state or 'not answering'}"
    probe = subprocess.run(
        ["ssh", "-i", str(KEY), "-p", str(host.ssh_port), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
         "-o", "LogLevel=ERROR", "root@127.0.0.1", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"SSH does not answer at 127.0.0.1:{host.ssh_port} ({probe.stderr.strip()})"
    return None


def _bring_up(client, host, image, pubkey, existing):
    """Make one host's container exist, run, boot, and accept our key.

    An existing container is reused only when healthy and made from the
    current image; otherwise it is recreated (its data volume kept), saying why.
    Returns (LabHost, its ed25519 host key line).
    """
    container = existing.get(host.container)
    wanted = _spec_hash(_run_spec(host, image))
    if container is not None:
        why = _unhealthy(container, host, wanted)
        if why:
            print(f"lab: recreating {host.name} ({host.persona}): {why}", flush=True)
            _remove(client, host.container)
            container = None
    if container is None:
        container = _create(client, host, image)
        _seed_host_keys(container, host.name)
        _start(container)
    _wait_booted(container)
    _install_key(container, pubkey)
    lab_host = LabHost(host.name, host.group, host.ip, host.mac, _ssh_port(container),
                       host.container, host.persona)
    return lab_host, _host_key(container)


def _parallel(fn, items):
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def up(nodes=DEFAULT_NODES, fresh=False, personas=None):
    """Bring up 2 masters and `nodes` KVM nodes; return the LabState.

    ``personas`` ({host: persona}) changes the default fleet (lab/topology.py).
    fresh=True removes the containers and their data volumes first. Hosts
    beyond `nodes` (from a bigger earlier lab) are removed with their volumes.
    """
    client = ensure_engine()
    tune_host()
    wanted = topology(nodes, personas)
    site_dhcp = bool(dhcp_hosts(wanted))
    images = ensure_images(client, sorted({h.persona for h in wanted} | ({SITE_DHCP_IMAGE} if site_dhcp else set())))
    _ensure_network(client)
    pubkey = ensure_key()
    existing = _lab_containers(client)

    names = {h.container for h in wanted} | ({SITE_DHCP} if site_dhcp else set())
    stale = [(name, f"{name}-data01") for name in existing if name not in names]
    if fresh:
        stale += [(h.container, h.volume) for h in wanted]
    _parallel(lambda cv: _remove(client, *cv), stale)
    existing = _lab_containers(client)
    if site_dhcp:
        _ensure_site_dhcp(client, images[SITE_DHCP_IMAGE], wanted, existing)

    results = _parallel(lambda h: _bring_up(client, h, images[h.persona], pubkey, existing), wanted)
    lab_hosts = [lab_host for lab_host, _ in results]
    _write_state(lab_hosts, {lab_host.name: key for lab_host, key in results})
    _parallel(_wait_ssh, lab_hosts)
    prune_stale_images(client)
    return LabState(lab_hosts)


def reset(nodes=None, personas=None, only=None):
    """Recreate the lab from scratch (containers and data volumes), same size by
    default; ``only`` (host names): recreate just those, reuse the others."""
    if nodes is None:
        nodes = sum(h.group == "kvm_nodes" for h in _recorded_hosts()) or DEFAULT_NODES
    if only is None:
        return up(nodes=nodes, fresh=True, personas=personas)
    client = ensure_engine()
    wanted = {h.name: h for h in topology(nodes, personas)}
    unknown = sorted(set(only) - set(wanted))
    if unknown:
        raise LabError(f"no such lab host: {', '.join(unknown)}")
    _parallel(lambda name: _remove(client, wanted[name].container, wanted[name].volume), list(only))
    return up(nodes=nodes, personas=personas)


def down():
    """Remove every lab container, data volume and the network; forget the state."""
    client = ensure_engine()
    containers = _lab_containers(client)
    _parallel(lambda name: _remove(client, name), list(containers))
    for volume in client.volumes.list(filters={"label": LABEL}):
        volume.remove(force=True)
    for net in client.networks.list(names=[NETWORK]):
        net.remove()
    _clear_state()


def state():
    """The LabState recorded by the last `up` (raises LabError if none)."""
    return LabState(_read_hosts())


def hosts():
    """The running lab hosts, as recorded by the last `up`."""
    return _read_hosts()


def status():
    """[(LabHost, or container name if not recorded, container status)], sorted."""
    client = _client()
    containers = _lab_containers(client)
    recorded = {h.container: h for h in _recorded_hosts()}
    return [(recorded.get(name, name), c.status) for name, c in sorted(containers.items())]


def exec(host, cmd, env=None):
    """Run a command in a lab host via docker exec (not ssh): (rc, output).

    `host` is a name ('kvm01'), a container name or a LabHost; `cmd` a shell
    string or an argv list.
    """
    return _exec(_container(host), cmd, env=env)


def kill(host):
    """Power-cut a host: SIGKILL its container (systemd gets no chance to stop)."""
    _container(host).kill()


def stop(host):
    """Shut a host down cleanly (SIGRTMIN+3 to systemd; cut after SHUTDOWN_GRACE s)."""
    _container(host).stop(timeout=SHUTDOWN_GRACE)


def start(host):
    """Start a stopped/killed host, wait for boot and SSH; return its LabHost.

    Its SSH address is fixed (lab/topology.py), so the inventory stays valid.
    """
    container = _container(host)
    container.start()
    return _await(container)


def restart(host):
    """Reboot a host (``docker restart``: systemd shuts down, the container
    starts again and boots from its own configuration); wait for SSH. A
    shutdown still running after SHUTDOWN_GRACE s is cut there."""
    container = _container(host)
    container.restart(timeout=SHUTDOWN_GRACE)
    return _await(container)


def _await(container, ssh_timeout=60):
    _wait_booted(container)
    started = next(h for h in _read_hosts() if h.container == container.name)
    _wait_ssh(started, timeout=ssh_timeout)
    return started


def ssh(host, command, check=True, user="root"):
    """Run `command` on a lab host over real ssh as ``user``: CompletedProcess (text)."""
    lab_host = host if isinstance(host, LabHost) else state()[host]
    return subprocess.run(ssh_command(lab_host, command, user=user), capture_output=True, text=True,
                          check=check)
