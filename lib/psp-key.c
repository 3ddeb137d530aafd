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

/* Keys: the identifiers that tag them in the per-thread caches, SA keys
 * ("struct psp_key") and their keyed fingerprints, and the KDF that derives
 * an SA key from a master key and an SPI.
 *
 * Not here: master keys and SPI allocation (psp-mkeys.c), and the expanded
 * keys that seal and open packets (psp-crypto.c). */

#include "psp-private.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "psp-bytes.h"

/* Process-wide unique identifiers for keys and master key generations: the
 * tags of the per-thread key schedule caches. */
static atomic_uint_least64_t next_uid = 1;

uint64_t
psp_new_uid(void)
{
    return atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed);
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

/* Key derivation. */

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
