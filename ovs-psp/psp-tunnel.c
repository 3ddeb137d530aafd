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

/* Tunnel mode of the PSP datapath (psp-tunnel.h): the header template of
 * a "psp" port, and the push and pop of PSP tunnel headers around inner IP
 * packets.  What transport mode shares with it is in psp-packet.c; the SAs
 * it seals with and the bindings it checks are in psp-tx-sa.c and
 * psp-rx-sa.c. */

#include <config.h>

#include "psp-tunnel.h"

#include <string.h>

#include "csum.h"
#include "dp-packet.h"
#include "netdev-native-tnl.h"
#include "packets.h"
#include "psp-bytes.h"
#include "psp-packet.h"
#include "psp-sa-private.h"
#include "util.h"

/* Header templates. */

size_t
psp_dp_build_header(uint8_t *hdr, const struct psp_port_cfg *cfg,
                    uint64_t assoc)
{
    struct psp_hdr_info h = {
        .crypt_off = cfg->crypt_off,
        .has_vc = cfg->has_vc,
        .vc = cfg->vc,
        .iv = assoc,            /* Replaced by the IV at packet time. */
    };

    psp_hdr_write(hdr, &h);
    /* The template's SPI field, replaced by the SA's SPI at packet time,
     * carries the egress MTU. */
    psp_put_be32(hdr + 4, cfg->mtu);
    if (cfg->has_version) {
        hdr[3] = (hdr[3] & ~0x3c) | (cfg->version << 2);
    } else {
        hdr[3] |= PSP_DP_VERSION_ANY << 2;
    }
    hdr[3] |= cfg->sd_bits & (PSP_DP_HDR_S | PSP_DP_HDR_D);
    return psp_hdr_len(cfg->has_vc);
}

uint64_t
psp_dp_header_assoc(const uint8_t *psp_hdr)
{
    ovs_be64 x;

    memcpy(&x, psp_hdr + 8, sizeof x);
    return ntohll(x);
}

/* Push. */

/* A hash of the inner flow of 'packet', an IP packet at its start whose
 * header is 'inner': the RSS hash when the datapath has one, else the
 * addresses and, for TCP, UDP and SCTP, the ports. */
static uint32_t
inner_flow_hash(const struct dp_packet *packet, const struct psp_ip *inner)
{
    if (dp_packet_rss_valid(packet)) {
        return dp_packet_get_rss_hash(packet);
    }

    return psp_ip_flow_hash(inner,
                            (psp_ip_has_ports(inner, dp_packet_size(packet))
                             ? inner->ip + inner->hlen : NULL));
}

