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

/* Unit tests of libpsp, and pcap helpers for the ovs-psp-pcap tests. */

#include <config.h>
#undef NDEBUG

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "command-line.h"
#include "csum.h"
#include "dp-packet.h"
#include "flow.h"
#include "tests/ovstest.h"
#include "packets.h"
#include "pcap-file.h"
#include "ovs-thread.h"
#include "util.h"

#include "psp-iv.h"
#include "psp.h"
#include "psp-test.h"

/* Failed checks, for psp-test.h (shared with test-psp-dp.c). */
int n_failures;

/* The spec's KDF example keys (those of tests/psp-make-vectors.py). */
static const uint8_t k0[32] = {
    0x34, 0x44, 0x8a, 0x06, 0x42, 0x92, 0x60, 0x1b, 0x11, 0xa0, 0x97, 0x8f,
    0x56, 0xa2, 0xd3, 0x4c, 0xf3, 0xfc, 0x35, 0xed, 0xe1, 0xa6, 0xbc, 0x04,
    0xf8, 0xdb, 0x3e, 0x52, 0x43, 0xa2, 0xb0, 0xca,
};
static const uint8_t k1[32] = {
    0x56, 0x39, 0x52, 0x56, 0x5d, 0x3a, 0x78, 0xae, 0x77, 0x3e, 0xc1, 0xb7,
    0x79, 0xf2, 0xf2, 0xd9, 0x9f, 0x4a, 0x7f, 0x53, 0xa6, 0xfb, 0xb9, 0xb0,
    0x7d, 0x5b, 0x71, 0xf3, 0x93, 0x64, 0xd7, 0x39,
};

static char *
hex(const uint8_t *p, size_t n)
{
    static char buf[2 * 64 + 1];

    for (size_t i = 0; i < n && i < 64; i++) {
        sprintf(&buf[2 * i], "%02x", p[i]);
    }
    return buf;
}

/* One 16-byte block of AES-256-CMAC, computed with EVP_MAC: an independent
 * check of the counter-mode KDF. */
