"""The report's DNS lookup: the packet it sends and how it reads answers."""

import socket
import struct
import threading

import pytest

from report.dns_query import build_query, parse_response, resolve


def test_query_packet():
    packet = build_query("kvm01.cluster.lan", 0x1234)
    assert packet[:12] == struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    assert packet[12:] == b"\x05kvm01\x07cluster\x03lan\x00\x00\x01\x00\x01"


def test_answer_with_a_compressed_name():
    query = build_query("kvm01.cluster.lan", 7)
    answer = (struct.pack("!HHHHHH", 7, 0x8580, 1, 1, 0, 0) + query[12:]
              + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes([172, 30, 10, 41]))
    assert parse_response(answer, 7) == (0, ["172.30.10.41"])


def test_refused_and_foreign_ids():
    query = build_query("example.org", 9)
    refused = struct.pack("!HHHHHH", 9, 0x8185, 1, 0, 0, 0) + query[12:]
    assert parse_response(refused, 9) == (5, [])
    with pytest.raises(ValueError):
        parse_response(refused, 10)


def closed_udp_port() -> int:
    """A local UDP port nothing listens on (bound, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_server_that_does_not_listen_is_an_error_at_once():
    """Its host answers "port unreachable": an error now, not after the timeout
    (the report asks every host's name of every master). Waiting out the
    timeout would raise TimeoutError, not ConnectionRefusedError."""
    with pytest.raises(ConnectionRefusedError):
        resolve("127.0.0.1", "kvm01.cluster.lan", timeout=30, port=closed_udp_port())


def test_a_server_that_answers():
    """A server on this machine that answers every query with one address."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def answer():
        data, peer = server.recvfrom(512)
        query_id = struct.unpack("!H", data[:2])[0]
        server.sendto(struct.pack("!HHHHHH", query_id, 0x8580, 1, 1, 0, 0) + data[12:]
                      + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes([172, 30, 10, 41]), peer)

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert resolve("127.0.0.1", "kvm01.cluster.lan", timeout=5, port=server.getsockname()[1]) == ["172.30.10.41"]
    finally:
        thread.join(5)
        server.close()


def test_a_server_that_is_silent_times_out():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(OSError):
            resolve("127.0.0.1", "kvm01.cluster.lan", timeout=0.2, port=silent.getsockname()[1])
    finally:
        silent.close()