static enum psp_error
psp_dp_push__(struct psp_dp_thread *t, struct dp_packet *packet,
              const void *header, size_t header_len, bool csum)
{
    const struct eth_header *eth = header;
    bool outer_v6 = eth->eth_type == htons(ETH_TYPE_IPV6);
    size_t outer_ip_len = outer_v6 ? IPV6_HEADER_LEN : IP_HEADER_LEN;
    size_t psp_ofs = ETH_HEADER_LEN + outer_ip_len + UDP_HEADER_LEN;
    const uint8_t *tmpl = (const uint8_t *) header;

    if (header_len < psp_ofs + PSP_HDR_LEN) {
        return PSP_E_TX_INNER;
    }
    size_t hdr_len = header_len - psp_ofs;

    /* The inner packet: an IP packet, as long as its header says (Ethernet
     * padding is not payload). */
    size_t size = dp_packet_size(packet);
    struct psp_ip inner;
    if (!psp_ip_parse(dp_packet_data(packet), size, &inner)
        || inner.len < IP_HEADER_LEN        /* IPv4 only: IPv6 has 40. */
        || inner.len > size) {
        return PSP_E_TX_INNER;
    }
    size_t inner_len = inner.len;
    uint8_t next_hdr = inner.v6 ? PSP_NH_IPV6 : PSP_NH_IPV4;

    /* The SA, by outer destination and association. */
    struct in6_addr remote;
    if (outer_v6) {
        memcpy(&remote, tmpl + ETH_HEADER_LEN + 24, sizeof remote);
    } else {
        ovs_be32 ip4;
        memcpy(&ip4, tmpl + ETH_HEADER_LEN + 16, sizeof ip4);
        psp_addr_set_mapped(&remote, ip4);
    }
    const struct psp_tx_sa *sa = psp_tx_sa_lookup(t, &remote,
                                                  psp_dp_header_assoc(
                                                      tmpl + psp_ofs));
    if (!sa) {
        return PSP_E_NO_SA;
    }
    unsigned int port_version = (tmpl[psp_ofs + 3] >> 2) & 0xf;
    if (port_version != PSP_DP_VERSION_ANY
        && port_version != sa->key.version) {
        return PSP_E_KEY_VERSION;
    }

    /* The outer IP length must hold the encrypted packet, and the egress
     * port's MTU (the template's SPI field) must let it through: what the
     * underlay would refuse is not sealed. */
    size_t outer_len = header_len - ETH_HEADER_LEN + inner_len + PSP_ICV_LEN;
    ovs_be32 mtu;
    memcpy(&mtu, tmpl + psp_ofs + 4, sizeof mtu);
    if (outer_len - (outer_v6 ? IPV6_HEADER_LEN : 0) > UINT16_MAX
        || (mtu && outer_len > ntohl(mtu))) {
        return PSP_E_TX_TOO_BIG;
    }

    /* Room: the ICV at the tail, the headers at the head, made here once so
     * that the pushes below never resize the packet.  DPDK and AF_XDP
     * buffers cannot grow. */
    if (inner_len < size) {
        psp_packet_trim(packet, inner_len);
    }
    if (!psp_packet_make_room(packet, header_len, PSP_ICV_LEN)) {
        return (psp_packet_can_grow(packet)
                ? PSP_E_TX_TOO_BIG : PSP_E_NO_ROOM);
    }
    inner.ip = dp_packet_data(packet);  /* Where the room put it. */

    /* The source port's entropy, from the inner packet alone: once the
     * outer headers are pushed, the packet starts with them, and a hash of
     * those would change with the packet's length. */
    ovs_be16 udp_src = psp_packet_udp_src(inner_flow_hash(packet, &inner));

    /* The ICV first, so that the IP and UDP lengths include it. */
    dp_packet_put_uninit(packet, PSP_ICV_LEN);
    int ip_tot_size;
    struct udp_header *udp = netdev_tnl_push_ip_header(packet, header,
                                                       header_len,
                                                       &ip_tot_size);
    udp->udp_src = udp_src;
    udp->udp_len = htons(ip_tot_size);
    udp->udp_csum = 0;

    uint8_t *psp = (uint8_t *) (udp + 1);
    if (!psp_packet_room_known(packet)
        || psp + hdr_len + inner_len + PSP_ICV_LEN
           != (uint8_t *) dp_packet_tail(packet)) {
        /* The push resized the packet after all: do not seal into memory
         * that may be gone.  The packet is dropped, never sent. */
        return PSP_E_NO_ROOM;
    }
    psp[0] = next_hdr;
    /* The template's S and D bits (the flow's) stay; the SA's add to them. */
    psp[3] = (psp[3] & ~0x3c) | (sa->key.version << 2) | sa->sd_bits;
    if (sa->crypt_off >= 0) {
        psp[2] = (psp[2] & ~0x3f) | sa->crypt_off;
    }
    if (sa->has_vc) {
        if (hdr_len < PSP_HDR_LEN + PSP_VC_LEN) {
            /* No room for the SA's VC in this port's header: better dropped
             * than sent without the cookie the peer expects. */
            memset(psp + hdr_len, 0, inner_len);
            return PSP_E_TX_INNER;
        }
        psp_put_be64(psp + PSP_HDR_LEN, sa->vc);
    }
    uint64_t iv;
    enum psp_error error = psp_tx_sa_take_iv(sa, &iv);
    if (error) {
        /* Stale, gone, or past the IVs reserved: never sent. */
        memset(psp + hdr_len, 0, inner_len);
        return error;
    }
    psp_put_be32(psp + 4, sa->spi);
    psp_put_be64(psp + 8, iv);
    error = psp_seal(t->cc, &sa->key, psp, hdr_len + inner_len);
    if (error) {
        /* Nothing of the inner packet may leave in clear. */
        memset(psp + hdr_len, 0, inner_len);
        return error;
    }

    if (csum) {
        uint32_t partial = (outer_v6
                            ? packet_csum_pseudoheader6(
                                  netdev_tnl_ipv6_hdr(dp_packet_data(packet)))
                            : packet_csum_pseudoheader(
                                  netdev_tnl_ip_hdr(dp_packet_data(packet))));
        udp->udp_csum = csum_finish(csum_continue(partial, udp,
                                                  ip_tot_size));
        if (!udp->udp_csum) {
            udp->udp_csum = htons(0xffff);
        }
    }

    size_t psp_len = hdr_len + inner_len + PSP_ICV_LEN;
    atomic_add_relaxed(CONST_CAST(atomic_uint64_t *, &sa->tx_bytes),
                       inner_len,
                       &(uint64_t) { 0 });
    psp_stats_count_tx(&t->stats, psp_len);
    return PSP_OK;
}

