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

#include "fuzz-psp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t fuzz_master_keys[2][PSP_MASTER_KEY_LEN] = {
    {
        0x34, 0x44, 0x8a, 0x06, 0x42, 0x92, 0x60, 0x1b,
        0x11, 0xa0, 0x97, 0x8f, 0x56, 0xa2, 0xd3, 0x4c,
        0xf3, 0xfc, 0x35, 0xed, 0xe1, 0xa6, 0xbc, 0x04,
        0xf8, 0xdb, 0x3e, 0x52, 0x43, 0xa2, 0xb0, 0xca,
    }, {
        0x56, 0x39, 0x52, 0x56, 0x5d, 0x3a, 0x78, 0xae,
        0x77, 0x3e, 0xc1, 0xb7, 0x79, 0xf2, 0xf2, 0xd9,
        0x9f, 0x4a, 0x7f, 0x53, 0xa6, 0xfb, 0xb9, 0xb0,
        0x7d, 0x5b, 0x71, 0xf3, 0x93, 0x64, 0xd7, 0x39,
    },
};

void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    abort();
}

bool
fuzz_verbose(void)
{
    static int verbose = -1;

    if (verbose < 0) {
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    }
    return verbose;
}

/* Sealing. */

/* Derived keys, direct-mapped by SPI and version, so that a fuzzer that
 * sticks to a few SPIs costs no KDF per input, and the cipher context
 * cache (keyed by the key's id) keeps its key schedules. */
#define SEAL_CACHE_SIZE 64
struct seal_cache_entry {
    const struct psp_mkeys *mk;
    uint32_t spi;
    uint8_t version;
    struct psp_key key;         /* key.id == 0: empty. */
};
static struct seal_cache_entry seal_cache[SEAL_CACHE_SIZE];

void
fuzz_sealer_init(struct fuzz_sealer *s, const struct psp_mkeys *mk)
{
    s->mk = mk;
    s->bound_spis = NULL;
    s->cc = psp_crypto_create(SEAL_CACHE_SIZE);
    if (!s->cc) {
        fuzz_fail(__FILE__, __LINE__, "psp_crypto_create()");
    }
}

static const struct psp_key *
seal_key(struct fuzz_sealer *s, uint32_t spi, uint8_t version)
{
    struct seal_cache_entry *e
        = &seal_cache[(spi * 2654435761u + version) % SEAL_CACHE_SIZE];

    if (e->key.id && e->mk == s->mk && e->spi == spi
        && e->version == version) {
        return &e->key;
    }

    uint8_t bytes[PSP_MAX_KEY_LEN];
    bool ok = (s->mk
               ? psp_mkeys_derive(s->mk, spi, version, bytes)
               : psp_derive_key(fuzz_master_keys[spi >> 31], spi, version,
                                bytes));
    if (!ok || !psp_key_init(&e->key, version, bytes,
                             psp_version_key_len(version))) {
        e->key.id = 0;
        return NULL;
    }
    e->mk = s->mk;
    e->spi = spi;
    e->version = version;
    return &e->key;
}

bool
fuzz_seal(struct fuzz_sealer *s, uint8_t *pkt, size_t len)
{
    struct psp_hdr_info h;

    if (psp_hdr_parse(pkt, len, &h) != PSP_OK) {
        return false;
    }
    const struct psp_key *key = seal_key(s, h.spi, h.version);
    FUZZ_ASSERT(key);
    FUZZ_ASSERT(psp_seal(s->cc, key, pkt, len - PSP_ICV_LEN) == PSP_OK);
    return true;
}

/* Checksums. */

uint32_t
fuzz_csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += (p[i] << 8) | p[i + 1];
    }
    if (n & 1) {
        sum += p[n - 1] << 8;
    }
    return sum;
}

uint16_t
fuzz_csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

/* Frames. */

#define ETH_LEN 14
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_IPV6 0x86dd
#define ETH_TYPE_8021Q 0x8100
#define ETH_TYPE_8021AD 0x88a8
#define IPV4_LEN 20
#define IPV6_LEN 40
#define UDP_LEN 8
#define PSP_PORT 1000

static uint16_t
get16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

static void
put16(uint8_t *p, uint16_t x)
{
    p[0] = x >> 8;
    p[1] = x;
}

/* Finds the IP header of the frame 'f': sets f->eth_type, f->l3 and
 * f->ipv6. */
