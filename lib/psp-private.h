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

#ifndef PSP_PRIVATE_H
#define PSP_PRIVATE_H 1

/* What libpsp's files share with each other and with nothing else: the
 * tags of the per-thread key caches, and what the receive path needs of a
 * master key generation.  Callers of libpsp include psp.h, never this.
 *
 * Not here: the AES-GCM backends' interface (psp-aead.h) and the byte
 * helpers (psp-bytes.h). */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "psp.h"

/* Cache tags (psp-key.c): process-wide unique identifiers of keys and
 * master key generations, never 0. */
uint64_t psp_new_uid(void);

/* Wipes, in every thread's cache, the keys of a key (if 'tx_key') or of a
 * master key generation of uid 'uid', which no thread can use any more
 * (psp-crypto.c). */
void psp_crypto_forget_uid(uint64_t uid, bool tx_key);

/* One master key generation (psp-mkeys.c), in key memory. */
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

/* Finds in '*genp' the generation that 'spi' belongs to, if it is held,
 * without a lock.  Returns PSP_OK, PSP_E_STALE or PSP_E_UNKNOWN_SPI
 * (psp-mkeys.c). */
enum psp_error psp_mkeys_rx_gen(const struct psp_mkeys *, uint32_t spi,
                                const struct psp_mkey_gen **genp);

#endif /* psp-private.h */
