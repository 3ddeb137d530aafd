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

/* Transport mode of the PSP datapath (psp-transport.h): the encryption of
 * an IP packet in place, with UDP and a PSP header after its IP header,
 * the finishing of what it asked the NIC to do (checksums, TCP MSS), and
 * its decryption back.  What tunnel mode shares with it is in
 * psp-packet.c; the SAs it seals with and the bindings it checks are in
 * psp-tx-sa.c and psp-rx-sa.c. */

#include <config.h>

#include "psp-transport.h"

#include <string.h>

#include "coverage.h"
#include "crc32c.h"
#include "csum.h"
#include "dp-packet.h"
#include "packets.h"
#include "psp-packet.h"
#include "psp-sa-private.h"
#include "util.h"

COVERAGE_DEFINE(psp_tx_mss_clamped);
COVERAGE_DEFINE(psp_tx_csum_completed);

/* Parses the IP header at 'packet''s L3 offset into 't', for transport
 * mode: its lengths must hold, or the packet is 'bad'; IPv4 fragments and
 * IPv6 extension headers are PSP_E_TX_UNSUPPORTED, and so is a packet with
 * no L3 offset.  Trims the packet to its IP length. */
static enum psp_error
transport_ip_parse(struct dp_packet *packet, struct psp_ip *t,
                   enum psp_error bad)
{
    uint8_t *ip = dp_packet_l3(packet);
    size_t room = ip ? (const char *) dp_packet_tail(packet) - (char *) ip : 0;

    if (!psp_ip_parse(ip, room, t)) {
        return ip ? bad : PSP_E_TX_UNSUPPORTED;
    } else if (!t->v6) {
        if (t->hlen < IP_HEADER_LEN || t->len < t->hlen || t->len > room) {
            return bad;
        }
        if (t->frag) {
            return PSP_E_TX_UNSUPPORTED;
        }
    } else {
        if (t->len > room) {
            return bad;
        }
        if (t->proto == IPPROTO_HOPOPTS || t->proto == IPPROTO_ROUTING
            || t->proto == IPPROTO_FRAGMENT || t->proto == IPPROTO_DSTOPTS
            || t->proto == IPPROTO_AH || t->proto == IPPROTO_ESP) {
            return PSP_E_TX_UNSUPPORTED;
        }
    }
    /* Ethernet padding is not payload. */
    psp_packet_trim(packet,
                    (char *) ip - (char *) dp_packet_data(packet) + t->len);
    return PSP_OK;
}

/* Sets 'addr' to the source (if 'src') or destination address of the IP
 * header 't', IPv4 as v4-mapped. */
static void
transport_ip_addr(const struct psp_ip *t, bool src,
                  struct in6_addr *addr)
{
    if (t->v6) {
        memcpy(addr, t->ip + (src ? 8 : 24), sizeof *addr);
    } else {
        ovs_be32 ip4;

        memcpy(&ip4, t->ip + (src ? 12 : 16), sizeof ip4);
        psp_addr_set_mapped(addr, ip4);
    }
}

/* Sets the length and protocol of the IP header 't' and, for IPv4, its
 * checksum. */
static void
transport_ip_set(const struct psp_ip *t, size_t len, uint8_t proto)
{
    uint8_t *ip = t->ip;

    if (t->v6) {
        len -= IPV6_HEADER_LEN;
        ip[4] = len >> 8;
        ip[5] = len;
        ip[6] = proto;
    } else {
        ip[2] = len >> 8;
        ip[3] = len;
        ip[9] = proto;
        ip[10] = ip[11] = 0;
        ovs_be16 sum = csum(ip, t->hlen);
        memcpy(ip + 10, &sum, sizeof sum);
    }
}

/* With an MTU, lowers the MSS option of a TCP SYN in 'ip' so that the
 * segments the peer sends fit in 'mtu' once 'overhead' bytes are added
 * (and fixes the TCP checksum). */
