"""Build the lab images once and reuse them while their inputs are unchanged.

Each tag is a short hash of the image's inputs, so an edit to the Dockerfile,
a copied file or the package list yields a new tag (and a rebuild), and an
unchanged recipe is found by tag and reused.
"""
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import docker

from .engine import LabError, ensure_tool

IMAGE_DIR = Path(__file__).resolve().parent / "image"

BASE_REPO = "kvmlab-base"
HOST_REPO = "kvmlab-host"

# The debootstrap recipe of the base image; any change here changes its tag.
BASE_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "mirror": "http://deb.debian.org/debian",
    "include": [],
}


def _short_hash(*chunks):
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def base_tag():
    return f"{BASE_REPO}:{_short_hash(json.dumps(BASE_RECIPE, sort_keys=True))}"


def host_tag():
    """Tag of the host image: hash of every file in lab/image and the base tag."""
    chunks = [base_tag()]
    for path in sorted(p for p in IMAGE_DIR.rglob("*") if p.is_file()):
        chunks += [str(path.relative_to(IMAGE_DIR)), path.read_bytes()]
    return f"{HOST_REPO}:{_short_hash(*chunks)}"


def _exists(client, tag):
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _log(msg):
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def _build_base(client, tag):
    """debootstrap a minimal bookworm and import it as an image (no registry needed)."""
    ensure_tool("debootstrap", "debootstrap")
    repo, version = tag.split(":")
    r = BASE_RECIPE
    with tempfile.TemporaryDirectory(prefix="kvmlab-rootfs-") as rootfs:
        cmd = ["debootstrap", f"--variant={r['variant']}"]
        if r["include"]:
            cmd.append("--include=" + ",".join(r["include"]))
        _log(f"debootstrap {r['suite']} into {rootfs} (about a minute)")
        subprocess.run(cmd + [r["suite"], rootfs, r["mirror"]], check=True,
                       stdout=subprocess.DEVNULL)
        tar = subprocess.Popen(["tar", "-C", rootfs, "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        client.api.import_image(src=tar.stdout, stream_src=True,
                                repository=repo, tag=version)
        if tar.wait() != 0:
            raise LabError("tar of the debootstrap rootfs failed")


def _build_host(client, tag, base):
    """docker build lab/image on top of the base, streaming its output on error."""
    _log(f"building {tag} from {IMAGE_DIR}")
    lines = []
    for chunk in client.api.build(path=str(IMAGE_DIR), tag=tag, rm=True,
                                  forcerm=True, buildargs={"BASE": base}, decode=True):
        if "stream" in chunk:
            lines.append(chunk["stream"])
        if "error" in chunk:
            sys.stderr.write("".join(lines[-40:]))
            raise LabError(f"building {tag} failed: {chunk['error'].strip()}")


def _prune_other_tags(client, keep):
    """Remove the repo's images of earlier recipes; skip those still in use."""
    repo = keep.split(":")[0]
    for image in client.images.list(name=repo):
        for tag in image.tags:
            if tag != keep:
                try:
                    client.images.remove(tag)
                except docker.errors.APIError:
                    pass  # a container still runs it; the next run retries


def ensure_images(client):
    """Return the host image tag, building the base and host images if missing."""
    base, host = base_tag(), host_tag()
    if not _exists(client, base):
        _build_base(client, base)
    if not _exists(client, host):
        _build_host(client, host, base)
    return host


def prune_stale_images(client):
    """Drop images of earlier recipes, once no container uses them any more."""
    _prune_other_tags(client, base_tag())
    _prune_other_tags(client, host_tag())
