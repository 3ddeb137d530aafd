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

#include "psp.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "psp-aead.h"
#include "psp-bytes.h"

static void psp_crypto_forget_uid(uint64_t uid, bool tx_key);

/* Process-wide unique identifiers for keys and master key generations: the
 * tags of the per-thread key schedule caches. */
static atomic_uint_least64_t next_uid = 1;

static uint64_t
psp_new_uid(void)
{
    return atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed);
}

/* Secure memory for keys.  Each size class (every multiple of 16 bytes up to
 * 256, so that structures that hold a key waste little, then 512, ..., 4096
 * bytes) takes blocks from arenas mapped for it alone and flagged not to be
 * dumped, and keeps a free list threaded through its wiped free blocks.
 * Arenas are never unmapped: key memory's peak is its steady state.
 *
 * A class's arenas double in size, from 64 kB, up to 2 MB: an arena of 2 MB
 * is aligned to be one transparent huge page, so that a million transmit
 * SAs take 80 TLB entries rather than 40,000 (where the kernel has
 * transparent huge pages, even if only for madvise()). */
#define PSP_SECURE_N_FINE 16            /* 16, 32, ..., 256 bytes. */
#define PSP_SECURE_N_CLASSES (PSP_SECURE_N_FINE + 4)
#define PSP_SECURE_ARENA_MIN (64 * 1024)
#define PSP_SECURE_ARENA_MAX (2 * 1024 * 1024)

struct psp_secure_block {
    struct psp_secure_block *next;
};

static pthread_mutex_t secure_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct psp_secure_block *secure_free[PSP_SECURE_N_CLASSES];
static size_t secure_arena_size[PSP_SECURE_N_CLASSES]; /* The next one's. */

/* Every arena, for psp_secure_mem_contains(). */
struct psp_secure_arena {
    struct psp_secure_arena *next;
    uint8_t *base;
    size_t size;
};
static struct psp_secure_arena *secure_arenas;

static size_t
psp_secure_class_size(int class)
{
    return (class < PSP_SECURE_N_FINE
            ? (size_t) (class + 1) * 16
            : (size_t) 256 << (class - PSP_SECURE_N_FINE + 1));
}

static int
psp_secure_class(size_t size)
{
    int class = size <= 256 ? (size + 15) / 16 - 1 : PSP_SECURE_N_FINE;

    for (class = class < 0 ? 0 : class; class < PSP_SECURE_N_CLASSES;
         class++) {
        if (psp_secure_class_size(class) >= size) {
            return class;
        }
    }
    return -1;
}

