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

"""The PSP test vectors the tests use, made here.

  psp-make-vectors.py DIR            writes the vectors to DIR
  psp-make-vectors.py --compare REF  makes them in a temporary directory
                                     and compares them, packet by packet,
                                     with those in REF (the public google/psp
                                     reference tools' output); prints a PASS
                                     or FAIL line for each file

DIR gets the layout of the reference set: keys/master_keys.cfg (the spec's
two KDF example master keys), cleartext/ref_v4_udp1392x3.pcap and
ref_v6_udp1372x3.pcap (3 IPv4 or IPv6 UDP packets of 1434 bytes), and
encrypted/NAME.pcap with NAME = CLEAR__MODE__vVERSION__coOFFSET__VC__spiSPI,
the same packets encrypted as the reference encryptor does: packet k has
IV k, a VC is all zero, the outer UDP source port is the inner ports XORed,
the UDP checksum 0, and in tunnel mode the outer IP header is the inner's.

This is an implementation of PSP independent of libpsp (Python and the
'cryptography' package): the tests run against what it makes, and the
comparison shows that it makes what the reference tools make.
"""

import os
import shutil
import struct
import sys
import tempfile

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# The master keys of the PSP specification's key derivation examples.
MASTER_KEYS = (
    bytes.fromhex("34448a064292601b11a0978f56a2d34c"
                  "f3fc35ede1a6bc04f8db3e5243a2b0ca"),
    bytes.fromhex("563952565d3a78ae773ec1b779f2f2d9"
                  "9f4a7f53a6fbb9b07d5b71f39364d739"),
)

MACS = bytes.fromhex("008899aabb00" "002233445500")
SRC_PORT, DST_PORT = 0x2b67, 0x56ce
PCAP_TS = 1795312194

VECTORS = [
    # (cleartext, mode, version, crypt offset, vc, spi)
    ("ref_v4_udp1392x3", "transport", 0, 0, False, 0x12345678),
    ("ref_v4_udp1392x3", "transport", 1, 1, False, 0x9A345678),
    ("ref_v6_udp1372x3", "transport", 0, 1, False, 0x9A345678),
    ("ref_v6_udp1372x3", "transport", 1, 0, False, 0x12345678),
    ("ref_v4_udp1392x3", "tunnel", 0, 6, False, 0x9A345678),
    ("ref_v4_udp1392x3", "tunnel", 1, 0, True, 0x9A345678),
    ("ref_v6_udp1372x3", "tunnel", 0, 11, False, 0x9A345678),
    ("ref_v6_udp1372x3", "tunnel", 1, 13, True, 0x12345678),
]


def ip_checksum(hdr):
    s = sum(struct.unpack("!%dH" % (len(hdr) // 2), hdr))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return struct.pack("!H", ~s & 0xffff)


def ipv4_header(total_len, proto):
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total_len, 0,
                                0x4000, 64, proto, 0,
                                bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])))
    hdr[10:12] = ip_checksum(bytes(hdr))
    return bytes(hdr)


def ipv6_header(payload_len, next_hdr):
    src = bytes([10] + [0] * 14 + [1])
    dst = bytes([10] + [0] * 14 + [2])
    return struct.pack("!IHBB16s16s", 6 << 28, payload_len, next_hdr, 64,
                       src, dst)


def cleartext_packets(name):
    """The 3 frames of cleartext 'name': UDP payload byte i of packet k is
    (i + k) mod 256."""
    v6 = name.startswith("ref_v6")
    pay_len = 1372 if v6 else 1392
    frames = []
    for k in range(3):
        payload = bytes((i + k) & 0xff for i in range(pay_len))
        udp_len = 8 + pay_len
        if v6:
            ip = ipv6_header(udp_len, 17)
            pseudo = ip[8:40] + struct.pack("!IxxxB", udp_len, 17)
        else:
            ip = ipv4_header(20 + udp_len, 17)
            pseudo = ip[12:20] + struct.pack("!xBH", 17, udp_len)
        udp = struct.pack("!HHHH", SRC_PORT, DST_PORT, udp_len, 0) + payload
        csum = ip_checksum(pseudo + udp + (b"\0" if len(udp) % 2 else b""))
        if csum == b"\0\0":
            csum = b"\xff\xff"
        udp = udp[:6] + csum + udp[8:]
        ethertype = b"\x86\xdd" if v6 else b"\x08\x00"
        frames.append(MACS + ethertype + ip + udp)
    return frames


