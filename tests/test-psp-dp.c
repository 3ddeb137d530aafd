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

/* Tests of the PSP datapath (ovs-psp/psp-sa.c, psp-tx-sa.c, psp-rx-sa.c,
 * psp-packet.c, psp-tunnel.c, psp-transport.c) on dp_packets: push with
 * packet-time SA lookup, pop with ICV check and SPI binding, re-key, no SA,
 * tampering, staleness, IPv6 underlay, VC and crypt offsets. */

#include <config.h>
#undef NDEBUG

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/keyctl.h>
#endif

#include "command-line.h"
#include "csum.h"
#include "dp-packet.h"
#include "openvswitch/dynamic-string.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "tests/ovstest.h"
#include "packets.h"
#include "random.h"
#include "util.h"
#include "uuid.h"

#include "psp-iv.h"
#include "psp-keyring.h"
#include "psp-sa.h"
#include "psp-transport.h"
#include "psp-tunnel.h"
#include "psp-unixctl.h"
#include "psp.h"
#include "psp-test.h"


/* Hypervisor A (192.0.2.1 / 2001:db8::1) sends to B (192.0.2.2 /
 * 2001:db8::2); both are this process, whose master keys B's SPIs come
 * from. */
static struct in6_addr addr_a, addr_b;
static struct in6_addr addr6_a, addr6_b;

/* Builds a tunnel header template: Ethernet, outer IP from A to B, UDP to
 * port 1000, PSP template. */
static size_t
build_template(uint8_t *h, bool v6, const struct psp_port_cfg *cfg,
               uint64_t assoc)
{
    size_t ofs = ETH_HEADER_LEN;

    memset(h, 0, 128);
    memcpy(h, "\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01", 12);
    if (v6) {
        h[12] = 0x86;
        h[13] = 0xdd;
        h[ofs] = 0x60;
        h[ofs + 6] = IPPROTO_UDP;
        h[ofs + 7] = 64;
        memcpy(h + ofs + 8, &addr6_a, 16);
        memcpy(h + ofs + 24, &addr6_b, 16);
        ofs += IPV6_HEADER_LEN;
    } else {
        h[12] = 0x08;
        h[ofs] = 0x45;
        h[ofs + 6] = 0x40;
        h[ofs + 8] = 64;
        h[ofs + 9] = IPPROTO_UDP;
        memcpy(h + ofs + 12, &addr_a.s6_addr[12], 4);
        memcpy(h + ofs + 16, &addr_b.s6_addr[12], 4);
        ovs_be16 sum = csum(h + ofs, IP_HEADER_LEN);
        memcpy(h + ofs + 10, &sum, 2);
        ofs += IP_HEADER_LEN;
    }
    h[ofs + 2] = PSP_DEFAULT_UDP_PORT >> 8;
    h[ofs + 3] = PSP_DEFAULT_UDP_PORT & 0xff;
    ofs += UDP_HEADER_LEN;
    return ofs + psp_dp_build_header(h + ofs, cfg, assoc);
}

/* A VM's IPv4/UDP packet (no Ethernet: PSP is an L3 tunnel), 'len' bytes,
 * with 'pad' bytes of trailing padding. */
static struct dp_packet *
vm_packet(size_t len, size_t pad)
{
    struct dp_packet *p = dp_packet_new_with_headroom(len + pad, 128);
    uint8_t *ip = dp_packet_put_zeros(p, len + pad);

    ip[0] = 0x45;
    ip[2] = len >> 8;
    ip[3] = len;
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    ip[20] = 0x1f;              /* Source port 8000. */
    ip[21] = 0x40;
    ip[22] = 0x01;              /* Destination port 443. */
    ip[23] = 0xbb;
    ip[24] = (len - 20) >> 8;
    ip[25] = len - 20;
    for (size_t i = 28; i < len; i++) {
        ip[i] = 'A' + i % 26;
    }
    for (size_t i = len; i < len + pad; i++) {
        ip[i] = 0xee;
    }
    p->packet_type = htonl(PT_IPV4);
    return p;
}

/* Sets the offsets that the receive path has when it pops. */
static void
set_rx_offsets(struct dp_packet *p, bool v6)
{
    p->packet_type = htonl(PT_ETH);
    p->l2_pad_size = 0;
    p->l3_ofs = ETH_HEADER_LEN;
    p->l4_ofs = ETH_HEADER_LEN + (v6 ? IPV6_HEADER_LEN : IP_HEADER_LEN);
}

static const uint8_t *
psp_of(const struct dp_packet *p, bool v6)
{
    return ((const uint8_t *) dp_packet_data(p) + ETH_HEADER_LEN
            + (v6 ? IPV6_HEADER_LEN : IP_HEADER_LEN) + UDP_HEADER_LEN);
}

static uint32_t
get_spi(const struct dp_packet *p, bool v6)
{
    const uint8_t *psp = psp_of(p, v6);
    return ((uint32_t) psp[4] << 24) | (psp[5] << 16) | (psp[6] << 8)
           | psp[7];
}

static uint64_t
get_iv(const struct dp_packet *p, bool v6)
{
    const uint8_t *psp = psp_of(p, v6);
    uint64_t iv = 0;
    for (int i = 8; i < 16; i++) {
        iv = (iv << 8) | psp[i];
    }
    return iv;
}

/* Allocates an SPI at "B" for packets from 'peer' and installs it at "A" as
 * the SA to 'remote' for 'assoc'. */
static uint32_t
make_sa(const struct in6_addr *peer, const struct in6_addr *remote,
        uint64_t assoc, enum psp_version version, struct psp_key *keyp)
{
    uint8_t key[PSP_MAX_KEY_LEN];
    uint32_t spi;

    ovs_assert(!psp_dp_rx_spi_alloc(peer, assoc, version, &spi, key));
    ovs_assert(!psp_dp_tx_sa_set(remote, assoc, spi, version, key,
                                 psp_version_key_len(version)));
    if (keyp) {
        ovs_assert(psp_key_init(keyp, version, key,
                                psp_version_key_len(version)));
    }
    return spi;
}

