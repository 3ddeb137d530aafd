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

/* The PSP header on the wire: versions, writing and parsing the header, and
 * reading what the cleartext part of a packet shows of the inner packet
 * (psp_visible_parse(), for telemetry on packets that are not decrypted).
 *
 * Not here: anything that needs a key (psp-crypto.c), and counting what
 * goes wrong (psp-stats.c). */

#include "psp.h"

#include <string.h>

#include "psp-bytes.h"

/* Versions. */

bool
psp_version_is_valid(unsigned int version)
{
    return version < PSP_N_VERSIONS;
}

bool
psp_version_is_gmac(enum psp_version version)
{
    return version == PSP_V2 || version == PSP_V3;
}

size_t
psp_version_key_len(enum psp_version version)
{
    return version == PSP_V1 || version == PSP_V3 ? 32 : 16;
}

const char *
psp_version_name(enum psp_version version)
{
    switch (version) {
    case PSP_V0: return "aes-gcm-128";
    case PSP_V1: return "aes-gcm-256";
    case PSP_V2: return "aes-gmac-128";
    case PSP_V3: return "aes-gmac-256";
    }
    return "reserved";
}

/* Header. */

void
psp_hdr_write(uint8_t *p, const struct psp_hdr_info *h)
{
    p[0] = h->next_hdr;
    p[1] = h->has_vc ? 2 : 1;
    p[2] = h->crypt_off & 0x3f;
    p[3] = (h->s ? 0x80 : 0) | (h->d ? 0x40 : 0)
           | ((h->version & 0xf) << 2) | (h->has_vc ? 0x02 : 0) | 0x01;
    psp_put_be32(p + 4, h->spi);
    psp_put_be64(p + 8, h->iv);
    if (h->has_vc) {
        psp_put_be64(p + PSP_HDR_LEN, h->vc);
    }
}

/* Parses and validates the PSP header at 'p', where 'len' is the whole UDP
 * payload (header through ICV).  The VC is read only if it lies in the
 * cleartext region; psp_open() reads it after decryption otherwise. */
enum psp_error
psp_hdr_parse(const uint8_t *p, size_t len, struct psp_hdr_info *h)
{
    memset(h, 0, sizeof *h);
    if (len < PSP_HDR_LEN + PSP_ICV_LEN) {
        return PSP_E_TRUNCATED;
    }

    h->next_hdr = p[0];
    h->hdr_ext_len = p[1];
    h->r_bits = p[2] >> 6;
    h->crypt_off = p[2] & 0x3f;
    h->s = (p[3] & 0x80) != 0;
    h->d = (p[3] & 0x40) != 0;
    h->version = (p[3] >> 2) & 0xf;
    h->has_vc = (p[3] & 0x02) != 0;
    h->spi = psp_get_be32(p + 4);
    h->iv = psp_get_be64(p + 8);

    if (!(p[3] & 0x01)) {
        return PSP_E_FIXED_BIT;
    }
    if (!psp_version_is_valid(h->version)) {
        return PSP_E_VERSION;
    }
    if (h->hdr_ext_len < 1 || (h->has_vc && h->hdr_ext_len < 2)) {
        return PSP_E_HDR_EXT_LEN;
    }
    h->payload_ofs = 8 * ((size_t) h->hdr_ext_len + 1);
    if (h->payload_ofs > len - PSP_ICV_LEN) {
        return PSP_E_HDR_EXT_LEN;
    }
    h->payload_len = len - PSP_ICV_LEN - h->payload_ofs;
    if (!(h->spi & PSP_SPI_LOW_MASK)) {
        return PSP_E_SPI;
    }
    if (PSP_HDR_LEN + 4 * (size_t) h->crypt_off > len - PSP_ICV_LEN) {
        return PSP_E_CRYPT_OFF;
    }
    if (psp_version_is_gmac(h->version) && h->crypt_off) {
        return PSP_E_GMAC_OFFSET;
    }
    h->vc_readable = h->has_vc && (psp_version_is_gmac(h->version)
                                   || h->crypt_off >= PSP_VC_LEN / 4);
    if (h->vc_readable) {
        h->vc = psp_get_be64(p + PSP_HDR_LEN);
    }
    return PSP_OK;
}

static bool
psp_proto_has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

void
psp_visible_parse(const uint8_t *p, const struct psp_hdr_info *h,
                  struct psp_visible *v)
{
    memset(v, 0, sizeof *v);

    /* The cleartext part of the payload: up to the crypt offset (counted
     * from the end of the IV, so it includes the VC), or all of it when
     * nothing is encrypted. */
    const uint8_t *inner = p + h->payload_ofs;
    size_t clear = h->payload_len;
    if (!psp_version_is_gmac(h->version)) {
        size_t end = PSP_HDR_LEN + 4 * (size_t) h->crypt_off;
        clear = end > h->payload_ofs ? end - h->payload_ofs : 0;
        if (clear > h->payload_len) {
            clear = h->payload_len;
        }
    }

    const uint8_t *l4;
    size_t l4_clear;
    if (h->next_hdr == PSP_NH_IPV4) {
        v->inner_ip = 4;
        if (clear < 20 || inner[0] >> 4 != 4 || (inner[0] & 15) < 5) {
            return;
        }
        v->has_proto = true;
        v->proto = inner[9];
        size_t ihl = 4 * (size_t) (inner[0] & 15);
        if ((psp_get_be16(inner + 6) & 0x1fff) || clear < ihl) {
            return;             /* A later fragment, or options hidden. */
        }
        l4 = inner + ihl;
        l4_clear = clear - ihl;
    } else if (h->next_hdr == PSP_NH_IPV6) {
        v->inner_ip = 6;
        if (clear < 40 || inner[0] >> 4 != 6) {
            return;
        }
        v->has_proto = true;
        v->proto = inner[6];
        l4 = inner + 40;
        l4_clear = clear - 40;
    } else {
        v->has_proto = true;
        v->proto = h->next_hdr;
        l4 = inner;
        l4_clear = clear;
    }
    if (psp_proto_has_ports(v->proto) && l4_clear >= 4) {
        v->has_ports = true;
        v->src_port = psp_get_be16(l4);
        v->dst_port = psp_get_be16(l4 + 2);
    }
}

unsigned int
psp_ports_visible_offset(uint8_t next_hdr, bool has_vc)
{
    unsigned int words = (next_hdr == PSP_NH_IPV4 ? 20 + 4
                          : next_hdr == PSP_NH_IPV6 ? 40 + 4
                          : 4) / 4;
    return words + (has_vc ? PSP_VC_LEN / 4 : 0);
}