/* Maps 'size' bytes, aligned to a huge page if it is one. */
static uint8_t *
psp_secure_map(size_t size)
{
    int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;

    if (size < PSP_SECURE_ARENA_MAX) {
        uint8_t *p = mmap(NULL, size, prot, flags, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }

    uint8_t *p = mmap(NULL, 2 * size, prot, flags, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    uint8_t *aligned = (uint8_t *) (((uintptr_t) p + size - 1)
                                    & ~(uintptr_t) (size - 1));
    if (aligned > p) {
        munmap(p, aligned - p);
    }
    if (p + 2 * size > aligned + size) {
        munmap(aligned + size, p + 2 * size - (aligned + size));
    }
#ifdef MADV_HUGEPAGE
    (void) madvise(aligned, size, MADV_HUGEPAGE);
#endif
    return aligned;
}

static bool
psp_secure_grow(int class)
{
    size_t block = psp_secure_class_size(class);
    size_t size = (secure_arena_size[class] ? secure_arena_size[class]
                   : PSP_SECURE_ARENA_MIN);
    uint8_t *arena = psp_secure_map(size);

    if (!arena) {
        return false;
    }
    /* A core dump must not hold keys.  Locking keeps them out of swap where
     * RLIMIT_MEMLOCK allows; without it they are still never dumped. */
    if (madvise(arena, size, MADV_DONTDUMP)) {
        munmap(arena, size);
        return false;
    }
    (void) mlock(arena, size);
    secure_arena_size[class] = (size < PSP_SECURE_ARENA_MAX ? 2 * size
                                : PSP_SECURE_ARENA_MAX);

    struct psp_secure_arena *a = malloc(sizeof *a);
    if (a) {
        a->base = arena;
        a->size = size;
        a->next = secure_arenas;
        secure_arenas = a;
    }

    for (size_t ofs = size; ofs >= block; ofs -= block) {
        struct psp_secure_block *b = (void *) (arena + ofs - block);
        b->next = secure_free[class];
        secure_free[class] = b;
    }
    return true;
}

void *
psp_secure_zalloc(size_t size)
{
    int class = psp_secure_class(size ? size : 1);
    void *p = NULL;

    if (class < 0) {
        return NULL;
    }
    pthread_mutex_lock(&secure_mutex);
    if (secure_free[class] || psp_secure_grow(class)) {
        struct psp_secure_block *b = secure_free[class];
        secure_free[class] = b->next;
        p = b;
    }
    pthread_mutex_unlock(&secure_mutex);

    if (p) {
        memset(p, 0, psp_secure_class_size(class));
    }
    return p;
}

void
psp_secure_free(void *p, size_t size)
{
    int class = psp_secure_class(size ? size : 1);

    if (!p || class < 0) {
        return;
    }
    OPENSSL_cleanse(p, psp_secure_class_size(class));

    struct psp_secure_block *b = p;
    pthread_mutex_lock(&secure_mutex);
    b->next = secure_free[class];
    secure_free[class] = b;
    pthread_mutex_unlock(&secure_mutex);
}

/* Whether the 'size' bytes at 'hay' hold the 'n' bytes at 'needle'. */
static bool
mem_contains(const uint8_t *hay, size_t size, const uint8_t *needle,
             size_t n)
{
    if (!n) {
        return true;
    }
    for (size_t i = 0; i + n <= size; ) {
        const uint8_t *q = memchr(hay + i, needle[0], size - n + 1 - i);

        if (!q) {
            break;
        }
        if (!memcmp(q, needle, n)) {
            return true;
        }
        i = q - hay + 1;
    }
    return false;
}

bool
psp_secure_mem_contains(const void *p, size_t n)
{
    bool found = false;

    pthread_mutex_lock(&secure_mutex);
    for (const struct psp_secure_arena *a = secure_arenas; a && !found;
         a = a->next) {
        found = mem_contains(a->base, a->size, p, n);
    }
    pthread_mutex_unlock(&secure_mutex);
    return found;
}

/* OpenSSL's memory.  Each block starts with its size, for free() and
 * realloc(); blocks up to 4 kB come from the secure size classes, larger
 * ones (rare: TLS buffers) are mappings of their own. */
#define PSP_OSSL_HDR 16                 /* Keeps blocks 16-byte aligned. */
#define PSP_UNUSED __attribute__((__unused__))

static bool ossl_mem_secure;

static void *
psp_ossl_malloc(size_t n, const char *file PSP_UNUSED,
                int line PSP_UNUSED)
{
    size_t total = n + PSP_OSSL_HDR;
    uint8_t *p;

    if (total < n) {
        return NULL;
    }
    if (total <= psp_secure_class_size(PSP_SECURE_N_CLASSES - 1)) {
        p = psp_secure_zalloc(total);
    } else {
        p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            p = NULL;
        } else if (madvise(p, total, MADV_DONTDUMP)) {
            munmap(p, total);
            p = NULL;
        }
    }
    if (!p) {
        return NULL;
    }
    memcpy(p, &total, sizeof total);
    return p + PSP_OSSL_HDR;
}

static void
psp_ossl_free(void *p_, const char *file PSP_UNUSED,
              int line PSP_UNUSED)
{
    uint8_t *p = p_;
    size_t total;

    if (!p) {
        return;
    }
    p -= PSP_OSSL_HDR;
    memcpy(&total, p, sizeof total);
    if (total <= psp_secure_class_size(PSP_SECURE_N_CLASSES - 1)) {
        psp_secure_free(p, total);
    } else {
        explicit_bzero(p, total);
        munmap(p, total);
    }
}

static void *
psp_ossl_realloc(void *p_, size_t n, const char *file, int line)
{
    uint8_t *p = p_;

    if (!p) {
        return psp_ossl_malloc(n, file, line);
    }
    if (!n) {
        psp_ossl_free(p, file, line);
        return NULL;
    }

    size_t total;
    memcpy(&total, p - PSP_OSSL_HDR, sizeof total);
    uint8_t *q = psp_ossl_malloc(n, file, line);
    if (q) {
        size_t old = total - PSP_OSSL_HDR;
        memcpy(q, p, old < n ? old : n);
        psp_ossl_free(p, file, line);
    }
    return q;
}

bool
psp_openssl_mem_secure(void)
{
    if (!ossl_mem_secure) {
        ossl_mem_secure = CRYPTO_set_mem_functions(psp_ossl_malloc,
                                                   psp_ossl_realloc,
                                                   psp_ossl_free);
    }
    return ossl_mem_secure;
}

bool
psp_openssl_mem_is_secure(void)
{
    return ossl_mem_secure;
}

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

/* Errors and counters. */

const char *
psp_error_name(enum psp_error error)
{
    switch (error) {
    case PSP_OK: return "ok";
    case PSP_E_TRUNCATED: return "truncated";
    case PSP_E_HDR_EXT_LEN: return "bad-hdr-ext-len";
    case PSP_E_CRYPT_OFF: return "bad-crypt-offset";
    case PSP_E_NOT_PSP: return "not-psp";
    case PSP_E_INNER: return "bad-inner-packet";
    case PSP_E_FIXED_BIT: return "bad-fixed-bit";
    case PSP_E_VERSION: return "bad-version";
    case PSP_E_SPI: return "bad-spi";
    case PSP_E_UNKNOWN_SPI: return "unknown-spi";
    case PSP_E_GMAC_OFFSET: return "gmac-crypt-offset";
    case PSP_E_UNBOUND_SPI: return "unbound-spi";
    case PSP_E_STALE: return "stale-key";
    case PSP_E_AUTH: return "auth-failure";
    case PSP_E_NO_SA: return "no-sa";
    case PSP_E_NO_ROOM: return "no-room";
    case PSP_E_KEY_VERSION: return "key-version-mismatch";
    case PSP_E_SA_STALE: return "stale-sa";
    case PSP_E_TX_INNER: return "tx-bad-inner-packet";
    case PSP_E_TX_TOO_BIG: return "tx-too-big";
    case PSP_E_TX_UNSUPPORTED: return "tx-unsupported";
    case PSP_E_TX_IV_LIMIT: return "tx-iv-not-reserved";
    case PSP_E_CRYPTO: return "crypto-error";
    case PSP_N_ERRORS: break;
    }
    return "unknown-error";
}

enum psp_error_class
psp_error_class(enum psp_error error, enum psp_dir dir)
{
    if (error == PSP_OK || error >= PSP_N_ERRORS) {
        return PSP_EC_NONE;
    }
    if (dir == PSP_DIR_TX) {
        /* The spec has one transmit error counter: whatever went wrong, the
         * packet was not sent. */
        return PSP_EC_TX_ERROR;
    }

    switch (error) {
    case PSP_E_TRUNCATED:
    case PSP_E_HDR_EXT_LEN:
    case PSP_E_CRYPT_OFF:
    case PSP_E_NOT_PSP:
    case PSP_E_INNER:
        return PSP_EC_RX_ERROR;
    case PSP_E_STALE:
        return PSP_EC_RX_STALE;
    case PSP_E_AUTH:
        return PSP_EC_RX_AUTH;
    case PSP_E_FIXED_BIT:
    case PSP_E_VERSION:
    case PSP_E_SPI:
    case PSP_E_UNKNOWN_SPI:
    case PSP_E_GMAC_OFFSET:
    case PSP_E_UNBOUND_SPI:
    case PSP_E_KEY_VERSION:
    case PSP_E_CRYPTO:
    case PSP_E_NO_SA:
    case PSP_E_NO_ROOM:
    case PSP_E_SA_STALE:
    case PSP_E_TX_INNER:
    case PSP_E_TX_TOO_BIG:
    case PSP_E_TX_UNSUPPORTED:
    case PSP_E_TX_IV_LIMIT:
    case PSP_OK:
    case PSP_N_ERRORS:
        /* Other: "rx bad packets" (a key that does not fit, the cipher
         * library failing).  The transmit-only reasons never happen on
         * receive. */
        break;
    }
    return PSP_EC_RX_BAD;
}

void
psp_stats_count_error(struct psp_stats *stats, enum psp_error error,
                      enum psp_dir dir)
{
    if (error <= PSP_OK || error >= PSP_N_ERRORS) {
        return;
    }
    stats->errors[error]++;
    switch (psp_error_class(error, dir)) {
    case PSP_EC_NONE:
        break;
    case PSP_EC_RX_ERROR:
        stats->rx_error++;
        break;
    case PSP_EC_RX_BAD:
        stats->rx_bad++;
        break;
    case PSP_EC_RX_STALE:
        stats->rx_stale++;
        break;
    case PSP_EC_RX_AUTH:
        stats->rx_auth_fail++;
        break;
    case PSP_EC_TX_ERROR:
        stats->tx_error++;
        break;
    }
}

static uint64_t
psp_counted_bytes(size_t psp_len)
{
    return (psp_len > PSP_HDR_LEN + PSP_ICV_LEN
            ? psp_len - PSP_HDR_LEN - PSP_ICV_LEN : 0);
}

void
psp_stats_count_rx(struct psp_stats *stats, size_t psp_len)
{
    stats->rx_packets++;
    stats->rx_bytes += psp_counted_bytes(psp_len);
}

void
psp_stats_count_tx(struct psp_stats *stats, size_t psp_len)
{
    stats->tx_packets++;
    stats->tx_bytes += psp_counted_bytes(psp_len);
}

void
psp_stats_add(struct psp_stats *dst, const struct psp_stats *src)
{
    dst->rx_packets += src->rx_packets;
    dst->rx_bytes += src->rx_bytes;
    dst->rx_auth_fail += src->rx_auth_fail;
    dst->rx_error += src->rx_error;
    dst->rx_bad += src->rx_bad;
    dst->rx_stale += src->rx_stale;
    dst->rx_sample += src->rx_sample;
    dst->rx_sample_drop += src->rx_sample_drop;
    dst->tx_packets += src->tx_packets;
    dst->tx_bytes += src->tx_bytes;
    dst->tx_error += src->tx_error;
    dst->key_rotations += src->key_rotations;
    for (int i = 0; i < PSP_N_ERRORS; i++) {
        dst->errors[i] += src->errors[i];
    }
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

/* Keys. */

bool
psp_key_init(struct psp_key *key, enum psp_version version,
             const uint8_t *bytes, size_t len)
{
    memset(key, 0, sizeof *key);
    if (!psp_version_is_valid(version)
        || len != psp_version_key_len(version)) {
        return false;
    }
    key->id = psp_new_uid();
    key->version = version;
    key->len = len;
    memcpy(key->bytes, bytes, len);
    return true;
}

void
psp_key_forget(const struct psp_key *key)
{
    if (key->id) {
        psp_crypto_forget_uid(key->id, true);
    }
}

void
psp_key_wipe(struct psp_key *key)
{
    psp_key_forget(key);
    OPENSSL_cleanse(key, sizeof *key);
}

/* psp_key_fingerprint(): SipHash-2-4 (Aumasson and Bernstein), a keyed hash
 * made for this, under a secret drawn once per process and kept in key
 * memory. */
static uint64_t *fingerprint_secret;    /* 2 words. */
static pthread_once_t fingerprint_once = PTHREAD_ONCE_INIT;

static void
fingerprint_init(void)
{
    uint64_t *secret = psp_secure_zalloc(16);

    if (secret && RAND_priv_bytes((uint8_t *) secret, 16) == 1) {
        fingerprint_secret = secret;
    } else {
        psp_secure_free(secret, 16);
    }
}

static inline uint64_t
rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline void
sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl64(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl64(v[0], 32);
    v[2] += v[3];
    v[3] = rotl64(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl64(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl64(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl64(v[2], 32);
}

static uint64_t
siphash24(const uint64_t k[2], const uint8_t *p, size_t len)
{
    uint64_t v[4] = {
        k[0] ^ UINT64_C(0x736f6d6570736575),
        k[1] ^ UINT64_C(0x646f72616e646f6d),
        k[0] ^ UINT64_C(0x6c7967656e657261),
        k[1] ^ UINT64_C(0x7465646279746573),
    };
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        uint64_t m = psp_get_le64(p + i);

        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }

    uint64_t last = (uint64_t) len << 56;
    for (size_t j = 0; i + j < len; j++) {
        last |= (uint64_t) p[i + j] << (8 * j);
    }
    v[3] ^= last;
    sip_round(v);
    sip_round(v);
    v[0] ^= last;

    v[2] ^= 0xff;
    for (int r = 0; r < 4; r++) {
        sip_round(v);
    }
    uint64_t h = v[0] ^ v[1] ^ v[2] ^ v[3];
    OPENSSL_cleanse(v, sizeof v);
    return h;
}

uint64_t
psp_key_fingerprint(const struct psp_key *key)
{
    pthread_once(&fingerprint_once, fingerprint_init);
    if (!fingerprint_secret) {
        /* No randomness: every key has the same fingerprint, which still
         * finds equal keys (by comparing them), slowly. */
        return 0;
    }
    return siphash24(fingerprint_secret, key->bytes, key->len);
}

static EVP_KDF *kbkdf;
static pthread_once_t kbkdf_once = PTHREAD_ONCE_INIT;

static void
kbkdf_fetch(void)
{
    kbkdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_KBKDF, NULL);
}

bool
psp_derive_key(const uint8_t master[PSP_MASTER_KEY_LEN], uint32_t spi,
               enum psp_version version, uint8_t *out)
{
    if (!psp_version_is_valid(version)) {
        return false;
    }
    pthread_once(&kbkdf_once, kbkdf_fetch);
    if (!kbkdf) {
        return false;
    }

    /* SP 800-108 counter mode input: counter | label | context | L, each a
     * 32-bit big-endian word.  OpenSSL supplies the counter and L; it must
     * not put a zero byte between label and context. */
    uint8_t label[4] = { 'P', 'v', '0' + version, 0 };
    uint8_t context[4];
    int no_separator = 0;
    psp_put_be32(context, spi);

    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "counter", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "CMAC", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_CIPHER,
                                         "AES-256-CBC", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                          (void *) master,
                                          PSP_MASTER_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, label,
                                          sizeof label),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, context,
                                          sizeof context),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_SEPARATOR,
                                 &no_separator),
        OSSL_PARAM_construct_end(),
    };

    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kbkdf);
    bool ok = ctx && EVP_KDF_derive(ctx, out, psp_version_key_len(version),
                                    params) > 0;
    EVP_KDF_CTX_free(ctx);
    return ok;
}

