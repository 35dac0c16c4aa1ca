"""A minimal DNS A-record lookup against one server, in pure Python.

The readiness report asks each master for every host's name from the
management node, without needing dig or a DNS library there.
"""

from __future__ import annotations

import random
import socket
import struct


def build_query(name: str, query_id: int) -> bytes:
    """A recursive query for the A record of ``name``."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(part)]) + part.encode("ascii") for part in name.rstrip(".").split("."))
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:  # compression pointer: two bytes, the name ends
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def parse_response(data: bytes, query_id: int) -> tuple[int, list[str]]:
    """(rcode, [IPv4 addresses]) of a response to query ``query_id``."""
    answer_id, flags, questions, answers = struct.unpack("!HHHH", data[:8])
    if answer_id != query_id:
        raise ValueError("response to another query")
    offset = 12
    for _ in range(questions):
        offset = _skip_name(data, offset) + 4
    addresses = []
    for _ in range(answers):
        offset = _skip_name(data, offset)
        rtype, _class, _ttl, length = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            addresses.append(socket.inet_ntoa(data[offset:offset + 4]))
        offset += length
    return flags & 0x000F, addresses


def resolve(server: str, name: str, timeout: float = 2.0, port: int = 53) -> list[str]:
    """The A records of ``name`` according to ``server`` (UDP 53); raises
    ``OSError`` when the server does not answer (at once, ``ConnectionRefusedError``,
    where its host says nothing listens there), ``LookupError`` on an error rcode.

    The socket is connected to the server: the kernel then hands it only the
    server's datagrams, and the host's "port unreachable" as an error (an
    unconnected socket ignores it and waits out ``timeout``)."""
    query_id = random.randrange(1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, port))
        sock.send(build_query(name, query_id))
        data = sock.recv(4096)
    rcode, addresses = parse_response(data, query_id)
    if rcode:
        raise LookupError(f"{server} answered rcode {rcode} for {name}")
    return addresses
