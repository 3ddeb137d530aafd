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

/* The OpenSSL AES-GCM backend (psp-aead.h), the default: an expanded key is
 * an EVP cipher context with the key loaded, and a thread holds the two
 * ciphers (AES-128-GCM and AES-256-GCM) that it fetched once.  The contexts
 * take their memory from OpenSSL, which takes it from key memory where the
 * process called psp_openssl_mem_secure() (psp-secure.c).
 *
 * Not here: the key cache and what a PSP packet looks like (psp-crypto.c),
 * and key derivation (psp-key.c). */

#include "psp-aead.h"

#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "psp.h"

struct psp_aead_thread {
    EVP_CIPHER *aes128gcm;
    EVP_CIPHER *aes256gcm;
    EVP_CIPHER_CTX *op_ctx;     /* The operation in steps under way. */
    bool op_enc;
};

struct psp_aead_key {
    EVP_CIPHER_CTX *ctx;
    const EVP_CIPHER *cipher;   /* The cipher 'ctx' was set up with. */
};

static const char *
openssl_name(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

static void
openssl_thread_destroy(struct psp_aead_thread *t)
{
    if (t) {
        EVP_CIPHER_free(t->aes128gcm);
        EVP_CIPHER_free(t->aes256gcm);
        free(t);
    }
}

static struct psp_aead_thread *
openssl_thread_create(void)
{
    struct psp_aead_thread *t = calloc(1, sizeof *t);

    if (!t) {
        return NULL;
    }
    t->aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    t->aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (!t->aes128gcm || !t->aes256gcm) {
        openssl_thread_destroy(t);
        return NULL;
    }
    return t;
}

static bool
openssl_key_expand(struct psp_aead_thread *t, struct psp_aead_key **keyp,
                   const uint8_t *bytes, size_t len)
{
    const EVP_CIPHER *cipher = len == 32 ? t->aes256gcm : t->aes128gcm;
    struct psp_aead_key *k = *keyp;

    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k) {
            return false;
        }
        k->ctx = EVP_CIPHER_CTX_new();
        if (!k->ctx) {
            free(k);
            return false;
        }
        *keyp = k;
    }
    if (!EVP_CipherInit_ex(k->ctx, k->cipher == cipher ? NULL : cipher,
                           NULL, bytes, NULL, 1)) {
        k->cipher = NULL;
        return false;
    }
    k->cipher = cipher;
    return true;
}

static void
openssl_key_wipe(struct psp_aead_key *k)
{
    /* Frees the cipher's state, key schedule and GHASH key, which OpenSSL
     * wipes as it frees them. */
    EVP_CIPHER_CTX_reset(k->ctx);
    k->cipher = NULL;
}

static void
openssl_key_free(struct psp_aead_key *k)
{
    if (k) {
        EVP_CIPHER_CTX_free(k->ctx);
        free(k);
    }
}

static bool
openssl_begin(struct psp_aead_thread *t, const struct psp_aead_key *k,
              bool enc, const uint8_t *nonce, const uint8_t *aad,
              size_t aad_len)
{
    int outl;

    t->op_ctx = k->ctx;
    t->op_enc = enc;
    return (EVP_CipherInit_ex(t->op_ctx, NULL, NULL, NULL, nonce, enc)
            && EVP_CipherUpdate(t->op_ctx, NULL, &outl, aad, aad_len));
}

static bool
openssl_update(struct psp_aead_thread *t, uint8_t *dst, const uint8_t *src,
               size_t len)
{
    int outl;

    if (!len) {
        return true;
    }
    return EVP_CipherUpdate(t->op_ctx, dst, &outl, src, len) > 0;
}

static bool
openssl_end(struct psp_aead_thread *t, uint8_t *icv)
{
    EVP_CIPHER_CTX *ctx = t->op_ctx;
    int outl;

    if (t->op_enc) {
        return (EVP_CipherFinal_ex(ctx, icv, &outl) > 0
                && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
                                       PSP_ICV_LEN, icv) > 0);
    }
    return (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, PSP_ICV_LEN,
                                icv) > 0
            && EVP_CipherFinal_ex(ctx, icv, &outl) > 0);
}

/* EVP has no one-call AES-GCM: one call is the three steps. */
static bool
openssl_crypt(struct psp_aead_thread *t, const struct psp_aead_key *k,
              bool enc, const uint8_t *nonce, const uint8_t *aad,
              size_t aad_len, uint8_t *dst, const uint8_t *src, size_t len,
              uint8_t *icv)
{
    return (openssl_begin(t, k, enc, nonce, aad, aad_len)
            && openssl_update(t, dst, src, len)
            && openssl_end(t, icv));
}

const struct psp_aead_ops psp_aead_openssl = {
    .name = openssl_name,
    .thread_create = openssl_thread_create,
    .thread_destroy = openssl_thread_destroy,
    .key_expand = openssl_key_expand,
    .key_wipe = openssl_key_wipe,
    .key_free = openssl_key_free,
    .crypt = openssl_crypt,
    .begin = openssl_begin,
    .update = openssl_update,
    .end = openssl_end,
};