static void
cmac_block(const uint8_t key[32], const uint8_t block[16], uint8_t out[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                         "AES-256-CBC", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t len;

    ovs_assert(EVP_MAC_init(ctx, key, 32, params));
    ovs_assert(EVP_MAC_update(ctx, block, 16));
    ovs_assert(EVP_MAC_final(ctx, out, &len, 16) && len == 16);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}

static void
test_kdf(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    static const struct {
        const uint8_t *master;
        uint32_t spi;
        enum psp_version version;
        const char *key;
    } examples[] = {
        { k0, 0x12345678, PSP_V0, "96c22dc799198090b74b70ae468e4e30" },
        { k1, 0x9a345678, PSP_V0, "3946da2554eae46ad1ef77a64372edc4" },
        { k0, 0x12345678, PSP_V1,
          "2b7d72074e42ca334487f2990e3f8c40"
          "37e436f38283449b76463e9b7fb2e3de" },
    };
    uint8_t key[32];

    /* The spec's three examples. */
    for (size_t i = 0; i < ARRAY_SIZE(examples); i++) {
        CHECK(psp_derive_key(examples[i].master, examples[i].spi,
                             examples[i].version, key));
        const char *got = hex(key, psp_version_key_len(examples[i].version));
        if (strcmp(got, examples[i].key)) {
            fprintf(stderr, "example %"PRIuSIZE": got %s, expected %s\n",
                    i, got, examples[i].key);
            n_failures++;
        }
    }

    /* Every version against CMAC over the documented input blocks:
     * counter | "Pv" digit 0 | SPI | L, counters 1 and 2 for 256 bits. */
    for (int v = 0; v < PSP_N_VERSIONS; v++) {
        uint32_t spi = 0x12345678;
        size_t len = psp_version_key_len(v);
        uint8_t expect[32];

        for (int i = 0; i < (int) len / 16; i++) {
            uint8_t block[16] = {
                0, 0, 0, i + 1, 'P', 'v', '0' + v, 0,
                0x12, 0x34, 0x56, 0x78, 0, 0, len == 32 ? 1 : 0,
                len == 32 ? 0 : 0x80,
            };
            cmac_block(k0, block, expect + 16 * i);
        }
        CHECK(psp_derive_key(k0, spi, v, key));
        if (memcmp(key, expect, len)) {
            fprintf(stderr, "v%d: label \"Pv%d\\0\" mismatch: %s\n", v, v,
                    hex(key, len));
            n_failures++;
        }
    }

    /* A v0 key is not a prefix of a v1 key; v2 and v3 differ from both. */
    uint8_t v0[16], v1[32], v2[16], v3[32];
    CHECK(psp_derive_key(k0, 0x12345678, PSP_V0, v0));
    CHECK(psp_derive_key(k0, 0x12345678, PSP_V1, v1));
    CHECK(psp_derive_key(k0, 0x12345678, PSP_V2, v2));
    CHECK(psp_derive_key(k0, 0x12345678, PSP_V3, v3));
    CHECK(memcmp(v0, v1, 16));
    CHECK(memcmp(v0, v2, 16));
    CHECK(memcmp(v1, v3, 32));
    CHECK(!psp_derive_key(k0, 0x12345678, 4, key));

    /* The SPI's top bit selects the master key. */
    struct psp_mkeys *mk = psp_mkeys_create_static(k0, k1);
    CHECK(psp_mkeys_derive(mk, 0x9a345678, PSP_V0, key));
    CHECK(!strcmp(hex(key, 16), "3946da2554eae46ad1ef77a64372edc4"));
    CHECK(psp_mkeys_derive(mk, 0x12345678, PSP_V0, key));
    CHECK(!strcmp(hex(key, 16), "96c22dc799198090b74b70ae468e4e30"));
    psp_mkeys_destroy(mk);
    printf("kdf: ok\n");
}

static void
test_header(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    uint8_t p[128];
    struct psp_hdr_info h, g;

    /* Byte layout of a header with everything set. */
    memset(&h, 0, sizeof h);
    h.next_hdr = 41;
    h.version = PSP_V1;
    h.crypt_off = 13;
    h.s = h.d = true;
    h.has_vc = true;
    h.spi = 0x9a345678;
    h.iv = 0x0102030405060708ull;
    h.vc = 0x1112131415161718ull;
    memset(p, 0, sizeof p);
    psp_hdr_write(p, &h);
    CHECK(!strcmp(hex(p, 24), "29020dc79a345678010203040506070811121314"
                              "15161718"));
    CHECK_ERR(psp_hdr_parse(p, 128, &g), PSP_OK);
    CHECK(g.next_hdr == 41 && g.version == 1 && g.crypt_off == 13);
    CHECK(g.s && g.d && g.has_vc && g.vc_readable);
    CHECK(g.spi == 0x9a345678 && g.iv == 0x0102030405060708ull);
    CHECK(g.vc == 0x1112131415161718ull);
    CHECK(g.payload_ofs == 24 && g.payload_len == 128 - 24 - 16);

    /* Round trips of every version, with and without VC and S/D. */
    for (int v = 0; v < PSP_N_VERSIONS; v++) {
        for (int bits = 0; bits < 8; bits++) {
            memset(&h, 0, sizeof h);
            h.next_hdr = 17;
            h.version = v;
            h.s = bits & 1;
            h.d = bits & 2;
            h.has_vc = bits & 4;
            h.vc = 7;
            h.spi = 1;
            h.iv = 42;
            psp_hdr_write(p, &h);
            CHECK(p[1] == (h.has_vc ? 2 : 1));
            CHECK((p[3] & 1) == 1 && (p[2] >> 6) == 0);
            CHECK_ERR(psp_hdr_parse(p, 48, &g), PSP_OK);
            CHECK(g.version == v && g.s == h.s && g.d == h.d
                  && g.has_vc == h.has_vc && g.iv == 42 && g.spi == 1);
            CHECK(g.payload_ofs == psp_hdr_len(h.has_vc));
            /* VC readable only when authenticated-only. */
            CHECK(g.vc_readable == (h.has_vc && psp_version_is_gmac(v)));
        }
    }

    /* The R bits are ignored but reported. */
    memset(&h, 0, sizeof h);
    h.spi = 5;
    h.next_hdr = 6;
    psp_hdr_write(p, &h);
    p[2] |= 0xc0;
    CHECK_ERR(psp_hdr_parse(p, 32, &g), PSP_OK);
    CHECK(g.r_bits == 3 && g.crypt_off == 0);

    /* Offsets that leave inner L4 ports readable (spec). */
    CHECK(psp_ports_visible_offset(17, false) == 1);
    CHECK(psp_ports_visible_offset(6, true) == 3);
    CHECK(psp_ports_visible_offset(PSP_NH_IPV4, false) == 6);
    CHECK(psp_ports_visible_offset(PSP_NH_IPV4, true) == 8);
    CHECK(psp_ports_visible_offset(PSP_NH_IPV6, false) == 11);
    CHECK(psp_ports_visible_offset(PSP_NH_IPV6, true) == 13);
    printf("header: ok\n");
}

/* Builds a plaintext PSP packet in 'p' (SPI 0x12345678, next header UDP):
 * header and 'plen' payload bytes.  Returns its length. */
static size_t
build_plain(uint8_t *p, enum psp_version version, bool vc, unsigned int co,
            size_t plen, uint64_t iv)
{
    struct psp_hdr_info h;

    memset(&h, 0, sizeof h);
    h.next_hdr = 17;
    h.version = version;
    h.crypt_off = co;
    h.has_vc = vc;
    h.vc = 0xabcdef0123456789ull;
    h.spi = 0x12345678;
    h.iv = iv;
    psp_hdr_write(p, &h);
    size_t hl = psp_hdr_len(vc);
    for (size_t i = 0; i < plen; i++) {
        p[hl + i] = i * 7 + 3;
    }
    return hl + plen;
}

/* Writes a valid header, as build_plain() does, with IV 1. */
static void
write_valid(uint8_t *p, bool vc, unsigned int version, unsigned int co)
{
    build_plain(p, version, vc, co, 0, 1);
}

static void
test_header_errors(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    uint8_t p[128];
    struct psp_hdr_info g;

    /* Truncations: anything shorter than header + ICV. */
    write_valid(p, false, 0, 0);
    for (size_t len = 0; len < 32; len++) {
        CHECK_ERR(psp_hdr_parse(p, len, &g), PSP_E_TRUNCATED);
    }
    CHECK_ERR(psp_hdr_parse(p, 32, &g), PSP_OK);
    write_valid(p, true, 0, 0);
    CHECK_ERR(psp_hdr_parse(p, 39, &g), PSP_E_HDR_EXT_LEN);
    CHECK_ERR(psp_hdr_parse(p, 40, &g), PSP_OK);

    /* Every reserved version. */
    for (int v = 4; v < 16; v++) {
        write_valid(p, false, 0, 0);
        p[3] = (p[3] & ~0x3c) | (v << 2);
        CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_VERSION);
    }

    /* The always-one bit. */
    write_valid(p, false, 0, 0);
    p[3] &= ~1;
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_FIXED_BIT);

    /* Hdr Ext Len: 0, too small for a VC, past the end; larger values are
     * unknown extensions, skipped. */
    write_valid(p, false, 0, 0);
    p[1] = 0;
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_HDR_EXT_LEN);
    write_valid(p, true, 0, 0);
    p[1] = 1;
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_HDR_EXT_LEN);
    write_valid(p, false, 0, 0);
    p[1] = 6;                   /* Payload at 56: 56 + 16 > 64. */
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_HDR_EXT_LEN);
    p[1] = 5;                   /* Payload at 48: empty. */
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_OK);
    CHECK(g.payload_ofs == 48 && g.payload_len == 0);
    for (int ext = 7; ext < 256; ext++) {
        p[1] = ext;
        CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_HDR_EXT_LEN);
    }

    /* SPI with zero low bits, under either key. */
    write_valid(p, false, 0, 0);
    memset(p + 4, 0, 4);
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_SPI);
    p[4] = 0x80;
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_SPI);

    /* Crypt offset bounds: 64-byte packet has 32 bytes after the IV. */
    for (int co = 0; co <= PSP_MAX_CRYPT_OFF; co++) {
        write_valid(p, false, 0, co);
        CHECK_ERR(psp_hdr_parse(p, 64, &g),
                  co <= 8 ? PSP_OK : PSP_E_CRYPT_OFF);
        write_valid(p, true, 1, co);
        CHECK_ERR(psp_hdr_parse(p, 64, &g),
                  co <= 8 ? PSP_OK : PSP_E_CRYPT_OFF);
    }

    /* GMAC takes no crypt offset. */
    write_valid(p, false, 2, 1);
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_E_GMAC_OFFSET);
    write_valid(p, false, 3, 0);
    CHECK_ERR(psp_hdr_parse(p, 64, &g), PSP_OK);
    printf("header errors: ok\n");
}

/* Builds a sealed packet in 'p': header, 'plen' payload bytes, ICV.  Returns
 * the total length. */
static size_t
build_sealed(struct psp_crypto *cc, const struct psp_key *key, uint8_t *p,
             bool vc, unsigned int co, size_t plen, uint64_t iv)
{
    size_t len = build_plain(p, key->version, vc, co, plen, iv);

    CHECK_ERR(psp_seal(cc, key, p, len), PSP_OK);
    return len + PSP_ICV_LEN;
}

static void
make_key(struct psp_key *key, enum psp_version v, uint32_t spi)
{
    uint8_t bytes[32];

    ovs_assert(psp_derive_key(k0, spi, v, bytes));
    ovs_assert(psp_key_init(key, v, bytes, psp_version_key_len(v)));
}

