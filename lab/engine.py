"""Make sure a Docker engine answers, installing and starting one if we may.

The lab targets a fresh Debian 12 machine where we are root and only Python
exists: Debian's docker.io (engine 20.10, API 1.41) and debootstrap are
installed on demand. The Python SDK negotiates the API version, so a newer
`docker` CLI on PATH is never used.
"""
import os
import shutil
import subprocess
import sys
import time

import docker

SOCKET = "/var/run/docker.sock"
DOCKERD_LOG = "/var/log/dockerd.log"
START_TIMEOUT = 60


class LabError(RuntimeError):
    """A precondition of the lab does not hold; the message says what to do."""


def _client():
    return docker.from_env(version="auto", timeout=300)


def _ping():
    """Return a client if an engine answers, else None."""
    try:
        client = _client()
        client.ping()
        return client
    except Exception:
        return None


def _is_debian_root():
    return os.geteuid() == 0 and os.path.exists("/etc/debian_version")


_apt_updated = False


def apt_install(*packages):
    """Install Debian packages (as root), running `apt-get update` once per process."""
    global _apt_updated
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run(["apt-get", "update"], check=True, env=env)
        _apt_updated = True
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *packages],
                   check=True, env=env)


def ensure_tool(binary, package):
    """Make `binary` available, installing `package` if we are root on Debian."""
    if shutil.which(binary) or os.path.exists(f"/usr/sbin/{binary}"):
        return
    if not _is_debian_root():
        raise LabError(f"`{binary}` is missing: install the `{package}` package "
                       "(the lab installs it itself when run as root on Debian)")
    print(f"lab: installing {package}", file=sys.stderr)
    apt_install(package)


def _start_dockerd():
    """Start dockerd detached from us, so it outlives this process."""
    log = open(DOCKERD_LOG, "ab")
    subprocess.Popen(["dockerd"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                     start_new_session=True, close_fds=True)


def ensure_engine():
    """Return a docker client for a running engine, starting one if needed."""
    client = _ping()
    if client:
        return client
    if not _is_debian_root():
        raise LabError("no Docker engine answers on " + SOCKET + ": start one, or run "
                       "the lab as root on Debian so it can install and start docker.io")
    ensure_tool("dockerd", "docker.io")
    print("lab: starting dockerd (log: %s)" % DOCKERD_LOG, file=sys.stderr)
    _start_dockerd()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if os.path.exists(SOCKET):
            client = _ping()
            if client:
                return client
        time.sleep(0.5)
    raise LabError(f"dockerd did not answer within {START_TIMEOUT} s: see {DOCKERD_LOG}")


# Each systemd container holds several inotify instances, all charged to root
# on the host: with Debian's default of 128, a lab of 20-odd hosts has systemd
# fail (ask-password units) or PID 1 exit 255 at boot. Only ever raised here.
SYSCTL_MINIMUMS = {
    "fs.inotify.max_user_instances": 8192,
    "fs.inotify.max_user_watches": 524288,
}


def tune_host():
    """Raise the host's sysctls the lab needs (as root); warn otherwise."""
    for key, minimum in SYSCTL_MINIMUMS.items():
        path = "/proc/sys/" + key.replace(".", "/")
        with open(path) as f:
            current = int(f.read())
        if current >= minimum:
            continue
        if os.geteuid() != 0:
            print(f"lab: warning: {key} is {current}, a big lab needs >= {minimum} "
                  f"(sysctl -w {key}={minimum})", file=sys.stderr)
            continue
        with open(path, "w") as f:
            f.write(str(minimum))
