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

/* Fuzz target: miniflow_extract(), what a PMD thread runs on every packet,
 * with the PSP match fields of vswitchd-patches/0014, on frames built by
 * fuzz_frame_build() (Ethernet or L3, VLAN tags, padding, authentic or not).
 *
 * Besides what ASan and UBSan catch, it checks that the PSP fields are set
 * exactly for UDP packets to port 1000, not fragments, whose UDP payload
 * (within the IP length) holds a PSP header that parses, and then hold what
 * psp_flow_extract() makes of that payload; and that flow_extract() and
 * miniflow_expand() agree. */

#include <config.h>

#include <string.h>

#include "dp-packet.h"
#include "flow.h"
#include "packets.h"
#include "psp-flow.h"

#include "fuzz-psp-dp.h"
#include "fuzz-psp.h"

static struct fuzz_sealer sealer;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_sealer_init(&sealer, NULL);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_frame f;
    struct flow flow, flow2;

    struct dp_packet *p = fuzz_dp_receive(data, size, &sealer, 0, &f,
                                          &flow);
    if (!p) {
        return 0;
    }
    fuzz_frame_destroy(&f);
    flow_extract(p, &flow2);
    FUZZ_ASSERT(flow_equal(&flow, &flow2));

    bool psp_udp = ((flow.dl_type == htons(ETH_TYPE_IP)
                     || flow.dl_type == htons(ETH_TYPE_IPV6))
                    && flow.nw_proto == IPPROTO_UDP
                    && flow.tp_dst == htons(PSP_DEFAULT_UDP_PORT)
                    && !(flow.nw_frag & FLOW_NW_FRAG_ANY)
                    && dp_packet_l4(p)
                    && dp_packet_l4_size(p) >= UDP_HEADER_LEN);
    if (!psp_udp) {
        FUZZ_ASSERT(is_all_zeros(&flow.psp, sizeof flow.psp));
    } else {
        const uint8_t *payload = dp_packet_get_udp_payload(p);
        size_t n = dp_packet_l4_size(p) - UDP_HEADER_LEN;
        uint64_t words[3];
        struct psp_hdr_info h;

        bool ok = psp_flow_extract(payload, n, words);
        FUZZ_ASSERT(ok == (psp_hdr_parse(payload, n, &h) == PSP_OK));
        FUZZ_ASSERT(!memcmp(&flow.psp, words, sizeof words));
        FUZZ_ASSERT(ok == !!(flow.psp.vis & FLOW_PSP_VIS_HDR));
    }
    dp_packet_delete(p);
    return 0;
}
