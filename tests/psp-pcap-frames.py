#!/usr/bin/env python3
# Copyright (c) 2026 The ovs-psp authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at:
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Ethernet frames in pcap files, for the ovs-psp-pcap tests.

  psp-pcap-frames.py write OUT SPEC...   one frame per SPEC into OUT
  psp-pcap-frames.py tag IN OUT N        N more VLAN tags (802.1Q) in front
                                         of every frame of IN
  psp-pcap-frames.py cat OUT IN...       the frames of every IN, in order
  psp-pcap-frames.py show IN...          one line per frame: its length, the
                                         number of VLAN tags, its IP header
                                         and a digest of the whole frame

Reading a capture fails if a frame is longer than its snapshot length.

A SPEC is a comma-separated list of KEY=VALUE, each optional:
  ip=4|6     IP version (4)
  tags=N     VLAN tags: the outermost 802.1ad, the others 802.1Q (0)
  len=N      UDP payload bytes (64); 'max' for the longest payload whose
             transport-mode PSP packet still fits in 65,535 bytes of IP
             length (IPv4) or of IPv6 payload
  mf=1       IPv4 More Fragments bit
  off=N      IPv4 fragment offset, in 8-byte units
  nh=N       IPv6 Next Header (17); the UDP header and payload follow as they
             are
  l4=udp|tcp the L4 header (udp); 'tcp' for a TCP segment (ACK and PSH, the
             sequence number growing with the payload) with its checksum
The frames go from 10.0.0.1 (fd00::1) port 11111 to 10.0.0.2 (fd00::2) port
22222; their payload bytes depend on the frame's position in OUT.
"""

import hashlib
import struct
import sys

# UDP, PSP header and ICV that transport mode adds.
PSP_OVERHEAD = 8 + 16 + 16


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def make_frame(spec, index):
    opts = {"ip": "4", "tags": "0", "len": "64", "mf": "0", "off": "0",
            "nh": "17", "l4": "udp"}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key not in opts:
            sys.exit("%s: unknown key in frame spec" % key)
        opts[key] = value
    v6 = opts["ip"] == "6"
    if opts["len"] == "max":
        l4len = 20 if opts["l4"] == "tcp" else 8
        plen = 65535 - PSP_OVERHEAD - l4len - (0 if v6 else 20)
    else:
        plen = int(opts["len"])
    payload = bytes((index * 31 + i * 7) & 0xff for i in range(plen))
    if v6:
        src, dst = b"\xfd" + bytes(14) + b"\1", b"\xfd" + bytes(14) + b"\2"
    else:
        src, dst = bytes((10, 0, 0, 1)), bytes((10, 0, 0, 2))
    if opts["l4"] == "tcp":
        proto = 6
        seq = 1000 + index * 65536
        l4 = struct.pack("!HHIIBBHHH", 11111, 22222, seq, 1, 5 << 4, 0x18,
                         65535, 0, 0) + payload
        if v6:
            pseudo = src + dst + struct.pack("!IxxxB", len(l4), proto)
        else:
            pseudo = src + dst + struct.pack("!xBH", proto, len(l4))
        l4 = l4[:16] + struct.pack("!H", csum(pseudo + l4)) + l4[18:]
    elif opts["l4"] == "udp":
        proto = 17
        l4 = struct.pack("!HHHH", 11111, 22222, 8 + plen, 0) + payload
    else:
        sys.exit("%s: unknown l4 in frame spec" % opts["l4"])
    if v6:
        nh = proto if opts["nh"] == "17" and proto != 17 else int(opts["nh"])
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(l4), nh, 64, src, dst)
        ethertype = 0x86dd
    else:
        frag = (0x2000 if opts["mf"] == "1" else 0) | int(opts["off"])
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), index,
                         frag, 64, proto, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        ethertype = 0x0800
    ntags = int(opts["tags"])
    tags = b""
    for i in range(ntags):
        tpid = 0x88a8 if i == 0 and ntags > 1 else 0x8100
        tags += struct.pack("!HH", tpid, 100 + i)
    eth = bytes((2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1))
    return eth + tags + struct.pack("!H", ethertype) + ip + l4


def read_pcap(name):
    with open(name, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        sys.exit("%s: not a pcap file" % name)
    snaplen = struct.unpack(endian + "I", data[16:20])[0]
    frames = []
    ofs = 24
    while ofs < len(data):
        caplen, length = struct.unpack(endian + "II", data[ofs + 8:ofs + 16])
        frame = data[ofs + 16:ofs + 16 + caplen]
        if caplen != length or len(frame) != caplen:
            sys.exit("%s: frame %d cut short" % (name, len(frames) + 1))
        if caplen > snaplen:
            # libpcap and tcpdump would cut it to the snapshot length.
            sys.exit("%s: frame %d (%d bytes) longer than the snapshot "
                     "length (%d)" % (name, len(frames) + 1, caplen, snaplen))
        frames.append(frame)
        ofs += 16 + caplen
    return frames


def write_pcap(name, frames):
    with open(name, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(frame),
                                len(frame)))
            f.write(frame)


def describe(frame):
    ofs = 12
    tags = []
    ethertype = struct.unpack("!H", frame[12:14])[0]
    while ethertype in (0x8100, 0x88a8) and ofs + 6 <= len(frame):
        tags.append(ethertype)
        ofs += 4
        ethertype = struct.unpack("!H", frame[ofs:ofs + 2])[0]
    l3 = frame[ofs + 2:]
    words = ["%d bytes" % len(frame), "tags=%d" % len(tags)]
    if ethertype == 0x0800 and len(l3) >= 20:
        frag = struct.unpack("!H", l3[6:8])[0]
        words += ["ipv4", "ip_len=%d" % struct.unpack("!H", l3[2:4])[0],
                  "proto=%d" % l3[9], "frag=%04x" % frag,
                  "csum=%s" % ("ok" if csum(l3[:(l3[0] & 15) * 4]) == 0
                               else "bad")]
        l4 = l3[(l3[0] & 15) * 4:]
        proto = l3[9]
    elif ethertype == 0x86dd and len(l3) >= 40:
        words += ["ipv6", "ip_len=%d" % (40 + struct.unpack("!H",
                                                            l3[4:6])[0]),
                  "proto=%d" % l3[6]]
        l4 = l3[40:]
        proto = l3[6]
    else:
        words += ["type=%04x" % ethertype]
        proto = l4 = None
    if proto == 17 and len(l4) >= 8:
        words += ["udp_dst=%d" % struct.unpack("!H", l4[2:4])[0]]
    words += ["sha256=%s" % hashlib.sha256(frame).hexdigest()[:16]]
    return " ".join(words)


def main(args):
    if len(args) >= 2 and args[0] == "write":
        write_pcap(args[1], [make_frame(spec, i)
                             for i, spec in enumerate(args[2:])])
    elif len(args) == 4 and args[0] == "tag":
        more = b"".join(struct.pack("!HH", 0x8100, 200 + i)
                        for i in range(int(args[3])))
        write_pcap(args[2], [f[:12] + more + f[12:]
                             for f in read_pcap(args[1])])
    elif len(args) >= 2 and args[0] == "cat":
        write_pcap(args[1], [f for name in args[2:]
                             for f in read_pcap(name)])
    elif len(args) >= 2 and args[0] == "show":
        for name in args[1:]:
            for frame in read_pcap(name):
                print(describe(frame))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
