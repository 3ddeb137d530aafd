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

/* The receive side of the PSP datapath's security state (psp-sa.h): the
 * device's master keys and their rotation, and the receive SPI bindings
 * that say who may send with each SPI, which the packet path checks before
 * any key work (psp_rx_binding_check()).  Receive keys are derived from the
 * SPI, never kept here.  Transmit SAs are in psp-tx-sa.c, the opening of
 * packets in psp-tunnel.c and psp-transport.c. */

#include <config.h>

#include "psp-sa.h"

#include <errno.h>
#include <string.h>

#include "cmap.h"
#include "hash.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "psp-packet.h"
#include "psp-sa-private.h"
#include "util.h"
#include "uuid.h"

static struct cmap rx_bindings;
static atomic_uint64_t rx_unowned_seq;  /* Changes with the bindings that
                                         * have no owner. */
static ATOMIC(struct psp_mkeys *) mkeys_ptr; /* Replaced on import. */
static atomic_uint64_t keys_seq;        /* Changes with the master keys. */

static void
psp_postpone(void (*fn)(void *), void *aux)
{
    ovsrcu_postpone__(fn, aux);
}

void
psp_rx_sa_init(void)
{
    cmap_init(&rx_bindings);
    struct psp_mkeys *mkeys = psp_mkeys_create(psp_postpone);
    if (!mkeys) {
        ovs_abort(0, "PSP: cannot create master keys (no randomness?)");
    }
    atomic_init(&mkeys_ptr, mkeys);
    atomic_init(&keys_seq, 1);
}

struct psp_mkeys *
psp_rx_mkeys(void)
{
    struct psp_mkeys *mk;

    atomic_read_explicit(&mkeys_ptr, &mk, memory_order_acquire);
    return mk;
}

/* Receive SPIs. */

static const struct psp_rx_binding *
rx_binding_find(uint32_t spi)
{
    const struct psp_rx_binding *b;

    CMAP_FOR_EACH_WITH_HASH (b, node, hash_int(spi, 0), &rx_bindings) {
        if (b->spi == spi) {
            return b;
        }
    }
    return NULL;
}

static struct psp_rx_binding *
rx_binding_create(uint32_t spi, const struct in6_addr *peer, uint64_t assoc,
                  enum psp_version version, const struct uuid *owner)
{
    struct psp_rx_binding *b = xzalloc(sizeof *b);

    b->spi = spi;
    b->peer = *peer;
    b->assoc = assoc;
    b->version = version;
    b->owner = owner ? *owner : UUID_ZERO;
    return b;
}

static void
rx_binding_changed(const struct psp_rx_binding *b)
{
    if (uuid_is_zero(&b->owner)) {
        atomic_add_relaxed(&rx_unowned_seq, 1, &(uint64_t) { 0 });
    }
}

/* Publishes 'b', replacing the binding of the same SPI, if any. */
static void
rx_binding_publish(struct psp_rx_binding *b)
    OVS_REQUIRES(psp_dp_mutex)
{
    const struct psp_rx_binding *old = rx_binding_find(b->spi);

    if (old) {
        cmap_replace(&rx_bindings,
                     CONST_CAST(struct cmap_node *, &old->node),
                     &b->node, hash_int(b->spi, 0));
        rx_binding_changed(old);
        ovsrcu_postpone(free, CONST_CAST(struct psp_rx_binding *, old));
    } else {
        cmap_insert(&rx_bindings, &b->node, hash_int(b->spi, 0));
    }
    rx_binding_changed(b);
}

static void
rx_binding_remove(const struct psp_rx_binding *b)
    OVS_REQUIRES(psp_dp_mutex)
{
    cmap_remove(&rx_bindings, CONST_CAST(struct cmap_node *, &b->node),
                hash_int(b->spi, 0));
    rx_binding_changed(b);
    ovsrcu_postpone(free, CONST_CAST(struct psp_rx_binding *, b));
}

int
psp_dp_rx_spi_alloc(const struct in6_addr *peer, uint64_t assoc,
                    enum psp_version version, uint32_t *spi, uint8_t *key)
{
    return psp_dp_rx_spi_alloc_gen(peer, assoc, version, spi, key, NULL,
                                   NULL);
}