static void
test_push_pop(bool v6)
{
    const struct in6_addr *a = v6 ? &addr6_a : &addr_a;
    const struct in6_addr *b = v6 ? &addr6_b : &addr_b;
    struct psp_port_cfg cfg = { .crypt_off = 6 };
    uint8_t tmpl[128];
    size_t tlen = build_template(tmpl, v6, &cfg, 42);
    struct psp_key key;
    uint32_t spi = make_sa(a, b, 42, PSP_V0, &key);
    struct psp_crypto *cc = psp_crypto_create(4);

    /* Push: outer headers, PSP header from the SA, lengths with the ICV,
     * padding not carried. */
    struct dp_packet *p = vm_packet(200, 6);
    struct dp_packet *orig = vm_packet(200, 0);
    CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_OK);
    size_t outer = ETH_HEADER_LEN + (v6 ? IPV6_HEADER_LEN : IP_HEADER_LEN);
    CHECK(dp_packet_size(p) == outer + 8 + 16 + 200 + 16);
    const uint8_t *ip = (const uint8_t *) dp_packet_data(p) + ETH_HEADER_LEN;
    if (v6) {
        CHECK(((ip[4] << 8) | ip[5]) == 8 + 16 + 200 + 16);
    } else {
        CHECK(((ip[2] << 8) | ip[3]) == 20 + 8 + 16 + 200 + 16);
        CHECK(!csum(ip, 20));
    }
    const uint8_t *udp = ip + (v6 ? IPV6_HEADER_LEN : IP_HEADER_LEN);
    CHECK(((udp[2] << 8) | udp[3]) == 1000);
    CHECK(((udp[4] << 8) | udp[5]) == 8 + 16 + 200 + 16);
    CHECK(udp[6] == 0 && udp[7] == 0);
    const uint8_t *psp = psp_of(p, v6);
    CHECK(psp[0] == PSP_NH_IPV4 && psp[1] == 1 && psp[2] == 6);
    CHECK(((psp[3] >> 2) & 0xf) == PSP_V0);
    CHECK(get_spi(p, v6) == spi);
    /* The crypt offset leaves the inner IP header and ports readable; the
     * payload is not. */
    CHECK(!memcmp(psp + 16, dp_packet_data(orig), 24));
    CHECK(memcmp(psp + 16 + 28, (uint8_t *) dp_packet_data(orig) + 28, 16));

    /* The key the peer was given opens it (independent check). */
    uint8_t copy[512];
    size_t psp_len = 16 + 200 + 16;
    memcpy(copy, psp, psp_len);
    CHECK_ERR(psp_open(cc, &key, copy, psp_len, NULL), PSP_OK);

    /* IVs increase. */
    uint64_t iv1 = get_iv(p, v6);
    struct dp_packet *p2 = vm_packet(100, 0);
    CHECK_ERR(psp_dp_push(p2, tmpl, tlen, false), PSP_OK);
    CHECK(get_iv(p2, v6) == iv1 + 1);

    /* Pop: back to the inner packet, with the association in tun_id. */
    struct flow_tnl tnl;
    uint32_t rx_spi;
    uint64_t vc;
    memset(&tnl, 0, sizeof tnl);
    set_rx_offsets(p, v6);
    CHECK_ERR(psp_dp_pop(p, &tnl, &rx_spi, &vc, NULL), PSP_OK);
    CHECK(dp_packet_size(p) == 200);
    CHECK(!memcmp(dp_packet_data(p), dp_packet_data(orig), 200));
    CHECK(p->packet_type == htonl(PT_IPV4));
    CHECK(ntohll(tnl.tun_id) == 42 && rx_spi == spi);
    CHECK(tnl.tp_dst == htons(1000));
    if (!v6) {
        CHECK(tnl.ip_src == in6_addr_get_mapped_ipv4(a));
    } else {
        CHECK(ipv6_addr_equals(&tnl.ipv6_src, a));
    }

    /* With a UDP checksum, which the receiver verifies. */
    struct dp_packet *pc = vm_packet(300, 0);
    CHECK_ERR(psp_dp_push(pc, tmpl, tlen, true), PSP_OK);
    const uint8_t *udpc = (const uint8_t *) dp_packet_data(pc) + outer;
    CHECK(udpc[6] || udpc[7]);
    set_rx_offsets(pc, v6);
    struct dp_packet *pc_bad = dp_packet_clone(pc);
    set_rx_offsets(pc_bad, v6);
    ((uint8_t *) dp_packet_data(pc_bad))[outer + 6] ^= 1;
    CHECK_ERR(psp_dp_pop(pc, &tnl, &rx_spi, &vc, NULL), PSP_OK);
    CHECK_ERR(psp_dp_pop(pc_bad, &tnl, &rx_spi, &vc, NULL), PSP_E_TRUNCATED);

    dp_packet_delete(p);
    dp_packet_delete(p2);
    dp_packet_delete(pc);
    dp_packet_delete(pc_bad);
    dp_packet_delete(orig);
    psp_key_wipe(&key);
    psp_crypto_destroy(cc);
}

static void
test_dp_basic(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    test_push_pop(false);
    test_push_pop(true);
    printf("push/pop: ok\n");
}

