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

#include "psp-flow.h"

#include <inttypes.h>
#include <string.h>

#include "byte-order.h"
#include "colors.h"
#include "flow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "psp.h"
#include "util.h"

/* 'x', a field of 'n' bytes at byte 'ofs' of a struct flow_psp, as its bytes
 * sit in memory (network byte order for the ovs_be* fields), placed where
 * those bytes fall in the struct's 64-bit word.
 *
 * The words are built in registers and stored whole: miniflow_extract()
 * loads them right away, and a load that spans several narrower stores
 * cannot be forwarded from them and stalls. */
static inline uint64_t
psp_word_field(uint64_t x, unsigned int ofs, unsigned int n)
{
#ifdef WORDS_BIGENDIAN
    return x << (64 - 8 * (ofs + n));
#else
    (void) n;
    return x << (8 * ofs);
#endif
}

BUILD_ASSERT_DECL(sizeof(struct flow_psp) == 24);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, ver) == 4);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, flags) == 5);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, crypt_off) == 6);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, vis) == 7);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, vc) == 8);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, inner_proto) == 16);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, decrypted) == 17);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, inner_tp_src) == 20);
BUILD_ASSERT_DECL(offsetof(struct flow_psp, inner_tp_dst) == 22);

void
psp_flow_pack(const struct flow_psp *psp, uint64_t w[3])
{
    w[0] = (psp_word_field((OVS_FORCE uint32_t) psp->spi, 0, 4)
            | psp_word_field(psp->ver, 4, 1)
            | psp_word_field(psp->flags, 5, 1)
            | psp_word_field(psp->crypt_off, 6, 1)
            | psp_word_field(psp->vis, 7, 1));
    w[1] = (OVS_FORCE uint64_t) psp->vc;
    w[2] = (psp_word_field(psp->inner_proto, 0, 1)
            | psp_word_field(psp->decrypted, 1, 1)
            | psp_word_field((OVS_FORCE uint16_t) psp->inner_tp_src, 4, 2)
            | psp_word_field((OVS_FORCE uint16_t) psp->inner_tp_dst, 6, 2));
}

bool
psp_flow_extract(const void *udp_payload, size_t size, uint64_t psp_words[3])
{
    struct flow_psp psp;
    struct psp_hdr_info h;

    memset(&psp, 0, sizeof psp);
    if (psp_hdr_parse(udp_payload, size, &h) != PSP_OK) {
        psp_flow_pack(&psp, psp_words);
        return false;
    }

    psp.spi = htonl(h.spi);
    psp.ver = h.version;
    psp.flags = (h.s ? 0x80 : 0) | (h.d ? 0x40 : 0) | (h.has_vc ? 0x02 : 0);
    psp.crypt_off = h.crypt_off;
    psp.vis = FLOW_PSP_VIS_HDR;
    if (h.vc_readable) {
        psp.vc = htonll(h.vc);
        psp.vis |= FLOW_PSP_VIS_VC;
    }

    struct psp_visible v;
    psp_visible_parse(udp_payload, &h, &v);
    if (v.has_proto) {
        psp.inner_proto = v.proto;
        psp.vis |= FLOW_PSP_VIS_PROTO;
    }
    if (v.has_ports) {
        psp.inner_tp_src = htons(v.src_port);
        psp.inner_tp_dst = htons(v.dst_port);
        psp.vis |= FLOW_PSP_VIS_PORTS;
    }
    psp_flow_pack(&psp, psp_words);
    return true;
}

/* Where an MFF_PSP_* field is in struct flow_psp, and the 'vis' bits a
 * packet must have for the field to be readable. */
struct psp_field {
    size_t ofs;
    uint8_t vis;
};

static struct psp_field
psp_field(const struct mf_field *mf)
{
#define PSP_FIELD(MEMBER, VIS)                                          \
    ((struct psp_field) { offsetof(struct flow_psp, MEMBER),            \
                          FLOW_PSP_VIS_HDR | (VIS) })
    switch ((int) mf->id) {
    case MFF_PSP_SPI:
        return PSP_FIELD(spi, 0);
    case MFF_PSP_VER:
        return PSP_FIELD(ver, 0);
    case MFF_PSP_FLAGS:
        return PSP_FIELD(flags, 0);
    case MFF_PSP_CRYPT_OFF:
        return PSP_FIELD(crypt_off, 0);
    case MFF_PSP_VC:
        return PSP_FIELD(vc, FLOW_PSP_VIS_VC);
    case MFF_PSP_INNER_PROTO:
        return PSP_FIELD(inner_proto, FLOW_PSP_VIS_PROTO);
    case MFF_PSP_INNER_TP_SRC:
        return PSP_FIELD(inner_tp_src, FLOW_PSP_VIS_PORTS);
    case MFF_PSP_INNER_TP_DST:
        return PSP_FIELD(inner_tp_dst, FLOW_PSP_VIS_PORTS);
    case MFF_PSP_DECRYPTED:
        /* 0 or 1 for any packet, PSP or not: it needs no header. */
        return (struct psp_field) { offsetof(struct flow_psp, decrypted), 0 };
    default:
        OVS_NOT_REACHED();
    }
#undef PSP_FIELD
}