static void
test_seal_open(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    static const size_t sizes[] = { 0, 1, 3, 4, 15, 16, 17, 64, 1400 };
    struct psp_crypto *cc = psp_crypto_create(16);
    uint8_t p[1600], orig[1600];
    struct psp_hdr_info g;
    int n_cases = 0;

    for (int v = 0; v < PSP_N_VERSIONS; v++) {
        struct psp_key key;

        make_key(&key, v, 0x12345678);
        for (int vc = 0; vc < 2; vc++) {
            for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
                size_t plen = sizes[s];
                size_t hl = psp_hdr_len(vc);
                int max_co = (psp_version_is_gmac(v) ? 0
                              : MIN(PSP_MAX_CRYPT_OFF,
                                    (hl - PSP_HDR_LEN + plen) / 4));

                for (int co = 0; co <= max_co; co++) {
                    size_t len = build_sealed(cc, &key, p, vc, co, plen,
                                              n_cases + 1);
                    size_t aad = (psp_version_is_gmac(v) ? len - PSP_ICV_LEN
                                  : PSP_HDR_LEN + 4 * co);
                    size_t body = len - PSP_ICV_LEN;

                    /* The authenticated-only part stays in clear; the rest
                     * (if 16 bytes or more) does not. */
                    build_plain(orig, key.version, vc, co, plen,
                                n_cases + 1);
                    n_cases++;
                    CHECK(!memcmp(p, orig, aad));
                    if (body - aad >= 16) {
                        size_t same = 0;
                        for (size_t i = aad; i < body; i++) {
                            same += p[i] == orig[i];
                        }
                        CHECK(same < (body - aad) / 4);
                    }
                    CHECK_ERR(psp_open(cc, &key, p, len, &g), PSP_OK);
                    CHECK(g.payload_ofs == hl && g.payload_len == plen);
                    for (size_t i = 0; i < plen; i++) {
                        if (p[hl + i] != (uint8_t) (i * 7 + 3)) {
                            fprintf(stderr, "v%d vc%d len %"PRIuSIZE" co %d:"
                                    " payload byte %"PRIuSIZE" wrong\n",
                                    v, vc, plen, co, i);
                            n_failures++;
                            break;
                        }
                    }
                    if (vc) {
                        CHECK(g.vc_readable
                              && g.vc == 0xabcdef0123456789ull);
                    }
                }
            }
        }
    }

    /* psp_seal_from() seals exactly as psp_seal() does, for every version,
     * VC and offset, including offsets inside the VC. */
    int n_from = 0;
    for (int v = 0; v < PSP_N_VERSIONS; v++) {
        struct psp_key k;
        make_key(&k, v, 0x12345678);
        for (int vc = 0; vc < 2; vc++) {
            for (int co = 0; co <= (psp_version_is_gmac(v) ? 0 : 16); co++) {
                uint8_t a[256], b[256], payload[64];
                size_t hl = psp_hdr_len(vc);
                size_t la = build_sealed(cc, &k, a, vc, co, 64, 3);
                build_plain(b, v, vc, co, 64, 3);
                memcpy(payload, b + hl, 64);
                memset(b + hl, 0xee, 64 + PSP_ICV_LEN);
                CHECK_ERR(psp_seal_from(cc, &k, b, hl, payload, 64),
                          PSP_OK);
                CHECK(!memcmp(a, b, la));
                n_from++;
            }
        }
    }
    CHECK(n_from == 2 * 2 * 17 + 2 * 2);

    /* Ciphertext really differs from the plaintext beyond the offset, and
     * the cleartext prefix is untouched. */
    struct psp_key key;
    make_key(&key, PSP_V0, 0x12345678);
    size_t len = build_sealed(cc, &key, p, false, 1, 64, 9);
    CHECK(p[16] == 3 && p[17] == 10 && p[18] == 17 && p[19] == 24);
    int same = 0;
    for (int i = 4; i < 64; i++) {
        same += p[16 + i] == (uint8_t) (i * 7 + 3);
    }
    CHECK(same < 8);

    /* GMAC: payload stays in clear. */
    struct psp_key gkey;
    make_key(&gkey, PSP_V2, 0x12345678);
    len = build_sealed(cc, &gkey, p, false, 0, 64, 9);
    for (int i = 0; i < 64; i++) {
        CHECK(p[16 + i] == (uint8_t) (i * 7 + 3));
    }
    CHECK(len == 96);

    /* Seal refuses a key of the wrong version and an offset past the
     * payload. */
    write_valid(p, false, PSP_V1, 0);
    CHECK_ERR(psp_seal(cc, &key, p, 64), PSP_E_KEY_VERSION);
    write_valid(p, false, PSP_V0, 13);
    CHECK_ERR(psp_seal(cc, &key, p, 64), PSP_E_CRYPT_OFF);
    write_valid(p, false, PSP_V2, 1);
    CHECK_ERR(psp_seal(cc, &gkey, p, 64), PSP_E_GMAC_OFFSET);

    /* IV and SPI change the ciphertext (they are the nonce). */
    uint8_t a[128], b[128];
    build_sealed(cc, &key, a, false, 0, 32, 1);
    build_sealed(cc, &key, b, false, 0, 32, 2);
    CHECK(memcmp(a + 16, b + 16, 48));

    psp_crypto_destroy(cc);
    printf("seal/open: %d cases ok\n", n_cases);
}

static void
test_tamper(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_crypto *cc = psp_crypto_create(16);
    uint8_t p[256], q[256];
    int n_flips = 0;

    /* Every bit of every byte of sealed packets: header, VC, cleartext
     * region, ciphertext, ICV.  Nothing may open. */
    for (int v = 0; v < PSP_N_VERSIONS; v++) {
        struct psp_key key;

        make_key(&key, v, 0x12345678);
        for (int vc = 0; vc < 2; vc++) {
            /* Offsets: all encrypted, ports visible, all authenticated. */
            int cos[] = { 0, 3, 16 };
            for (int c = 0; c < 3; c++) {
                int co = psp_version_is_gmac(v) ? 0 : cos[c];
                size_t len = build_sealed(cc, &key, p, vc, co, 64, 77);

                for (size_t i = 0; i < len; i++) {
                    for (int bit = 0; bit < 8; bit++) {
                        memcpy(q, p, len);
                        q[i] ^= 1 << bit;
                        enum psp_error e = psp_open(cc, &key, q, len, NULL);
                        n_flips++;
                        if (e == PSP_OK) {
                            fprintf(stderr, "v%d vc%d co%d: flip of byte "
                                    "%"PRIuSIZE" bit %d opened\n", v, vc, co,
                                    i, bit);
                            n_failures++;
                        }
                        /* Bits that the parser does not reject fail the
                         * ICV. */
                        if (i >= 4 && e != PSP_E_AUTH
                            && e != PSP_E_SPI) {
                            fprintf(stderr, "flip %"PRIuSIZE": %s\n", i,
                                    psp_error_name(e));
                            n_failures++;
                        }
                    }
                }
                /* Truncations at every length. */
                for (size_t l = 0; l < len; l++) {
                    memcpy(q, p, len);
                    CHECK(psp_open(cc, &key, q, l, NULL) != PSP_OK);
                }
                /* Extra trailing bytes. */
                memcpy(q, p, len);
                q[len] = 0;
                CHECK(psp_open(cc, &key, q, len + 1, NULL) != PSP_OK);
            }
        }
    }

    /* ICV verified when nothing is encrypted: all payload inside the crypt
     * offset. */
    struct psp_key key;
    make_key(&key, PSP_V0, 0x12345678);
    size_t len = build_sealed(cc, &key, p, false, 8, 32, 5);
    CHECK_ERR(psp_open(cc, &key, memcpy(q, p, len), len, NULL), PSP_OK);
    memcpy(q, p, len);
    q[20] ^= 1;
    CHECK_ERR(psp_open(cc, &key, q, len, NULL), PSP_E_AUTH);

    /* Wrong key. */
    struct psp_key other;
    make_key(&other, PSP_V0, 0x12345679);
    memcpy(q, p, len);
    CHECK_ERR(psp_open(cc, &other, q, len, NULL), PSP_E_AUTH);

    /* A forged packet leaves no plaintext behind. */
    len = build_sealed(cc, &key, p, false, 0, 64, 6);
    p[len - 1] ^= 1;
    CHECK_ERR(psp_open(cc, &key, p, len, NULL), PSP_E_AUTH);
    for (int i = 0; i < 64; i++) {
        CHECK(p[16 + i] == 0);
    }

    psp_crypto_destroy(cc);
    printf("tamper: %d bit flips rejected\n", n_flips);
}