static void
clamp_tcp_mss(const struct psp_ip *ip, unsigned int mtu,
              size_t overhead)
{
    uint8_t *tcp = ip->ip + ip->hlen;
    size_t l4_len = ip->len - ip->hlen;

    if (ip->proto != IPPROTO_TCP || l4_len < TCP_HEADER_LEN
        || !(tcp[13] & 0x02)) {                 /* SYN. */
        return;
    }
    size_t thl = (tcp[12] >> 4) * 4;
    long int max = (long int) mtu - overhead - ip->hlen - TCP_HEADER_LEN;
    if (thl > l4_len || max <= 0) {
        return;
    }
    for (size_t i = TCP_HEADER_LEN; i < thl; ) {
        uint8_t kind = tcp[i];

        if (kind == 0) {                        /* End of options. */
            return;
        } else if (kind == 1) {                 /* NOP. */
            i++;
            continue;
        } else if (i + 1 >= thl || tcp[i + 1] < 2 || i + tcp[i + 1] > thl) {
            return;
        }
        if (kind == 2 && tcp[i + 1] == 4) {     /* MSS. */
            uint16_t mss = (tcp[i + 2] << 8) | tcp[i + 3];
            if (mss > max) {
                ovs_be16 old_mss = htons(mss), new_mss = htons(max);
                ovs_be16 sum;

                /* A 16-bit field at an odd offset adds to the one's
                 * complement sum byte-swapped. */
                if (i % 2) {
                    old_mss = htons(((mss & 0xff) << 8) | (mss >> 8));
                    new_mss = htons(((max & 0xff) << 8) | (max >> 8));
                }
                memcpy(&sum, tcp + 16, sizeof sum);
                sum = recalc_csum16(sum, old_mss, new_mss);
                memcpy(tcp + 16, &sum, sizeof sum);
                tcp[i + 2] = max >> 8;
                tcp[i + 3] = max;
                COVERAGE_INC(psp_tx_mss_clamped);
            }
            return;
        }
        i += tcp[i + 1];
    }
}

/* Offloads.  A packet that asks the NIC to segment it (TSO) or to finish
 * its L4 checksum cannot have that done once it is encrypted: the NIC
 * would segment ciphertext or write a checksum into it.  Checksums are
 * finished here, before sealing; TSO packets are refused (Open vSwitch
 * 3.1 has no software segmentation). */
static enum psp_error
complete_offloads(struct dp_packet *packet, const struct psp_ip *ip)
{
    if (dp_packet_hwol_is_tso(packet)) {
        return PSP_E_TX_UNSUPPORTED;
    }
    if (!dp_packet_hwol_tx_l4_checksum(packet)) {
        return PSP_OK;
    }

    uint8_t *l4 = ip->ip + ip->hlen;
    size_t l4_len = ip->len - ip->hlen;
    size_t csum_ofs;
    if (dp_packet_hwol_l4_is_tcp(packet) && l4_len >= TCP_HEADER_LEN) {
        csum_ofs = 16;
    } else if (dp_packet_hwol_l4_is_udp(packet) && l4_len >= UDP_HEADER_LEN) {
        csum_ofs = 6;
    } else if (dp_packet_hwol_l4_is_sctp(packet) && l4_len >= 12) {
        ovs_be32 crc;

        memset(l4 + 8, 0, 4);
        crc = crc32c(l4, l4_len);
        memcpy(l4 + 8, &crc, sizeof crc);
        goto done;
    } else {
        return PSP_E_TX_INNER;
    }

    ovs_be16 sum = 0;
    memcpy(l4 + csum_ofs, &sum, sizeof sum);
    uint32_t partial = (ip->v6
                        ? packet_csum_pseudoheader6(
                              ALIGNED_CAST(struct ovs_16aligned_ip6_hdr *,
                                           ip->ip))
                        : packet_csum_pseudoheader(
                              ALIGNED_CAST(struct ip_header *, ip->ip)));
    sum = csum_finish(csum_continue(partial, l4, l4_len));
    if (!sum && csum_ofs == 6) {
        sum = htons(0xffff);    /* UDP: 0 means no checksum. */
    }
    memcpy(l4 + csum_ofs, &sum, sizeof sum);

done:
    *dp_packet_ol_flags_ptr(packet) &= ~DP_PACKET_OL_TX_L4_MASK;
    COVERAGE_INC(psp_tx_csum_completed);
    return PSP_OK;
}

