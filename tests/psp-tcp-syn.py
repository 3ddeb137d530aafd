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

"""TCP SYNs with an MSS option, for the MSS clamping of psp_encrypt.

  psp-tcp-syn.py make MSS [odd]   an Ethernet/IPv4/TCP SYN from 10.0.0.1 to
                                  10.0.0.2 with that MSS option, in hex (with
                                  'odd', after a NOP, at an odd offset)
  psp-tcp-syn.py check PCAP       for each TCP packet of PCAP: "mss=N
                                  csum=ok|bad"
"""

import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def tcp_csum(src, dst, tcp):
    return csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)


def make(mss, odd):
    src, dst = bytes((10, 0, 0, 1)), bytes((10, 0, 0, 2))
    if odd:
        opts = bytes((1, 2, 4)) + struct.pack("!H", mss) + bytes((1, 1, 0))
    else:
        opts = bytes((2, 4)) + struct.pack("!H", mss) + bytes((1, 1, 1, 0))
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0,
                      (5 + len(opts) // 4) << 4, 0x02, 65535, 0, 0) + opts
    tcp = tcp[:16] + struct.pack("!H", tcp_csum(src, dst, tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64,
                     6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = bytes((2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0))
    print((eth + ip + tcp).hex())


def check(name):
    with open(name, "rb") as f:
        data = f.read()
    ofs = 24
    while ofs + 16 <= len(data):
        caplen = struct.unpack("<I", data[ofs + 8:ofs + 12])[0]
        frame = data[ofs + 16:ofs + 16 + caplen]
        ofs += 16 + caplen
        ip = frame[14:]
        if len(ip) < 20 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:tot]
        thl = (tcp[12] >> 4) * 4
        mss, i = None, 20
        while i < thl:
            if tcp[i] == 0:
                break
            if tcp[i] == 1:
                i += 1
                continue
            if tcp[i] == 2:
                mss = struct.unpack("!H", tcp[i + 2:i + 4])[0]
            i += tcp[i + 1]
        ok = tcp_csum(ip[12:16], ip[16:20], tcp) == 0
        print("mss=%s csum=%s" % (mss, "ok" if ok else "bad"))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "odd")
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