/* IVs.
 *
 * 'gen->next' is a plain uint64_t (see psp.h), so these use the compiler's
 * __atomic builtins, which GCC and clang both have, rather than C11 atomic
 * types. */

void
psp_iv_gen_init_at(struct psp_iv_gen *gen, uint64_t first)
{
    __atomic_store_n(&gen->next, first, __ATOMIC_RELAXED);
}

void
psp_iv_gen_init(struct psp_iv_gen *gen)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
    psp_iv_gen_init_at(gen, ns ? ns : 1);
}

uint64_t
psp_iv_gen_next(struct psp_iv_gen *gen)
{
    return __atomic_fetch_add(&gen->next, 1, __ATOMIC_RELAXED);
}

/* Returns the IV that psp_iv_gen_next() would return now. */
uint64_t
psp_iv_gen_peek(const struct psp_iv_gen *gen)
{
    return __atomic_load_n(&gen->next, __ATOMIC_RELAXED);
}

enum psp_error
psp_iv_refused(uint64_t iv)
{
    return (iv >= PSP_IV_STALE ? PSP_E_SA_STALE
            : iv >= PSP_IV_RETIRED ? PSP_E_NO_SA
            : PSP_E_TX_IV_LIMIT);
}

/* The slow path of psp_iv_gen_take(): 'iv', just taken from 'gen', is
 * refused.  A retired generator still counts every take, and a stale SA
 * that stays installed is taken from for every packet of its flows: once
 * half of its 2^40 values are used up, its counter goes back to where it
 * was retired, so that it never wraps around to IVs that a limit allows
 * (or into the other retired range). */