static void
test_dp_errors(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_port_cfg cfg = { .crypt_off = 0 };
    uint8_t tmpl[128];
    struct flow_tnl tnl;
    uint32_t spi;
    uint64_t vc;

    /* No SA: dropped, nothing sent. */
    size_t tlen = build_template(tmpl, false, &cfg, 1000);
    struct dp_packet *p = vm_packet(100, 0);
    CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_E_NO_SA);
    dp_packet_delete(p);

    /* Not an IP packet, or shorter than its header says. */
    make_sa(&addr_a, &addr_b, 1001, PSP_V1, NULL);
    tlen = build_template(tmpl, false, &cfg, 1001);
    p = vm_packet(100, 0);
    ((uint8_t *) dp_packet_data(p))[0] = 0x55;
    CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_E_TX_INNER);
    dp_packet_delete(p);
    p = vm_packet(100, 0);
    ((uint8_t *) dp_packet_data(p))[3] = 101;
    CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_E_TX_INNER);
    dp_packet_delete(p);

    /* A buffer that cannot grow and has no tailroom (as DPDK's may). */
    uint8_t stack[100];
    struct dp_packet fixed;
    dp_packet_use_const(&fixed, stack, sizeof stack);
    memcpy(stack, dp_packet_data(vm_packet(100, 0)), 100);
    CHECK_ERR(psp_dp_push(&fixed, tmpl, tlen, false), PSP_E_NO_ROOM);

    /* Tampering: every byte of the PSP packet. */
    struct dp_packet *good = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(good, tmpl, tlen, false), PSP_OK);
    size_t outer = ETH_HEADER_LEN + IP_HEADER_LEN + UDP_HEADER_LEN;
    int n_tampered = 0;
    for (size_t i = outer; i < dp_packet_size(good); i++) {
        struct dp_packet *bad = dp_packet_clone(good);
        ((uint8_t *) dp_packet_data(bad))[i] ^= 0x20;
        set_rx_offsets(bad, false);
        memset(&tnl, 0, sizeof tnl);
        if (psp_dp_pop(bad, &tnl, &spi, &vc, NULL) == PSP_OK) {
            fprintf(stderr, "byte %"PRIuSIZE" tampered, popped\n", i);
            n_failures++;
        }
        n_tampered++;
        dp_packet_delete(bad);
    }

    /* Truncated: UDP length past the packet, and a short PSP packet. */
    struct dp_packet *t = dp_packet_clone(good);
    dp_packet_set_size(t, dp_packet_size(t) - 1);
    set_rx_offsets(t, false);
    CHECK_ERR(psp_dp_pop(t, &tnl, &spi, &vc, NULL), PSP_E_TRUNCATED);
    dp_packet_delete(t);

    /* Authentic, but from another peer than the SPI was given to. */
    struct dp_packet *other = dp_packet_clone(good);
    uint8_t *oip = (uint8_t *) dp_packet_data(other) + ETH_HEADER_LEN;
    oip[15] = 99;               /* Source 192.0.2.99 */
    oip[10] = oip[11] = 0;
    ovs_be16 sum = csum(oip, IP_HEADER_LEN);
    memcpy(oip + 10, &sum, 2);
    set_rx_offsets(other, false);
    CHECK_ERR(psp_dp_pop(other, &tnl, &spi, &vc, NULL), PSP_E_UNBOUND_SPI);
    dp_packet_delete(other);

    /* Re-key with no change to the template: the next packet uses the new
     * SPI and still pops. */
    struct dp_packet *before = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(before, tmpl, tlen, false), PSP_OK);
    uint32_t spi_old = get_spi(before, false);
    uint32_t spi_new = make_sa(&addr_a, &addr_b, 1001, PSP_V0, NULL);
    struct dp_packet *after = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(after, tmpl, tlen, false), PSP_OK);
    CHECK(get_spi(after, false) == spi_new && spi_new != spi_old);
    set_rx_offsets(after, false);
    CHECK_ERR(psp_dp_pop(after, &tnl, &spi, &vc, NULL), PSP_OK);
    /* Packets of the old SA in flight still open. */
    set_rx_offsets(before, false);
    CHECK_ERR(psp_dp_pop(before, &tnl, &spi, &vc, NULL), PSP_OK);

    /* Removed (after the thread's SA cache learned it): no SA, nothing
     * sent; installed again, it sends again. */
    CHECK(psp_dp_tx_sa_del(&addr_b, 1001));
    struct dp_packet *gone = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(gone, tmpl, tlen, false), PSP_E_NO_SA);
    dp_packet_delete(gone);
    spi_new = make_sa(&addr_a, &addr_b, 1001, PSP_V0, NULL);
    gone = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(gone, tmpl, tlen, false), PSP_OK);
    CHECK(get_spi(gone, false) == spi_new);
    dp_packet_delete(gone);

    /* Rotation: one keeps old SPIs working, the second makes them stale. */
    struct dp_packet *old1 = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(old1, tmpl, tlen, false), PSP_OK);
    struct dp_packet *old2 = dp_packet_clone(old1);
    CHECK(psp_dp_rotate());
    set_rx_offsets(old1, false);
    CHECK_ERR(psp_dp_pop(old1, &tnl, &spi, &vc, NULL), PSP_OK);
    CHECK(psp_dp_rotate());
    set_rx_offsets(old2, false);
    CHECK_ERR(psp_dp_pop(old2, &tnl, &spi, &vc, NULL), PSP_E_STALE);

    /* VC in clear (offset 2), for the pipeline. */
    struct psp_port_cfg vcfg = { .crypt_off = 2, .has_vc = true,
                                 .vc = 0x1234567890abcdefull };
    make_sa(&addr_a, &addr_b, 1002, PSP_V1, NULL);
    tlen = build_template(tmpl, false, &vcfg, 1002);
    struct dp_packet *pv = vm_packet(80, 0);
    CHECK_ERR(psp_dp_push(pv, tmpl, tlen, false), PSP_OK);
    set_rx_offsets(pv, false);
    CHECK_ERR(psp_dp_pop(pv, &tnl, &spi, &vc, NULL), PSP_OK);
    CHECK(vc == 0x1234567890abcdefull && dp_packet_size(pv) == 80);

    /* Per-SA options override the port's: crypt offset, and the VC where
     * the port's header has room for one; without room the packet drops. */
    uint8_t k16[16] = { 1, 2, 3 };
    struct psp_dp_tx_opts opts = { .crypt_off = 5, .has_vc = true,
                                   .vc = 0xfeedfacecafebeefull };
    CHECK(!psp_dp_tx_sa_set_opts(&addr_b, 1002, 0x77, PSP_V0, k16, 16,
                                 &opts));
    struct dp_packet *po = vm_packet(80, 0);
    CHECK_ERR(psp_dp_push(po, tmpl, tlen, false), PSP_OK);
    const uint8_t *ph = psp_of(po, false);
    CHECK((ph[2] & 0x3f) == 5 && ph[16] == 0xfe && ph[23] == 0xef);
    struct psp_port_cfg novc = { .crypt_off = 0 };
    uint8_t tmpl2[128];
    size_t tlen2 = build_template(tmpl2, false, &novc, 1002);
    struct dp_packet *pn = vm_packet(80, 0);
    CHECK_ERR(psp_dp_push(pn, tmpl2, tlen2, false), PSP_E_TX_INNER);
    opts.has_vc = false;
    CHECK(psp_dp_tx_sa_set_opts(&addr_b, 1002, 0x77, PSP_V2, k16, 16,
                                &opts) == EINVAL);
    dp_packet_delete(po);
    dp_packet_delete(pn);

    /* Counters count all of it. */
    struct psp_stats s;
    psp_dp_get_stats(&s);
    CHECK(s.errors[PSP_E_NO_SA] >= 1 && s.errors[PSP_E_NO_ROOM] >= 1);
    CHECK(s.errors[PSP_E_TX_INNER] >= 2 && s.errors[PSP_E_STALE] >= 1);
    CHECK(s.errors[PSP_E_UNBOUND_SPI] >= 1 && s.rx_auth_fail >= 1);
    CHECK(s.tx_packets >= 5 && s.rx_packets >= 4 && s.key_rotations == 2);

    /* The management view shows SAs, never keys. */
    struct ds d = DS_EMPTY_INITIALIZER;
    psp_dp_format(&d, false);
    CHECK(strstr(ds_cstr(&d), "remote=192.0.2.2 assoc=1001"));
    /* Bindings of SPIs whose generation is gone went with it. */
    CHECK(strstr(ds_cstr(&d), "state=active"));
    CHECK(!strstr(ds_cstr(&d), "state=stale"));
    ds_destroy(&d);

    dp_packet_delete(good);
    dp_packet_delete(before);
    dp_packet_delete(after);
    dp_packet_delete(old1);
    dp_packet_delete(old2);
    dp_packet_delete(pv);
    printf("errors: ok (%d tampered bytes dropped)\n", n_tampered);
}

static uint16_t
get_udp_src(const struct dp_packet *p, bool v6)
{
    const uint8_t *udp = psp_of(p, v6) - UDP_HEADER_LEN;

    return (udp[0] << 8) | udp[1];
}

/* The UDP source port: one inner flow, one port, whatever the packets'
 * lengths (ECMP keeps a flow on one path), without an RSS hash. */