static enum psp_error
psp_dp_encrypt__(struct psp_dp_thread *t, struct dp_packet *packet,
                 uint64_t assoc, int crypt_off, unsigned int mtu)
{
    struct psp_ip ip;
    enum psp_error error = transport_ip_parse(packet, &ip, PSP_E_TX_INNER);

    if (error) {
        return error;
    }

    /* An IP-in-IP packet would carry Next Header 4 or 41, which the
     * receiver reads as tunnel mode: transport mode cannot say it. */
    if (ip.proto == IPPROTO_IPIP || ip.proto == IPPROTO_IPV6) {
        return PSP_E_TX_UNSUPPORTED;
    }

    struct in6_addr remote;
    transport_ip_addr(&ip, false, &remote);
    const struct psp_tx_sa *sa = psp_tx_sa_lookup(t, &remote, assoc);
    if (!sa) {
        return PSP_E_NO_SA;
    }

    size_t hdr_len = psp_hdr_len(sa->has_vc);
    size_t grow = UDP_HEADER_LEN + hdr_len;
    size_t l4_len = ip.len - ip.hlen;
    size_t new_len = ip.len + grow + PSP_ICV_LEN;
    if (crypt_off < 0) {
        crypt_off = sa->crypt_off >= 0 ? sa->crypt_off : 0;
    }
    if ((mtu && new_len > mtu)
        || new_len - (ip.v6 ? IPV6_HEADER_LEN : 0) > UINT16_MAX) {
        return PSP_E_TX_TOO_BIG;
    }
    error = complete_offloads(packet, &ip);
    if (error) {
        return error;
    }
    if (mtu) {
        clamp_tcp_mss(&ip, mtu, grow + PSP_ICV_LEN);
    }
    if (psp_version_is_gmac(sa->key.version)) {
        crypt_off = 0;
    } else {
        /* A short packet gets what fits of the cleartext asked for. */
        crypt_off = MIN(crypt_off, (hdr_len - PSP_HDR_LEN + l4_len) / 4);
    }

    /* Room for UDP and the PSP header after the IP header, and the ICV. */
    if (!psp_packet_make_room(packet, grow, PSP_ICV_LEN)) {
        return (psp_packet_can_grow(packet)
                ? PSP_E_TX_TOO_BIG : PSP_E_NO_ROOM);
    }
    ip.ip = dp_packet_l3(packet);
    size_t head = ip.ip - (uint8_t *) dp_packet_data(packet) + ip.hlen;
    dp_packet_put_uninit(packet, PSP_ICV_LEN);
    uint8_t *data = dp_packet_push_uninit(packet, grow);
    memmove(data, data + grow, head);
    ip.ip = dp_packet_l3(packet);   /* Offsets are from the data: unchanged. */

    uint8_t *l4 = ip.ip + ip.hlen + grow;
    uint32_t hash = psp_ip_flow_hash(&ip, (psp_ip_has_ports(&ip, ip.len)
                                           ? l4 : NULL));

    struct udp_header *udp = ALIGNED_CAST(struct udp_header *,
                                          ip.ip + ip.hlen);
    udp->udp_src = psp_packet_udp_src(hash);
    udp->udp_dst = htons(PSP_DEFAULT_UDP_PORT);
    udp->udp_len = htons(UDP_HEADER_LEN + hdr_len + l4_len + PSP_ICV_LEN);
    udp->udp_csum = 0;

    uint8_t *psp = (uint8_t *) (udp + 1);
    uint64_t iv;
    error = psp_tx_sa_take_iv(sa, &iv);
    if (error) {
        /* Stale, gone, or past the IVs reserved: never sent. */
        memset(psp, 0, hdr_len + l4_len);
        return error;
    }
    struct psp_hdr_info h = {
        .next_hdr = ip.proto,
        .version = sa->key.version,
        .crypt_off = crypt_off,
        .has_vc = sa->has_vc,
        .vc = sa->vc,
        .s = (sa->sd_bits & PSP_DP_HDR_S) != 0,
        .d = (sa->sd_bits & PSP_DP_HDR_D) != 0,
        .spi = sa->spi,
        .iv = iv,
    };
    psp_hdr_write(psp, &h);
    error = psp_seal(t->cc, &sa->key, psp, hdr_len + l4_len);
    if (error) {
        /* Nothing of the packet may leave in clear. */
        memset(psp + PSP_HDR_LEN, 0, hdr_len - PSP_HDR_LEN + l4_len);
        return error;
    }
    transport_ip_set(&ip, new_len, IPPROTO_UDP);

    atomic_add_relaxed(CONST_CAST(atomic_uint64_t *, &sa->tx_bytes), l4_len,
                       &(uint64_t) { 0 });
    psp_stats_count_tx(&t->stats, hdr_len + l4_len + PSP_ICV_LEN);
    return PSP_OK;
}