enum psp_error
psp_iv_gen_refuse(struct psp_iv_gen *gen, uint64_t iv)
{
    enum psp_error error = psp_iv_refused(iv);

    if (error != PSP_E_TX_IV_LIMIT) {
        uint64_t base = (error == PSP_E_SA_STALE ? PSP_IV_STALE
                         : PSP_IV_RETIRED);
        if (iv - base >= UINT64_C(1) << 39) {
            /* Every value from 'base' on is refused alike, so a take that
             * runs between the fetch-add and this store loses nothing. */
            __atomic_store_n(&gen->next, base, __ATOMIC_RELAXED);
        }
    }
    return error;
}

bool
psp_iv_gen_is_stale(const struct psp_iv_gen *gen)
{
    return psp_iv_refused(psp_iv_gen_peek(gen)) == PSP_E_SA_STALE;
}

uint64_t
psp_iv_gen_retire(struct psp_iv_gen *gen, bool stale)
{
    /* An exchange, not a load and a store: a thread may take an IV between
     * the two, and the value returned must count it. */
    uint64_t next = __atomic_exchange_n(&gen->next,
                                        stale ? PSP_IV_STALE : PSP_IV_RETIRED,
                                        __ATOMIC_ACQ_REL);
    if (psp_iv_is_retired(next)) {
        /* Retired before: keep what it was retired as. */
        __atomic_store_n(&gen->next, next, __ATOMIC_RELEASE);
        return 0;
    }
    return next;
}

/* Master keys. */

#define PSP_SPI_SPACE PSP_SPI_LOW_MASK  /* Usable SPIs per slot: 2^31 - 1. */

struct psp_mkey_gen {
    uint64_t gen;               /* Generation number; slot is gen & 1. */
    uint64_t uid;               /* Cache tag. */
    uint32_t spi_first;         /* First SPI (low bits) of this generation. */
    bool older_allocated;       /* Earlier generations of this slot
                                 * allocated SPIs. */
    bool wrapped;               /* The slot's SPI counter wrapped. */
    atomic_uint_least32_t n_alloc;      /* SPIs allocated so far. */
    uint8_t key[PSP_MASTER_KEY_LEN];
};

struct psp_mkeys {
    pthread_mutex_t mutex;      /* Serializes allocation and rotation. */
    _Atomic(struct psp_mkey_gen *) slots[2];
    atomic_uint_least64_t active;       /* Generation number. */
    atomic_uint_least64_t rotations;
    bool track;                 /* Track SPI allocation. */
    uint32_t slot_next[2];      /* Next SPI (low bits) per slot. */
    bool slot_wrapped[2];
    psp_postpone_fn *postpone;
};

/* Frees 'gen', once no thread can use it (after an RCU grace period, when
 * it was replaced), with the keys that threads' caches derived from it. */
static void
psp_mkey_gen_free(void *gen_)
{
    struct psp_mkey_gen *gen = gen_;

    if (gen) {
        psp_crypto_forget_uid(gen->uid, false);
        psp_secure_free(gen, sizeof *gen);
    }
}

static struct psp_mkey_gen *
psp_mkey_gen_create(uint64_t number, const uint8_t *key)
{
    struct psp_mkey_gen *gen = psp_secure_zalloc(sizeof *gen);

    if (!gen) {
        return NULL;
    }
    gen->gen = number;
    gen->uid = psp_new_uid();
    atomic_init(&gen->n_alloc, 0);
    if (key) {
        memcpy(gen->key, key, PSP_MASTER_KEY_LEN);
    } else if (RAND_priv_bytes(gen->key, PSP_MASTER_KEY_LEN) != 1) {
        psp_secure_free(gen, sizeof *gen);
        return NULL;
    }
    return gen;
}

static struct psp_mkeys *
psp_mkeys_alloc(psp_postpone_fn *postpone, bool track)
{
    struct psp_mkeys *mk = calloc(1, sizeof *mk);

    if (mk) {
        pthread_mutex_init(&mk->mutex, NULL);
        mk->track = track;
        mk->postpone = postpone;
        mk->slot_next[0] = mk->slot_next[1] = 1;
        atomic_init(&mk->rotations, 0);
    }
    return mk;
}

/* Installs generations 'active' - 1 and 'active', both starting at SPI 1,
 * with 'key0' and 'key1' (or random keys, if null) by slot. */
static bool
psp_mkeys_install(struct psp_mkeys *mk, const uint8_t *key0,
                  const uint8_t *key1, uint64_t active)
{
    int slot = active & 1;
    struct psp_mkey_gen *g[2];

    g[slot] = psp_mkey_gen_create(active, slot ? key1 : key0);
    g[!slot] = psp_mkey_gen_create(active - 1, slot ? key0 : key1);
    if (!g[0] || !g[1]) {
        psp_mkey_gen_free(g[0]);
        psp_mkey_gen_free(g[1]);
        return false;
    }
    g[0]->spi_first = g[1]->spi_first = 1;
    atomic_init(&mk->slots[0], g[0]);
    atomic_init(&mk->slots[1], g[1]);
    atomic_init(&mk->active, active);
    return true;
}

struct psp_mkeys *
psp_mkeys_create(psp_postpone_fn *postpone)
{
    /* Generation 1 sits in slot 1 and generation 2, active, in slot 0, so
     * that the first SPIs handed out have the top bit clear. */
    return psp_mkeys_create_at(postpone, 2);
}