static void
test_master_keys(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_mkeys *mk = psp_mkeys_create(NULL);
    struct psp_crypto *cc = psp_crypto_create(64);
    uint8_t p[256], q[256], kb[32];
    struct psp_hdr_info g;
    uint32_t spi, prev = 0;
    uint64_t gen;

    /* Allocation: sequential, never 0, top bit 0 in the first generation. */
    for (int i = 0; i < 1000; i++) {
        CHECK(!psp_mkeys_alloc_spi(mk, PSP_V0, &spi, kb, &gen));
        CHECK((spi & PSP_SPI_LOW_MASK) != 0);
        CHECK(!(spi & PSP_SPI_SLOT_BIT));
        CHECK(spi != prev);
        prev = spi;
    }
    CHECK(psp_mkeys_spis_used(mk) == 1000);
    CHECK(psp_mkeys_alloc_spi(mk, 9, &spi, kb, &gen) == EINVAL);

    /* An SPI and its key work on receive. */
    uint32_t spi_a;
    CHECK(!psp_mkeys_alloc_spi(mk, PSP_V1, &spi_a, kb, &gen));
    struct psp_key ka;
    CHECK(psp_key_init(&ka, PSP_V1, kb, 32));
    struct psp_hdr_info h = {
        .next_hdr = 6, .version = PSP_V1, .spi = spi_a, .iv = 1,
    };
    psp_hdr_write(p, &h);
    memset(p + 16, 0x5a, 40);
    CHECK_ERR(psp_seal(cc, &ka, p, 56), PSP_OK);
    size_t len = 72;
    CHECK_ERR(psp_rx(cc, mk, memcpy(q, p, len), len, &g), PSP_OK);
    CHECK(q[16] == 0x5a && g.spi == spi_a);
    CHECK(psp_mkeys_spi_state(mk, spi_a) == PSP_SPI_ACTIVE);

    /* The key schedule is cached: the second packet derives nothing. */
    uint64_t hits0, misses0, hits1, misses1;
    psp_crypto_cache_stats(cc, &hits0, &misses0);
    CHECK_ERR(psp_rx(cc, mk, memcpy(q, p, len), len, &g), PSP_OK);
    psp_crypto_cache_stats(cc, &hits1, &misses1);
    CHECK(hits1 == hits0 + 1 && misses1 == misses0);

    /* Unknown SPIs: never allocated, in either slot. */
    h.spi = spi_a + 1;
    psp_hdr_write(q, &h);
    CHECK_ERR(psp_rx(cc, mk, q, len, &g), PSP_E_UNKNOWN_SPI);
    h.spi = spi_a | PSP_SPI_SLOT_BIT;
    psp_hdr_write(q, &h);
    CHECK_ERR(psp_rx(cc, mk, q, len, &g), PSP_E_UNKNOWN_SPI);

    /* Rotation 1: the other slot becomes active; the old SA still works. */
    CHECK(psp_mkeys_rotate(mk, NULL));
    CHECK(psp_mkeys_rotations(mk) == 1);
    CHECK(psp_mkeys_spi_state(mk, spi_a) == PSP_SPI_PREVIOUS);
    CHECK_ERR(psp_rx(cc, mk, memcpy(q, p, len), len, &g), PSP_OK);
    uint32_t spi_b;
    CHECK(!psp_mkeys_alloc_spi(mk, PSP_V0, &spi_b, kb, &gen));
    CHECK(spi_b & PSP_SPI_SLOT_BIT);
    CHECK(psp_mkeys_spi_state(mk, spi_b) == PSP_SPI_ACTIVE);

    /* Rotation 2: generation of spi_a is gone: stale, dropped. */
    CHECK(psp_mkeys_rotate(mk, NULL));
    CHECK(psp_mkeys_spi_state(mk, spi_a) == PSP_SPI_STALE);
    CHECK_ERR(psp_rx(cc, mk, memcpy(q, p, len), len, &g), PSP_E_STALE);
    CHECK(psp_mkeys_spi_state(mk, spi_b) == PSP_SPI_PREVIOUS);

    /* New SPIs in the replaced slot are not reused from before. */
    uint32_t spi_c;
    CHECK(!psp_mkeys_alloc_spi(mk, PSP_V1, &spi_c, kb, &gen));
    CHECK(!(spi_c & PSP_SPI_SLOT_BIT) && spi_c > spi_a);
    CHECK(psp_mkeys_spi_state(mk, spi_c) == PSP_SPI_ACTIVE);
    CHECK(psp_mkeys_spi_state(mk, spi_c + 1) == PSP_SPI_UNKNOWN);
    CHECK(psp_mkeys_spi_state(mk, 0) == PSP_SPI_UNKNOWN);

    /* Rotation to a given key: derivation follows it. */
    uint8_t nk[32], kd[16], kx[16];
    memcpy(nk, k1, 32);
    CHECK(psp_mkeys_rotate(mk, nk));
    CHECK(!psp_mkeys_alloc_spi(mk, PSP_V0, &spi, kd, &gen));
    CHECK(psp_derive_key(k1, spi, PSP_V0, kx) && !memcmp(kd, kx, 16));
    CHECK(psp_mkeys_active_gen(mk) == gen);

    /* Static keys (ovs-psp-pcap): every SPI accepted. */
    struct psp_mkeys *sk = psp_mkeys_create_static(k0, k1);
    CHECK(psp_mkeys_spi_state(sk, 0x9a345678) != PSP_SPI_UNKNOWN);
    CHECK(psp_mkeys_spi_state(sk, 0x12345678) != PSP_SPI_UNKNOWN);
    psp_mkeys_destroy(sk);

    psp_key_wipe(&ka);
    CHECK(ka.id == 0 && ka.bytes[0] == 0);
    psp_crypto_destroy(cc);
    psp_mkeys_destroy(mk);
    printf("master keys: ok\n");
}

#define IV_THREADS 4
#define IV_PER_THREAD 200000

struct iv_thread {
    struct psp_iv_gen *gen;
    uint64_t *out;
};

static void *
iv_thread_main(void *aux)
{
    struct iv_thread *t = aux;

    for (int i = 0; i < IV_PER_THREAD; i++) {
        t->out[i] = psp_iv_gen_next(t->gen);
    }
    return NULL;
}

static int
compare_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *) a_, b = *(const uint64_t *) b_;
    return a < b ? -1 : a > b;
}

/* Takes 'n' IVs from 'gen' through 'ivs', all of which must be given, and
 * returns the last. */
static uint64_t
take_ivs(struct psp_ivs *ivs, struct psp_iv_gen *gen, int n)
{
    uint64_t iv = 0;

    for (int i = 0; i < n; i++) {
        CHECK_ERR(psp_ivs_take(ivs, gen, &iv), PSP_OK);
    }
    return iv;
}

