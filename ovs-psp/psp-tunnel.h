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

#ifndef PSP_TUNNEL_H
#define PSP_TUNNEL_H 1

/* Tunnel mode of the PSP datapath: the push and pop of PSP tunnel headers
 * (Ethernet, outer IP, UDP and PSP around an inner IP packet) on the
 * dp_packets of a "psp" port (ovs-psp/netdev-psp.c).  Transport mode is in
 * psp-transport.h, the SAs and keys in psp-sa.h.
 *
 * Transmit: the tunnel header template built at translation time holds no
 * key material.  Its PSP header carries the association (the flow's tunnel
 * key) where the IV goes and, where the SPI goes, the MTU of the port the
 * packets leave by (0 if unknown); psp_dp_push() finds the SA by (outer
 * destination, association) at packet time, so that installing or
 * re-keying an SA takes effect without any flow change, and drops what the
 * egress port would refuse before sealing it.
 *
 * Receive: stateless but for the SPI bindings.  psp_dp_pop() parses the
 * header, checks that the SPI was allocated for the outer source address
 * and the packet's version (a packet from another peer, or of another
 * version, is dropped before any key work: a lock-free lookup), and only
 * then derives the key from the SPI and the master key its top bit selects
 * (cached per thread with its key schedule) and verifies the ICV. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psp-packet.h"
#include "psp.h"

struct dp_packet;
struct flow_tnl;

/* Port options that go into the header template. */
struct psp_port_cfg {
    bool has_version;           /* Only SAs of 'version' may send; else
                                 * any SA, with its own version. */
    uint8_t version;            /* enum psp_version. */
    uint8_t crypt_off;          /* In 4-byte units after the IV. */
    bool has_vc;
    uint64_t vc;
    uint8_t sd_bits;            /* PSP_DP_HDR_S and PSP_DP_HDR_D to set in
                                 * every packet, besides the SA's own. */
    uint32_t mtu;               /* Egress MTU: packets whose outer IP packet
                                 * would be longer are dropped, 0 for no
                                 * limit. */
};

/* Writes the PSP part of a tunnel header template for 'cfg' and 'assoc' to
 * 'hdr' and returns its length (16 or 24).  The template's version field
 * holds 'cfg''s version, or PSP_DP_VERSION_ANY. */
#define PSP_DP_VERSION_ANY 0xf
size_t psp_dp_build_header(uint8_t *hdr, const struct psp_port_cfg *cfg,
                           uint64_t assoc);

/* Reads the association back from a template's PSP header. */
uint64_t psp_dp_header_assoc(const uint8_t *psp_hdr);

/* Encapsulates 'packet', an IPv4 or IPv6 packet (L3 tunnel), with
 * 'header' (Ethernet, outer IP, UDP, PSP template of 'header_len' bytes)
 * and seals it.  On error the packet must be dropped: it may be half
 * built, but it is never left in clear behind a PSP header.  Computes the
 * UDP checksum if 'csum'. */
enum psp_error psp_dp_push(struct dp_packet *packet, const void *header,
                           size_t header_len, bool csum);

/* Decapsulates 'packet' (Ethernet, IP, UDP to the PSP port, with l3 and l4
 * offsets set): verifies, decrypts and strips it down to the inner IP
 * packet, whose packet_type it sets.  Fills 'tnl' with the outer addresses
 * and ports and tun_id with the SPI's association, '*spi', '*vc' (0 if the
 * packet has none) and, if nonnull, '*hdr_flags' with the PSP_DP_HDR_*
 * bits of the (authenticated) header.  Counts packets with the S bit, and
 * those with the D bit too.  On error the packet must be dropped. */
enum psp_error psp_dp_pop(struct dp_packet *packet, struct flow_tnl *tnl,
                          uint32_t *spi, uint64_t *vc, uint8_t *hdr_flags);

#endif /* psp-tunnel.h */
