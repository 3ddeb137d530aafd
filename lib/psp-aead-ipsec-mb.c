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

/* The intel-ipsec-mb AES-GCM backend (psp-aead.h), compiled only with
 * configure --with-ipsec-mb: an expanded key is the AES key schedule with
 * its GHASH tables, in key memory (psp_secure_zalloc()), and a thread holds
 * one multi-buffer manager, which it calls directly, one packet at a time.
 *
 * Not here: the key cache and what a PSP packet looks like (psp-crypto.c),
 * and key derivation, which stays OpenSSL's (psp-key.c). */

#include "psp-aead.h"

#include <stdlib.h>

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>

#include "psp.h"

struct psp_aead_thread {
    IMB_MGR *mgr;

    /* The operation in steps under way. */
    const struct psp_aead_key *op_key;
    bool op_enc;
    struct gcm_context_data op_cd;
};

struct psp_aead_key {
    struct gcm_key_data *kd;    /* In key memory (psp_secure_zalloc()). */
    bool aes256;
};

static const char *
ipsec_mb_name(void)
{
    return "intel-ipsec-mb " IMB_VERSION_STR;
}

static struct psp_aead_thread *
ipsec_mb_thread_create(void)
{
    struct psp_aead_thread *t = calloc(1, sizeof *t);

    if (!t) {
        return NULL;
    }
    t->mgr = alloc_mb_mgr(0);
    if (t->mgr) {
        init_mb_mgr_auto(t->mgr, NULL);
        if (imb_get_errno(t->mgr)) {
            free_mb_mgr(t->mgr);
            t->mgr = NULL;
        }
    }
    if (!t->mgr) {
        free(t);
        return NULL;
    }
    return t;
}

static void
ipsec_mb_thread_destroy(struct psp_aead_thread *t)
{
    if (t) {
        free_mb_mgr(t->mgr);
        free(t);
    }
}

static bool
ipsec_mb_key_expand(struct psp_aead_thread *t, struct psp_aead_key **keyp,
                    const uint8_t *bytes, size_t len)
{
    struct psp_aead_key *k = *keyp;

    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k) {
            return false;
        }
        k->kd = psp_secure_zalloc(sizeof *k->kd);
        if (!k->kd) {
            free(k);
            return false;
        }
        *keyp = k;
    }
    k->aes256 = len == 32;
    if (k->aes256) {
        IMB_AES256_GCM_PRE(t->mgr, bytes, k->kd);
    } else {
        IMB_AES128_GCM_PRE(t->mgr, bytes, k->kd);
    }
    return !imb_get_errno(t->mgr);
}

static void
ipsec_mb_key_wipe(struct psp_aead_key *k)
{
    OPENSSL_cleanse(k->kd, sizeof *k->kd);
}

static void
ipsec_mb_key_free(struct psp_aead_key *k)
{
    if (k) {
        psp_secure_free(k->kd, sizeof *k->kd);
        free(k);
    }
}

/* One call keeps the GCM state in registers, which saves tens of ns on a
 * packet over begin, update and end. */
static bool
ipsec_mb_crypt(struct psp_aead_thread *t, const struct psp_aead_key *k,
               bool enc, const uint8_t *nonce, const uint8_t *aad,
               size_t aad_len, uint8_t *dst, const uint8_t *src, size_t len,
               uint8_t *icv)
{
    struct gcm_context_data cd;
    uint8_t tag[PSP_ICV_LEN];
    uint8_t *out_tag = enc ? icv : tag;

    if (k->aes256) {
        if (enc) {
            IMB_AES256_GCM_ENC(t->mgr, k->kd, &cd, dst, src, len, nonce,
                               aad, aad_len, out_tag, PSP_ICV_LEN);
        } else {
            IMB_AES256_GCM_DEC(t->mgr, k->kd, &cd, dst, src, len, nonce,
                               aad, aad_len, out_tag, PSP_ICV_LEN);
        }
    } else {
        if (enc) {
            IMB_AES128_GCM_ENC(t->mgr, k->kd, &cd, dst, src, len, nonce,
                               aad, aad_len, out_tag, PSP_ICV_LEN);
        } else {
            IMB_AES128_GCM_DEC(t->mgr, k->kd, &cd, dst, src, len, nonce,
                               aad, aad_len, out_tag, PSP_ICV_LEN);
        }
    }
    return enc || !CRYPTO_memcmp(tag, icv, PSP_ICV_LEN);
}

static bool
ipsec_mb_begin(struct psp_aead_thread *t, const struct psp_aead_key *k,
               bool enc, const uint8_t *nonce, const uint8_t *aad,
               size_t aad_len)
{
    t->op_key = k;
    t->op_enc = enc;
    if (k->aes256) {
        IMB_AES256_GCM_INIT(t->mgr, k->kd, &t->op_cd, nonce, aad, aad_len);
    } else {
        IMB_AES128_GCM_INIT(t->mgr, k->kd, &t->op_cd, nonce, aad, aad_len);
    }
    return true;
}

static bool
ipsec_mb_update(struct psp_aead_thread *t, uint8_t *dst, const uint8_t *src,
                size_t len)
{
    const struct gcm_key_data *kd = t->op_key->kd;
    struct gcm_context_data *cd = &t->op_cd;

    if (!len) {
        return true;
    }
    if (t->op_key->aes256) {
        if (t->op_enc) {
            IMB_AES256_GCM_ENC_UPDATE(t->mgr, kd, cd, dst, src, len);
        } else {
            IMB_AES256_GCM_DEC_UPDATE(t->mgr, kd, cd, dst, src, len);
        }
    } else {
        if (t->op_enc) {
            IMB_AES128_GCM_ENC_UPDATE(t->mgr, kd, cd, dst, src, len);
        } else {
            IMB_AES128_GCM_DEC_UPDATE(t->mgr, kd, cd, dst, src, len);
        }
    }
    return true;
}

static bool
ipsec_mb_end(struct psp_aead_thread *t, uint8_t *icv)
{
    const struct gcm_key_data *kd = t->op_key->kd;
    struct gcm_context_data *cd = &t->op_cd;
    uint8_t tag[PSP_ICV_LEN];

    if (t->op_key->aes256) {
        if (t->op_enc) {
            IMB_AES256_GCM_ENC_FINALIZE(t->mgr, kd, cd, icv, PSP_ICV_LEN);
        } else {
            IMB_AES256_GCM_DEC_FINALIZE(t->mgr, kd, cd, tag, PSP_ICV_LEN);
        }
    } else {
        if (t->op_enc) {
            IMB_AES128_GCM_ENC_FINALIZE(t->mgr, kd, cd, icv, PSP_ICV_LEN);
        } else {
            IMB_AES128_GCM_DEC_FINALIZE(t->mgr, kd, cd, tag, PSP_ICV_LEN);
        }
    }
    return t->op_enc || !CRYPTO_memcmp(tag, icv, PSP_ICV_LEN);
}

const struct psp_aead_ops psp_aead_ipsec_mb = {
    .name = ipsec_mb_name,
    .thread_create = ipsec_mb_thread_create,
    .thread_destroy = ipsec_mb_thread_destroy,
    .key_expand = ipsec_mb_key_expand,
    .key_wipe = ipsec_mb_key_wipe,
    .key_free = ipsec_mb_key_free,
    .crypt = ipsec_mb_crypt,
    .begin = ipsec_mb_begin,
    .update = ipsec_mb_update,
    .end = ipsec_mb_end,
};
