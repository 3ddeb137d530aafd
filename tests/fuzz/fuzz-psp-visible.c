/*
 * Copyright (c) 2026 The ovs-psp authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at:
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/* Fuzz target: the cleartext telemetry parse, psp_visible_parse() (libpsp)
 * and psp_flow_extract() (the PSP match fields that miniflow_extract()
 * fills), on a PSP packet (a UDP payload) that is not decrypted.
 *
 * Besides what ASan and UBSan catch, it checks that psp_flow_extract()
 * shows what the two libpsp parses show, that nothing it shows lies past
 * the cleartext region (the crypt offset, or all of a GMAC packet), and
 * that the crypt offset that psp_ports_visible_offset() names does leave
 * the ports of a plain inner header readable. */

#include <config.h>

#include <string.h>

#include "flow.h"
#include "psp-flow.h"

#include "fuzz-psp.h"

static uint16_t
get16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

static bool
proto_has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t words[3];
    struct flow_psp fp;
    struct psp_hdr_info h;
    bool ok = psp_flow_extract(data, size, words);

    BUILD_ASSERT(sizeof fp == sizeof words);
    memcpy(&fp, words, sizeof fp);
    FUZZ_ASSERT(ok == (psp_hdr_parse(data, size, &h) == PSP_OK));
    if (!ok) {
        FUZZ_ASSERT(is_all_zeros(&fp, sizeof fp));
        return 0;
    }

    struct psp_visible v;
    psp_visible_parse(data, &h, &v);

    /* The fields, as the two parses have them. */
    FUZZ_ASSERT(ntohl(fp.spi) == h.spi && fp.ver == h.version
                && fp.crypt_off == h.crypt_off);
    FUZZ_ASSERT(fp.flags == (data[3] & 0xc2));
    FUZZ_ASSERT(fp.vis & FLOW_PSP_VIS_HDR);
    FUZZ_ASSERT(!!(fp.vis & FLOW_PSP_VIS_VC) == h.vc_readable);
    FUZZ_ASSERT(h.vc_readable ? ntohll(fp.vc) == h.vc : !fp.vc);
    FUZZ_ASSERT(!!(fp.vis & FLOW_PSP_VIS_PROTO) == v.has_proto);
    FUZZ_ASSERT(v.has_proto ? fp.inner_proto == v.proto : !fp.inner_proto);
    FUZZ_ASSERT(!!(fp.vis & FLOW_PSP_VIS_PORTS) == v.has_ports);
    FUZZ_ASSERT(v.has_ports
                ? (ntohs(fp.inner_tp_src) == v.src_port
                   && ntohs(fp.inner_tp_dst) == v.dst_port)
                : !fp.inner_tp_src && !fp.inner_tp_dst);
    FUZZ_ASSERT(!(fp.vis & ~(FLOW_PSP_VIS_HDR | FLOW_PSP_VIS_VC
                             | FLOW_PSP_VIS_PROTO | FLOW_PSP_VIS_PORTS)));

    /* Nothing shown comes from past the cleartext region. */
    bool gmac = psp_version_is_gmac(h.version);
    size_t clear_end = (gmac ? size - PSP_ICV_LEN
                        : PSP_HDR_LEN + 4 * (size_t) h.crypt_off);
    const uint8_t *inner = data + h.payload_ofs;
    size_t l4_ofs = h.payload_ofs;      /* From the start of the packet. */
    FUZZ_ASSERT(v.inner_ip == (h.next_hdr == PSP_NH_IPV4 ? 4
                               : h.next_hdr == PSP_NH_IPV6 ? 6 : 0));
    if (v.has_proto) {
        size_t proto_end = (v.inner_ip == 4 ? h.payload_ofs + 10
                            : v.inner_ip == 6 ? h.payload_ofs + 7
                            : 0);
        FUZZ_ASSERT(proto_end <= clear_end);
        FUZZ_ASSERT(v.proto == (v.inner_ip == 4 ? inner[9]
                                : v.inner_ip == 6 ? inner[6]
                                : h.next_hdr));
        l4_ofs += (v.inner_ip == 4 ? 4 * (size_t) (inner[0] & 15)
                   : v.inner_ip == 6 ? 40 : 0);
    }
    if (v.has_ports) {
        FUZZ_ASSERT(v.has_proto && proto_has_ports(v.proto));
        FUZZ_ASSERT(l4_ofs + 4 <= clear_end
                    && l4_ofs + 4 <= size - PSP_ICV_LEN);
        FUZZ_ASSERT(v.src_port == get16(data + l4_ofs)
                    && v.dst_port == get16(data + l4_ofs + 2));
        FUZZ_ASSERT(v.inner_ip != 4 || !(get16(inner + 6) & 0x1fff));
    }

    /* The crypt offset that psp_ports_visible_offset() names leaves the
     * ports of a plain inner header (IPv4 without options, IPv6 with L4
     * right after it) readable, in a packet long enough to hold them. */
    unsigned int ports_off = psp_ports_visible_offset(h.next_hdr, h.has_vc);
    size_t hdr_len = psp_hdr_len(h.has_vc);
    size_t plain_l4 = (h.next_hdr == PSP_NH_IPV4 ? 20
                       : h.next_hdr == PSP_NH_IPV6 ? 40 : 0);
    bool plain = (h.next_hdr == PSP_NH_IPV4
                  ? (h.payload_len >= 20 && inner[0] == 0x45
                     && !(get16(inner + 6) & 0x1fff))
                  : h.next_hdr == PSP_NH_IPV6
                  ? h.payload_len >= 40 && inner[0] >> 4 == 6
                  : true);
    if (!gmac && h.crypt_off >= ports_off && h.payload_ofs == hdr_len
        && plain && h.payload_len >= plain_l4 + 4) {
        FUZZ_ASSERT(v.has_proto);
        FUZZ_ASSERT(v.has_ports == proto_has_ports(v.proto));
    }
    return 0;
}
