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

/* Fuzz target: psp_dp_decrypt(), the psp_decrypt action (transport mode),
 * on dp_packets built by fuzz_frame_build() as a port would receive them.
 *
 * The packet goes the way the datapath takes it: miniflow_extract() first
 * (which sets its offsets and Ethernet padding), then the action, which a
 * flow may apply to any packet, then miniflow_extract() again on what it
 * made of it, as recirculation does.  The receiver is fuzz-psp-dp.h's.
 * With the target's flag F_ASSOC the action asks for association 2.
 *
 * Besides what ASan and UBSan catch, it checks that a packet decrypted is
 * the IP packet that was sealed (its IP header, protocol and length fixed,
 * its payload the plaintext), and that an authentic packet sealed by the
 * harness, to a bound SPI, is not dropped. */

#include <config.h>

#include <string.h>

#include "csum.h"
#include "dp-packet.h"
#include "flow.h"
#include "packets.h"
#include "psp-transport.h"

#include "fuzz-psp-dp.h"
#include "fuzz-psp.h"

#define F_ASSOC 0x10

static struct fuzz_sealer sealer;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_dp_init(&sealer);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_frame f;
    struct flow flow;

    /* Received with the datapath's headroom. */
    struct dp_packet *p = fuzz_dp_receive(data, size, &sealer, 128, &f,
                                          &flow);
    if (!p) {
        return 0;
    }

    /* What the action must decrypt: a packet that the harness sealed, as
     * the action sees it (an IP version that matches the Ethernet type,
     * which miniflow_extract() does not check, UDP right after the IP
     * header, lengths that agree, no IPv6 extension header), with a
     * checksum that holds (0, or fixed), a bound SPI (and association, if
     * asked for), in transport mode. */
    bool assoc_check = f.flags & F_ASSOC;
    uint64_t assoc = 2;
    const uint8_t *l4 = dp_packet_l4(p);
    size_t l4_ofs = l4 ? l4 - (const uint8_t *) dp_packet_data(p) : 0;
    bool v4 = flow.dl_type == htons(ETH_TYPE_IP);
    struct in6_addr src = (v4 ? in6_addr_mapped_ipv4(flow.nw_src)
                           : flow.ipv6_src);
    uint64_t bound_assoc = 0;
    struct psp_hdr_info h;
    bool expect_ok = (f.sealed
                      && (v4 || flow.dl_type == htons(ETH_TYPE_IPV6))
                      && flow.nw_proto == IPPROTO_UDP
                      && !(flow.nw_frag & FLOW_NW_FRAG_ANY)
                      && l4 && l4_ofs + UDP_HEADER_LEN == f.psp_ofs
                      && ((const uint8_t *) dp_packet_l3(p))[0] >> 4
                         == (v4 ? 4 : 6)
                      && (v4 || l4_ofs - p->l3_ofs == IPV6_HEADER_LEN)
                      && dp_packet_l4_size(p) == UDP_HEADER_LEN + f.psp_len
                      && ((l4[4] << 8) | l4[5]) == UDP_HEADER_LEN + f.psp_len
                      && flow.tp_dst == htons(PSP_DEFAULT_UDP_PORT)
                      && (!(l4[6] | l4[7]) || f.flags & FUZZ_F_FIX_LEN)
                      && !psp_hdr_parse(f.plain, f.psp_len, &h)
                      && h.next_hdr != PSP_NH_IPV4
                      && h.next_hdr != PSP_NH_IPV6
                      && fuzz_dp_bound(h.spi, h.version, &src,
                                       assoc_check ? &assoc : NULL,
                                       &bound_assoc));

    struct psp_dp_rx_info info;
    enum psp_error error = psp_dp_decrypt(p, assoc_check ? &assoc : NULL,
                                          &info);
    if (fuzz_verbose()) {
        fprintf(stderr, "decrypt: %s, %s\n",
                expect_ok ? "authentic" : "not expected to pass",
                psp_error_name(error));
    }
    if (error) {
        if (expect_ok) {
            fprintf(stderr, "psp_dp_decrypt() dropped an authentic packet: "
                    "%s\n", psp_error_name(error));
        }
        FUZZ_ASSERT(!expect_ok);
    } else {
        /* The IP packet, with the sealed payload, its length fixed and
         * its padding gone. */
        const uint8_t *ip = dp_packet_l3(p);
        size_t ip_len = dp_packet_size(p) - p->l3_ofs;
        FUZZ_ASSERT(ip && !dp_packet_l2_pad_size(p));
        if (ip[0] >> 4 == 4) {
            size_t hlen = 4 * (ip[0] & 15);

            FUZZ_ASSERT(((ip[2] << 8) | ip[3]) == ip_len);
            FUZZ_ASSERT(!csum(ip, hlen));
            FUZZ_ASSERT(ip_len >= hlen);
        } else {
            FUZZ_ASSERT(ip[0] >> 4 == 6);
            FUZZ_ASSERT(IPV6_HEADER_LEN + ((ip[4] << 8) | ip[5]) == ip_len);
        }
        if (expect_ok) {
            size_t hlen = v4 ? 4 * (ip[0] & 15) : IPV6_HEADER_LEN;

            FUZZ_ASSERT(info.spi == h.spi && info.version == h.version
                        && info.crypt_off == h.crypt_off
                        && info.assoc == bound_assoc);
            FUZZ_ASSERT(ip[v4 ? 9 : 6] == h.next_hdr);
            FUZZ_ASSERT(ip_len == hlen + h.payload_len);
            FUZZ_ASSERT(!memcmp(ip + hlen, f.plain + h.payload_ofs,
                                h.payload_len));
        }

        /* Recirculated, it is extracted again. */
        flow_extract(p, &flow);
    }
    fuzz_frame_destroy(&f);
    dp_packet_delete(p);
    return 0;
}
