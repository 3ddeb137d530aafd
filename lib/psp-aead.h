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

#ifndef PSP_AEAD_H
#define PSP_AEAD_H 1

/* AES-GCM backends: the cipher library that seals and opens packets, behind
 * a table of operations, so that the packet path (psp-crypto.c) is written
 * once for all of them.  There are two, chosen at build time:
 *
 *   - OpenSSL's EVP (psp-aead-openssl.c), the default.
 *
 *   - Intel's intel-ipsec-mb (psp-aead-ipsec-mb.c), with configure
 *     --with-ipsec-mb, which compiles it and defines PSP_WITH_IPSEC_MB.
 *
 * This header is the one place outside the backends that knows which one
 * was built (PSP_AEAD below).  Key derivation is not here: it is OpenSSL's
 * whatever the backend (psp-key.c).
 *
 * A backend's state belongs to one thread ("struct psp_aead_thread", one per
 * "struct psp_crypto"), and so do the keys that it expanded with it ("struct
 * psp_aead_key"), but for key_wipe(), which any thread may call on a key that
 * its owner no longer uses.  A thread has at most one operation in steps
 * (begin, update, end) under way, whose state its psp_aead_thread holds.
 *
 * Every function that returns bool returns false if the library failed
 * (and, when opening, if the ICV does not match). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct psp_aead_thread;
struct psp_aead_key;

struct psp_aead_ops {
    /* The backend's name and version, as psp_crypto_impl() returns it. */
    const char *(*name)(void);

    /* A thread's state, or null if memory is short or the library fails. */
    struct psp_aead_thread *(*thread_create)(void);
    void (*thread_destroy)(struct psp_aead_thread *);

    /* Expands the 'len' bytes (16 or 32) of AES key at 'bytes' into
     * '*keyp', allocating '*keyp' first if it is null.  A key that fails to
     * expand is left allocated, in '*keyp', for the next try. */
    bool (*key_expand)(struct psp_aead_thread *, struct psp_aead_key **keyp,
                       const uint8_t *bytes, size_t len);

    /* Wipes the expanded key from 'key', which stays allocated. */
    void (*key_wipe)(struct psp_aead_key *);

    /* Wipes and frees 'key'. */
    void (*key_free)(struct psp_aead_key *);

    /* Seals ('enc') or opens in one call: 'len' bytes from 'src' to 'dst'
     * (which may be the same), with the 12-byte 'nonce' and the 'aad_len'
     * bytes of AAD at 'aad', writing the ICV to 'icv' when sealing, or
     * checking it there when opening. */
    bool (*crypt)(struct psp_aead_thread *, const struct psp_aead_key *,
                  bool enc, const uint8_t *nonce, const uint8_t *aad,
                  size_t aad_len, uint8_t *dst, const uint8_t *src,
                  size_t len, uint8_t *icv);

    /* The same in steps, for data in more than one run: begin() takes the
     * key, the nonce and the AAD, update() encrypts or decrypts 'len' bytes
     * from 'src' to 'dst' (which may be the same), end() writes or checks
     * the ICV. */
    bool (*begin)(struct psp_aead_thread *, const struct psp_aead_key *,
                  bool enc, const uint8_t *nonce, const uint8_t *aad,
                  size_t aad_len);
    bool (*update)(struct psp_aead_thread *, uint8_t *dst,
                   const uint8_t *src, size_t len);
    bool (*end)(struct psp_aead_thread *, uint8_t *icv);
};

extern const struct psp_aead_ops psp_aead_openssl;
extern const struct psp_aead_ops psp_aead_ipsec_mb;

/* The backend libpsp was built with. */
#ifdef PSP_WITH_IPSEC_MB
#define PSP_AEAD (&psp_aead_ipsec_mb)
#else
#define PSP_AEAD (&psp_aead_openssl)
#endif

#endif /* psp-aead.h */