static const uint8_t *
psp_field_bytes(const struct mf_field *mf, const struct flow_psp *psp)
{
    return (const uint8_t *) psp + psp_field(mf).ofs;
}

bool
psp_mf_is_all_wild(const struct mf_field *mf, const struct flow_wildcards *wc)
{
    return is_all_zeros(psp_field_bytes(mf, &wc->masks.psp), mf->n_bytes);
}

bool
psp_mf_is_value_valid(const struct mf_field *mf, const union mf_value *value)
{
    switch ((int) mf->id) {
    case MFF_PSP_VER:
        return value->u8 <= 15;
    case MFF_PSP_FLAGS:
        return !(value->u8 & ~0xc2);
    case MFF_PSP_CRYPT_OFF:
        return value->u8 <= PSP_MAX_CRYPT_OFF;
    case MFF_PSP_DECRYPTED:
        return value->u8 <= 1;
    default:
        return true;
    }
}

void
psp_mf_get_value(const struct mf_field *mf, const struct flow *flow,
                 union mf_value *value)
{
    memcpy(value, psp_field_bytes(mf, &flow->psp), mf->n_bytes);
}

void
psp_mf_set_flow_value(const struct mf_field *mf, const union mf_value *value,
                      struct flow *flow)
{
    struct psp_field f = psp_field(mf);

    memcpy((uint8_t *) &flow->psp + f.ofs, value, mf->n_bytes);
    flow->psp.vis |= f.vis;
}

/* A flow on a PSP field must also require what makes the field readable:
 * sets the 'vis' bits of 'match' to those its PSP fields need. */
static void
psp_match_set_vis(struct match *match)
{
    uint8_t vis = 0;

    for (enum mf_field_id id = MFF_PSP_SPI; id <= MFF_PSP_DECRYPTED;
         id++) {
        const struct mf_field *mf = mf_from_id(id);
        if (!psp_mf_is_all_wild(mf, &match->wc)) {
            vis |= psp_field(mf).vis;
        }
    }
    match->wc.masks.psp.vis = vis;
    match->flow.psp.vis = vis;
}

void
psp_mf_set(const struct mf_field *mf, const union mf_value *value,
           const union mf_value *mask, struct match *match)
{
    size_t ofs = psp_field(mf).ofs;
    uint8_t *v = (uint8_t *) &match->flow.psp + ofs;
    uint8_t *m = (uint8_t *) &match->wc.masks.psp + ofs;

    for (size_t i = 0; i < mf->n_bytes; i++) {
        m[i] = !value ? 0 : mask ? mask->b[i] : 0xff;
        v[i] = value ? value->b[i] & m[i] : 0;
    }
    psp_match_set_vis(match);
}

void
psp_match_format(const struct match *match, struct ds *s)
{
    if (is_all_zeros(&match->wc.masks.psp, sizeof match->wc.masks.psp)) {
        return;
    }
    for (enum mf_field_id id = MFF_PSP_SPI; id <= MFF_PSP_DECRYPTED;
         id++) {
        const struct mf_field *mf = mf_from_id(id);
        if (!psp_mf_is_all_wild(mf, &match->wc)) {
            union mf_value value, mask;

            mf_get_value(mf, &match->flow, &value);
            mf_get_mask(mf, &match->wc, &mask);
            ds_put_format(s, "%s%s=%s", colors.param, mf->name, colors.end);
            mf_format(mf, &value,
                      is_all_ones(&mask, mf->n_bytes) ? NULL : &mask,
                      NULL, s);
            ds_put_char(s, ',');
        }
    }
}

static void
psp_odp_format_field(struct ds *ds, const char *name, const void *key_,
                     const void *mask_, size_t n, bool hex, bool verbose)
{
    const uint8_t *key = key_, *mask = mask_;
    uint64_t k = 0, m = 0;

    for (size_t i = 0; i < n; i++) {
        k = (k << 8) | key[i];
        m = (m << 8) | (mask ? mask[i] : 0xff);
    }
    if (!m && !verbose) {
        return;
    }
    ds_put_format(ds, hex ? "%s=%#"PRIx64 : "%s=%"PRIu64, name, k);
    if (m != UINT64_MAX >> (64 - 8 * n)) {
        ds_put_format(ds, "/%#"PRIx64, m);
    }
    ds_put_char(ds, ',');
}

void
psp_odp_format(struct ds *ds, const struct flow_psp *key,
               const struct flow_psp *mask, bool verbose)
{
#define PSP_ODP_FIELD(MEMBER, HEX)                                      \
    psp_odp_format_field(ds, #MEMBER, &key->MEMBER,                     \
                         mask ? &mask->MEMBER : NULL, sizeof key->MEMBER, \
                         HEX, verbose)
    PSP_ODP_FIELD(spi, true);
    PSP_ODP_FIELD(ver, false);
    PSP_ODP_FIELD(flags, true);
    PSP_ODP_FIELD(crypt_off, false);
    PSP_ODP_FIELD(vis, true);
    PSP_ODP_FIELD(vc, true);
    PSP_ODP_FIELD(inner_proto, false);
    PSP_ODP_FIELD(inner_tp_src, false);
    PSP_ODP_FIELD(inner_tp_dst, false);
    PSP_ODP_FIELD(decrypted, false);
#undef PSP_ODP_FIELD
    ds_chomp(ds, ',');
}
