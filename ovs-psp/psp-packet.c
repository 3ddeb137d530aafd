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

/* What tunnel mode (psp-tunnel.c) and transport mode (psp-transport.c)
 * share on packets; see psp-packet.h.  The modes' own headers and checks
 * are in their files, the SAs and keys in psp-sa.c, psp-tx-sa.c and
 * psp-rx-sa.c. */

#include <config.h>

#include "psp-packet.h"

#include "coverage.h"
#include "dp-packet.h"
#include "hash.h"
#include "netdev-native-tnl.h"
#include "packets.h"
#include "psp-sa-private.h"
#include "util.h"

COVERAGE_DEFINE(psp_tx_sealed);
COVERAGE_DEFINE(psp_tx_drop);
COVERAGE_DEFINE(psp_rx_opened);
COVERAGE_DEFINE(psp_rx_drop);
COVERAGE_DEFINE(psp_rx_key_derived);

/* IP headers. */

bool
psp_ip_parse(void *ip_, size_t room, struct psp_ip *h)
{
    uint8_t *ip = ip_;

    memset(h, 0, sizeof *h);
    if (room >= IP_HEADER_LEN && ip[0] >> 4 == 4) {
        h->v6 = false;
        h->hlen = (ip[0] & 0x0f) * 4;
        h->len = (ip[2] << 8) | ip[3];
        h->proto = ip[9];
        h->frag = (((ip[6] << 8) | ip[7])
                   & (IP_MORE_FRAGMENTS | IP_FRAG_OFF_MASK)) != 0;
    } else if (room >= IPV6_HEADER_LEN && ip[0] >> 4 == 6) {
        h->v6 = true;
        h->hlen = IPV6_HEADER_LEN;
        h->len = IPV6_HEADER_LEN + ((ip[4] << 8) | ip[5]);
        h->proto = ip[6];
    } else {
        return false;
    }
    h->ip = ip;
    return true;
}

bool
psp_ip_has_ports(const struct psp_ip *h, size_t size)
{
    return ((h->proto == IPPROTO_TCP || h->proto == IPPROTO_UDP
             || h->proto == IPPROTO_SCTP)
            && !h->frag && size >= h->hlen + 4);
}

uint32_t
psp_ip_flow_hash(const struct psp_ip *h, const void *ports)
{
    uint32_t hash = hash_bytes(h->ip + (h->v6 ? 8 : 12), h->v6 ? 32 : 8,
                               h->proto);

    return ports ? hash_bytes(ports, 4, hash) : hash;
}

ovs_be16
psp_packet_udp_src(uint32_t flow_hash)
{
    uint32_t hash = hash_2words(flow_hash, psp_sa_entropy_secret());

    return htons(tnl_udp_port_min
                 + hash % (tnl_udp_port_max - tnl_udp_port_min + 1));
}

/* Room. */

bool
psp_packet_can_grow(const struct dp_packet *packet)
{
    enum dp_packet_source source = packet->source;

    return source == DPBUF_MALLOC || source == DPBUF_STUB;
}

/* Whether the size that 'packet' records for its buffer covers its data.
 * A dp_packet records at most UINT16_MAX bytes: a packet whose headroom and
 * data go past that (a 64 kB receive buffer) has a tailroom that cannot be
 * computed, and no resize of it can be trusted. */
bool
psp_packet_room_known(const struct dp_packet *packet)
{
    return ((const char *) dp_packet_tail(packet)
            <= (const char *) dp_packet_end(packet));
}

/* Makes sure that 'packet' has 'head' bytes of headroom and 'tail' bytes of
 * tailroom, growing it if it can, so that no later push or put resizes it.
 * Returns false if the packet cannot have that room. */
bool
psp_packet_make_room(struct dp_packet *packet, size_t head, size_t tail)
{
    if (!psp_packet_room_known(packet)
        || dp_packet_headroom(packet) + dp_packet_size(packet) + head + tail
           > UINT16_MAX) {
        return false;
    }
    if (dp_packet_tailroom(packet) < tail
        || dp_packet_headroom(packet) < head) {
        if (!psp_packet_can_grow(packet)) {
            return false;
        }
        dp_packet_prealloc_tailroom(packet, tail);
        dp_packet_prealloc_headroom(packet, head);
    }
    return (psp_packet_room_known(packet)
            && dp_packet_tailroom(packet) >= tail
            && dp_packet_headroom(packet) >= head);
}

/* Shortens 'packet' to 'size' bytes, which removes its Ethernet padding:
 * the padding that its metadata records goes too, or a later pull would
 * count it twice. */
void
psp_packet_trim(struct dp_packet *packet, size_t size)
{
    dp_packet_set_size(packet, size);
    dp_packet_set_l2_pad_size(packet, 0);
}

/* Outcomes. */

/* Counts the outcome of sealing ('tx') or opening a packet in 't'. */
enum psp_error
psp_dp_count(struct psp_dp_thread *t, bool tx, enum psp_error error)
{
    if (error) {
        psp_stats_count_error(&t->stats, error,
                              tx ? PSP_DIR_TX : PSP_DIR_RX);
        if (tx) {
            COVERAGE_INC(psp_tx_drop);
        } else {
            COVERAGE_INC(psp_rx_drop);
        }
    } else if (tx) {
        COVERAGE_INC(psp_tx_sealed);
    } else {
        COVERAGE_INC(psp_rx_opened);
    }
    return error;
}

/* Opens the packet whose bound SPI psp_rx_binding_check() approved,
 * counting key derivations (a miss in the thread's key cache). */
static enum psp_error
psp_dp_rx_open(struct psp_dp_thread *t, const struct psp_mkeys *mkeys,
               uint8_t *psp, size_t psp_len, struct psp_hdr_info *h)
{
    bool derived;
    enum psp_error error = psp_rx_open(t->cc, mkeys, psp, psp_len, h,
                                       &derived);

    if (derived) {
        COVERAGE_INC(psp_rx_key_derived);
    }
    return error;
}

/* Parses the PSP header at 'psp' into 'h' ('psp_len' bytes from there to
 * the end of the UDP payload), checks that its SPI is bound to 'src' (and,
 * if 'assoc' is nonnull, to that association), storing the binding in
 * '*bp', and only then opens the packet in place: in the order that
 * psp_rx_binding_check() describes, so that no key work is done for an
 * SPI not given to its sender. */
enum psp_error
psp_dp_rx_verify(struct psp_dp_thread *t, uint8_t *psp, size_t psp_len,
                 const struct in6_addr *src, const uint64_t *assoc,
                 struct psp_hdr_info *h, const struct psp_rx_binding **bp)
{
    const struct psp_mkeys *mkeys = psp_rx_mkeys();
    enum psp_error error = psp_rx_parse(mkeys, psp, psp_len, h);

    if (error) {
        return error;
    }
    *bp = psp_rx_binding_check(h, src, assoc);
    if (!*bp) {
        return PSP_E_UNBOUND_SPI;
    }
    return psp_dp_rx_open(t, mkeys, psp, psp_len, h);
}
