"""Regenerates the softflowd-*.bin fixtures: real NetFlow v5, v9 and IPFIX exports.

Writes a pcap of three known flows, has softflowd (Debian package) read it and export to a UDP
socket here, and stores every exported datagram as <u32 big-endian length><bytes>.
Run: python3 capture_softflowd.py   (needs softflowd and softflowctl on PATH)
"""
import os, socket, struct, subprocess, tempfile, time

FLOWS = [
    # (src, dst, proto, sport, dport, packets, payload bytes per packet)
    ("10.0.0.1", "10.0.0.2", 6, 40000, 443, 3, 100),
    ("10.0.0.3", "192.0.2.9", 17, 5353, 53, 2, 40),
    ("192.0.2.10", "10.0.0.1", 6, 22, 51000, 4, 200),
]

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data)//2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return (~(total + (total >> 16))) & 0xFFFF

def packet(src, dst, proto, sport, dport, payload):
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(l4)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    ethernet = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return ethernet + header + l4

def write_pcap(path):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        base = 1795000000
        for index, (src, dst, proto, sport, dport, count, size) in enumerate(FLOWS):
            for n in range(count):
                frame = packet(src, dst, proto, sport, dport, bytes(size))
                out.write(struct.pack("<IIII", base + index, n * 1000, len(frame), len(frame)))
                out.write(frame)

def capture(version, pcap, workdir):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    ctl = os.path.join(workdir, f"ctl{version}")
    proc = subprocess.Popen(["softflowd", "-d", "-r", pcap, "-n", f"127.0.0.1:{port}",
                             "-v", str(version), "-c", ctl],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    datagrams = []
    deadline = time.time() + 20
    while time.time() < deadline:
        subprocess.run(["softflowctl", "-c", ctl, "expire-all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                datagrams.append(listener.recv(65535))
        except socket.timeout:
            pass
        if proc.poll() is not None and datagrams:
            break
    proc.kill()
    return datagrams

with tempfile.TemporaryDirectory() as workdir:
    pcap = os.path.join(workdir, "flows.pcap")
    write_pcap(pcap)
    for version, name in [(5, "v5"), (9, "v9"), (10, "ipfix")]:
        datagrams = capture(version, pcap, workdir)
        with open(f"softflowd-{name}.bin", "wb") as out:
            for datagram in datagrams:
                out.write(struct.pack("!I", len(datagram)) + datagram)
        print(name, len(datagrams), "datagrams", [len(d) for d in datagrams])