static void
test_dp_entropy(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    static const size_t lens[] = { 28, 60, 200, 1000, 1400, 64 };
    struct psp_port_cfg cfg = { .crypt_off = 0 };
    uint8_t tmpl[128];
    size_t tlen = build_template(tmpl, false, &cfg, 77);
    int first = -1;

    make_sa(&addr_a, &addr_b, 77, PSP_V0, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
        struct dp_packet *p = vm_packet(lens[i], 0);

        CHECK(!dp_packet_rss_valid(p));
        CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_OK);
        if (first < 0) {
            first = get_udp_src(p, false);
        }
        CHECK(get_udp_src(p, false) == first);
        dp_packet_delete(p);
    }
    printf("entropy: ok\n");
}

/* Buffers of 64 kB and more (netdev-linux's at MTU 65535): packets in them
 * are encrypted in bounds, and one too big to encrypt is dropped. */
static void
test_dp_big_buffers(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_port_cfg cfg = { .crypt_off = 0 };
    uint8_t tmpl[128];
    size_t tlen = build_template(tmpl, false, &cfg, 78);
    static const size_t lens[] = { 100, 1400, 30000, 65000, 65400 };

    make_sa(&addr_a, &addr_b, 78, PSP_V0, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
        /* As netdev-linux receives: 6 bytes of headroom, a buffer of
         * VLAN_ETH_HEADER_LEN + 65535 bytes. */
        struct dp_packet *p = dp_packet_new_with_headroom(18 + 65535, 6);
        struct dp_packet *src = vm_packet(lens[i], 0);

        dp_packet_put(p, dp_packet_data(src), dp_packet_size(src));
        p->packet_type = htonl(PT_IPV4);
        CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_OK);
        CHECK(dp_packet_size(p) == tlen + lens[i] + PSP_ICV_LEN);
        CHECK((char *) dp_packet_tail(p) <= (char *) dp_packet_end(p));
        dp_packet_delete(src);
        dp_packet_delete(p);
    }

    /* 65,476 bytes: the outer IPv4 length would pass 65,535.  65,475: it
     * would not, but with the headers and the ICV the packet would pass
     * the 64 kB that a dp_packet can hold. */
    for (size_t len = 65475; len <= 65476; len++) {
        struct dp_packet *p = dp_packet_new_with_headroom(18 + 65535, 6);
        struct dp_packet *src = vm_packet(len, 0);

        dp_packet_put(p, dp_packet_data(src), dp_packet_size(src));
        p->packet_type = htonl(PT_IPV4);
        CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_E_TX_TOO_BIG);
        dp_packet_delete(src);
        dp_packet_delete(p);
    }
    printf("big buffers: ok\n");
}

/* A PSP packet with VLAN tags on its outer Ethernet header pops to its
 * inner packet, byte for byte. */
static void
test_dp_vlan(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_port_cfg cfg = { .crypt_off = 6 };
    uint8_t tmpl[128];
    size_t tlen = build_template(tmpl, false, &cfg, 79);
    uint32_t spi = make_sa(&addr_a, &addr_b, 79, PSP_V0, NULL);

    for (int tags = 1; tags <= 2; tags++) {
        struct dp_packet *p = vm_packet(300, 0);
        struct dp_packet *orig = vm_packet(300, 0);

        CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_OK);
        for (int i = 0; i < tags; i++) {
            uint8_t *eth = dp_packet_push_uninit(p, VLAN_HEADER_LEN);

            memmove(eth, eth + VLAN_HEADER_LEN, 2 * ETH_ADDR_LEN);
            eth[12] = 0x81;
            eth[13] = 0x00;
            eth[14] = 0x00;
            eth[15] = 10 + i;
        }

        struct flow_tnl tnl;
        uint32_t rx_spi;
        uint64_t vc;
        memset(&tnl, 0, sizeof tnl);
        p->packet_type = htonl(PT_ETH);
        p->l2_pad_size = 0;
        p->l3_ofs = ETH_HEADER_LEN + tags * VLAN_HEADER_LEN;
        p->l4_ofs = p->l3_ofs + IP_HEADER_LEN;
        CHECK_ERR(psp_dp_pop(p, &tnl, &rx_spi, &vc, NULL), PSP_OK);
        CHECK(rx_spi == spi);
        CHECK(dp_packet_size(p) == 300);
        CHECK(!memcmp(dp_packet_data(p), dp_packet_data(orig), 300));
        dp_packet_delete(p);
        dp_packet_delete(orig);
    }
    printf("vlan: ok\n");
}

/* An Ethernet frame from A to B (IPv4) with an L4 packet of 'proto' of
 * 'l4_len' bytes whose checksum field holds 'l4_csum', for transport
 * mode. */
static struct dp_packet *
host_frame(uint8_t proto, size_t l4_len, uint16_t l4_csum)
{
    size_t len = ETH_HEADER_LEN + IP_HEADER_LEN + l4_len;
    struct dp_packet *p = dp_packet_new_with_headroom(len, 128);
    uint8_t *eth = dp_packet_put_zeros(p, len);
    uint8_t *ip = eth + ETH_HEADER_LEN;
    uint8_t *l4 = ip + IP_HEADER_LEN;
    size_t csum_ofs = proto == IPPROTO_TCP ? 16 : 6;

    eth[12] = 0x08;
    ip[0] = 0x45;
    ip[2] = (IP_HEADER_LEN + l4_len) >> 8;
    ip[3] = IP_HEADER_LEN + l4_len;
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, &addr_a.s6_addr[12], 4);
    memcpy(ip + 16, &addr_b.s6_addr[12], 4);
    ovs_be16 sum = csum(ip, IP_HEADER_LEN);
    memcpy(ip + 10, &sum, 2);
    l4[0] = 0x30;
    l4[1] = 0x39;
    l4[2] = 0x01;
    l4[3] = 0xbb;
    if (proto == IPPROTO_TCP) {
        l4[12] = 0x50;
        l4[13] = 0x18;
    } else {
        l4[4] = l4_len >> 8;
        l4[5] = l4_len;
    }
    for (size_t i = proto == IPPROTO_TCP ? 20 : 8; i < l4_len; i++) {
        l4[i] = i * 7;
    }
    l4[csum_ofs] = l4_csum >> 8;
    l4[csum_ofs + 1] = l4_csum;
    p->l3_ofs = ETH_HEADER_LEN;
    p->l4_ofs = ETH_HEADER_LEN + IP_HEADER_LEN;
    return p;
}

/* Whether the L4 checksum of the IPv4 packet in frame 'p' is right. */
static bool
l4_csum_ok(const struct dp_packet *p)
{
    const uint8_t *ip = (const uint8_t *) dp_packet_data(p) + ETH_HEADER_LEN;
    size_t len = ((ip[2] << 8) | ip[3]) - IP_HEADER_LEN;
    uint32_t partial = packet_csum_pseudoheader(
        ALIGNED_CAST(const struct ip_header *, ip));

    return !csum_finish(csum_continue(partial, ip + IP_HEADER_LEN, len));
}

/* Transport mode and the offload flags a guest's packets carry: partial
 * checksums are finished before sealing (they would otherwise be written
 * into ciphertext by a NIC), TSO packets are refused. */