#define HOUR (UINT64_C(3600) * 1000 * 1000 * 1000)

static void
test_iv(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_iv_gen gen;
    uint64_t *all = xmalloc(IV_THREADS * IV_PER_THREAD * sizeof *all);
    pthread_t threads[IV_THREADS];
    struct iv_thread t[IV_THREADS];

    /* No repeats across threads. */
    psp_iv_gen_init(&gen);
    for (int i = 0; i < IV_THREADS; i++) {
        t[i].gen = &gen;
        t[i].out = all + i * IV_PER_THREAD;
        ovs_assert(!pthread_create(&threads[i], NULL, iv_thread_main,
                                   &t[i]));
    }
    for (int i = 0; i < IV_THREADS; i++) {
        xpthread_join(threads[i], NULL);
    }
    qsort(all, IV_THREADS * IV_PER_THREAD, sizeof *all, compare_u64);
    int repeats = 0;
    for (int i = 1; i < IV_THREADS * IV_PER_THREAD; i++) {
        repeats += all[i] == all[i - 1];
    }
    CHECK(repeats == 0);
    free(all);

    /* A restart with the clock an hour back.  The first "process" gives
     * IVs under a key, and stops without warning; the second, whose clock
     * reads an hour earlier, installs the same key: its IVs must start past
     * every IV the first gave.  A counter that starts from the clock alone
     * starts an hour (3.6e12 IVs) too early. */
    const char *state = "iv-state";
    unlink(state);
    struct psp_ivs *a = psp_ivs_create();
    CHECK(psp_ivs_set_state_file(a, state, false));
    struct psp_iv_gen gen_a;
    psp_iv_gen_init_at(&gen_a, psp_ivs_start(a));
    uint64_t last_a = take_ivs(a, &gen_a, 100000);
    psp_ivs_destroy(a);

    struct psp_ivs *b = psp_ivs_create();
    psp_ivs_set_clock_offset(b, -(int64_t) HOUR);
    CHECK(psp_ivs_set_state_file(b, state, false));
    struct psp_iv_gen gen_b;
    uint64_t first_b = psp_ivs_start(b);
    psp_iv_gen_init_at(&gen_b, first_b);
    CHECK(first_b > last_a);
    take_ivs(b, &gen_b, 1000);

    /* In one process: the key installed again after the clock went back
     * another hour.  Its first counter, retired, gave IVs up to 'next'; the
     * next one starts there, wherever the clock is. */
    uint64_t next = psp_iv_gen_retire(&gen_b, false);
    CHECK(next == first_b + 1000);
    psp_ivs_retired(b, next);
    psp_ivs_set_clock_offset(b, -2 * (int64_t) HOUR);
    uint64_t first_c = psp_ivs_start(b);
    CHECK(first_c >= next);

    /* A retired counter gives nothing: as gone, or as stale. */
    uint64_t iv;
    CHECK_ERR(psp_ivs_take(b, &gen_b, &iv), PSP_E_NO_SA);
    CHECK(psp_iv_gen_retire(&gen_b, true) == 0);
    CHECK_ERR(psp_ivs_take(b, &gen_b, &iv), PSP_E_NO_SA);
    struct psp_iv_gen gen_s;
    psp_iv_gen_init_at(&gen_s, first_c);
    take_ivs(b, &gen_s, 3);
    CHECK(psp_iv_gen_retire(&gen_s, true) == first_c + 3);
    CHECK_ERR(psp_ivs_take(b, &gen_s, &iv), PSP_E_SA_STALE);

    /* A stale SA that stays installed is taken from for every packet of
     * its flows: its counter never wraps around to IVs that are given,
     * here from 2 takes before it would. */
    struct psp_iv_gen gen_w;
    psp_iv_gen_init_at(&gen_w, UINT64_MAX - 1);
    for (int i = 0; i < 4; i++) {
        CHECK_ERR(psp_ivs_take(b, &gen_w, &iv), PSP_E_SA_STALE);
    }
    CHECK(psp_iv_gen_is_stale(&gen_w));

    /* IVs stop at the mark kept in the file: the last two before it are
     * given (and ask for more), the next is refused; once the mark moves
     * ahead, IVs are given again. */
    uint64_t mark;
    atomic_read(&b->hard_limit, &mark);
    struct psp_iv_gen gen_m;
    psp_iv_gen_init_at(&gen_m, mark - 2);
    take_ivs(b, &gen_m, 2);
    CHECK_ERR(psp_ivs_take(b, &gen_m, &iv), PSP_E_TX_IV_LIMIT);
    CHECK(psp_ivs_run(b));
    uint64_t given = take_ivs(b, &gen_m, 1);
    FILE *f = fopen(state, "r");
    unsigned long long int in_file = 0;
    char line[128];
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "iv_reserved=%llu", &in_file);
    }
    if (f) {
        fclose(f);
    }
    CHECK(in_file > given);

    /* A mark that cannot be written (the file is a directory): no IV past
     * the last mark written is given. */
    CHECK(!unlink(state) && !mkdir(state, 0700));
    atomic_read(&b->hard_limit, &mark);
    psp_iv_gen_init_at(&gen_m, mark - 1);
    take_ivs(b, &gen_m, 1);
    CHECK(!psp_ivs_run(b));
    CHECK_ERR(psp_ivs_take(b, &gen_m, &iv), PSP_E_TX_IV_LIMIT);
    struct psp_ivs *c = psp_ivs_create();
    CHECK(!psp_ivs_set_state_file(c, state, false));
    struct psp_iv_gen gen_n;
    psp_iv_gen_init_at(&gen_n, psp_ivs_start(c));
    CHECK_ERR(psp_ivs_take(c, &gen_n, &iv), PSP_E_TX_IV_LIMIT);
    CHECK(!rmdir(state));
    psp_ivs_destroy(b);
    psp_ivs_destroy(c);

    /* Fixed start, for reproducing vectors. */
    psp_iv_gen_init_at(&gen, 1);
    CHECK(psp_iv_gen_next(&gen) == 1 && psp_iv_gen_next(&gen) == 2);
    printf("iv: %d IVs from %d threads, no repeats; none across a restart "
           "or a re-install with the clock back\n",
           IV_THREADS * IV_PER_THREAD, IV_THREADS);
}

