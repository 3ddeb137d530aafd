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

#include <config.h>

#include "fuzz-psp-dp.h"

#include "dp-packet.h"
#include "flow.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "psp-sa.h"
#include "util.h"

struct fuzz_dp_binding {
    uint32_t spi;
    uint32_t peer;              /* IPv4 address, host order; 0: any. */
    uint64_t assoc;
    uint8_t version;
};

static const struct fuzz_dp_binding bindings[] = {
    { 0x12345678, 0, 1, PSP_V1 },
    { 0x9a345678, 0x0a000001, 2, PSP_V0 },
    { 0x00000100, 0, 3, PSP_V0 },
    { 0x00000101, 0, 4, PSP_V1 },
    { 0x80000102, 0, 5, PSP_V2 },
    { 0x80000103, 0, 6, PSP_V3 },
};

/* The SPIs FUZZ_F_BOUND_SPI puts in sealed packets, by version. */
static const uint32_t bound_spis[PSP_N_VERSIONS] = {
    0x00000100, 0x00000101, 0x80000102, 0x80000103,
};

void
fuzz_dp_init(struct fuzz_sealer *sealer)
{
    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);
    FUZZ_ASSERT(psp_dp_test_set_master_keys(fuzz_master_keys[0],
                                            fuzz_master_keys[1]));
    for (size_t i = 0; i < ARRAY_SIZE(bindings); i++) {
        const struct fuzz_dp_binding *b = &bindings[i];
        struct in6_addr peer = (b->peer
                                ? in6_addr_mapped_ipv4(htonl(b->peer))
                                : in6addr_any);

        psp_dp_test_bind_spi(b->spi, &peer, b->assoc, b->version);
    }
    fuzz_sealer_init(sealer, NULL);
    sealer->bound_spis = bound_spis;
}

bool
fuzz_dp_bound(uint32_t spi, uint8_t version, const struct in6_addr *src,
              const uint64_t *assoc, uint64_t *bound_assoc)
{
    for (size_t i = 0; i < ARRAY_SIZE(bindings); i++) {
        const struct fuzz_dp_binding *b = &bindings[i];

        if (b->spi == spi) {
            struct in6_addr peer = in6_addr_mapped_ipv4(htonl(b->peer));

            if (b->version != version
                || (b->peer && !ipv6_addr_equals(&peer, src))
                || (assoc && *assoc != b->assoc)) {
                return false;
            }
            *bound_assoc = b->assoc;
            return true;
        }
    }
    return false;
}

struct dp_packet *
fuzz_dp_receive(const uint8_t *data, size_t size, struct fuzz_sealer *sealer,
                size_t headroom, struct fuzz_frame *f, struct flow *flow)
{
    if (!fuzz_frame_build(data, size, sealer, f)) {
        return NULL;
    }
    if (!f->len || f->len > VLAN_ETH_HEADER_LEN + UINT16_MAX) {
        fuzz_frame_destroy(f);          /* No port receives it. */
        return NULL;
    }

    struct dp_packet *p = dp_packet_new_with_headroom(f->len, headroom);
    dp_packet_put(p, f->data, f->len);
    p->packet_type = (!(f->flags & FUZZ_F_L3) ? htonl(PT_ETH)
                      : PACKET_TYPE_BE(OFPHTN_ETHERTYPE, f->eth_type));
    pkt_metadata_init(&p->md, u32_to_odp(1));

    struct {
        struct miniflow mf;
        uint64_t buf[FLOW_U64S];
    } m;
    miniflow_extract(p, &m.mf);
    miniflow_expand(&m.mf, flow);
    return p;
}