static void
test_dp_offloads(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    make_sa(&addr_a, &addr_b, 80, PSP_V0, NULL);

    for (int i = 0; i < 2; i++) {
        uint8_t proto = i ? IPPROTO_UDP : IPPROTO_TCP;
        /* A partial checksum, as a guest leaves it: not the right one. */
        struct dp_packet *p = host_frame(proto, 400, 0x1234);
        struct psp_dp_rx_info info;
        uint64_t assoc = 80;

        CHECK(!l4_csum_ok(p));
        if (proto == IPPROTO_TCP) {
            dp_packet_hwol_set_csum_tcp(p);
        } else {
            dp_packet_hwol_set_csum_udp(p);
        }
        CHECK_ERR(psp_dp_encrypt(p, 80, 0, 0), PSP_OK);
        CHECK(!dp_packet_hwol_tx_l4_checksum(p));
        CHECK_ERR(psp_dp_decrypt(p, &assoc, &info), PSP_OK);
        CHECK(dp_packet_size(p) == ETH_HEADER_LEN + IP_HEADER_LEN + 400);
        CHECK(l4_csum_ok(p));
        dp_packet_delete(p);
    }

    /* TSO: refused, never sealed. */
    struct dp_packet *p = host_frame(IPPROTO_TCP, 3000, 0);
    dp_packet_hwol_set_csum_tcp(p);
    dp_packet_hwol_set_tcp_seg(p);
    CHECK_ERR(psp_dp_encrypt(p, 80, 0, 0), PSP_E_TX_UNSUPPORTED);
    dp_packet_delete(p);

    /* IP in IP (protocols 4 and 41) would read back as tunnel mode. */
    for (int proto = 4; proto <= 41; proto += 37) {
        p = host_frame(IPPROTO_UDP, 100, 0);
        uint8_t *ip = dp_packet_l3(p);
        ip[9] = proto;
        ip[10] = ip[11] = 0;
        ovs_be16 sum = csum(ip, IP_HEADER_LEN);
        memcpy(ip + 10, &sum, 2);
        CHECK_ERR(psp_dp_encrypt(p, 80, 0, 0), PSP_E_TX_UNSUPPORTED);
        dp_packet_delete(p);
    }
    printf("offloads: ok\n");
}

static void
count_binding(uint32_t spi OVS_UNUSED, const struct in6_addr *peer OVS_UNUSED,
              uint64_t assoc OVS_UNUSED, enum psp_version version OVS_UNUSED,
              void *n_)
{
    int *n = n_;

    (*n)++;
}

static int
n_unowned(void)
{
    int n = 0;

    psp_dp_rx_unowned_walk(count_binding, &n);
    return n;
}

/* SPI bindings: each has one owner, the only one that can change or remove
 * it; those without an owner are listed, for whoever keeps them. */
static void
test_dp_bindings(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    uint8_t key[PSP_MAX_KEY_LEN];
    struct uuid row1, row2, holder;
    uint32_t spi, spi2;
    uint64_t gen;

    uuid_generate(&row1);
    uuid_generate(&row2);
    CHECK(!psp_dp_rx_spi_alloc_gen(&addr_a, 7, PSP_V0, &spi, key, &gen,
                                   &row1));
    CHECK(n_unowned() == 0);

    /* Nobody else takes it over or removes it. */
    memset(&holder, 0, sizeof holder);
    CHECK(psp_dp_rx_bind(spi, &addr_b, 7, PSP_V0, &row2, &holder) == EBUSY);
    CHECK(uuid_equals(&holder, &row1));
    CHECK(psp_dp_rx_bind(spi, &addr_b, 7, PSP_V0, NULL, NULL) == EBUSY);
    CHECK(!psp_dp_rx_unbind(spi, &row2));
    CHECK(!psp_dp_rx_unbind(spi, NULL));

    /* Its owner changes it, and removes it. */
    CHECK(!psp_dp_rx_bind(spi, &addr_b, 8, PSP_V0, &row1, NULL));
    struct ds d = DS_EMPTY_INITIALIZER;
    psp_dp_format(&d, false);
    CHECK(strstr(ds_cstr(&d), "peer=192.0.2.2 assoc=8 version=0"));
    ds_destroy(&d);

    /* One without an owner: listed, and the list's sequence number moves
     * with it. */
    uint64_t seq = psp_dp_rx_unowned_seq();
    CHECK(!psp_dp_rx_spi_alloc(&addr_a, 9, PSP_V1, &spi2, key));
    CHECK(psp_dp_rx_unowned_seq() != seq);
    CHECK(n_unowned() == 1);
    CHECK(psp_dp_rx_bind(spi2, &addr_a, 9, PSP_V1, &row1, &holder) == EBUSY);
    CHECK(uuid_is_zero(&holder));

    seq = psp_dp_rx_unowned_seq();
    CHECK(psp_dp_rx_unbind(spi, &row1));
    CHECK(psp_dp_rx_unowned_seq() == seq);
    CHECK(psp_dp_rx_unbind(spi2, NULL));
    CHECK(psp_dp_rx_unowned_seq() != seq);
    CHECK(n_unowned() == 0);
    CHECK(!psp_dp_rx_unbind(spi, &row1));
    explicit_bzero(key, sizeof key);
    printf("bindings: ok\n");
}

static struct dp_packet *
pushed(const uint8_t *tmpl, size_t tlen, size_t len, enum psp_error expect)
{
    struct dp_packet *p = vm_packet(len, 0);
    CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), expect);
    set_rx_offsets(p, false);
    return p;
}

/* The IV of a packet pushed with 'tmpl', which must succeed. */
static uint64_t
push_iv(const uint8_t *tmpl, size_t tlen)
{
    struct dp_packet *p = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_OK);
    uint64_t iv = get_iv(p, false);
    dp_packet_delete(p);
    return iv;
}

/* Waits until every SA removed so far is freed. */
static void
rcu_settle(void)
{
    ovsrcu_quiesce();
    ovsrcu_barrier();
}

/* A thread that pushes one packet with 'tmpl', so that its cache holds the
 * SA's expanded key, then waits, quiescent, for 'done'. */
struct pusher {
    const uint8_t *tmpl;
    size_t tlen;
    struct ovs_barrier pushed;
    struct ovs_barrier done;
};

static void *
pusher_main(void *aux)
{
    struct pusher *pu = aux;

    push_iv(pu->tmpl, pu->tlen);
    ovsrcu_quiesce_start();
    ovs_barrier_block(&pu->pushed);
    ovs_barrier_block(&pu->done);
    return NULL;
}

/* Once an SA or a master key generation is gone, no thread's cache holds
 * its expanded key: key memory (where OpenSSL's memory comes from, as in
 * ovs-vswitchd) holds no trace of it. */
