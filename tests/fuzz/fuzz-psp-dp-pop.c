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

/* Fuzz target: psp_dp_pop(), the tunnel-mode receive of the datapath
 * (through netdev_psp_pop_header(), the psp port's pop), on dp_packets
 * built by fuzz_frame_build() as a port would receive them.
 *
 * The packet goes the way the datapath takes it: miniflow_extract() first
 * (which sets its offsets and Ethernet padding), then, for an L3 packet
 * (FUZZ_F_L3, e.g. one that a psp port decapsulated), the Ethernet header
 * that translation pushes before it outputs to the bridge port where the
 * tunnel terminates, then the pop if its flow is one that a psp tunnel
 * port's pop matches (IP, UDP, destination port 1000), then
 * miniflow_extract() again on what the pop made of it, as recirculation
 * does.  The receiver is fuzz-psp-dp.h's.
 *
 * Besides what ASan and UBSan catch, it checks that a packet popped is an
 * inner IP packet of its own IP length, with its SPI's association as
 * tunnel key, and that an authentic packet sealed by the harness, with a
 * valid inner packet and an SPI bound for its sender and version, is not
 * dropped. */

#include <config.h>

#include <string.h>

#include "dp-packet.h"
#include "flow.h"
#include "netdev-psp.h"
#include "packets.h"
#include "psp-sa.h"
#include "psp-tunnel.h"

#include "fuzz-psp-dp.h"
#include "fuzz-psp.h"

static struct fuzz_sealer sealer;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_dp_init(&sealer);
    return 0;
}

/* Whether the IP packet at 'ip', of 'len' bytes, is one that psp_dp_pop()
 * must deliver. */
static bool
inner_valid(const uint8_t *ip, size_t len, uint8_t next_hdr)
{
    if (next_hdr == PSP_NH_IPV4) {
        return (len >= IP_HEADER_LEN && ip[0] >> 4 == 4
                && ((ip[2] << 8) | ip[3]) == len);
    } else if (next_hdr == PSP_NH_IPV6) {
        return (len >= IPV6_HEADER_LEN && ip[0] >> 4 == 6
                && IPV6_HEADER_LEN + ((ip[4] << 8) | ip[5]) == len);
    }
    return false;
}

/* Says why the packet that psp_dp_pop() should have delivered was dropped:
 * the error it counted since 'before'. */
static void
report_drop(const struct psp_stats *before)
{
    struct psp_stats after;

    psp_dp_get_stats(&after);
    fprintf(stderr, "psp_dp_pop() dropped an authentic packet:");
    for (int i = 0; i < PSP_N_ERRORS; i++) {
        if (after.errors[i] != before->errors[i]) {
            fprintf(stderr, " %s", psp_error_name(i));
        }
    }
    fprintf(stderr, "\n");
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
    bool l3 = f.flags & FUZZ_F_L3;
    if (!((flow.dl_type == htons(ETH_TYPE_IP)
           || flow.dl_type == htons(ETH_TYPE_IPV6))
          && flow.nw_proto == IPPROTO_UDP
          && flow.tp_dst == htons(PSP_DEFAULT_UDP_PORT))) {
        /* Not for a psp port. */
        dp_packet_delete(p);
        fuzz_frame_destroy(&f);
        return 0;
    }

    if (l3) {
        push_eth(p, &eth_addr_zero, &eth_addr_zero);
    }

    /* What the pop must deliver: a packet that the harness sealed, as the
     * pop sees it (the same UDP header and length), with a checksum that
     * holds (0, or fixed), an IP version that matches the Ethernet type
     * (miniflow_extract() does not check it), an IPv4 header without
     * options, a bound SPI,
     * and a valid inner packet in the plaintext. */
    const uint8_t *udp = dp_packet_l4(p);
    size_t udp_ofs = (udp - (const uint8_t *) dp_packet_data(p)
                      - (l3 ? ETH_HEADER_LEN : 0));     /* In 'f'. */
    size_t udp_len = (udp[4] << 8) | udp[5];
    const uint8_t *ip = dp_packet_l3(p);
    bool v4 = flow.dl_type == htons(ETH_TYPE_IP);
    struct in6_addr src = (v4 ? in6_addr_mapped_ipv4(flow.nw_src)
                           : flow.ipv6_src);
    uint64_t bound_assoc = 0;
    struct psp_hdr_info h;
    bool expect_ok = (f.sealed
                      && udp_ofs + UDP_HEADER_LEN == f.psp_ofs
                      && udp_len == UDP_HEADER_LEN + f.psp_len
                      && udp_len <= dp_packet_l4_size(p)
                      && (!(udp[6] | udp[7]) || f.flags & FUZZ_F_FIX_LEN)
                      && (v4 ? ip[0] == 0x45 : ip[0] >> 4 == 6)
                      && !psp_hdr_parse(f.plain, f.psp_len, &h)
                      && fuzz_dp_bound(h.spi, h.version, &src, NULL,
                                       &bound_assoc)
                      && inner_valid(f.plain + h.payload_ofs, h.payload_len,
                                     h.next_hdr));
    fuzz_frame_destroy(&f);

    struct psp_stats before;
    if (expect_ok) {
        psp_dp_get_stats(&before);
    }
    p = netdev_psp_pop_header(p);
    if (fuzz_verbose()) {
        fprintf(stderr, "pop: %s, %s\n",
                expect_ok ? "authentic" : "not expected to pass",
                p ? "delivered" : "dropped");
    }
    if (!p) {
        if (expect_ok) {
            report_drop(&before);
        }
        FUZZ_ASSERT(!expect_ok);
        return 0;
    }

    bool inner_v4 = p->packet_type == htonl(PT_IPV4);
    FUZZ_ASSERT(inner_v4 || p->packet_type == htonl(PT_IPV6));
    FUZZ_ASSERT(inner_valid(dp_packet_data(p), dp_packet_size(p),
                            inner_v4 ? PSP_NH_IPV4 : PSP_NH_IPV6));
    FUZZ_ASSERT(p->md.tunnel.flags & FLOW_TNL_F_KEY);
    uint64_t assoc = ntohll(p->md.tunnel.tun_id);
    FUZZ_ASSERT(assoc >= 1 && assoc <= 6);
    FUZZ_ASSERT(!expect_ok || assoc == bound_assoc);

    /* Recirculated, it is extracted again. */
    flow_extract(p, &flow);
    dp_packet_delete(p);
    return 0;
}