int
psp_dp_rx_spi_alloc_gen(const struct in6_addr *peer, uint64_t assoc,
                        enum psp_version version, uint32_t *spi,
                        uint8_t *key, uint64_t *gen,
                        const struct uuid *owner)
{
    psp_dp_init();

    ovs_mutex_lock(&psp_dp_mutex);
    int error = psp_mkeys_alloc_spi(psp_rx_mkeys(), version, spi, key, gen);
    if (!error) {
        /* A binding of the same SPI can only be of a generation that is
         * gone (an SPI is never allocated twice under one key): it goes. */
        rx_binding_publish(rx_binding_create(*spi, peer, assoc, version,
                                             owner));
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return error;
}

int
psp_dp_rx_bind(uint32_t spi, const struct in6_addr *peer, uint64_t assoc,
               enum psp_version version, const struct uuid *owner,
               struct uuid *holder)
{
    struct uuid who = owner ? *owner : UUID_ZERO;
    int error = 0;

    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    const struct psp_rx_binding *old = rx_binding_find(spi);
    if (old && !uuid_equals(&old->owner, &who)) {
        if (holder) {
            *holder = old->owner;
        }
        error = EBUSY;
    } else if (!old || old->version != version || old->assoc != assoc
               || !ipv6_addr_equals(&old->peer, peer)) {
        rx_binding_publish(rx_binding_create(spi, peer, assoc, version,
                                             &who));
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return error;
}

bool
psp_dp_rx_unbind(uint32_t spi, const struct uuid *owner)
{
    struct uuid who = owner ? *owner : UUID_ZERO;
    bool found = false;

    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    const struct psp_rx_binding *b = rx_binding_find(spi);
    if (b && uuid_equals(&b->owner, &who)) {
        rx_binding_remove(b);
        found = true;
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return found;
}

uint64_t
psp_dp_rx_unowned_seq(void)
{
    uint64_t seq;

    psp_dp_init();
    atomic_read_relaxed(&rx_unowned_seq, &seq);
    return seq;
}

void
psp_dp_rx_unowned_walk(psp_dp_rx_binding_cb *cb, void *aux)
{
    const struct psp_rx_binding *b;

    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    CMAP_FOR_EACH (b, node, &rx_bindings) {
        if (uuid_is_zero(&b->owner)) {
            cb(b->spi, &b->peer, b->assoc, b->version, aux);
        }
    }
    ovs_mutex_unlock(&psp_dp_mutex);
}

void
psp_dp_rx_walk(psp_dp_rx_binding_cb *cb, void *aux)
{
    const struct psp_rx_binding *b;

    psp_dp_init();
    CMAP_FOR_EACH (b, node, &rx_bindings) {
        cb(b->spi, &b->peer, b->assoc, b->version, aux);
    }
}

size_t
psp_dp_rx_count(void)
{
    psp_dp_init();
    return cmap_count(&rx_bindings);
}

enum psp_spi_state
psp_dp_rx_spi_state(uint32_t spi)
{
    psp_dp_init();
    return psp_mkeys_spi_state(psp_rx_mkeys(), spi);
}

bool
psp_dp_rx_derive(uint32_t spi, enum psp_version version, uint8_t *key)
{
    psp_dp_init();
    return psp_mkeys_derive(psp_rx_mkeys(), spi, version, key);
}

int
psp_dp_rx_key(uint32_t spi, uint8_t *key, enum psp_version *version)
{
    int error = ENOENT;

    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    const struct psp_rx_binding *b = rx_binding_find(spi);
    if (b) {
        struct psp_mkeys *mk = psp_rx_mkeys();
        enum psp_spi_state state = psp_mkeys_spi_state(mk, spi);

        if (state == PSP_SPI_ACTIVE || state == PSP_SPI_PREVIOUS) {
            *version = b->version;
            error = psp_mkeys_derive(mk, spi, b->version, key) ? 0 : EIO;
        }
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return error;
}

/* Master keys. */

static void
mkeys_destroy(void *mk)
{
    psp_mkeys_destroy(mk);
}

static void rx_bindings_purge(bool all) OVS_REQUIRES(psp_dp_mutex);

/* Replaces the master keys by 'new', if nonnull, and returns whether it
 * did.  Bindings made under the old keys mean nothing under new ones: they
 * go, if 'purge'.  (On import, those are the bindings that this process
 * made before it took the keys over; the imported keys' own bindings are
 * the caller's to restore, from wherever it keeps them.) */
static bool
mkeys_replace(struct psp_mkeys *new, bool purge)
{
    if (!new) {
        return false;
    }
    ovs_mutex_lock(&psp_dp_mutex);
    struct psp_mkeys *old = psp_rx_mkeys();
    atomic_store_explicit(&mkeys_ptr, new, memory_order_release);
    atomic_add_relaxed(&keys_seq, 1, &(uint64_t) { 0 });
    if (purge) {
        rx_bindings_purge(true);
    }
    ovsrcu_postpone__(mkeys_destroy, old);
    ovs_mutex_unlock(&psp_dp_mutex);
    return true;
}

/* Removes the bindings of SPIs whose generation is gone ('all' false), or
 * all of them. */
static void
rx_bindings_purge(bool all)
    OVS_REQUIRES(psp_dp_mutex)
{
    const struct psp_mkeys *mkeys = psp_rx_mkeys();
    struct psp_rx_binding *b;

    CMAP_FOR_EACH (b, node, &rx_bindings) {
        if (all || psp_mkeys_spi_state(mkeys, b->spi) == PSP_SPI_STALE) {
            rx_binding_remove(b);
        }
    }
}

bool
psp_dp_rotate(void)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    bool ok = psp_mkeys_rotate(psp_rx_mkeys(), NULL);
    if (ok) {
        atomic_add_relaxed(&keys_seq, 1, &(uint64_t) { 0 });
        rx_bindings_purge(false);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return ok;
}

uint64_t
psp_dp_keys_seq(void)
{
    uint64_t seq;

    psp_dp_init();
    atomic_read_relaxed(&keys_seq, &seq);
    return seq;
}

uint64_t
psp_dp_active_generation(void)
{
    psp_dp_init();
    return psp_mkeys_active_gen(psp_rx_mkeys());
}

uint32_t
psp_dp_spis_used(void)
{
    psp_dp_init();
    return psp_mkeys_spis_used(psp_rx_mkeys());
}

uint64_t
psp_dp_key_rotations(void)
{
    psp_dp_init();
    return psp_mkeys_rotations(psp_rx_mkeys());
}

void
psp_dp_keys_export(struct psp_mkeys_state *state)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    psp_mkeys_export(psp_rx_mkeys(), state);
    ovs_mutex_unlock(&psp_dp_mutex);
}

bool
psp_dp_keys_import(const struct psp_mkeys_state *state)
{
    psp_dp_init();

    return mkeys_replace(psp_mkeys_import(state, psp_postpone), true);
}

bool
psp_dp_keys_reset(uint64_t active)
{
    psp_dp_init();

    return mkeys_replace(psp_mkeys_create_at(psp_postpone, active), true);
}

/* For tests. */

bool
psp_dp_test_set_master_keys(const uint8_t key0[PSP_MASTER_KEY_LEN],
                            const uint8_t key1[PSP_MASTER_KEY_LEN])
{
    psp_dp_init();
    return mkeys_replace(psp_mkeys_create_static(key0, key1), false);
}

int
psp_dp_test_bind_spi(uint32_t spi, const struct in6_addr *peer,
                     uint64_t assoc, enum psp_version version)
{
    return psp_dp_rx_bind(spi, peer, assoc, version, NULL, NULL);
}

/* The packet path. */

/* Receive, in this order, so that a packet with an SPI that was not given
 * to its sender costs no key work: psp_rx_parse() parses the header and
 * checks the SPI against the master keys; psp_rx_binding_check() finds the
 * SPI's binding (a cmap lookup) and checks it against the packet; only then
 * psp_dp_rx_open() takes the key from the thread's cache, or derives it,
 * and opens the packet.  Up to the binding check nothing allocates or takes
 * a lock: a flood of spoofed SPIs never reaches the KDF, OpenSSL's
 * allocations (and the key allocator's mutex) or the thread's key cache.
 *
 * Returns the binding of the SPI that psp_rx_parse() parsed into 'h', if
 * the SPI was given to 'src' (or to any peer) for the packet's version and,
 * if 'assoc' is nonnull, for that association; else NULL. */
const struct psp_rx_binding *
psp_rx_binding_check(const struct psp_hdr_info *h,
                     const struct in6_addr *src, const uint64_t *assoc)
{
    const struct psp_rx_binding *b = rx_binding_find(h->spi);

    if (!b || b->version != h->version
        || (!psp_addr_equals(&b->peer, &in6addr_any)
            && !psp_addr_equals(&b->peer, src))
        || (assoc && b->assoc != *assoc)) {
        return NULL;
    }
    return b;
}