static void
test_dp_key_hygiene(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_port_cfg cfg = { .crypt_off = 0 };
    uint8_t tmpl[128], tmpl2[128];
    size_t tlen = build_template(tmpl, false, &cfg, 3001);
    size_t tlen2 = build_template(tmpl2, false, &cfg, 3002);
    uint8_t k[16], kr[PSP_MAX_KEY_LEN];
    struct flow_tnl tnl;
    uint32_t spi;
    uint64_t vc;

    CHECK(psp_openssl_mem_is_secure());

    /* A transmit SA's key, used by this thread and another. */
    random_bytes(k, sizeof k);
    CHECK(!psp_dp_tx_sa_set(&addr_b, 3001, 0x301, PSP_V0, k, 16));
    push_iv(tmpl, tlen);
    struct pusher pu = { .tmpl = tmpl, .tlen = tlen };
    ovs_barrier_init(&pu.pushed, 2);
    ovs_barrier_init(&pu.done, 2);
    pthread_t thread = ovs_thread_create("pusher", pusher_main, &pu);
    ovs_barrier_block(&pu.pushed);
    CHECK(psp_dp_tx_sa_del(&addr_b, 3001));
    rcu_settle();
    CHECK(!psp_secure_mem_contains(k, sizeof k));
    ovs_barrier_block(&pu.done);
    xpthread_join(thread, NULL);
    ovs_barrier_destroy(&pu.pushed);
    ovs_barrier_destroy(&pu.done);

    /* A receive key: derived for its SPI and kept nowhere but expanded in
     * the cache of the thread that received with it.  (The packet is sent
     * with an SA of that key, removed before the packet is received.) */
    CHECK(!psp_dp_rx_spi_alloc(&addr_a, 3002, PSP_V0, &spi, kr));
    CHECK(!psp_dp_tx_sa_set(&addr_b, 3002, spi, PSP_V0, kr, 16));
    struct dp_packet *p = pushed(tmpl2, tlen2, 100, PSP_OK);
    CHECK(psp_dp_tx_sa_del(&addr_b, 3002));
    rcu_settle();
    CHECK(!psp_secure_mem_contains(kr, 16));
    CHECK_ERR(psp_dp_pop(p, &tnl, &spi, &vc, NULL), PSP_OK);
    CHECK(psp_secure_mem_contains(kr, 16));     /* What is looked for. */

    /* Its generation goes with the second rotation after. */
    CHECK(psp_dp_rotate());
    rcu_settle();
    CHECK(psp_secure_mem_contains(kr, 16));
    CHECK(psp_dp_rotate());
    rcu_settle();
    CHECK(!psp_secure_mem_contains(kr, 16));

    /* What stays works: a new SA sends, and what it sends is received. */
    make_sa(&addr_a, &addr_b, 3001, PSP_V0, NULL);
    dp_packet_delete(p);
    p = pushed(tmpl, tlen, 100, PSP_OK);
    CHECK_ERR(psp_dp_pop(p, &tnl, &spi, &vc, NULL), PSP_OK);
    dp_packet_delete(p);
    explicit_bzero(kr, sizeof kr);
    printf("key hygiene: ok\n");
}

#define HOUR (INT64_C(3600) * 1000 * 1000 * 1000)

/* IVs under one key never repeat: not when the same key is installed again
 * (applied again as it is, with other options, or after a removal) with
 * the clock going back, not for two SAs at once (refused), not when an
 * owner moves its SA; a stale SA sends nothing. */
static void
test_dp_iv(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    static const uint8_t k1[16] = "0123456789abcdef";
    static const uint8_t k2[16] = "fedcba9876543210";
    struct psp_ivs *ivs = psp_dp_ivs();
    struct psp_port_cfg cfg = { .crypt_off = 0 };
    uint8_t tmpl[128], tmpl2[128];
    size_t tlen = build_template(tmpl, false, &cfg, 2001);
    size_t tlen2 = build_template(tmpl2, false, &cfg, 2004);

    CHECK(!psp_dp_tx_sa_set(&addr_b, 2001, 0x101, PSP_V0, k1, 16));
    uint64_t iv = push_iv(tmpl, tlen);
    CHECK(push_iv(tmpl, tlen) == iv + 1);
    iv++;

    /* Applied again as it is: the same SA, its IVs going on. */
    CHECK(!psp_dp_tx_sa_set(&addr_b, 2001, 0x101, PSP_V0, k1, 16));
    CHECK(push_iv(tmpl, tlen) == iv + 1);
    iv++;

    /* The clock an hour back; the key installed again with another SPI: its
     * IVs go on past those sent. */
    psp_ivs_set_clock_offset(ivs, -HOUR);
    CHECK(!psp_dp_tx_sa_set(&addr_b, 2001, 0x102, PSP_V0, k1, 16));
    uint64_t next = push_iv(tmpl, tlen);
    CHECK(next > iv);
    iv = next;

    /* Removed, then installed again, the clock another hour back: before
     * the old SA is freed (RCU), and after. */
    CHECK(psp_dp_tx_sa_del(&addr_b, 2001));
    psp_ivs_set_clock_offset(ivs, -2 * HOUR);
    CHECK(!psp_dp_tx_sa_set(&addr_b, 2001, 0x101, PSP_V0, k1, 16));
    next = push_iv(tmpl, tlen);
    CHECK(next > iv);
    iv = next;
    CHECK(psp_dp_tx_sa_del(&addr_b, 2001));
    rcu_settle();
    psp_ivs_set_clock_offset(ivs, -3 * HOUR);
    CHECK(!psp_dp_tx_sa_set(&addr_b, 2001, 0x101, PSP_V0, k1, 16));
    next = push_iv(tmpl, tlen);
    CHECK(next > iv);
    iv = next;

    /* One key for two SAs: refused, whatever the version (AES-GCM-128 and
     * AES-GMAC-128 with the same bytes are one AES key).  The first SA
     * stays. */
    CHECK(psp_dp_tx_sa_set(&addr_b, 2002, 0x103, PSP_V0, k1, 16) == EEXIST);
    CHECK(psp_dp_tx_sa_set(&addr_a, 2001, 0x103, PSP_V2, k1, 16) == EEXIST);
    CHECK(!psp_dp_tx_sa_lookup(&addr_b, 2002));
    CHECK(push_iv(tmpl, tlen) == iv + 1);
    iv++;

    /* An owner moves its SA (a database row to another association): the
     * key goes with it, with its IVs; the old SA sends nothing more.
     * Another owner may not take the key. */
    struct psp_dp_tx_opts opts = { .crypt_off = -1 };
    ovs_assert(uuid_from_string(&opts.owner,
                                "00000000-0000-0000-0000-000000000001"));
    CHECK(!psp_dp_tx_sa_set_opts(&addr_b, 2001, 0x101, PSP_V0, k1, 16,
                                 &opts));
    CHECK(push_iv(tmpl, tlen) == iv + 1);
    iv++;
    CHECK(!psp_dp_tx_sa_set_opts(&addr_b, 2004, 0x101, PSP_V0, k1, 16,
                                 &opts));
    struct dp_packet *p = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(p, tmpl, tlen, false), PSP_E_NO_SA);
    dp_packet_delete(p);
    next = push_iv(tmpl2, tlen2);
    CHECK(next > iv);
    iv = next;
    CHECK(psp_dp_tx_sa_del_owned(&addr_b, 2001, &opts.owner));
    struct psp_dp_tx_opts other = opts;
    ovs_assert(uuid_from_string(&other.owner,
                                "00000000-0000-0000-0000-000000000002"));
    CHECK(psp_dp_tx_sa_set_opts(&addr_b, 2005, 0x101, PSP_V0, k1, 16,
                                &other) == EEXIST);

    /* Stale: nothing sent, until it is installed again (here with the same
     * key, whose IVs go on). */
    CHECK(psp_dp_tx_sa_set_stale(&addr_b, 2004));
    p = vm_packet(64, 0);
    CHECK_ERR(psp_dp_push(p, tmpl2, tlen2, false), PSP_E_SA_STALE);
    dp_packet_delete(p);
    struct psp_dp_tx_info info;
    CHECK(psp_dp_tx_sa_get_info(&addr_b, 2004, &info) && info.stale);
    struct ds d = DS_EMPTY_INITIALIZER;
    psp_dp_format(&d, false);
    CHECK(strstr(ds_cstr(&d), "assoc=2004 spi=0x00000101 version=0 "
                 "(aes-gcm-128) tx_packets=1 tx_bytes=64 stale\n"));
    ds_destroy(&d);
    CHECK(!psp_dp_tx_sa_set_opts(&addr_b, 2004, 0x101, PSP_V0, k1, 16,
                                 &opts));
    CHECK(psp_dp_tx_sa_get_info(&addr_b, 2004, &info) && !info.stale);
    next = push_iv(tmpl2, tlen2);
    CHECK(next > iv);

    /* Other keys are not in the way. */
    CHECK(!psp_dp_tx_sa_set(&addr_b, 2002, 0x103, PSP_V0, k2, 16));
    printf("iv: ok\n");
}