def derive_key(spi, version):
    """SP 800-108 counter-mode KDF, AES-256-CMAC, keyed by the master key
    that the SPI's top bit selects."""
    label = b"Pv1\0" if version in (1, 3) else b"Pv0\0"
    bits = 256 if version in (1, 3) else 128
    key = b""
    for counter in range(1, bits // 128 + 1):
        c = cmac.CMAC(algorithms.AES(MASTER_KEYS[spi >> 31]))
        c.update(struct.pack("!I4sII", counter, label, spi, bits))
        key += c.finalize()
    return key


def psp_seal(key, spi, version, crypt_off, vc, iv, next_hdr, payload):
    """The PSP header, the payload with its crypt offset, and the ICV."""
    hdr = struct.pack("!BBBBIQ", next_hdr, 2 if vc else 1, crypt_off,
                      (version << 2) | (2 if vc else 0) | 1, spi, iv)
    body = (b"\0" * 8 if vc else b"") + payload
    clear = 4 * crypt_off
    aad = hdr + body[:clear]
    nonce = struct.pack("!IQ", spi, iv)
    sealed = AESGCM(key).encrypt(nonce, body[clear:], aad)
    return hdr + body[:clear] + sealed


def encrypt_frame(frame, mode, spi, version, crypt_off, vc, iv):
    v6 = frame[12:14] == b"\x86\xdd"
    ip_len = 40 if v6 else 20
    ip, l4 = frame[14:14 + ip_len], frame[14 + ip_len:]
    key = derive_key(spi, version)
    if mode == "transport":
        next_hdr, payload = ip[6 if v6 else 9], l4
    else:
        next_hdr, payload = (41 if v6 else 4), ip + l4
    psp = psp_seal(key, spi, version, crypt_off, vc, iv, next_hdr, payload)
    udp_len = 8 + len(psp)
    udp = struct.pack("!HHHH", SRC_PORT ^ DST_PORT, 1000, udp_len, 0) + psp
    if v6:
        outer = ip[:4] + struct.pack("!HB", udp_len, 17) + ip[7:]
    else:
        outer = bytearray(ip)
        outer[2:4] = struct.pack("!H", 20 + udp_len)
        outer[9] = 17
        outer[10:12] = b"\0\0"
        outer[10:12] = ip_checksum(bytes(outer))
        outer = bytes(outer)
    return frame[:14] + outer + udp


def write_pcap(path, frames, usec0):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for k, frame in enumerate(frames):
            f.write(struct.pack("<IIII", PCAP_TS, usec0 + k, len(frame),
                                len(frame)))
            f.write(frame)


def read_pcap(path):
    data = open(path, "rb").read()
    frames, ofs = [], 24
    while ofs + 16 <= len(data):
        incl = struct.unpack("<IIII", data[ofs:ofs + 16])[2]
        frames.append(data[ofs + 16:ofs + 16 + incl])
        ofs += 16 + incl
    return frames


def vector_name(clear, mode, version, crypt_off, vc, spi):
    return "%s__%s__v%d__co%d__%s__spi%08X" % (
        clear, mode, version, crypt_off, "vc" if vc else "novc", spi)


def make(d):
    for sub in ("keys", "cleartext", "encrypted"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(os.path.join(d, "keys", "master_keys.cfg"), "w") as f:
        for mk in MASTER_KEYS:
            f.write(" ".join("%02x" % b for b in mk) + "\n")
    for clear in ("ref_v4_udp1392x3", "ref_v6_udp1372x3"):
        write_pcap(os.path.join(d, "cleartext", clear + ".pcap"),
                   cleartext_packets(clear), 0)
    for clear, mode, version, co, vc, spi in VECTORS:
        frames = [encrypt_frame(frame, mode, spi, version, co, vc, k + 1)
                  for k, frame in enumerate(cleartext_packets(clear))]
        name = vector_name(clear, mode, version, co, vc, spi)
        write_pcap(os.path.join(d, "encrypted", name + ".pcap"), frames, 0)


def compare(ref):
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        make(d)
        names = ["cleartext/%s.pcap" % c
                 for c in ("ref_v4_udp1392x3", "ref_v6_udp1372x3")]
        names += ["encrypted/%s.pcap" % vector_name(*v) for v in VECTORS]
        for name in names:
            ours = read_pcap(os.path.join(d, name))
            path = os.path.join(ref, name)
            theirs = read_pcap(path) if os.path.exists(path) else None
            if ours == theirs:
                print("PASS: vectors: %s is the reference's, byte for byte"
                      % name)
            else:
                print("FAIL: vectors: %s differs from the reference's" % name)
                failures += 1
        ours = open(os.path.join(d, "keys", "master_keys.cfg")).read()
        theirs = open(os.path.join(ref, "keys", "master_keys.cfg")).read()
        if ours.split() == theirs.split():
            print("PASS: vectors: the master keys are the reference's")
        else:
            print("FAIL: vectors: the master keys differ from the reference's")
            failures += 1
    return failures


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--compare":
        sys.exit(1 if compare(sys.argv[2]) else 0)
    elif len(sys.argv) == 2 and not sys.argv[1].startswith("-"):
        # Made beside the destination, then renamed into place, so that
        # tests that start together never see half a set.
        dest = sys.argv[1]
        parent = os.path.dirname(os.path.abspath(dest))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=parent)
        make(tmp)
        try:
            os.rename(tmp, dest)
        except OSError:
            shutil.rmtree(tmp)
            if not os.path.isdir(dest):
                raise
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
