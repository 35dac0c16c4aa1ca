"""libvirt over TLS, live: only with certificates the user provides, and only
for clients whose certificate the cluster's CA signed.

The test makes a small PKI (a CA, a server certificate per KVM node for its
DNS name, a client certificate, and a client certificate from another CA),
deploys with ``libvirt_tls`` on, then connects from kvm02 to kvm01 with virsh
over ``qemu+tls://`` (names resolved through the masters). The plain TCP
socket stays masked throughout; the server key never appears in ``--diff``.
"""

from __future__ import annotations

import json
import warnings

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import lab

from tests.pki import certificate as _certificate, pem as _pem

from .conftest import deploy, idle_libvirtd

DOMAIN = "cluster.lan"


@pytest.fixture(scope="module")
def pki(tmp_path_factory, lab_up):
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("kvm-cluster CA", ca_key, "kvm-cluster CA", ca_key, ca=True)
    (root / "ca.pem").write_text(_pem(ca))
    host_data = {}
    for node in (h for h in lab.hosts() if h.group == "kvm_nodes"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(f"{node.name}.{DOMAIN}", key, "kvm-cluster CA", ca_key,
                            server=[f"{node.name}.{DOMAIN}", node.name], ips=[node.ip])
        (root / f"{node.name}.pem").write_text(_pem(cert))
        (root / f"{node.name}-key.pem").write_text(_pem(key=key))
        host_data[node.name] = {
            "libvirt_tls": True, "libvirt_tls_ca_cert": str(root / "ca.pem"),
            "libvirt_tls_server_cert": str(root / f"{node.name}.pem"),
            "libvirt_tls_server_key": str(root / f"{node.name}-key.pem"),
        }
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate("admin", client_key, "kvm-cluster CA", ca_key)
    rogue_ca_key = ec.generate_private_key(ec.SECP256R1())
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = _certificate("intruder", rogue_key, "someone else's CA", rogue_ca_key)
    return {"root": root, "host_data": host_data, "ca": _pem(ca),
            "client": (_pem(client), _pem(key=client_key)), "rogue": (_pem(rogue), _pem(key=rogue_key))}


def _install_client(host: str, directory: str, ca: str, cert: str, key: str) -> None:
    # With ?pkipath=DIR, libvirt reads all three from DIR itself.
    script = (f"mkdir -p {directory} && printf '%s' '{ca}' > {directory}/cacert.pem && "
              f"printf '%s' '{cert}' > {directory}/clientcert.pem && "
              f"printf '%s' '{key}' > {directory}/clientkey.pem && chmod 600 {directory}/clientkey.pem")
    rc, output = lab.exec(host, script)
    assert rc == 0, output


def test_tls_only_with_the_clusters_certificates(converged, pki, monkeypatch):
    nodes = [h for h in lab.hosts() if h.group == "kvm_nodes"]
    # The switch to TLS restarts a running daemon: systemd refuses to start a
    # socket whose service runs, so the deploy stops it first. Woken here, the
    # daemon runs whatever the tests before left.
    for node in nodes:
        rc, out = lab.exec(node.name, "virsh -c qemu:///system hostname >/dev/null && "
                                      "systemctl is-active libvirtd.service")
        assert rc == 0 and out.strip() == "active", (node.name, out)
    monkeypatch.setenv("KVMLAB_HOST_DATA", json.dumps(pki["host_data"]))
    run = deploy("--diff")
    try:
        assert run.returncode == 0, run.output
        key_text = (pki["root"] / "kvm01-key.pem").read_text()
        leak = run.output.find("PRIVATE KEY")
        assert leak < 0, run.output[max(0, leak - 600):leak + 100]
        assert key_text.splitlines()[1] not in run.output
        assert "/etc/pki/libvirt/servercert.pem" in run.output  # the certificate's diff is shown
        for node in ("kvm01", "kvm02", "kvm03"):
            rc, out = lab.exec(node, "systemctl is-active libvirtd-tls.socket; "
                                     "systemctl is-enabled libvirtd-tcp.socket; "
                                     "stat -c '%a %U' /etc/pki/libvirt/private/serverkey.pem")
            assert out.split() == ["active", "masked", "600", "root"], (node, out)

        # A client with a certificate from the cluster's CA gets in ...
        _install_client("kvm02", "/tmp/pki-ok", pki["ca"], *pki["client"])
        rc, out = lab.exec("kvm02", f"virsh -c 'qemu+tls://kvm01.{DOMAIN}/system?pkipath=/tmp/pki-ok' "
                                    "hostname 2>&1")
        assert rc == 0 and out.strip() == "kvm01", out
        # ... one with a certificate from another CA does not,
        _install_client("kvm02", "/tmp/pki-rogue", pki["ca"], *pki["rogue"])
        rc, out = lab.exec("kvm02", f"virsh -c 'qemu+tls://kvm01.{DOMAIN}/system?pkipath=/tmp/pki-rogue' "
                                    "hostname 2>&1")
        assert rc != 0, out
        # ... and plain TCP is not there at all.
        rc, out = lab.exec("kvm02", f"virsh -c 'qemu+tcp://kvm01.{DOMAIN}/system' hostname 2>&1")
        assert rc != 0 and "Connection refused" in out, out

        # Applied again: nothing changes.
        again = deploy()
        assert again.returncode == 0, again.output
        assert again.changed_nothing, again.output
    finally:
        monkeypatch.delenv("KVMLAB_HOST_DATA")
        # Switching back only restores the lab for the tests after: it meets the
        # daemon as idle, not paying libvirt's 30 s shutdown deadlock (see
        # idle_libvirtd) a second time. That only saves time: it never stands
        # in the way of the restore (after a failed switch the sockets may be
        # stopped, which idle_libvirtd refuses).
        try:
            idle_libvirtd(nodes)
        except Exception as error:
            warnings.warn(f"libvirtd not idled before the switch back: {error!r}")
        back = deploy()
        assert back.returncode == 0, back.output
        for node in ("kvm01", "kvm02", "kvm03"):
            rc, out = lab.exec(node, "systemctl is-active libvirtd-tls.socket")
            assert out.strip() != "active", (node, out)