/* The spec's counters (p.20) and Linux's key rotations and stale events,
 * without the per-reason ones. */
struct agg {
    uint64_t rx_packets, rx_bytes, rx_auth_fail, rx_error, rx_bad, rx_stale;
    uint64_t tx_packets, tx_bytes, tx_error, key_rotations;
};

static void
get_agg(struct agg *a, struct psp_stats *s)
{
    psp_dp_get_stats(s);
    *a = (struct agg) {
        s->rx_packets, s->rx_bytes, s->rx_auth_fail, s->rx_error, s->rx_bad,
        s->rx_stale, s->tx_packets, s->tx_bytes, s->tx_error,
        s->key_rotations,
    };
}

/* Checks that, since 'before', the counters moved by 'delta' exactly, and
 * the reason 'error' (if any) by one; then sets 'before' to now. */
static void
check_counters(int line, struct agg *before, struct psp_stats *before_s,
               const struct agg *delta, enum psp_error error)
{
    static const char *names[] = {
        "rx_packets", "rx_bytes", "rx_auth_fail", "rx_error", "rx_bad",
        "rx_stale", "tx_packets", "tx_bytes", "tx_error", "key_rotations",
    };
    const uint64_t *b = &before->rx_packets, *d = &delta->rx_packets;
    struct psp_stats now_s;
    struct agg now;

    get_agg(&now, &now_s);
    const uint64_t *n = &now.rx_packets;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (n[i] - b[i] != d[i]) {
            fprintf(stderr, "line %d: %s moved by %"PRIu64", not %"PRIu64
                    "\n", line, names[i], n[i] - b[i], d[i]);
            n_failures++;
        }
    }
    for (int e = 1; e < PSP_N_ERRORS; e++) {
        uint64_t moved = now_s.errors[e] - before_s->errors[e];
        if (moved != (e == (int) error)) {
            fprintf(stderr, "line %d: %s moved by %"PRIu64"\n", line,
                    psp_error_name(e), moved);
            n_failures++;
        }
    }
    *before = now;
    *before_s = now_s;
}
#define CHECK_COUNTERS(ERROR, ...)                                      \
    check_counters(__LINE__, &before, &before_s,                       \
                   &(struct agg) { __VA_ARGS__ }, ERROR)

/* Each event moves exactly its counters: every counter is checked after
 * each one. */
static void
test_dp_counters(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_port_cfg cfg = { .crypt_off = 0 };
    struct psp_stats before_s;
    struct agg before;
    struct flow_tnl tnl;
    uint8_t tmpl[128];
    uint32_t spi;
    uint64_t vc;

    size_t tlen = build_template(tmpl, false, &cfg, 4001);
    make_sa(&addr_a, &addr_b, 4001, PSP_V0, NULL);
    get_agg(&before, &before_s);

    /* Sent and received: packets, and bytes from after the IV to the end
     * of the payload (here the 100-byte inner packet). */
    struct dp_packet *p = pushed(tmpl, tlen, 100, PSP_OK);
    CHECK_COUNTERS(PSP_OK, .tx_packets = 1, .tx_bytes = 100);
    struct dp_packet *q = dp_packet_clone(p);
    struct dp_packet *r = dp_packet_clone(p);
    struct dp_packet *u = dp_packet_clone(p);
    CHECK_ERR(psp_dp_pop(p, &tnl, &spi, &vc, NULL), PSP_OK);
    CHECK_COUNTERS(PSP_OK, .rx_packets = 1, .rx_bytes = 100);

    /* Authentication failure: the ICV. */
    uint8_t *icv = (uint8_t *) dp_packet_tail(q) - 1;
    *icv ^= 1;
    set_rx_offsets(q, false);
    CHECK_ERR(psp_dp_pop(q, &tnl, &spi, &vc, NULL), PSP_E_AUTH);
    CHECK_COUNTERS(PSP_E_AUTH, .rx_auth_fail = 1);

    /* Error (length): the UDP length past the packet. */
    dp_packet_set_size(r, dp_packet_size(r) - 1);
    set_rx_offsets(r, false);
    CHECK_ERR(psp_dp_pop(r, &tnl, &spi, &vc, NULL), PSP_E_TRUNCATED);
    CHECK_COUNTERS(PSP_E_TRUNCATED, .rx_error = 1);

    /* Bad: an SPI never allocated. */
    uint8_t *psp = CONST_CAST(uint8_t *, psp_of(u, false));
    psp[7] ^= 0x40;
    CHECK_ERR(psp_dp_pop(u, &tnl, &spi, &vc, NULL), PSP_E_UNKNOWN_SPI);
    CHECK_COUNTERS(PSP_E_UNKNOWN_SPI, .rx_bad = 1);

    /* A cipher failure on receive is a bad packet received.  (A new SPI,
     * whose key no cache holds yet.) */
    make_sa(&addr_a, &addr_b, 4001, PSP_V0, NULL);
    struct dp_packet *c = pushed(tmpl, tlen, 100, PSP_OK);
    CHECK_COUNTERS(PSP_OK, .tx_packets = 1, .tx_bytes = 100);
    psp_crypto_test_fail_loads(1);      /* The first load of its key. */
    CHECK_ERR(psp_dp_pop(c, &tnl, &spi, &vc, NULL), PSP_E_CRYPTO);
    CHECK_COUNTERS(PSP_E_CRYPTO, .rx_bad = 1);

    /* ...and on transmit, a packet not sent: "tx error packets", not a bad
     * packet received. */
    make_sa(&addr_a, &addr_b, 4001, PSP_V0, NULL);
    psp_crypto_test_fail_loads(1);      /* The first load of the new key. */
    dp_packet_delete(pushed(tmpl, tlen, 100, PSP_E_CRYPTO));
    CHECK_COUNTERS(PSP_E_CRYPTO, .tx_error = 1);

    /* Transmit errors: no SA; a stale SA; an IV past those reserved. */
    uint8_t tmpl2[128];
    size_t tlen2 = build_template(tmpl2, false, &cfg, 4002);
    dp_packet_delete(pushed(tmpl2, tlen2, 100, PSP_E_NO_SA));
    CHECK_COUNTERS(PSP_E_NO_SA, .tx_error = 1);
    CHECK(psp_dp_tx_sa_set_stale(&addr_b, 4001));
    dp_packet_delete(pushed(tmpl, tlen, 100, PSP_E_SA_STALE));
    CHECK_COUNTERS(PSP_E_SA_STALE, .tx_error = 1);
    make_sa(&addr_a, &addr_b, 4001, PSP_V0, NULL);
    CHECK(psp_dp_test_set_iv(&addr_b, 4001, PSP_IV_MAX));
    dp_packet_delete(pushed(tmpl, tlen, 100, PSP_E_TX_IV_LIMIT));
    CHECK_COUNTERS(PSP_E_TX_IV_LIMIT, .tx_error = 1);

    /* Stale: a packet of a generation two rotations old. */
    make_sa(&addr_a, &addr_b, 4001, PSP_V0, NULL);
    struct dp_packet *old = pushed(tmpl, tlen, 100, PSP_OK);
    CHECK_COUNTERS(PSP_OK, .tx_packets = 1, .tx_bytes = 100);
    CHECK(psp_dp_rotate());
    CHECK(psp_dp_rotate());
    CHECK_COUNTERS(PSP_OK, .key_rotations = 2);
    CHECK_ERR(psp_dp_pop(old, &tnl, &spi, &vc, NULL), PSP_E_STALE);
    CHECK_COUNTERS(PSP_E_STALE, .rx_stale = 1);

    dp_packet_delete(p);
    dp_packet_delete(q);
    dp_packet_delete(r);
    dp_packet_delete(u);
    dp_packet_delete(c);
    dp_packet_delete(old);
    printf("counters: ok\n");
}

