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

/* The packet path: each thread's "struct psp_crypto", with its cache of
 * expanded AES-GCM keys, and sealing, opening and receiving PSP packets in
 * place with them.
 *
 * The cache is direct-mapped, tagged by key (transmit, psp_seal()) or by
 * (generation, SPI, version) (receive, psp_rx()), so that neither the KDF
 * nor AES key expansion runs per packet.  What an entry holds, and the
 * AES-GCM itself, are the backend's (psp-aead.h), picked at build time.
 *
 * Not here: the header's format (psp-hdr.c), the KDF (psp-key.c), and which
 * SPIs a master key generation allocated (psp-mkeys.c). */

#include "psp-private.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "psp-aead.h"
#include "psp-bytes.h"

/* The AES-GCM backend that seals and opens. */
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
void
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

    return error ? error : psp_mkeys_rx_gen(mk, h->spi, &gen);
}

enum psp_error
psp_rx_open(struct psp_crypto *cc, const struct psp_mkeys *mk,
            uint8_t *pkt, size_t len, struct psp_hdr_info *h, bool *derived)
{
    const struct psp_mkey_gen *gen = NULL;
    enum psp_error error = psp_mkeys_rx_gen(mk, h->spi, &gen);

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
        error = psp_mkeys_rx_gen(mk, h->spi, &gen);
    }
    return error ? error : psp_rx_open__(cc, gen, pkt, len, h, NULL);
}