static void
frame_find_l3(struct fuzz_frame *f)
{
    size_t ofs = ETH_LEN;

    f->l3 = SIZE_MAX;
    f->eth_type = 0;
    if (f->len < ETH_LEN) {
        return;
    }
    uint16_t type = get16(f->data + 12);
    while ((type == ETH_TYPE_8021Q || type == ETH_TYPE_8021AD)
           && ofs + 4 <= f->len) {
        type = get16(f->data + ofs + 2);
        ofs += 4;
    }
    f->eth_type = type;
    if (type == ETH_TYPE_IPV4 || type == ETH_TYPE_IPV6) {
        f->l3 = ofs;
        f->ipv6 = type == ETH_TYPE_IPV6;
    }
}

/* The IP header length and the offset of the UDP header of 'f', if it is a
 * UDP packet whose UDP header is in the frame; else 0. */
static size_t
frame_udp(const struct fuzz_frame *f, size_t *hlen)
{
    const uint8_t *ip = f->data + f->l3;
    size_t room = f->len - f->l3;

    if (f->ipv6) {
        *hlen = IPV6_LEN;
        return (room >= IPV6_LEN + UDP_LEN && ip[6] == 17
                ? f->l3 + IPV6_LEN : 0);
    }
    *hlen = room >= 1 ? 4 * (ip[0] & 15) : 0;
    return (room >= IPV4_LEN && *hlen >= IPV4_LEN
            && room >= *hlen + UDP_LEN && ip[9] == 17
            && !(get16(ip + 6) & 0x3fff)
            ? f->l3 + *hlen : 0);
}

/* The IP packet's length as its header says, within the frame. */
static size_t
frame_ip_len(const struct fuzz_frame *f)
{
    const uint8_t *ip = f->data + f->l3;
    size_t room = f->len - f->l3;
    size_t len = (f->ipv6
                  ? (room >= IPV6_LEN ? IPV6_LEN + get16(ip + 4) : 0)
                  : (room >= IPV4_LEN ? get16(ip + 2) : 0));
    return len < room ? len : room;
}

static void
frame_fix_csums(struct fuzz_frame *f)
{
    uint8_t *ip = f->data + f->l3;
    size_t hlen;
    size_t udp_ofs = frame_udp(f, &hlen);

    if (!f->ipv6 && hlen >= IPV4_LEN && f->l3 + hlen <= f->len) {
        put16(ip + 10, 0);
        put16(ip + 10, fuzz_csum_fold(fuzz_csum_add(0, ip, hlen)));
    }
    if (!udp_ofs) {
        return;
    }
    uint8_t *udp = f->data + udp_ofs;
    size_t udp_len = get16(udp + 4);
    if (!get16(udp + 6) || udp_len < UDP_LEN
        || udp_ofs + udp_len > f->len) {
        return;
    }
    uint32_t sum = f->ipv6 ? fuzz_csum_add(0, ip + 8, 32)
                           : fuzz_csum_add(0, ip + 12, 8);
    sum += 17 + udp_len;
    put16(udp + 6, 0);
    uint16_t csum = fuzz_csum_fold(fuzz_csum_add(sum, udp, udp_len));
    put16(udp + 6, csum ? csum : 0xffff);
}

bool
fuzz_frame_build(const uint8_t *data, size_t size, struct fuzz_sealer *sealer,
                 struct fuzz_frame *f)
{
    memset(f, 0, sizeof *f);
    if (size < FUZZ_FRAME_CTL_LEN) {
        return false;
    }

    uint8_t flags = data[0];
    size_t n_tags = data[1];
    size_t ip_len = get16(data + 2);
    size_t pad = data[4];
    const uint8_t *in = data + FUZZ_FRAME_CTL_LEN;
    size_t in_len = size - FUZZ_FRAME_CTL_LEN;