/* keyring-keys NAME: prints the master keys that ovs-vswitchd keeps in
 * kernel keyring key NAME (PSP:key_store=keyring) as "HEX0 HEX1", the
 * format of ovs-psp-pcap --master-keys, so that tests can encrypt as a
 * peer would. */
static void
test_dp_keyring_keys(struct ovs_cmdl_context *ctx)
{
    struct psp_mkeys_state st;
    int error = psp_keyring_load(ctx->argv[1], &st);

    if (error) {
        ovs_fatal(0, "%s: %s", ctx->argv[1], ovs_strerror(error));
    }
    for (int i = 0; i < 2; i++) {
        for (size_t j = 0; j < PSP_MASTER_KEY_LEN; j++) {
            printf("%02x", st.slots[i].key[j]);
        }
        putchar(i ? '\n' : ' ');
    }
    psp_mkeys_state_wipe(&st);
}

/* keyring-remove NAME: unlinks kernel keyring key NAME, as a reboot
 * would lose it. */
static void
test_dp_keyring_remove(struct ovs_cmdl_context *ctx)
{
    int error = psp_keyring_remove(ctx->argv[1]);

    if (error) {
        ovs_fatal(0, "%s: %s", ctx->argv[1], ovs_strerror(error));
    }
}

/* keyring-session COMMAND [ARG...]: runs COMMAND with a session keyring of
 * its own, which does not link the user keyring, as systemd runs services
 * (KeyringMode=private). */
static void
test_dp_keyring_session(struct ovs_cmdl_context *ctx)
{
#ifdef KEYCTL_JOIN_SESSION_KEYRING
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0) {
        ovs_fatal(errno, "KEYCTL_JOIN_SESSION_KEYRING");
    }
    execvp(ctx->argv[1], &ctx->argv[1]);
    ovs_fatal(errno, "%s", ctx->argv[1]);
#else
    ovs_fatal(0, "%s: no kernel keyring", ctx->argv[1]);
#endif
}

static const struct ovs_cmdl_command commands[] = {
    {"keyring-keys", "NAME", 1, 1, test_dp_keyring_keys, OVS_RO},
    {"keyring-remove", "NAME", 1, 1, test_dp_keyring_remove, OVS_RO},
    {"keyring-session", "COMMAND [ARG...]", 1, INT_MAX,
     test_dp_keyring_session, OVS_RO},
    {"key-hygiene", NULL, 0, 0, test_dp_key_hygiene, OVS_RO},
    {"iv", NULL, 0, 0, test_dp_iv, OVS_RO},
    {"counters", NULL, 0, 0, test_dp_counters, OVS_RO},
    {"offloads", NULL, 0, 0, test_dp_offloads, OVS_RO},
    {"basic", NULL, 0, 0, test_dp_basic, OVS_RO},
    {"entropy", NULL, 0, 0, test_dp_entropy, OVS_RO},
    {"big-buffers", NULL, 0, 0, test_dp_big_buffers, OVS_RO},
    {"vlan", NULL, 0, 0, test_dp_vlan, OVS_RO},
    {"errors", NULL, 0, 0, test_dp_errors, OVS_RO},
    {"bindings", NULL, 0, 0, test_dp_bindings, OVS_RO},
    {NULL, NULL, 0, 0, NULL, OVS_RO},
};

static void
test_psp_dp_main(int argc, char *argv[])
{
    struct ovs_cmdl_context ctx = {
        .argc = argc - 1,
        .argv = argv + 1,
    };

    /* First, before OpenSSL allocates anything: its memory, which holds
     * expanded keys, comes from key memory, as in ovs-vswitchd. */
    psp_openssl_mem_secure();
    set_program_name(argv[0]);
    addr_a = in6_addr_mapped_ipv4(htonl(0xc0000201));
    addr_b = in6_addr_mapped_ipv4(htonl(0xc0000202));
    ovs_assert(ipv6_parse("2001:db8::1", &addr6_a));
    ovs_assert(ipv6_parse("2001:db8::2", &addr6_b));
    ovs_cmdl_run_command(&ctx, commands);
    if (n_failures) {
        fprintf(stderr, "%d check(s) failed\n", n_failures);
        exit(1);
    }
}

OVSTEST_REGISTER("test-psp-dp", test_psp_dp_main);
