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

#ifndef PSP_PACKET_H
#define PSP_PACKET_H 1

/* What the two modes of the PSP datapath, tunnel (psp-tunnel.c) and
 * transport (psp-transport.c), share on packets: the one parser of IPv4 and
 * IPv6 headers, the flow hash that picks the UDP source port, the room
 * that sealing needs in a dp_packet, and the counting of what became of a
 * packet.  Nothing here knows a mode's headers, nor keeps any state: the
 * SAs and keys are in psp-sa.h. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "openvswitch/types.h"
#include "psp.h"

struct dp_packet;
struct psp_dp_thread;
struct psp_rx_binding;

/* Bits of the PSP header's fourth byte that psp_dp_pop() and
 * psp_dp_decrypt() report, and that the S and D options set. */
#define PSP_DP_HDR_S 0x80       /* Sample. */
#define PSP_DP_HDR_D 0x40       /* Drop after sampling. */
#define PSP_DP_HDR_V 0x02       /* A VC is present. */

/* Addresses. */

/* ipv6_addr_equals() without the call to memcmp(), for the per-packet
 * lookups. */
static inline bool
psp_addr_equals(const struct in6_addr *a, const struct in6_addr *b)
{
    uint64_t x[2], y[2];

    memcpy(x, a, sizeof x);
    memcpy(y, b, sizeof y);
    return !((x[0] ^ y[0]) | (x[1] ^ y[1]));
}

/* Sets 'a' to the IPv4-mapped IPv6 address of 'ip4' with two 64-bit stores,
 * unlike in6_addr_mapped_ipv4(), whose byte stores stall the 64-bit loads
 * of the SA hash and psp_addr_equals() right after. */
static inline void
psp_addr_set_mapped(struct in6_addr *a, ovs_be32 ip4)
{
    uint64_t ip = (OVS_FORCE uint32_t) ip4;     /* Bytes in memory order. */
#ifdef WORDS_BIGENDIAN
    uint64_t w[2] = { 0, (UINT64_C(0xffff) << 32) | ip };
#else
    uint64_t w[2] = { 0, (UINT64_C(0xffff) << 16) | (ip << 32) };
#endif

    memcpy(a, w, sizeof w);
}

/* IP headers. */

/* An IPv4 or IPv6 header, as psp_ip_parse() reads it.  Only the fixed
 * header is known to be there: the lengths are as the header says, and
 * each caller checks those it relies on. */
struct psp_ip {
    uint8_t *ip;                /* The header, until the packet moves. */
    bool v6;
    bool frag;                  /* IPv4: a fragment (MF or an offset). */
    uint8_t proto;              /* IPv4 protocol, IPv6 next header. */
    size_t hlen;                /* IP header: IPv4 IHL * 4 (options
                                 * included, unchecked), IPv6 40. */
    size_t len;                 /* IP length, from the header. */
};

/* Reads the IP header at 'ip', which has 'room' bytes from there to the end
 * of the packet: IPv4 if it has a whole IPv4 header and version 4, IPv6 if
 * it has a whole IPv6 header and version 6.  Returns false (and zeros
 * '*h') for anything else, 'ip' null included. */
bool psp_ip_parse(void *ip, size_t room, struct psp_ip *h);

/* Whether the packet of 'h', of which 'size' bytes from the IP header are
 * there, has ports that hash: TCP, UDP or SCTP, not an IPv4 fragment, with
 * the 4 bytes of its ports after the IP header. */
bool psp_ip_has_ports(const struct psp_ip *h, size_t size);

/* A hash of the flow of 'h': its addresses and protocol and, if 'ports' is
 * nonnull, the 4 bytes of source and destination port there. */
uint32_t psp_ip_flow_hash(const struct psp_ip *h, const void *ports);

/* The UDP source port for a packet of the flow of 'flow_hash': from the
 * tunnel source port range, salted with a secret of the process. */
ovs_be16 psp_packet_udp_src(uint32_t flow_hash);

/* Room: whether a dp_packet's buffer can grow by what sealing adds, and
 * the shortening of a packet to its IP length (psp-packet.c). */

bool psp_packet_can_grow(const struct dp_packet *);
bool psp_packet_room_known(const struct dp_packet *);
bool psp_packet_make_room(struct dp_packet *, size_t head, size_t tail);
void psp_packet_trim(struct dp_packet *, size_t size);

/* Outcomes.  psp_dp_count() counts what became of a packet that a thread
 * sealed ('tx') or opened, and returns the error; psp_dp_rx_verify()
 * opens a received packet if its SPI's binding lets it. */

enum psp_error psp_dp_count(struct psp_dp_thread *, bool tx,
                            enum psp_error);
enum psp_error psp_dp_rx_verify(struct psp_dp_thread *,
                                uint8_t *psp, size_t psp_len,
                                const struct in6_addr *src,
                                const uint64_t *assoc,
                                struct psp_hdr_info *,
                                const struct psp_rx_binding **);

#endif /* psp-packet.h */
