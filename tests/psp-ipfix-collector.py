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

"""A small IPFIX (RFC 7011) collector for the tests.

Listens on UDP, learns the templates it receives and writes each data
record it can decode as one line of NAME=VALUE pairs to OUTPUT, in the
order of the template.  It names the standard elements the tests read and
ovs-psp's PSP elements (enterprise 32473, see the IPFIX table of
ovs-vswitchd.conf.db(5)); others are written as ID or ENTERPRISE.ID.
Records of templates it has not seen yet are counted in the line
"unknown-template N" instead.
"""

import argparse
import ipaddress
import os
import socket
import struct
import sys

PSP_ENTERPRISE = 32473

NAMES = {
    (0, 1): "octetDeltaCount",
    (0, 2): "packetDeltaCount",
    (0, 4): "protocolIdentifier",
    (0, 7): "sourceTransportPort",
    (0, 8): "sourceIPv4Address",
    (0, 11): "destinationTransportPort",
    (0, 12): "destinationIPv4Address",
    (0, 27): "sourceIPv6Address",
    (0, 28): "destinationIPv6Address",
    (0, 60): "ipVersion",
    (0, 138): "observationPointId",
    (0, 256): "ethernetType",
    (PSP_ENTERPRISE, 1): "pspSpi",
    (PSP_ENTERPRISE, 2): "pspVersion",
    (PSP_ENTERPRISE, 3): "pspFlags",
    (PSP_ENTERPRISE, 4): "pspCryptOffset",
    (PSP_ENTERPRISE, 5): "pspVisible",
    (PSP_ENTERPRISE, 6): "pspVirtualizationCookie",
    (PSP_ENTERPRISE, 7): "pspInnerProtocolIdentifier",
    (PSP_ENTERPRISE, 8): "pspInnerSourceTransportPort",
    (PSP_ENTERPRISE, 9): "pspInnerDestinationTransportPort",
}
HEX = {"pspSpi", "pspVirtualizationCookie"}
VARIABLE = 65535


def value(name, data):
    if name in ("sourceIPv4Address", "destinationIPv4Address",
                "sourceIPv6Address", "destinationIPv6Address"):
        return str(ipaddress.ip_address(data))
    if len(data) > 8:
        return data.hex()
    n = int.from_bytes(data, "big")
    return "0x%0*x" % (2 * len(data), n) if name in HEX else str(n)


def parse_template_set(body, templates, options):
    """Learns the (options) templates of a set with ID 2 (3)."""
    i = 0
    while i + 4 <= len(body):
        tid, count = struct.unpack("!HH", body[i:i + 4])
        i += 6 if options else 4
        fields = []
        for _ in range(count):
            fid, flen = struct.unpack("!HH", body[i:i + 4])
            i += 4
            ent = 0
            if fid & 0x8000:
                ent = struct.unpack("!I", body[i:i + 4])[0]
                fid &= 0x7fff
                i += 4
            name = NAMES.get((ent, fid),
                             "%d.%d" % (ent, fid) if ent else str(fid))
            fields.append((name, flen))
        templates[tid] = fields


def parse_data_set(body, fields):
    """Yields each record of a data set as a list of (NAME, VALUE)."""
    least = sum(1 if flen == VARIABLE else flen for _, flen in fields)
    i = 0
    while least and i + least <= len(body):
        record = []
        for name, flen in fields:
            if flen == VARIABLE:
                flen, i = body[i], i + 1
                if flen == 255:
                    flen, i = struct.unpack("!H", body[i:i + 2])[0], i + 2
            record.append((name, value(name, body[i:i + flen])))
            i += flen
        yield record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="where the records go")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0,
                        help="UDP port (default: any free one)")
    parser.add_argument("--port-file",
                        help="write the port listened on to this file")
    args = parser.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # SO_RCVBUFFORCE (root): a bursty exporter loses nothing.
        s.setsockopt(socket.SOL_SOCKET, 33, 1 << 23)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
    s.bind((args.host, args.port))
    out = open(args.output, "w")
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % s.getsockname()[1])
        os.rename(args.port_file + ".tmp", args.port_file)

    templates = {}
    while True:
        m = s.recv(65535)
        if len(m) < 16 or struct.unpack("!H", m[:2])[0] != 10:
            continue
        ofs, lines = 16, []
        while ofs + 4 <= len(m):
            sid, slen = struct.unpack("!HH", m[ofs:ofs + 4])
            if slen < 4:
                break
            body = m[ofs + 4:ofs + slen]
            if sid in (2, 3):
                parse_template_set(body, templates, sid == 3)
            elif sid >= 256 and sid in templates:
                for record in parse_data_set(body, templates[sid]):
                    lines.append("template=%d " % sid + " ".join(
                        "%s=%s" % nv for nv in record))
            elif sid >= 256:
                lines.append("unknown-template %d" % sid)
            ofs += slen
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()


if __name__ == "__main__":
    sys.exit(main())