struct psp_mkeys *
psp_mkeys_create_at(psp_postpone_fn *postpone, uint64_t active)
{
    if (active < 2 || active == UINT64_MAX) {
        return NULL;
    }

    struct psp_mkeys *mk = psp_mkeys_alloc(postpone, true);
    if (mk && !psp_mkeys_install(mk, NULL, NULL, active)) {
        free(mk);
        return NULL;
    }
    return mk;
}

void
psp_mkeys_export(const struct psp_mkeys *mk_, struct psp_mkeys_state *st)
{
    struct psp_mkeys *mk = (struct psp_mkeys *) mk_;

    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&mk->mutex);
    st->active = atomic_load(&mk->active);
    st->rotations = atomic_load(&mk->rotations);
    for (int i = 0; i < 2; i++) {
        const struct psp_mkey_gen *gen = atomic_load(&mk->slots[i]);
        struct psp_mkeys_slot_state *ss = &st->slots[i];

        ss->gen = gen->gen;
        memcpy(ss->key, gen->key, sizeof ss->key);
        ss->spi_first = gen->spi_first;
        ss->n_alloc = atomic_load(&((struct psp_mkey_gen *) gen)->n_alloc);
        ss->older_allocated = gen->older_allocated;
        ss->wrapped = gen->wrapped;
        ss->next = mk->slot_next[i];
        ss->slot_wrapped = mk->slot_wrapped[i];
    }
    pthread_mutex_unlock(&mk->mutex);
}

struct psp_mkeys *
psp_mkeys_import(const struct psp_mkeys_state *st, psp_postpone_fn *postpone)
{
    int active_slot = st->active & 1;

    if (st->active < 2
        || st->slots[active_slot].gen != st->active
        || st->slots[!active_slot].gen + 1 != st->active) {
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        const struct psp_mkeys_slot_state *ss = &st->slots[i];

        if ((ss->gen & 1) != (uint64_t) i
            || !ss->spi_first || ss->spi_first > PSP_SPI_SPACE
            || !ss->next || ss->next > PSP_SPI_SPACE
            || ss->n_alloc > PSP_SPI_SPACE) {
            return NULL;
        }
    }

    struct psp_mkeys *mk = psp_mkeys_alloc(postpone, true);
    if (!mk) {
        return NULL;
    }
    struct psp_mkey_gen *g[2];
    for (int i = 0; i < 2; i++) {
        const struct psp_mkeys_slot_state *ss = &st->slots[i];

        g[i] = psp_mkey_gen_create(ss->gen, ss->key);
        if (g[i]) {
            g[i]->spi_first = ss->spi_first;
            atomic_init(&g[i]->n_alloc, ss->n_alloc);
            g[i]->older_allocated = ss->older_allocated;
            g[i]->wrapped = ss->wrapped;
        }
        mk->slot_next[i] = ss->next;
        mk->slot_wrapped[i] = ss->slot_wrapped;
    }
    if (!g[0] || !g[1]) {
        psp_mkey_gen_free(g[0]);
        psp_mkey_gen_free(g[1]);
        free(mk);
        return NULL;
    }
    atomic_init(&mk->slots[0], g[0]);
    atomic_init(&mk->slots[1], g[1]);
    atomic_init(&mk->active, st->active);
    atomic_init(&mk->rotations, st->rotations);
    return mk;
}

void
psp_mkeys_state_wipe(struct psp_mkeys_state *st)
{
    OPENSSL_cleanse(st, sizeof *st);
}

struct psp_mkeys *
psp_mkeys_create_static(const uint8_t key0[PSP_MASTER_KEY_LEN],
                        const uint8_t key1[PSP_MASTER_KEY_LEN])
{
    struct psp_mkeys *mk = psp_mkeys_alloc(NULL, false);

    if (mk && !psp_mkeys_install(mk, key0, key1, 2)) {
        free(mk);
        return NULL;
    }
    return mk;
}

void
psp_mkeys_destroy(struct psp_mkeys *mk)
{
    if (mk) {
        psp_mkey_gen_free(atomic_load(&mk->slots[0]));
        psp_mkey_gen_free(atomic_load(&mk->slots[1]));
        pthread_mutex_destroy(&mk->mutex);
        free(mk);
    }
}

bool
psp_mkeys_rotate(struct psp_mkeys *mk, const uint8_t *new_key)
{
    pthread_mutex_lock(&mk->mutex);

    uint64_t number = atomic_load(&mk->active) + 1;
    int slot = number & 1;
    struct psp_mkey_gen *gen = psp_mkey_gen_create(number, new_key);
    if (!gen) {
        pthread_mutex_unlock(&mk->mutex);
        return false;
    }

    struct psp_mkey_gen *old = atomic_load(&mk->slots[slot]);
    gen->spi_first = mk->slot_next[slot];
    gen->wrapped = mk->slot_wrapped[slot];
    gen->older_allocated = (old->older_allocated || gen->wrapped
                            || atomic_load(&old->n_alloc) > 0);
    atomic_store_explicit(&mk->slots[slot], gen, memory_order_release);
    atomic_store_explicit(&mk->active, number, memory_order_release);
    atomic_fetch_add(&mk->rotations, 1);

    pthread_mutex_unlock(&mk->mutex);

    if (mk->postpone) {
        mk->postpone(psp_mkey_gen_free, old);
    } else {
        psp_mkey_gen_free(old);
    }
    return true;
}

