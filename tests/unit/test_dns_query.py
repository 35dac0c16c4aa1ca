"""The report's DNS lookup: the packet it sends and how it reads answers."""

import struct

import pytest

from report.dns_query import build_query, parse_response


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
