"""Build the lab images once and reuse them while their inputs are unchanged.

One base image per Debian release (debootstrap, no registry needed) and one
host image per persona (``lab/personas.py``) built on it. Each tag is a short
hash of the image's inputs, so an edit to the Dockerfile, a persona file or a
package list yields a new tag (and a rebuild) of the images it goes into, and
an unchanged recipe is found by tag and reused.
"""
import hashlib
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import docker

from .engine import LabError, ensure_tool
from .personas import PERSONAS, persona as persona_named

IMAGE_DIR = Path(__file__).resolve().parent / "image"
PACKAGES_DIR = IMAGE_DIR / "packages"

BASE_REPO = "kvmlab-base"
HOST_REPO = "kvmlab-host"

MIRROR = "http://deb.debian.org/debian"


def base_recipe(suite):
    """The debootstrap recipe of a release's base image; any change changes its tag."""
    return {"suite": suite, "variant": "minbase", "mirror": MIRROR, "include": []}


def _short_hash(*chunks):
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def base_tag(suite):
    return f"{BASE_REPO}:{suite}-{_short_hash(json.dumps(base_recipe(suite), sort_keys=True))}"


def host_tag(name):
    """Tag of a persona's image: its base, its definition, its package list and
    every file the personas share (Dockerfile, persona/)."""
    persona = persona_named(name)
    chunks = [base_tag(persona.suite), json.dumps(asdict(persona), sort_keys=True)]
    for path in sorted(p for p in IMAGE_DIR.rglob("*") if p.is_file()):
        if path.parent == PACKAGES_DIR and path.name != Path(persona.packages_file).name:
            continue
        chunks += [str(path.relative_to(IMAGE_DIR)), path.read_bytes()]
    return f"{HOST_REPO}:{name}-{_short_hash(*chunks)}"


def _exists(client, tag):
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _log(msg):
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def _build_base(client, tag, suite):
    """debootstrap a minimal release and import it as an image (no registry needed)."""
    ensure_tool("debootstrap", "debootstrap")
    repo, version = tag.split(":")
    r = base_recipe(suite)
    with tempfile.TemporaryDirectory(prefix="kvmlab-rootfs-") as rootfs:
        cmd = ["debootstrap", f"--variant={r['variant']}"]
        if r["include"]:
            cmd.append("--include=" + ",".join(r["include"]))
        _log(f"debootstrap {suite} into {rootfs} (one to two minutes)")
        subprocess.run(cmd + [suite, rootfs, r["mirror"]], check=True, stdout=subprocess.DEVNULL)
        tar = subprocess.Popen(["tar", "-C", rootfs, "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        client.api.import_image(src=tar.stdout, stream_src=True, repository=repo, tag=version)
        if tar.wait() != 0:
            raise LabError("tar of the debootstrap rootfs failed")


def _build_host(client, tag, base, name):
    """docker build lab/image for one persona on its base, streaming its output on error."""
    _log(f"building {tag} (persona {name}) from {IMAGE_DIR}")
    lines = []
    persona = persona_named(name)
    buildargs = {"BASE": base, "PERSONA": name, "PACKAGES": Path(persona.packages_file).stem,
                 "FIREWALLD": "yes" if persona.firewalld else "no", "ADDRESSING": persona.addressing}
    for chunk in client.api.build(path=str(IMAGE_DIR), tag=tag, rm=True, forcerm=True,
                                  buildargs=buildargs, decode=True):
        if "stream" in chunk:
            lines.append(chunk["stream"])
        if "error" in chunk:
            sys.stderr.write("".join(lines[-40:]))
            raise LabError(f"building {tag} failed: {chunk['error'].strip()}")


def ensure_image(client, name):
    """Return the tag of persona ``name``'s image, building it (and its base) if missing."""
    persona = persona_named(name)
    base, host = base_tag(persona.suite), host_tag(name)
    if not _exists(client, base):
        _build_base(client, base, persona.suite)
    if not _exists(client, host):
        _build_host(client, host, base, name)
    return host


def ensure_images(client, names=tuple(PERSONAS)):
    """{persona: image tag} for ``names``, building what is missing: the bases
    first, then the personas, two at a time (downloads overlap the unpacking)."""
    suites = sorted({persona_named(name).suite for name in names})
    with ThreadPoolExecutor(max_workers=2) as pool:
        builds = [pool.submit(_build_base, client, base_tag(suite), suite)
                  for suite in suites if not _exists(client, base_tag(suite))]
        for build in builds:
            build.result()
    with ThreadPoolExecutor(max_workers=2) as pool:
        tags = dict(zip(names, pool.map(lambda name: ensure_image(client, name), names)))
    return tags


def prune_stale_images(client):
    """Drop images of earlier recipes, once no container uses them any more."""
    keep = {host_tag(name) for name in PERSONAS}
    keep |= {base_tag(p.suite) for p in PERSONAS.values()}
    for repo in (HOST_REPO, BASE_REPO):
        for image in client.images.list(name=repo):
            for tag in image.tags:
                if tag not in keep:
                    try:
                        client.images.remove(tag)
                    except docker.errors.APIError:
                        pass  # a container still runs it; the next run retries
