"""Regenerates fprobe-v5.bin and softflowd-mixed-{v5,v9,ipfix}.bin: real exports of a traffic
mix with IPv4 and IPv6, TCP, UDP and ICMP, and non-zero ToS and interface indexes.

softflowd (Debian package) reads the pcap written here (`-r`). fprobe (Debian package) can only
listen on an interface, so the same frames are sent through a veth pair (`bfcap0` -> `bfcap1`)
that fprobe listens on, with `-x 3:7` so its records carry interface indexes. fprobe speaks
NetFlow v1, v5 and v7 only, and v5 carries no IPv6: its export has the IPv4 flows.
Every exported datagram is stored as <u32 big-endian length><bytes>, like capture_softflowd.py.
Run as root: python3 capture_exporters.py   (needs softflowd, softflowctl, fprobe and `ip`)
"""
import os, socket, struct, subprocess, tempfile, time

FLOWS = [
    # (src, dst, proto, sport or ICMP type, dport or ICMP code, packets, payload bytes, tos)
    ("10.0.0.1", "10.0.0.2", 6, 40000, 443, 3, 100, 0x10),
    ("10.0.0.3", "192.0.2.9", 17, 5353, 53, 2, 40, 0xB8),
    ("10.0.0.4", "198.51.100.7", 1, 8, 0, 2, 56, 0),
    ("192.0.2.10", "10.0.0.1", 6, 22, 51000, 4, 200, 0x04),
    ("2001:db8::1", "2001:db8::2", 6, 50000, 80, 4, 120, 0x28),
    ("2001:db8::3", "2001:db8::4", 17, 123, 123, 2, 48, 0),
    ("2001:db8::1", "2001:db8::5", 58, 128, 0, 3, 32, 0),
]
TCP_FLAGS = [0x02, 0x18, 0x18, 0x11]  # SYN, then PSH|ACK, and FIN|ACK on the fourth packet
VETH, PEER = "bfcap0", "bfcap1"


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data)//2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return (~(total + (total >> 16))) & 0xFFFF


def packet(src, dst, proto, sport, dport, payload, tos, index):
    if proto == 6:
        flags = TCP_FLAGS[index % len(TCP_FLAGS)]
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1 + index, 0, 5 << 4, flags, 65535, 0, 0)
    elif proto == 17:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    else:
        l4 = struct.pack("!BBHHH", sport, dport, 0, 1, index)
    l4 += payload
    if ":" in src:
        header = struct.pack("!IHBB16s16s", (6 << 28) | (tos << 20), len(l4), proto, 64,
                             socket.inet_pton(socket.AF_INET6, src),
                             socket.inet_pton(socket.AF_INET6, dst))
        ethertype = b"\x86\xdd"
    else:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(l4), 1 + index, 0, 64, proto,
                             0, socket.inet_aton(src), socket.inet_aton(dst))
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        ethertype = b"\x08\x00"
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + ethertype + header + l4


def frames():
    """(seconds offset, microseconds, frame) in capture order."""
    out = []
    for flow_index, (src, dst, proto, sport, dport, count, size, tos) in enumerate(FLOWS):
        for n in range(count):
            frame = packet(src, dst, proto, sport, dport, bytes(size), tos, n)
            out.append((flow_index, n * 1000, frame))
    return out


def write_pcap(path):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for seconds, micros, frame in frames():
            out.write(struct.pack("<IIII", 1795000000 + seconds, micros, len(frame), len(frame)))
            out.write(frame)


def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    return sock


def drain(sock, datagrams):
    try:
        while True:
            datagrams.append(sock.recv(65535))
    except socket.timeout:
        pass


def softflowd(version, pcap, workdir):
    sock = listener()
    ctl = os.path.join(workdir, f"ctl{version}")
    proc = subprocess.Popen(["softflowd", "-d", "-r", pcap, "-n",
                             f"127.0.0.1:{sock.getsockname()[1]}", "-v", str(version), "-c", ctl],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    datagrams = []
    deadline = time.time() + 20
    while time.time() < deadline:
        subprocess.run(["softflowctl", "-c", ctl, "expire-all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        drain(sock, datagrams)
        if proc.poll() is not None and datagrams:
            break
    proc.kill()
    return datagrams


def fprobe():
    sock = listener()
    subprocess.run(["ip", "link", "add", VETH, "type", "veth", "peer", "name", PEER], check=True)
    try:
        for link in (VETH, PEER):
            subprocess.run(["ip", "link", "set", link, "up"], check=True)
        # Foreground (-l 2), IPv4 only, idle flows expire after 1 s, scanned every second.
        proc = subprocess.Popen(["fprobe", "-l", "2", "-i", PEER, "-f", "ip", "-p", "-x", "3:7",
                                 "-d", "1", "-e", "2", "-s", "1",
                                 f"127.0.0.1:{sock.getsockname()[1]}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        raw.bind((VETH, 0))
        for _, _, frame in frames():
            raw.send(frame)
            time.sleep(0.001)
        datagrams = []
        deadline = time.time() + 15
        while time.time() < deadline and sum((len(d) - 24) // 48 for d in datagrams) < 4:
            drain(sock, datagrams)
        proc.terminate()
        proc.wait()
        return datagrams
    finally:
        subprocess.run(["ip", "link", "del", VETH])


def store(name, datagrams):
    with open(name, "wb") as out:
        for datagram in datagrams:
            out.write(struct.pack("!I", len(datagram)) + datagram)
    print(name, len(datagrams), "datagrams", [len(d) for d in datagrams])


with tempfile.TemporaryDirectory() as workdir:
    pcap = os.path.join(workdir, "flows.pcap")
    write_pcap(pcap)
    for version, name in [(5, "v5"), (9, "v9"), (10, "ipfix")]:
        store(f"softflowd-mixed-{name}.bin", softflowd(version, pcap, workdir))
store("fprobe-v5.bin", fprobe())
