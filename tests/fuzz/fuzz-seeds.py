#! /usr/bin/env python3
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

"""Writes the seed corpora of the fuzz targets (tests/fuzz/fuzz-*.c) from
the PSP vectors: every packet of every encrypted vector as it is
(authentic), and as its plaintext (the PSP header, then the cleartext
vector's inner packet) for the harness to seal, each in the input format
of each target; and the inputs of regressions.txt, what the targets found
before, so that every run replays them.

usage: fuzz-seeds.py VECTORS OUTDIR

VECTORS is the vector directory (encrypted/, cleartext/, cfg/); OUTDIR gets
one directory of seeds per target, named for it."""

import os
import struct
import sys

# Control bytes of fuzz_frame_build() (fuzz-psp.h).
F_FIX_LEN = 0x01
F_SEAL = 0x02
F_L3 = 0x04
F_BOUND_SPI = 0x08


def read_pcap(path):
    """Returns the frames of the classic pcap file at 'path'."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError("%s: not a pcap file" % path)
    frames = []
    ofs = 24
    while ofs + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[ofs + 8:ofs + 12])[0]
        frames.append(data[ofs + 16:ofs + 16 + caplen])
        ofs += 16 + caplen
    return frames


def l3_offset(frame):
    """Offset of the IP header of an Ethernet frame (with VLAN tags)."""
    ofs = 14
    eth_type = struct.unpack(">H", frame[12:14])[0]
    while eth_type in (0x8100, 0x88A8):
        eth_type = struct.unpack(">H", frame[ofs + 2:ofs + 4])[0]
        ofs += 4
    return ofs


def ip_header_len(frame, l3):
    if frame[l3] >> 4 == 4:
        return 4 * (frame[l3] & 15)
    return 40


def split(frame):
    """Splits an encrypted vector frame into its headers up to UDP and its
    PSP packet (the UDP payload)."""
    l3 = l3_offset(frame)
    udp = l3 + ip_header_len(frame, l3)
    return frame[:udp + 8], frame[udp + 8:]


def plaintext(psp, clear_frame, tunnel):
    """The PSP packet 'psp' with its payload replaced by what it encrypts:
    the inner packet of 'clear_frame' (its IP packet in tunnel mode, its L4
    packet in transport mode), and a zero VC."""
    hdr_len = 24 if psp[3] & 0x02 else 16
    payload_ofs = 8 * (psp[1] + 1)
    l3 = l3_offset(clear_frame)
    inner = clear_frame[l3:] if tunnel else \
        clear_frame[l3 + ip_header_len(clear_frame, l3):]
    plain = psp[:16] + bytes(hdr_len - 16) + psp[hdr_len:payload_ofs] \
        + inner + bytes(16)
    if len(plain) != len(psp):
        raise ValueError("plaintext of %d bytes for %d" %
                         (len(plain), len(psp)))
    return plain


def read_regressions(path):
    """Returns (target, name, input) for each entry of 'path': a line
    "TARGET NAME", the input in hex on the lines after it, a blank line."""
    entries = []
    entry = None
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                entry = None
            elif entry is None:
                target, name = line.split()
                entry = [target, name, bytearray()]
                entries.append(entry)
            else:
                entry[2] += bytes.fromhex(line)
    return [(t, n, bytes(d)) for t, n, d in entries]


class Vector:
    def __init__(self, vectors, name):
        self.name = name
        parts = name.split("__")
        self.clear_name = parts[0]
        self.tunnel = parts[1] == "tunnel"
        self.version = int(parts[2][1:])
        self.crypt_off = int(parts[3][2:])
        self.vc = parts[4] == "vc"
        self.spi = int(parts[5][3:], 16)
        self.frames = read_pcap(os.path.join(vectors, "encrypted",
                                             name + ".pcap"))
        self.clear = read_pcap(os.path.join(vectors, "cleartext",
                                            self.clear_name + ".pcap"))


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: %s VECTORS OUTDIR\n" % sys.argv[0])
        sys.exit(2)
    vectors, outdir = sys.argv[1:]
    names = sorted(f[:-5] for f in os.listdir(os.path.join(vectors,
                                                          "encrypted"))
                   if f.endswith(".pcap"))
    if not names:
        sys.stderr.write("%s: no vectors in %s/encrypted\n"
                         % (sys.argv[0], vectors))
        sys.exit(1)

    seeds = {}

    def add(target, name, data):
        seeds.setdefault(target, []).append((name, data))

    ctl = lambda flags: bytes([flags, 0, 0, 0, 0])
    clear_done = set()
    for name in names:
        v = Vector(vectors, name)
        for k, (frame, clear) in enumerate(zip(v.frames, v.clear)):
            seed = "%s-%d" % (name, k + 1)
            hdrs, psp = split(frame)
            plain = plaintext(psp, clear, v.tunnel)
            plain_frame = hdrs + plain

            add("fuzz-psp-hdr-parse", seed, psp)
            add("fuzz-psp-visible", seed, psp)
            add("fuzz-psp-rx", seed, bytes(3) + psp)
            add("fuzz-psp-rx", seed + "-seal", bytes([0x01, 0, 0]) + plain)
            add("fuzz-psp-rx", seed + "-seal-tracked",
                bytes([0x03, 0, 0]) + plain)
            add("fuzz-psp-rx", seed + "-seal-two-steps",
                bytes([0x09, 0, 0]) + plain)

            for target in ("fuzz-miniflow-extract",
                           "fuzz-psp-dp-pop" if v.tunnel
                           else "fuzz-psp-dp-decrypt"):
                add(target, seed, ctl(0) + frame)
                add(target, seed + "-seal", ctl(F_SEAL) + plain_frame)
                add(target, seed + "-seal-fix",
                    ctl(F_SEAL | F_FIX_LEN) + plain_frame)
                add(target, seed + "-seal-bound",
                    ctl(F_SEAL | F_BOUND_SPI) + plain_frame)

            # ovs-psp-pcap: decrypt the vector; encrypt its cleartext with
            # the vector's settings.
            opts = (v.version | (0x04 if v.tunnel else 0)
                    | (0x08 if v.vc else 0)
                    | (0x40 if v.spi == 0x9A345678 else 0))
            add("fuzz-psp-pcap-frame", seed,
                bytes([opts, v.crypt_off]) + ctl(0) + frame)
            add("fuzz-psp-pcap-frame", seed + "-clear",
                bytes([opts, v.crypt_off]) + ctl(0) + clear)
            if (v.clear_name, k) not in clear_done:
                clear_done.add((v.clear_name, k))
                add("fuzz-miniflow-extract",
                    "%s-%d" % (v.clear_name, k + 1), ctl(0) + clear)

    for target, name, data in read_regressions(
            os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "regressions.txt")):
        add(target, "regression-" + name, data)

    for target, items in sorted(seeds.items()):
        d = os.path.join(outdir, target)
        os.makedirs(d, exist_ok=True)
        for name, data in items:
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (d, len(items)))


if __name__ == "__main__":
    main()