enum psp_error
psp_dp_encrypt(struct dp_packet *packet, uint64_t assoc, int crypt_off,
               unsigned int mtu)
{
    struct psp_dp_thread *t = psp_dp_packet_thread();

    return psp_dp_count(t, true, psp_dp_encrypt__(t, packet, assoc,
                                                  crypt_off, mtu));
}

static enum psp_error
psp_dp_decrypt__(struct psp_dp_thread *t, struct dp_packet *packet,
                 const uint64_t *assoc, struct psp_dp_rx_info *info)
{
    struct psp_ip ip;
    enum psp_error error = transport_ip_parse(packet, &ip, PSP_E_TRUNCATED);

    if (error) {
        return error == PSP_E_TX_UNSUPPORTED ? PSP_E_NOT_PSP : error;
    }
    size_t udp_len = ip.len - ip.hlen;
    struct udp_header *udp = ALIGNED_CAST(struct udp_header *,
                                          ip.ip + ip.hlen);
    if (ip.proto != IPPROTO_UDP || udp_len < UDP_HEADER_LEN
        || udp->udp_dst != htons(PSP_DEFAULT_UDP_PORT)) {
        return PSP_E_NOT_PSP;
    }
    if (ntohs(udp->udp_len) != udp_len) {
        return PSP_E_TRUNCATED;
    }
    if (udp->udp_csum) {
        uint32_t partial = (ip.v6
                            ? packet_csum_pseudoheader6(
                                  ALIGNED_CAST(struct ovs_16aligned_ip6_hdr *,
                                               ip.ip))
                            : packet_csum_pseudoheader(
                                  ALIGNED_CAST(struct ip_header *, ip.ip)));
        if (csum_finish(csum_continue(partial, udp, udp_len))) {
            return PSP_E_TRUNCATED;
        }
    }

    /* The header, and the SPI's binding: the SPI must have been given to
     * this peer for this version (and association).  Only then any key
     * work. */
    uint8_t *psp = (uint8_t *) (udp + 1);
    size_t psp_len = udp_len - UDP_HEADER_LEN;
    struct in6_addr src;
    transport_ip_addr(&ip, true, &src);
    const struct psp_rx_binding *b;
    struct psp_hdr_info h;
    error = psp_dp_rx_verify(t, psp, psp_len, &src, assoc, &h, &b);
    if (error) {
        return error;
    }
    if (h.next_hdr == PSP_NH_IPV4 || h.next_hdr == PSP_NH_IPV6) {
        return PSP_E_INNER;     /* Tunnel mode: for a psp port. */
    }

    /* Strip UDP, the PSP header and the ICV; the IP header moves up. */
    size_t strip = UDP_HEADER_LEN + h.payload_ofs;
    size_t head = ip.ip - (uint8_t *) dp_packet_data(packet) + ip.hlen;
    psp_packet_trim(packet, dp_packet_size(packet) - PSP_ICV_LEN);
    uint8_t *data = dp_packet_data(packet);
    memmove(data + strip, data, head);
    dp_packet_pull(packet, strip);
    ip.ip = dp_packet_l3(packet);
    transport_ip_set(&ip, ip.hlen + h.payload_len, h.next_hdr);

    info->spi = h.spi;
    info->version = h.version;
    info->crypt_off = h.crypt_off;
    info->hdr_flags = ((h.s ? PSP_DP_HDR_S : 0) | (h.d ? PSP_DP_HDR_D : 0)
                       | (h.has_vc ? PSP_DP_HDR_V : 0));
    info->vc = h.has_vc ? h.vc : 0;
    info->assoc = b->assoc;
    if (h.s) {
        t->stats.rx_sample++;
        t->stats.rx_sample_drop += h.d;
    }
    psp_stats_count_rx(&t->stats, psp_len);
    return PSP_OK;
}

enum psp_error
psp_dp_decrypt(struct dp_packet *packet, const uint64_t *assoc,
               struct psp_dp_rx_info *info)
{
    struct psp_dp_thread *t = psp_dp_packet_thread();

    return psp_dp_count(t, false,
                        psp_dp_decrypt__(t, packet, assoc, info));
}