static void
test_counters(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_stats rx, tx, sum;

    /* Each reason counts once, in its own counter and in one of the spec's:
     * on receive by its kind, on transmit always "tx error packets" (a
     * cipher failure is not a bad packet received). */
    memset(&rx, 0, sizeof rx);
    memset(&tx, 0, sizeof tx);
    for (int e = 1; e < PSP_N_ERRORS; e++) {
        psp_stats_count_error(&rx, e, PSP_DIR_RX);
        psp_stats_count_error(&tx, e, PSP_DIR_TX);
        CHECK(rx.errors[e] == 1 && tx.errors[e] == 1);
        CHECK(strcmp(psp_error_name(e), "unknown-error"));
        CHECK(psp_error_class(e, PSP_DIR_TX) == PSP_EC_TX_ERROR);
        CHECK(psp_error_class(e, PSP_DIR_RX) != PSP_EC_TX_ERROR);
    }
    psp_stats_count_error(&rx, PSP_OK, PSP_DIR_RX);
    psp_stats_count_error(&rx, PSP_N_ERRORS, PSP_DIR_RX);
    CHECK(psp_error_class(PSP_E_CRYPTO, PSP_DIR_TX) == PSP_EC_TX_ERROR);
    CHECK(psp_error_class(PSP_E_CRYPTO, PSP_DIR_RX) == PSP_EC_RX_BAD);
    CHECK(psp_error_class(PSP_E_KEY_VERSION, PSP_DIR_RX) == PSP_EC_RX_BAD);
    CHECK(rx.rx_auth_fail == 1);
    CHECK(rx.rx_stale == 1);
    CHECK(rx.rx_error == 5);    /* Truncated, ext len, offset, not-psp,
                                 * inner. */
    CHECK(rx.rx_bad == PSP_N_ERRORS - 1 - 7);
    CHECK(rx.tx_error == 0);
    CHECK(tx.tx_error == PSP_N_ERRORS - 1);
    CHECK(!tx.rx_error && !tx.rx_bad && !tx.rx_stale && !tx.rx_auth_fail);

    /* Bytes from after the IV (VC included) to the end of the payload. */
    psp_stats_count_rx(&rx, 16 + 8 + 100 + 16);
    psp_stats_count_rx(&rx, 16 + 0 + 16);
    psp_stats_count_tx(&rx, 16 + 1400 + 16);
    CHECK(rx.rx_packets == 2 && rx.rx_bytes == 108);
    CHECK(rx.tx_packets == 1 && rx.tx_bytes == 1400);
    memset(&sum, 0, sizeof sum);
    psp_stats_add(&sum, &rx);
    psp_stats_add(&sum, &tx);
    CHECK(sum.rx_bad == rx.rx_bad && sum.tx_error == tx.tx_error);
    CHECK(sum.errors[PSP_E_AUTH] == 2 && sum.rx_packets == 2);
    printf("counters: ok\n");
}

static void
test_cache(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct psp_key a, b;
    uint8_t pa[128], pb[128];
    uint64_t hits, misses;

    make_key(&a, PSP_V0, 0x12345678);
    make_key(&b, PSP_V1, 0x12345679);

    /* A key is expanded once: every later seal and open with it hits. */
    struct psp_crypto *cc = psp_crypto_create(64);
    for (int i = 0; i < 10; i++) {
        size_t la = build_sealed(cc, &a, pa, false, 0, 50, i + 1);
        CHECK_ERR(psp_open(cc, &a, pa, la, NULL), PSP_OK);
    }
    psp_crypto_cache_stats(cc, &hits, &misses);
    CHECK(misses == 1 && hits == 19);

    /* A key that is forgotten (its SA gone) is wiped from the cache: the
     * next use expands it again. */
    psp_key_forget(&a);
    size_t la = build_sealed(cc, &a, pa, false, 0, 50, 11);
    CHECK_ERR(psp_open(cc, &a, pa, la, NULL), PSP_OK);
    psp_crypto_cache_stats(cc, &hits, &misses);
    CHECK(misses == 2 && hits == 20);
    psp_crypto_destroy(cc);

    /* A one-entry cache thrashes between keys, missing every time, and
     * stays correct. */
    cc = psp_crypto_create(1);
    for (int i = 0; i < 10; i++) {
        la = build_sealed(cc, &a, pa, false, 0, 50, i + 1);
        size_t lb = build_sealed(cc, &b, pb, true, 1, 50, i + 1);
        CHECK_ERR(psp_open(cc, &a, pa, la, NULL), PSP_OK);
        CHECK_ERR(psp_open(cc, &b, pb, lb, NULL), PSP_OK);
    }
    psp_crypto_cache_stats(cc, &hits, &misses);
    CHECK(misses == 40 && hits == 0);
    psp_crypto_destroy(cc);

    /* A key the cipher library fails to load: the packet fails, and the
     * next attempt loads it. */
    cc = psp_crypto_create(64);
    psp_crypto_test_fail_loads(1);
    uint8_t pc[128];
    size_t lc = build_plain(pc, PSP_V0, false, 0, 50, 1);
    CHECK_ERR(psp_seal(cc, &a, pc, lc), PSP_E_CRYPTO);
    CHECK_ERR(psp_seal(cc, &a, pc, lc), PSP_OK);
    psp_crypto_destroy(cc);
    printf("cache: ok\n");
}

/* The VmFlags of the mapping of /proc/self/smaps that holds 'p', or an
 * empty string. */
static void
smaps_flags(const void *p, char *flags, size_t n)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    uintptr_t addr = (uintptr_t) p;
    bool in = false;
    char line[512];

    flags[0] = '\0';
    if (!f) {
        return;
    }
    while (fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;

        if (sscanf(line, "%"SCNxPTR"-%"SCNxPTR" ", &lo, &hi) == 2
            && strchr(line, '-') < strchr(line, ' ')) {
            in = addr >= lo && addr < hi;
        } else if (in && !strncmp(line, "VmFlags:", 8)) {
            ovs_strlcpy(flags, line + 8, n);
            break;
        }
    }
    fclose(f);
}

static void
test_secure_mem(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    char flags[256];

    /* Key memory is kept out of core dumps ("dd") and wiped when freed. */
    uint8_t *p = psp_secure_zalloc(100);
    CHECK(p != NULL);
    for (size_t i = 0; i < 100; i++) {
        CHECK(p[i] == 0);
    }
    smaps_flags(p, flags, sizeof flags);
    CHECK(strstr(flags, " dd") != NULL);
    memset(p, 0xa5, 100);
    psp_secure_free(p, 100);
    uint8_t *q = psp_secure_zalloc(100);
    CHECK(q == p);              /* The block just freed comes back... */
    for (size_t i = 0; i < 112; i++) {
        CHECK(q[i] == 0);       /* ...wiped, all of its 112-byte block. */
    }
    psp_secure_free(q, 100);

    /* So are the master keys: their export is what is in key memory. */
    struct psp_mkeys *mk = psp_mkeys_create(NULL);
    struct psp_mkeys_state st;
    psp_mkeys_export(mk, &st);
    struct psp_mkeys *mk2 = psp_mkeys_import(&st, NULL);
    CHECK(mk2 != NULL);
    uint8_t key_a[PSP_MAX_KEY_LEN], key_b[PSP_MAX_KEY_LEN];
    uint32_t spi;
    CHECK(!psp_mkeys_alloc_spi(mk, PSP_V0, &spi, key_a, NULL));
    CHECK(psp_mkeys_derive(mk2, spi, PSP_V0, key_b)
          && !memcmp(key_a, key_b, 16));

    /* An imported state must be consistent. */
    st.slots[0].gen = 3;
    CHECK(psp_mkeys_import(&st, NULL) == NULL);
    psp_mkeys_state_wipe(&st);
    psp_mkeys_destroy(mk);
    psp_mkeys_destroy(mk2);

    /* Generations can start anywhere past 1. */
    mk = psp_mkeys_create_at(NULL, 7);
    CHECK(mk && psp_mkeys_active_gen(mk) == 7);
    CHECK(!psp_mkeys_alloc_spi(mk, PSP_V0, &spi, key_a, NULL));
    CHECK(spi == (PSP_SPI_SLOT_BIT | 1));
    CHECK(psp_mkeys_create_at(NULL, 1) == NULL);
    psp_mkeys_destroy(mk);

    printf("secure-mem: ok\n");
}

