"""Regenerates sflow-v5.bin: two sFlow v5 datagrams laid out per sflow.org/sflow_version_5.txt,
with sampled frames built by scapy (Debian package python3-scapy).

Datagram 1 (IPv4 agent): an expanded flow sample (802.1Q/IPv4/TCP header, extended switch,
router and gateway records), compact flow samples with Ethernet/IPv6/UDP, Ethernet/IPv4/ICMP
(destination unreachable, quoting an IPv4/UDP header) and
Ethernet/IPv6/TCP headers, and a counter sample with generic interface and Ethernet
counters. Datagram 2 (IPv6 agent): a QinQ/IPv4/UDP flow sample, an IPv6 next hop, and an
expanded counter sample.
Stored as <u32 big-endian length><bytes> per datagram, like capture_softflowd.py.
Run: python3 build_sflow.py
"""
import socket, struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether


def xdr(*words):
    return struct.pack(f"!{len(words)}I", *words)


def opaque(data):
    return data + b"\0" * (-len(data) % 4)


def record(data_format, body):
    return xdr(data_format, len(body)) + body


def ipv4(text):
    return socket.inet_aton(text)


def ipv6(text):
    return socket.inet_pton(socket.AF_INET6, text)


def raw_header(frame, frame_length, stripped=4, keep=128):
    """Sampled header record: protocol 1 (Ethernet), the first `keep` bytes of the frame."""
    header = bytes(frame)[:keep]
    return record(1, xdr(1, frame_length, stripped, len(header)) + opaque(header))


def expanded_flow(sequence, index, rate, pool, input_if, output_if, records):
    body = xdr(sequence, 0, index, rate, pool, 0, 0, input_if, 0, output_if, len(records))
    return record(3, body + b"".join(records))


def compact_flow(sequence, index, rate, pool, input_if, output_if, records):
    body = xdr(sequence, index, rate, pool, 0, input_if, output_if, len(records))
    return record(1, body + b"".join(records))


def generic_counters(index, speed, in_octets, out_octets):
    return record(1, xdr(index, 6) + struct.pack("!Q", speed) + xdr(1, 3)
                  + struct.pack("!Q", in_octets) + xdr(100, 7, 3, 2, 1, 0)
                  + struct.pack("!Q", out_octets) + xdr(200, 9, 4, 5, 6, 0))


def ethernet_counters():
    return record(2, xdr(*range(1, 14)))


def datagram(agent, sequence, uptime, samples):
    kind = 1 if len(agent) == 4 else 2
    return xdr(5, kind) + agent + xdr(0, sequence, uptime, len(samples)) + b"".join(samples)


SRC_MAC, DST_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"

tcp4 = (Ether(src=SRC_MAC, dst=DST_MAC) / Dot1Q(vlan=42, prio=3)
        / IP(src="10.0.0.1", dst="10.0.0.2", tos=0x10, ttl=64)
        / TCP(sport=40000, dport=443, flags="SA") / (b"x" * 200))
udp6 = (Ether(src="02:00:00:00:00:03", dst="02:00:00:00:00:04")
        / IPv6(src="2001:db8::1", dst="2001:db8::2", tc=0xB8)
        / UDP(sport=5353, dport=53) / (b"q" * 40))
icmp4 = (Ether(src="02:00:00:00:00:05", dst="02:00:00:00:00:06")
         / IP(src="10.0.0.4", dst="198.51.100.7") / ICMP(type=3, code=1)
         / IP(src="198.51.100.7", dst="203.0.113.9") / UDP(sport=33434, dport=33435))
tcp6 = (Ether(src="02:00:00:00:00:07", dst="02:00:00:00:00:08")
        / IPv6(src="2001:db8::10", dst="2001:db8::20", tc=0x28)
        / TCP(sport=50000, dport=80, flags="FPA") / (b"h" * 1000))
qinq_udp4 = (Ether(src="02:00:00:00:00:09", dst="02:00:00:00:00:0a") / Dot1AD(vlan=100)
             / Dot1Q(vlan=200) / IP(src="192.0.2.50", dst="203.0.113.5", tos=0x04)
             / UDP(sport=123, dport=123) / (b"n" * 48))

# Frame lengths as on the wire: the frame plus its 4-byte FCS (stripped from the header).
first = datagram(ipv4("192.0.2.1"), 1, 60_000, [
    expanded_flow(1, 3, 1000, 50_000, 3, 9, [
        raw_header(tcp4, len(tcp4) + 4),
        record(1001, xdr(42, 3, 43, 0)),
        record(1002, xdr(1) + ipv4("192.0.2.254") + xdr(24, 16)),
        record(1003, xdr(1) + ipv4("192.0.2.253") + xdr(64500, 64501, 64502, 1, 2, 2, 64510,
                                                       64511, 0, 0)),
    ]),
    compact_flow(2, 5, 512, 9_000, 5, 6, [raw_header(udp6, len(udp6) + 4)]),
    compact_flow(3, 5, 512, 9_512, 5, 7, [raw_header(icmp4, len(icmp4) + 4)]),
    # Only the first 128 bytes of a 1000-byte-payload frame are sampled.
    compact_flow(4, 6, 256, 2_000, 6, 5, [raw_header(tcp6, len(tcp6) + 4)]),
    record(2, xdr(7, 3, 2) + generic_counters(3, 1_000_000_000, 5_000_000_000, 77_000)
           + ethernet_counters()),
])
second = datagram(ipv6("2001:db8::100"), 2, 61_000, [
    expanded_flow(5, 11, 2048, 100_000, 11, 12, [
        raw_header(qinq_udp4, len(qinq_udp4) + 4),
        record(1002, xdr(2) + ipv6("2001:db8::fe") + xdr(64, 48)),
    ]),
    record(4, xdr(8, 0, 11, 1) + generic_counters(11, 10_000_000_000, 123, 456)),
])

with open("sflow-v5.bin", "wb") as out:
    for packet in (first, second):
        out.write(struct.pack("!I", len(packet)) + packet)
print("sflow-v5.bin", [len(first), len(second)])
