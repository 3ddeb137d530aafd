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

/* Master keys: the two slots of master key generations, their rotation, the
 * allocation of receive SPIs and the state of an SPI (active, previous,
 * stale, unknown), and the export and import of all of it for a restarted
 * process.
 *
 * Not here: the KDF (psp-key.c), and the receive path that looks the
 * generation of an SPI up to open a packet (psp-crypto.c). */

#include "psp-private.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define PSP_SPI_SPACE PSP_SPI_LOW_MASK  /* Usable SPIs per slot: 2^31 - 1. */

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

enum psp_error
psp_mkeys_rx_gen(const struct psp_mkeys *mk, uint32_t spi,
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