/* pcap helpers. */

struct frame_view {
    struct dp_packet *pkt;
    const uint8_t *l3;
    size_t ip_len;
    const uint8_t *udp_payload;
    size_t udp_payload_len;
};

static bool
view_frame(struct dp_packet *pkt, struct frame_view *v)
{
    struct flow flow;

    memset(v, 0, sizeof *v);
    v->pkt = pkt;
    flow_extract(pkt, &flow);
    v->l3 = dp_packet_l3(pkt);
    if (!v->l3) {
        return false;
    }
    if (flow.dl_type == htons(ETH_TYPE_IP)) {
        v->ip_len = (v->l3[2] << 8) | v->l3[3];
    } else if (flow.dl_type == htons(ETH_TYPE_IPV6)) {
        v->ip_len = IPV6_HEADER_LEN + ((v->l3[4] << 8) | v->l3[5]);
    } else {
        return false;
    }
    if (flow.nw_proto == IPPROTO_UDP && dp_packet_l4(pkt)) {
        const uint8_t *udp = dp_packet_l4(pkt);
        size_t udp_len = (udp[4] << 8) | udp[5];
        v->udp_payload = udp + UDP_HEADER_LEN;
        v->udp_payload_len = udp_len - UDP_HEADER_LEN;
    }
    return true;
}

static struct pcap_file *
open_pcap(const char *name, const char *mode)
{
    struct pcap_file *p = ovs_pcap_open(name, mode);
    if (!p) {
        ovs_fatal(errno, "%s: open failed", name);
    }
    return p;
}

/* compare ip|udp-payload A.pcap B.pcap: the IP packets, or the UDP
 * payloads, of the frames of A and B are the same, in order. */
static void
test_pcap_compare(struct ovs_cmdl_context *ctx)
{
    bool ip = !strcmp(ctx->argv[1], "ip");
    struct pcap_file *a = open_pcap(ctx->argv[2], "rb");
    struct pcap_file *b = open_pcap(ctx->argv[3], "rb");
    int n = 0;

    if (!ip && strcmp(ctx->argv[1], "udp-payload")) {
        ovs_fatal(0, "compare what? (ip or udp-payload)");
    }
    for (;;) {
        struct dp_packet *pa, *pb;
        int ea = ovs_pcap_read(a, &pa, NULL);
        int eb = ovs_pcap_read(b, &pb, NULL);
        struct frame_view va, vb;

        if (ea || eb) {
            if (ea != eb) {
                printf("packet %d: only in %s\n", n + 1,
                       ea ? ctx->argv[3] : ctx->argv[2]);
                exit(1);
            }
            break;
        }
        n++;
        if (!view_frame(pa, &va) || !view_frame(pb, &vb)) {
            printf("packet %d: not IP\n", n);
            exit(1);
        }
        const uint8_t *xa = ip ? va.l3 : va.udp_payload;
        const uint8_t *xb = ip ? vb.l3 : vb.udp_payload;
        size_t la = ip ? va.ip_len : va.udp_payload_len;
        size_t lb = ip ? vb.ip_len : vb.udp_payload_len;
        if (!xa || !xb || la != lb || memcmp(xa, xb, la)) {
            size_t i = 0;
            while (xa && xb && i < MIN(la, lb) && xa[i] == xb[i]) {
                i++;
            }
            printf("packet %d: %s differs (lengths %"PRIuSIZE" and "
                   "%"PRIuSIZE", first difference at byte %"PRIuSIZE")\n",
                   n, ip ? "IP packet" : "UDP payload", la, lb, i);
            exit(1);
        }
        dp_packet_delete(pa);
        dp_packet_delete(pb);
    }
    ovs_pcap_close(a);
    ovs_pcap_close(b);
    printf("%d packets, %s identical\n", n,
           ip ? "IP packets" : "UDP payloads");
}

/* Sets the total length of the IP packet at 'l3' to 'ip_len', with the IPv4
 * checksum. */
static void
set_ip_len(uint8_t *l3, bool v6, size_t ip_len)
{
    if (v6) {
        l3[4] = (ip_len - IPV6_HEADER_LEN) >> 8;
        l3[5] = ip_len - IPV6_HEADER_LEN;
    } else {
        ovs_be16 sum;

        l3[2] = ip_len >> 8;
        l3[3] = ip_len;
        l3[10] = l3[11] = 0;
        sum = csum(l3, (l3[0] & 15) * 4);
        memcpy(l3 + 10, &sum, 2);
    }
}

/* mutate IN OUT what [arg]: rewrites every frame of IN into OUT with one
 * change relative to the UDP payload (the PSP packet):
 *   xor OFS BYTE    XOR byte OFS with BYTE (negative: from the end)
 *   set OFS BYTE    set byte OFS to BYTE
 *   trim N          remove the last N bytes of the PSP packet (IP and UDP
 *                   lengths follow)
 *   ip-len N        add N (may be negative) to the IP length only
 *   pad N           add N bytes of Ethernet padding after the IP packet */
static void
test_pcap_mutate(struct ovs_cmdl_context *ctx)
{
    struct pcap_file *in = open_pcap(ctx->argv[1], "rb");
    struct pcap_file *out = open_pcap(ctx->argv[2], "wb");
    const char *what = ctx->argv[3];
    long arg1 = strtol(ctx->argv[4], NULL, 0);
    long arg2 = ctx->argc > 5 ? strtol(ctx->argv[5], NULL, 0) : 0;
    struct dp_packet *pkt;

    while (!ovs_pcap_read(in, &pkt, NULL)) {
        struct frame_view v;

        if (!view_frame(pkt, &v) || !v.udp_payload) {
            ovs_fatal(0, "frame without UDP");
        }
        uint8_t *l3 = CONST_CAST(uint8_t *, v.l3);
        uint8_t *psp = CONST_CAST(uint8_t *, v.udp_payload);
        uint8_t *udp = psp - UDP_HEADER_LEN;
        bool v6 = l3[0] >> 4 == 6;
        size_t ofs = arg1 < 0 ? v.udp_payload_len + arg1 : arg1;

        if (!strcmp(what, "xor") || !strcmp(what, "set")) {
            ovs_assert(ofs < v.udp_payload_len);
            psp[ofs] = what[0] == 'x' ? psp[ofs] ^ arg2 : arg2;
        } else if (!strcmp(what, "trim") || !strcmp(what, "ip-len")) {
            size_t ip_len = v.ip_len - arg1;
            if (!strcmp(what, "trim")) {
                size_t udp_len = (udp[4] << 8) | udp[5];
                udp_len -= arg1;
                udp[4] = udp_len >> 8;
                udp[5] = udp_len;
                dp_packet_set_size(pkt, dp_packet_size(pkt) - arg1);
            } else {
                ip_len = v.ip_len + arg1;
            }
            set_ip_len(l3, v6, ip_len);
        } else if (!strcmp(what, "ip-options")) {
            /* Inserts 'arg1' 4-byte words of IPv4 options (NOPs) into the
             * (cleartext) IPv4 header. */
            size_t l3_ofs = l3 - (uint8_t *) dp_packet_data(pkt);
            size_t hl = (l3[0] & 15) * 4;
            size_t n = 4 * arg1;
            ovs_assert(!v6 && hl + n <= 60);
            dp_packet_put_uninit(pkt, n);
            l3 = (uint8_t *) dp_packet_data(pkt) + l3_ofs;
            memmove(l3 + hl + n, l3 + hl,
                    dp_packet_size(pkt) - l3_ofs - hl - n);
            memset(l3 + hl, 1, n);
            l3[0] += arg1;
            set_ip_len(l3, false, v.ip_len + n);
        } else if (!strcmp(what, "pad")) {
            memset(dp_packet_put_uninit(pkt, arg1), 0xee, arg1);
        } else {
            ovs_fatal(0, "unknown mutation %s", what);
        }
        ovs_pcap_write(out, pkt);
        dp_packet_delete(pkt);
    }
    ovs_pcap_close(in);
    ovs_pcap_close(out);
}