enum psp_error
psp_dp_push(struct dp_packet *packet, const void *header, size_t header_len,
            bool csum)
{
    struct psp_dp_thread *t = psp_dp_packet_thread();

    return psp_dp_count(t, true, psp_dp_push__(t, packet, header,
                                               header_len, csum));
}

/* Pop. */

static enum psp_error
psp_dp_pop__(struct psp_dp_thread *t, struct dp_packet *packet,
             struct flow_tnl *tnl, uint32_t *spi, uint64_t *vc,
             uint8_t *hdr_flags)
{
    unsigned int hlen;
    struct udp_header *udp = netdev_tnl_ip_extract_tnl_md(packet, tnl, &hlen);

    if (!udp) {
        return PSP_E_TRUNCATED;
    }
    size_t l4_size = dp_packet_l4_size(packet);
    size_t udp_len = ntohs(udp->udp_len);
    if (udp_len < UDP_HEADER_LEN || udp_len > l4_size) {
        return PSP_E_TRUNCATED;
    }
    if (udp->udp_csum) {
        bool v6 = netdev_tnl_is_header_ipv6(dp_packet_data(packet));
        uint32_t partial = (v6
                            ? packet_csum_pseudoheader6(dp_packet_l3(packet))
                            : packet_csum_pseudoheader(dp_packet_l3(packet)));
        if (csum_finish(csum_continue(partial, udp, udp_len))) {
            return PSP_E_TRUNCATED;
        }
        tnl->flags |= FLOW_TNL_F_CSUM;
    }
    tnl->tp_src = udp->udp_src;
    tnl->tp_dst = udp->udp_dst;

    /* The header, and the SPI's binding: the SPI must have been given to
     * this peer for this version.  Only then any key work. */
    uint8_t *psp = (uint8_t *) (udp + 1);
    size_t psp_len = udp_len - UDP_HEADER_LEN;
    struct in6_addr src;
    if (tnl->ip_src) {
        psp_addr_set_mapped(&src, tnl->ip_src);
    } else {
        src = tnl->ipv6_src;
    }
    const struct psp_rx_binding *b;
    struct psp_hdr_info h;
    enum psp_error error = psp_dp_rx_verify(t, psp, psp_len, &src, NULL,
                                            &h, &b);
    if (error) {
        return error;
    }

    /* Tunnel mode only: the payload is the inner IP packet. */
    size_t inner_len = h.payload_len;
    struct psp_ip inner;
    if (!psp_ip_parse(psp + h.payload_ofs, inner_len, &inner)
        || inner.len != inner_len
        || h.next_hdr != (inner.v6 ? PSP_NH_IPV6 : PSP_NH_IPV4)) {
        return PSP_E_INNER;
    }
    ovs_be32 packet_type = htonl(inner.v6 ? PT_IPV6 : PT_IPV4);

    tnl->tun_id = htonll(b->assoc);
    tnl->flags |= FLOW_TNL_F_KEY;
    *spi = h.spi;
    *vc = h.has_vc ? h.vc : 0;
    if (hdr_flags) {
        *hdr_flags = ((h.s ? PSP_DP_HDR_S : 0) | (h.d ? PSP_DP_HDR_D : 0)
                      | (h.has_vc ? PSP_DP_HDR_V : 0));
    }
    if (h.s) {
        t->stats.rx_sample++;
        t->stats.rx_sample_drop += h.d;
    }

    /* The inner packet starts 'payload_ofs' bytes into the PSP header,
     * wherever that is: 'hlen' assumes a bare Ethernet header and no IPv4
     * options, and a VLAN tag or an option would shift it. */
    dp_packet_reset_packet(packet, (psp - (uint8_t *) dp_packet_data(packet))
                                   + h.payload_ofs);
    dp_packet_set_size(packet, inner_len);
    packet->packet_type = packet_type;
    psp_stats_count_rx(&t->stats, psp_len);
    return PSP_OK;
}

enum psp_error
psp_dp_pop(struct dp_packet *packet, struct flow_tnl *tnl, uint32_t *spi,
           uint64_t *vc, uint8_t *hdr_flags)
{
    struct psp_dp_thread *t = psp_dp_packet_thread();

    return psp_dp_count(t, false, psp_dp_pop__(t, packet, tnl, spi, vc,
                                               hdr_flags));
}