int
psp_mkeys_alloc_spi(struct psp_mkeys *mk, enum psp_version version,
                    uint32_t *spip, uint8_t *key, uint64_t *genp)
{
    if (!psp_version_is_valid(version)) {
        return EINVAL;
    }

    pthread_mutex_lock(&mk->mutex);
    uint64_t number = atomic_load(&mk->active);
    int slot = number & 1;
    struct psp_mkey_gen *gen = atomic_load(&mk->slots[slot]);
    uint32_t n = atomic_load(&gen->n_alloc);

    if (n >= PSP_SPI_SPACE) {
        pthread_mutex_unlock(&mk->mutex);
        return ENOSPC;
    }

    uint32_t low = mk->slot_next[slot];
    if (low == PSP_SPI_SPACE) {
        mk->slot_next[slot] = 1;
        mk->slot_wrapped[slot] = true;
    } else {
        mk->slot_next[slot] = low + 1;
    }
    uint32_t spi = low | (slot ? PSP_SPI_SLOT_BIT : 0);
    bool ok = psp_derive_key(gen->key, spi, version, key);
    if (ok) {
        atomic_store_explicit(&gen->n_alloc, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&mk->mutex);

    if (!ok) {
        return EINVAL;
    }
    *spip = spi;
    if (genp) {
        *genp = number;
    }
    return 0;
}

static enum psp_spi_state
psp_gen_spi_state(const struct psp_mkeys *mk, const struct psp_mkey_gen *gen,
                  uint32_t spi)
{
    uint32_t low = spi & PSP_SPI_LOW_MASK;

    if (!low) {
        return PSP_SPI_UNKNOWN;
    }
    if (mk->track) {
        /* Position of 'low' in the sequence 1, 2, ..., 2^31 - 1, 1, ... that
         * the slot's SPIs are allocated in, relative to this generation's
         * first. */
        uint32_t ofs = (low + PSP_SPI_SPACE - gen->spi_first) % PSP_SPI_SPACE;
        uint32_t n = atomic_load_explicit(&gen->n_alloc,
                                          memory_order_acquire);
        if (ofs >= n) {
            bool earlier = gen->wrapped || low < gen->spi_first;
            return (gen->older_allocated && earlier
                    ? PSP_SPI_STALE : PSP_SPI_UNKNOWN);
        }
    }
    return (gen->gen == atomic_load_explicit(&mk->active,
                                             memory_order_acquire)
            ? PSP_SPI_ACTIVE : PSP_SPI_PREVIOUS);
}

enum psp_spi_state
psp_mkeys_spi_state(const struct psp_mkeys *mk, uint32_t spi)
{
    const struct psp_mkey_gen *gen
        = atomic_load_explicit(&((struct psp_mkeys *) mk)->slots[spi >> 31],
                               memory_order_acquire);
    return psp_gen_spi_state(mk, gen, spi);
}

const char *
psp_spi_state_name(enum psp_spi_state state)
{
    switch (state) {
    case PSP_SPI_ACTIVE: return "active";
    case PSP_SPI_PREVIOUS: return "previous";
    case PSP_SPI_STALE: return "stale";
    case PSP_SPI_UNKNOWN: return "unknown";
    }
    return "unknown";
}

uint64_t
psp_mkeys_active_gen(const struct psp_mkeys *mk)
{
    return atomic_load(&((struct psp_mkeys *) mk)->active);
}

uint64_t
psp_mkeys_rotations(const struct psp_mkeys *mk)
{
    return atomic_load(&((struct psp_mkeys *) mk)->rotations);
}

uint32_t
psp_mkeys_spis_used(const struct psp_mkeys *mk)
{
    struct psp_mkeys *m = (struct psp_mkeys *) mk;
    const struct psp_mkey_gen *gen
        = atomic_load(&m->slots[atomic_load(&m->active) & 1]);
    return atomic_load(&((struct psp_mkey_gen *) gen)->n_alloc);
}

bool
psp_mkeys_derive(const struct psp_mkeys *mk, uint32_t spi,
                 enum psp_version version, uint8_t *key)
{
    const struct psp_mkey_gen *gen
        = atomic_load_explicit(&((struct psp_mkeys *) mk)->slots[spi >> 31],
                               memory_order_acquire);
    return psp_derive_key(gen->key, spi, version, key);
}

/* Per-thread crypto: AES-GCM keys already expanded, in a direct-mapped cache
 * tagged by key or by (generation, SPI, version).  What an entry holds, and
 * the AES-GCM itself, are the backend's (psp-aead.h), picked at build
 * time. */

static const struct psp_aead_ops *const aead = PSP_AEAD;

/* An entry is its thread's, but for the wiping of a key that is gone
 * (psp_crypto_forget_uid()), which another thread does: it takes the entry
 * by swapping its 'tag_a' from the key's uid to PSP_CACHE_BUSY, wipes it,
 * and sets 'tag_a' to 0.  It only takes entries of keys that no thread can
 * use any more, so that it never takes an entry from under a seal or an
 * open; the owner refills an entry only after swapping its 'tag_a' (from
 * anything but PSP_CACHE_BUSY) to 0, so that the two never both write an
 * entry. */
#define PSP_CACHE_BUSY UINT64_MAX

struct psp_cache_entry {
    atomic_uint_least64_t tag_a; /* Key uid or generation uid; 0 = empty. */
    uint64_t tag_b;             /* 0 for a key; SPI and version for rx. */
    struct psp_aead_key *key;   /* The backend's; null until first filled. */
};

struct psp_crypto {
    struct psp_crypto *next;    /* In 'all_crypto'. */
    struct psp_crypto **prevp;
    struct psp_cache_entry *entries;
    uint32_t mask;
    struct psp_aead_thread *thread;     /* The backend's. */
    uint64_t hits;
    uint64_t misses;
};

/* Every thread's cipher state, for psp_crypto_forget_uid(). */
static pthread_mutex_t crypto_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct psp_crypto *all_crypto;

/* psp_crypto_test_fail_loads(). */
static atomic_uint fail_loads;

const char *
psp_crypto_impl(void)
{
    return aead->name();
}

struct psp_crypto *
psp_crypto_create(unsigned int cache_entries)
{
    struct psp_crypto *cc = calloc(1, sizeof *cc);
    uint32_t n = 1;

    if (!cc) {
        return NULL;
    }
    while (n < cache_entries && n < (1u << 20)) {
        n <<= 1;
    }
    cc->entries = calloc(n, sizeof *cc->entries);
    cc->mask = n - 1;
    cc->thread = aead->thread_create();
    if (!cc->entries || !cc->thread) {
        psp_crypto_destroy(cc);
        return NULL;
    }

    pthread_mutex_lock(&crypto_mutex);
    cc->next = all_crypto;
    if (all_crypto) {
        all_crypto->prevp = &cc->next;
    }
    cc->prevp = &all_crypto;
    all_crypto = cc;
    pthread_mutex_unlock(&crypto_mutex);
    return cc;
}

void
psp_crypto_destroy(struct psp_crypto *cc)
{
    if (cc) {
        if (cc->prevp) {
            pthread_mutex_lock(&crypto_mutex);
            *cc->prevp = cc->next;
            if (cc->next) {
                cc->next->prevp = cc->prevp;
            }
            pthread_mutex_unlock(&crypto_mutex);
        }
        if (cc->entries) {
            for (uint32_t i = 0; i <= cc->mask; i++) {
                aead->key_free(cc->entries[i].key);
            }
            free(cc->entries);
        }
        aead->thread_destroy(cc->thread);
        free(cc);
    }
}

void
psp_crypto_cache_stats(const struct psp_crypto *cc,
                       uint64_t *hits, uint64_t *misses)
{
    *hits = cc->hits;
    *misses = cc->misses;
}

static inline uint32_t
psp_cache_hash(uint64_t a, uint64_t b)
{
    uint64_t x = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return x >> 32;
}

void
psp_crypto_test_fail_loads(unsigned int n)
{
    atomic_store(&fail_loads, n);
}

/* Wipes the key that 'e' holds: its owner uses it no more, and the caller
 * took it (its 'tag_a' is PSP_CACHE_BUSY). */
static void
psp_cache_entry_wipe(struct psp_cache_entry *e)
{
    if (e->key) {
        aead->key_wipe(e->key);
    }
}

/* Wipes, in every thread's cache, the keys of a key (if 'tx_key') or of a
 * master key generation of uid 'uid', which no thread can use any more. */
static void
psp_crypto_forget_uid(uint64_t uid, bool tx_key)
{
    pthread_mutex_lock(&crypto_mutex);
    for (struct psp_crypto *cc = all_crypto; cc; cc = cc->next) {
        /* A key has one entry it can be in; a generation's keys may be in
         * any. */
        uint32_t first = tx_key ? psp_cache_hash(uid, 0) & cc->mask : 0;
        uint32_t last = tx_key ? first : cc->mask;

        for (uint32_t i = first; i <= last; i++) {
            struct psp_cache_entry *e = &cc->entries[i];
            uint64_t tag = uid;

            if (atomic_load_explicit(&e->tag_a, memory_order_relaxed) == uid
                && atomic_compare_exchange_strong_explicit(
                       &e->tag_a, &tag, PSP_CACHE_BUSY,
                       memory_order_acquire, memory_order_relaxed)) {
                psp_cache_entry_wipe(e);
                atomic_store_explicit(&e->tag_a, 0, memory_order_release);
            }
        }
    }
    pthread_mutex_unlock(&crypto_mutex);
}

/* Returns the cached entry for tag (a, b), or null with '*entryp' set to
 * the entry to fill. */
static inline struct psp_cache_entry *
psp_cache_lookup(struct psp_crypto *cc, uint64_t a, uint64_t b,
                 struct psp_cache_entry **entryp)
{
    struct psp_cache_entry *e = &cc->entries[psp_cache_hash(a, b) & cc->mask];

    if (atomic_load_explicit(&e->tag_a, memory_order_relaxed) == a
        && e->tag_b == b) {
        cc->hits++;
        return e;
    }
    cc->misses++;
    *entryp = e;
    return NULL;
}

/* Loads 'key' ('len' bytes) into 'e', tagging it (a, b). */
static struct psp_cache_entry *
psp_cache_fill(struct psp_crypto *cc, struct psp_cache_entry *e,
               uint64_t a, uint64_t b, const uint8_t *key, size_t len)
{
    /* Takes the entry back from what it held, unless another thread is
     * wiping it: that takes no longer than a memset. */
    uint64_t old = atomic_load_explicit(&e->tag_a, memory_order_relaxed);
    for (;;) {
        if (old == PSP_CACHE_BUSY) {
            sched_yield();
            old = atomic_load_explicit(&e->tag_a, memory_order_relaxed);
        } else if (atomic_compare_exchange_weak_explicit(
                       &e->tag_a, &old, 0, memory_order_acquire,
                       memory_order_relaxed)) {
            break;
        }
    }

    unsigned int n_fail = atomic_load_explicit(&fail_loads,
                                               memory_order_relaxed);
    if (n_fail && atomic_compare_exchange_strong(&fail_loads, &n_fail,
                                                 n_fail - 1)) {
        return NULL;
    }
    if (!aead->key_expand(cc->thread, &e->key, key, len)) {
        return NULL;
    }
    e->tag_b = b;
    atomic_store_explicit(&e->tag_a, a, memory_order_release);
    return e;
}

static struct psp_cache_entry *
psp_key_entry(struct psp_crypto *cc, const struct psp_key *key)
{
    struct psp_cache_entry *e = NULL;
    struct psp_cache_entry *hit = psp_cache_lookup(cc, key->id, 0, &e);

    return hit ? hit : psp_cache_fill(cc, e, key->id, 0, key->bytes,
                                      key->len);
}

/* Verifies and decrypts, in place, a PSP packet of 'len' bytes (without ICV)
 * at 'pkt' whose first 'aad_len' bytes are authenticated only, against the
 * ICV at 'icv'.  The nonce is the SPI and IV as on the wire. */
static bool
psp_gcm_open(struct psp_crypto *cc, const struct psp_cache_entry *e,
             uint8_t *pkt, size_t len, size_t aad_len, uint8_t *icv)
{
    return aead->crypt(cc->thread, e->key, false, pkt + 4, pkt, aad_len,
                       pkt + aad_len, pkt + aad_len, len - aad_len, icv);
}

/* Length of the authenticated-only prefix of a PSP packet of 'len' bytes
 * (without ICV) whose header is at 'pkt', or 0 if its crypt offset does not
 * fit. */
static size_t
psp_aad_len(const uint8_t *pkt, size_t len, enum psp_error *error)
{
    unsigned int version = (pkt[3] >> 2) & 0xf;
    unsigned int crypt_off = pkt[2] & 0x3f;

    if (psp_version_is_gmac(version)) {
        if (crypt_off) {
            *error = PSP_E_GMAC_OFFSET;
            return 0;
        }
        return len;
    }
    size_t aad_len = PSP_HDR_LEN + 4 * crypt_off;
    if (aad_len > len) {
        *error = PSP_E_CRYPT_OFF;
        return 0;
    }
    return aad_len;
}

enum psp_error
psp_seal_from(struct psp_crypto *cc, const struct psp_key *key,
              uint8_t *pkt, size_t hdr_len,
              const uint8_t *payload, size_t payload_len)
{
    enum psp_error error = PSP_OK;
    size_t len = hdr_len + payload_len;

    if (hdr_len < PSP_HDR_LEN) {
        return PSP_E_TRUNCATED;
    }
    if (((pkt[3] >> 2) & 0xf) != key->version || !key->id) {
        return PSP_E_KEY_VERSION;
    }
    size_t aad_len = psp_aad_len(pkt, len, &error);
    if (error) {
        return error;
    }

    /* The cleartext part of the payload goes across as it is; the header
     * bytes past the crypt offset (a VC) are encrypted in place, the rest of
     * the payload from 'payload' to its place in 'pkt'. */
    uint8_t *dst = pkt + hdr_len;
    size_t clear = aad_len > hdr_len ? aad_len - hdr_len : 0;
    if (dst != payload) {
        memcpy(dst, payload, clear);
    }

    struct psp_cache_entry *e = psp_key_entry(cc, key);
    if (!e) {
        return PSP_E_CRYPTO;
    }
    if (dst == payload || aad_len >= hdr_len) {
        /* One run of ciphertext: in place, or from 'payload' alone. */
        size_t skip = aad_len > hdr_len ? aad_len - hdr_len : 0;
        const uint8_t *src = dst == payload ? pkt + aad_len : payload + skip;

        return (aead->crypt(cc->thread, e->key, true, pkt + 4, pkt, aad_len,
                            pkt + aad_len, src, len - aad_len, pkt + len)
                ? PSP_OK : PSP_E_CRYPTO);
    }

    if (!aead->begin(cc->thread, e->key, true, pkt + 4, pkt, aad_len)
        || (aad_len < hdr_len
            && !aead->update(cc->thread, pkt + aad_len, pkt + aad_len,
                             hdr_len - aad_len))
        || (payload_len > clear
            && !aead->update(cc->thread, dst + clear, payload + clear,
                             payload_len - clear))
        || !aead->end(cc->thread, pkt + len)) {
        return PSP_E_CRYPTO;
    }
    return PSP_OK;
}

enum psp_error
psp_seal(struct psp_crypto *cc, const struct psp_key *key,
         uint8_t *pkt, size_t len)
{
    if (len < PSP_HDR_LEN) {
        return PSP_E_TRUNCATED;
    }
    /* In place: everything after the IV (a VC too) counts as payload. */
    return psp_seal_from(cc, key, pkt, PSP_HDR_LEN, pkt + PSP_HDR_LEN,
                         len - PSP_HDR_LEN);
}

static enum psp_error
psp_open__(struct psp_crypto *cc, const struct psp_cache_entry *e,
           uint8_t *pkt, size_t len, struct psp_hdr_info *h)
{
    enum psp_error error = PSP_OK;
    size_t body = len - PSP_ICV_LEN;
    size_t aad_len = psp_aad_len(pkt, body, &error);

    if (error) {
        return error;
    }
    if (!e) {
        return PSP_E_CRYPTO;
    }
    if (!psp_gcm_open(cc, e, pkt, body, aad_len, pkt + body)) {
        /* Leave nothing decrypted behind a forged packet. */
        memset(pkt + aad_len, 0, body - aad_len);
        return PSP_E_AUTH;
    }
    if (h->has_vc && !h->vc_readable) {
        h->vc = psp_get_be64(pkt + PSP_HDR_LEN);
        h->vc_readable = true;
    }
    return PSP_OK;
}

enum psp_error
psp_open(struct psp_crypto *cc, const struct psp_key *key,
         uint8_t *pkt, size_t len, struct psp_hdr_info *info)
{
    struct psp_hdr_info h_;
    struct psp_hdr_info *h = info ? info : &h_;
    enum psp_error error = psp_hdr_parse(pkt, len, h);

    if (error) {
        return error;
    }
    if (h->version != key->version || !key->id) {
        return PSP_E_KEY_VERSION;
    }
    return psp_open__(cc, psp_key_entry(cc, key), pkt, len, h);
}

/* Finds in '*genp' the generation that 'spi' belongs to, if it is held,
 * without a lock.  Returns PSP_OK, PSP_E_STALE or PSP_E_UNKNOWN_SPI. */
static enum psp_error
psp_rx_gen(const struct psp_mkeys *mk, uint32_t spi,
           const struct psp_mkey_gen **genp)
{
    const struct psp_mkey_gen *gen
        = atomic_load_explicit(&((struct psp_mkeys *) mk)->slots[spi >> 31],
                               memory_order_acquire);

    switch (psp_gen_spi_state(mk, gen, spi)) {
    case PSP_SPI_ACTIVE:
    case PSP_SPI_PREVIOUS:
        *genp = gen;
        return PSP_OK;
    case PSP_SPI_STALE:
        return PSP_E_STALE;
    case PSP_SPI_UNKNOWN:
        break;
    }
    return PSP_E_UNKNOWN_SPI;
}

/* Opens 'pkt', parsed into 'h', with the key of its SPI and version under
 * 'gen': from the cache, or derived on a miss. */
static enum psp_error
psp_rx_open__(struct psp_crypto *cc, const struct psp_mkey_gen *gen,
              uint8_t *pkt, size_t len, struct psp_hdr_info *h,
              bool *derived)
{
    uint64_t tag_b = ((uint64_t) h->spi << 8) | h->version | (1ull << 62);
    struct psp_cache_entry *slot = NULL;
    struct psp_cache_entry *e = psp_cache_lookup(cc, gen->uid, tag_b, &slot);

    if (derived) {
        *derived = !e;
    }
    if (!e) {
        uint8_t key[PSP_MAX_KEY_LEN];
        size_t key_len = psp_version_key_len(h->version);

        if (psp_derive_key(gen->key, h->spi, h->version, key)) {
            e = psp_cache_fill(cc, slot, gen->uid, tag_b, key, key_len);
        }
        OPENSSL_cleanse(key, sizeof key);
    }
    return psp_open__(cc, e, pkt, len, h);
}

enum psp_error
psp_rx_parse(const struct psp_mkeys *mk, const uint8_t *pkt, size_t len,
             struct psp_hdr_info *h)
{
    const struct psp_mkey_gen *gen = NULL;
    enum psp_error error = psp_hdr_parse(pkt, len, h);

    return error ? error : psp_rx_gen(mk, h->spi, &gen);
}

enum psp_error
psp_rx_open(struct psp_crypto *cc, const struct psp_mkeys *mk,
            uint8_t *pkt, size_t len, struct psp_hdr_info *h, bool *derived)
{
    const struct psp_mkey_gen *gen = NULL;
    enum psp_error error = psp_rx_gen(mk, h->spi, &gen);

    if (error) {
        if (derived) {
            *derived = false;
        }
        return error;
    }
    return psp_rx_open__(cc, gen, pkt, len, h, derived);
}

enum psp_error
psp_rx(struct psp_crypto *cc, const struct psp_mkeys *mk,
       uint8_t *pkt, size_t len, struct psp_hdr_info *info)
{
    struct psp_hdr_info h_;
    struct psp_hdr_info *h = info ? info : &h_;
    const struct psp_mkey_gen *gen = NULL;
    enum psp_error error = psp_hdr_parse(pkt, len, h);

    if (!error) {
        error = psp_rx_gen(mk, h->spi, &gen);
    }
    return error ? error : psp_rx_open__(cc, gen, pkt, len, h, NULL);
}