/* Calls 'cb' with each frame of pcap file 'name' that holds UDP, and prints
 * "not UDP" for the others. */
static void
for_each_udp_frame(const char *name, void (*cb)(const struct frame_view *))
{
    struct pcap_file *in = open_pcap(name, "rb");
    struct dp_packet *pkt;

    while (!ovs_pcap_read(in, &pkt, NULL)) {
        struct frame_view v;

        if (!view_frame(pkt, &v) || !v.udp_payload) {
            printf("not UDP\n");
        } else {
            cb(&v);
        }
        dp_packet_delete(pkt);
    }
    ovs_pcap_close(in);
}

/* dump FILE: one line per frame with the outer headers' validity (UDP
 * checksum: 0, ok or bad) and the PSP header's fields, for checks on what
 * an encryptor wrote. */
static void
dump_frame(const struct frame_view *vp)
{
    struct frame_view v = *vp;
    struct psp_hdr_info h;
    struct dp_packet *pkt = v.pkt;
    const uint8_t *l3 = v.l3;
    const uint8_t *udp = v.udp_payload - UDP_HEADER_LEN;
    bool v6 = l3[0] >> 4 == 6;
    size_t hl = v6 ? IPV6_HEADER_LEN : (l3[0] & 15) * 4;
    size_t frame_ip = (size_t) ((uint8_t *) dp_packet_tail(pkt) - l3);
    bool len_ok = (v.ip_len == frame_ip
                   && (size_t) ((udp[4] << 8) | udp[5]) + hl == v.ip_len);

    const char *udp_csum = "0";
    if (udp[6] || udp[7]) {
        size_t udp_len = (udp[4] << 8) | udp[5];
        uint32_t partial = (v6
                            ? packet_csum_pseudoheader6(
                                ALIGNED_CAST(const void *, l3))
                            : packet_csum_pseudoheader(
                                ALIGNED_CAST(const void *, l3)));

        udp_csum = (udp_len + hl <= frame_ip
                    && !csum_finish(csum_continue(partial, udp, udp_len))
                    ? "ok" : "bad");
    }
    printf("%s %s len=%s udp_dst=%d udp_csum=%s",
           v6 ? "ipv6" : "ipv4",
           v6 ? "-" : csum(l3, hl) ? "csum-bad" : "csum-ok",
           len_ok ? "ok" : "bad", (udp[2] << 8) | udp[3], udp_csum);
    enum psp_error e = psp_hdr_parse(v.udp_payload, v.udp_payload_len, &h);
    if (e) {
        printf(" psp-error=%s\n", psp_error_name(e));
    } else {
        printf(" nh=%d ver=%d co=%d s=%d d=%d spi=%08"PRIx32
               " iv=%"PRIu64, h.next_hdr, h.version, h.crypt_off, h.s,
               h.d, h.spi, h.iv);
        if (h.has_vc) {
            printf(h.vc_readable ? " vc=%"PRIx64 : " vc=encrypted",
                   h.vc);
        }
        printf("\n");
    }
}

static void
test_pcap_dump(struct ovs_cmdl_context *ctx)
{
    for_each_udp_frame(ctx->argv[1], dump_frame);
}

/* visible FILE: for each PSP packet in FILE, what its cleartext part shows
 * of the inner packet (psp_visible_parse()), as telemetry would see it:
 * "inner=ipv4|ipv6|- proto=P|hidden ports=S>D|hidden". */
static void
visible_frame(const struct frame_view *v)
{
    struct psp_hdr_info h;
    struct psp_visible vis;

    if (psp_hdr_parse(v->udp_payload, v->udp_payload_len, &h)) {
        printf("not PSP\n");
        return;
    }
    psp_visible_parse(v->udp_payload, &h, &vis);
    printf("inner=%s", (vis.inner_ip == 4 ? "ipv4"
                        : vis.inner_ip == 6 ? "ipv6" : "-"));
    printf(vis.has_proto ? " proto=%d" : " proto=hidden", vis.proto);
    if (vis.has_ports) {
        printf(" ports=%d>%d\n", vis.src_port, vis.dst_port);
    } else {
        printf(" ports=hidden\n");
    }
}

static void
test_pcap_visible(struct ovs_cmdl_context *ctx)
{
    for_each_udp_frame(ctx->argv[1], visible_frame);
}

static void
test_all(struct ovs_cmdl_context *ctx)
{
    test_kdf(ctx);
    test_header(ctx);
    test_header_errors(ctx);
    test_seal_open(ctx);
    test_tamper(ctx);
    test_master_keys(ctx);
    test_iv(ctx);
    test_counters(ctx);
    test_cache(ctx);
    test_secure_mem(ctx);
}

static const struct ovs_cmdl_command commands[] = {
    {"kdf", NULL, 0, 0, test_kdf, OVS_RO},
    {"header", NULL, 0, 0, test_header, OVS_RO},
    {"header-errors", NULL, 0, 0, test_header_errors, OVS_RO},
    {"seal-open", NULL, 0, 0, test_seal_open, OVS_RO},
    {"tamper", NULL, 0, 0, test_tamper, OVS_RO},
    {"master-keys", NULL, 0, 0, test_master_keys, OVS_RO},
    {"iv", NULL, 0, 0, test_iv, OVS_RO},
    {"counters", NULL, 0, 0, test_counters, OVS_RO},
    {"cache", NULL, 0, 0, test_cache, OVS_RO},
    {"secure-mem", NULL, 0, 0, test_secure_mem, OVS_RO},
    {"all", NULL, 0, 0, test_all, OVS_RO},
    {"compare", "ip|udp-payload A.pcap B.pcap", 3, 3, test_pcap_compare,
     OVS_RO},
    {"mutate", "IN OUT what arg [arg]", 4, 5, test_pcap_mutate, OVS_RO},
    {"dump", "FILE", 1, 1, test_pcap_dump, OVS_RO},
    {"visible", "FILE", 1, 1, test_pcap_visible, OVS_RO},
    {NULL, NULL, 0, 0, NULL, OVS_RO},
};

static void
test_psp_main(int argc, char *argv[])
{
    struct ovs_cmdl_context ctx = {
        .argc = argc - 1,
        .argv = argv + 1,
    };

    set_program_name(argv[0]);
    ovs_cmdl_run_command(&ctx, commands);
    if (n_failures) {
        fprintf(stderr, "%d check(s) failed\n", n_failures);
        exit(1);
    }
}

OVSTEST_REGISTER("test-psp", test_psp_main);