    /* Room for the input, the tags and padding; grown below for a longer
     * IP length. */
    size_t cap = in_len + 4 * n_tags + pad;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) {
        abort();
    }
    f->flags = flags;
    f->data = buf;
    if (n_tags && in_len >= 12) {
        memcpy(buf, in, 12);
        for (size_t i = 0; i < n_tags; i++) {
            uint8_t *tag = buf + 12 + 4 * i;
            put16(tag, i ? ETH_TYPE_8021Q : ETH_TYPE_8021AD);
            put16(tag + 2, i & 0xfff);
        }
        memcpy(buf + 12 + 4 * n_tags, in + 12, in_len - 12);
        f->len = in_len + 4 * n_tags;
    } else {
        memcpy(buf, in, in_len);
        f->len = in_len;
    }
    frame_find_l3(f);

    if (flags & FUZZ_F_FIX_LEN && f->l3 != SIZE_MAX) {
        size_t min = f->ipv6 ? IPV6_LEN : IPV4_LEN;
        size_t max = f->ipv6 ? IPV6_LEN + 65535 : 65535;

        if (!ip_len) {
            ip_len = f->len - f->l3;
        }
        ip_len = ip_len < min ? min : ip_len > max ? max : ip_len;
        if (f->l3 + ip_len > f->len) {
            if (f->l3 + ip_len + pad > cap) {
                cap = f->l3 + ip_len + pad;
                buf = realloc(buf, cap);
                if (!buf) {
                    abort();
                }
                f->data = buf;
            }
            memset(buf + f->len, 0, f->l3 + ip_len - f->len);
        }
        f->len = f->l3 + ip_len;

        uint8_t *ip = buf + f->l3;
        put16(ip + (f->ipv6 ? 4 : 2), f->ipv6 ? ip_len - IPV6_LEN : ip_len);
        size_t hlen;
        size_t udp_ofs = frame_udp(f, &hlen);
        if (udp_ofs && ip_len - hlen <= 65535) {
            put16(buf + udp_ofs + 4, ip_len - hlen);
        }
    }

    if (flags & FUZZ_F_SEAL && f->l3 != SIZE_MAX) {
        size_t hlen;
        size_t udp_ofs = frame_udp(f, &hlen);
        if (udp_ofs && get16(buf + udp_ofs + 2) == PSP_PORT) {
            size_t udp_len = get16(buf + udp_ofs + 4);
            size_t ip_end = f->l3 + frame_ip_len(f);
            size_t end = udp_ofs + udp_len < ip_end ? udp_ofs + udp_len
                                                    : ip_end;
            size_t psp_ofs = udp_ofs + UDP_LEN;
            size_t psp_len = end > psp_ofs ? end - psp_ofs : 0;
            uint8_t *plain = malloc(psp_len ? psp_len : 1);

            if (!plain) {
                abort();
            }
            uint8_t *psp = buf + psp_ofs;
            unsigned int version = psp_len >= 8 ? (psp[3] >> 2) & 0xf : 0;
            if (flags & FUZZ_F_BOUND_SPI && sealer->bound_spis
                && psp_len >= 8 && version < PSP_N_VERSIONS) {
                uint32_t spi = sealer->bound_spis[version];

                psp[4] = spi >> 24;
                psp[5] = spi >> 16;
                psp[6] = spi >> 8;
                psp[7] = spi;
            }
            memcpy(plain, psp, psp_len);
            if (fuzz_seal(sealer, buf + psp_ofs, psp_len)) {
                f->sealed = true;
                f->psp_ofs = psp_ofs;
                f->psp_len = psp_len;
                f->plain = plain;
            } else {
                free(plain);
            }
        }
    }

    if ((flags & FUZZ_F_FIX_LEN || f->sealed) && f->l3 != SIZE_MAX) {
        frame_fix_csums(f);
    }
    if (flags & FUZZ_F_FIX_LEN && f->l3 != SIZE_MAX) {
        memset(buf + f->len, 0, pad);
        f->len += pad;
    }

    if (flags & FUZZ_F_L3) {
        size_t strip = (f->l3 != SIZE_MAX ? f->l3
                        : f->len < ETH_LEN ? f->len : ETH_LEN);
        memmove(buf, buf + strip, f->len - strip);
        f->len -= strip;
        f->psp_ofs -= f->sealed ? strip : 0;
        if (f->l3 != SIZE_MAX) {
            f->l3 = 0;
        }
    }

    /* Exactly the frame's bytes, so that a read past its end is caught. */
    f->data = malloc(f->len ? f->len : 1);
    if (!f->data) {
        abort();
    }
    memcpy(f->data, buf, f->len);
    free(buf);
    return true;
}

void
fuzz_frame_destroy(struct fuzz_frame *f)
{
    free(f->data);
    free(f->plain);
}
