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

/* The transmit SAs of the PSP datapath (psp-sa.h): their table, which
 * the packet path reads through a per-thread cache (psp-sa-private.h), the
 * rule of one key for one SA, and the IV counters that keep their GCM
 * nonces from repeating (with psp-iv.c).  Master keys and receive SPI
 * bindings are in psp-rx-sa.c, the sealing of packets in psp-tunnel.c and
 * psp-transport.c. */

#include <config.h>

#include "psp-sa.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cmap.h"
#include "coverage.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/vlog.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "psp-iv.h"
#include "psp-packet.h"
#include "psp-sa-private.h"
#include "psp-unixctl.h"
#include "util.h"
#include "uuid.h"

VLOG_DEFINE_THIS_MODULE(psp_dp);

COVERAGE_DEFINE(psp_tx_sa_key_in_use);

static struct cmap tx_sas;
static atomic_uint64_t tx_sas_seq = 1;  /* Changes with 'tx_sas'. */

/* Every transmit SA not yet freed, in 'tx_sas' or removed from it and
 * waiting for an RCU grace period, by psp_key_fingerprint() of its key: one
 * key is never installed for two SAs at once, since their IV counters would
 * give the same IVs.  The fingerprints are in the SAs (key memory); the key
 * bytes are compared where they already are. */
static struct hmap tx_keys OVS_GUARDED_BY(psp_dp_mutex);

/* Where the IV counters of transmit SAs start and how far they may go. */
static struct psp_ivs *tx_ivs;

void
psp_tx_sa_init(void)
{
    cmap_init(&tx_sas);
    hmap_init(&tx_keys);
    tx_ivs = psp_ivs_create();
}

/* Transmit SAs. */

static uint32_t
tx_sa_hash(const struct in6_addr *remote, uint64_t assoc)
{
    uint64_t w[2];

    memcpy(w, remote, sizeof w);
    return hash_finish(hash_add64(hash_add64(hash_add64(0, w[0]), w[1]),
                                  assoc), 24);
}

/* The packets 'sa' sealed: the IVs it used, or what it used before its IV
 * counter was retired.  (An IV refused at the IV space's limit counts too:
 * the counter moved past it.)  Exact under 'psp_dp_mutex', which retiring
 * holds. */
static uint64_t
tx_sa_packets(const struct psp_tx_sa *sa)
{
    uint64_t next = psp_iv_gen_peek(&sa->iv);

    return psp_iv_is_retired(next) ? sa->first_iv : next - sa->first_iv;
}

/* Retires the IV counter of 'sa' ('stale': as stale): no IV is taken from it
 * any more, and none it gave is given again under its key. */
static void
tx_sa_retire_iv(struct psp_tx_sa *sa, bool stale)
    OVS_REQUIRES(psp_dp_mutex)
{
    uint64_t next = psp_iv_gen_retire(&sa->iv, stale);

    if (next) {
        sa->first_iv = next - sa->first_iv;     /* Now the packets sent. */
        psp_ivs_retired(tx_ivs, next);
    }
}

static struct psp_tx_sa *
tx_sa_find(const struct in6_addr *remote, uint64_t assoc)
{
    struct psp_tx_sa *sa;

    CMAP_FOR_EACH_WITH_HASH (sa, node, tx_sa_hash(remote, assoc), &tx_sas) {
        if (sa->assoc == assoc && ipv6_addr_equals(&sa->remote, remote)) {
            return sa;
        }
    }
    return NULL;
}

/* Invalidates every thread's SA cache.  Called after a change to 'tx_sas'
 * and before the SA it replaces or removes is postponed for freeing. */
static void
tx_sas_changed(void)
{
    uint64_t orig;

    atomic_add_explicit(&tx_sas_seq, 1, &orig, memory_order_release);
}

/* Finds the SA of 'remote' and 'assoc' through 't''s cache. */
const struct psp_tx_sa *
psp_tx_sa_lookup(struct psp_dp_thread *t, const struct in6_addr *remote,
                 uint64_t assoc)
{
    uint32_t hash = tx_sa_hash(remote, assoc);
    struct tx_cache_entry *e = &t->tx_cache[hash & (TX_CACHE_SIZE - 1)];
    uint64_t seq;

    atomic_read_explicit(&tx_sas_seq, &seq, memory_order_acquire);
    if (OVS_LIKELY(e->seq == seq && e->sa && e->sa->assoc == assoc
                   && psp_addr_equals(&e->sa->remote, remote))) {
        return e->sa;
    }

    const struct psp_tx_sa *sa;
    CMAP_FOR_EACH_WITH_HASH (sa, node, hash, &tx_sas) {
        if (sa->assoc == assoc && ipv6_addr_equals(&sa->remote, remote)) {
            e->sa = sa;
            e->seq = seq;
            return sa;
        }
    }
    return NULL;
}

enum psp_error
psp_tx_sa_take_iv(const struct psp_tx_sa *sa, uint64_t *iv)
{
    return psp_ivs_take(tx_ivs, CONST_CAST(struct psp_iv_gen *, &sa->iv),
                        iv);
}

/* Frees 'sa', which no thread can use any more (it is postponed by RCU
 * after its removal from 'tx_sas'): the last IV it gave is known, and the
 * expanded key that threads' caches hold for it goes too. */
static void
tx_sa_free(struct psp_tx_sa *sa)
{
    ovs_mutex_lock(&psp_dp_mutex);
    hmap_remove(&tx_keys, &sa->key_node);
    uint64_t next = psp_iv_gen_peek(&sa->iv);
    if (!psp_iv_is_retired(next)) {
        psp_ivs_retired(tx_ivs, next);
    }
    ovs_mutex_unlock(&psp_dp_mutex);

    psp_key_forget(&sa->key);
    psp_secure_free(sa, sizeof *sa);
}

/* Whether 'sa' is in 'tx_sas' (and not only waiting to be freed). */
static bool
tx_sa_is_installed(const struct psp_tx_sa *sa)
    OVS_REQUIRES(psp_dp_mutex)
{
    return tx_sa_find(&sa->remote, sa->assoc) == sa;
}

/* Whether 'a' and 'b' have the same AES key: AES-GCM and AES-GMAC of one
 * length with the same bytes do (their nonces are built alike). */
static bool
tx_sa_same_key(const struct psp_tx_sa *a, const struct psp_tx_sa *b)
{
    return (a->key.len == b->key.len
            && !CRYPTO_memcmp(a->key.bytes, b->key.bytes, a->key.len));
}

/* Whether 'new' would send exactly as 'old' does: then 'old' stays. */
static bool
tx_sa_same(const struct psp_tx_sa *old, const struct psp_tx_sa *new)
{
    return (old->spi == new->spi && old->key.version == new->key.version
            && old->crypt_off == new->crypt_off
            && old->has_vc == new->has_vc && old->vc == new->vc
            && old->sd_bits == new->sd_bits && tx_sa_same_key(old, new)
            && !psp_iv_is_retired(psp_iv_gen_peek(&old->iv)));
}

/* Logs that an SA to 'remote' and 'assoc' was refused: its key is that of
 * 'holder'. */
static void
tx_sa_log_key_in_use(const struct in6_addr *remote, uint64_t assoc,
                     const struct psp_tx_sa *holder)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    if (!VLOG_DROP_WARN(&rl)) {
        struct ds s = DS_EMPTY_INITIALIZER;

        ds_put_cstr(&s, "refused the transmit SA to ");
        psp_dp_format_addr(&s, remote);
        ds_put_format(&s, " for assoc %"PRIu64": its key is the key of the SA "
                      "to ", assoc);
        psp_dp_format_addr(&s, &holder->remote);
        ds_put_format(&s, " for assoc %"PRIu64" (spi 0x%08"PRIx32"), and two "
                      "SAs under one key would repeat GCM nonces",
                      holder->assoc, holder->spi);
        VLOG_WARN("%s", ds_cstr(&s));
        ds_destroy(&s);
    }
}

int
psp_dp_tx_sa_set(const struct in6_addr *remote, uint64_t assoc,
                 uint32_t spi, enum psp_version version,
                 const uint8_t *key, size_t key_len)
{
    return psp_dp_tx_sa_set_opts(remote, assoc, spi, version, key, key_len,
                                 NULL);
}

int
psp_dp_tx_sa_set_opts(const struct in6_addr *remote, uint64_t assoc,
                      uint32_t spi, enum psp_version version,
                      const uint8_t *key, size_t key_len,
                      const struct psp_dp_tx_opts *opts)
{
    struct psp_tx_sa *sa;

    psp_dp_init();
    if (!(spi & PSP_SPI_LOW_MASK) || !psp_version_is_valid(version)) {
        return EINVAL;
    }
    if (opts && opts->crypt_off > 0
        && (opts->crypt_off > PSP_MAX_CRYPT_OFF
            || psp_version_is_gmac(version))) {
        return EINVAL;
    }
    sa = psp_secure_zalloc(sizeof *sa);
    if (!sa) {
        return ENOMEM;
    }
    if (!psp_key_init(&sa->key, version, key, key_len)) {
        psp_secure_free(sa, sizeof *sa);
        return EINVAL;
    }
    sa->remote = *remote;
    sa->assoc = assoc;
    sa->spi = spi;
    sa->crypt_off = opts ? opts->crypt_off : -1;
    sa->has_vc = opts && opts->has_vc;
    sa->vc = sa->has_vc ? opts->vc : 0;
    if (opts) {
        sa->owner = opts->owner;
        sa->owner_epoch = opts->owner_epoch;
        sa->sd_bits = ((opts->sample ? PSP_DP_HDR_S : 0)
                       | (opts->sample && opts->drop_after_sample
                          ? PSP_DP_HDR_D : 0));
    }
    sa->reported_packets = UINT64_MAX;
    atomic_init(&sa->tx_bytes, 0);
    uint64_t fp = psp_key_fingerprint(&sa->key);

    ovs_mutex_lock(&psp_dp_mutex);
    uint32_t hash = tx_sa_hash(remote, assoc);
    struct psp_tx_sa *old = tx_sa_find(remote, assoc);

    /* One key, one SA: the SA it replaces may have the same key, and so may
     * one that is going (removed, waiting for RCU) or, for the same owner,
     * one that moves (a database row whose remote or association changed,
     * whose old SA its owner removes next); any other is refused. */
    struct psp_tx_sa *holder;
    HMAP_FOR_EACH_WITH_HASH (holder, key_node, fp, &tx_keys) {
        if (holder != old && tx_sa_same_key(holder, sa)
            && tx_sa_is_installed(holder)
            && (uuid_is_zero(&sa->owner)
                || !uuid_equals(&holder->owner, &sa->owner))) {
            ovs_mutex_unlock(&psp_dp_mutex);
            COVERAGE_INC(psp_tx_sa_key_in_use);
            tx_sa_log_key_in_use(remote, assoc, holder);
            psp_secure_free(sa, sizeof *sa);
            return EEXIST;
        }
    }

    if (old && tx_sa_same(old, sa)) {
        /* Applied again as it is (e.g. from the database after a
         * reconnection): the SA, its IVs and its counters stay. */
        old->owner = sa->owner;
        old->owner_epoch = sa->owner_epoch;
        old->reported_packets = UINT64_MAX;
        ovs_mutex_unlock(&psp_dp_mutex);
        psp_secure_free(sa, sizeof *sa);
        return 0;
    }

    /* The IVs given under this key stop where they are, and this SA's start
     * past them.  (A packet taking an IV from the old SA meanwhile is
     * dropped, counted as no-sa.) */
    HMAP_FOR_EACH_WITH_HASH (holder, key_node, fp, &tx_keys) {
        if (tx_sa_same_key(holder, sa)) {
            tx_sa_retire_iv(holder, false);
        }
    }
    psp_iv_gen_init_at(&sa->iv, psp_ivs_start(tx_ivs));
    sa->first_iv = psp_iv_gen_peek(&sa->iv);
    hmap_insert(&tx_keys, &sa->key_node, fp);

    if (old) {
        cmap_replace(&tx_sas, &old->node, &sa->node, hash);
        tx_sas_changed();
        ovsrcu_postpone(tx_sa_free, old);
    } else {
        cmap_insert(&tx_sas, &sa->node, hash);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return 0;
}

bool
psp_dp_tx_sa_get_stats(const struct in6_addr *remote, uint64_t assoc,
                       uint64_t *packets, uint64_t *bytes)
{
    psp_dp_init();

    ovs_mutex_lock(&psp_dp_mutex);
    const struct psp_tx_sa *sa = tx_sa_find(remote, assoc);
    if (sa) {
        *packets = tx_sa_packets(sa);
        atomic_read_relaxed(CONST_CAST(atomic_uint64_t *, &sa->tx_bytes),
                            bytes);
    } else {
        *packets = *bytes = 0;
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return sa != NULL;
}

bool
psp_dp_tx_sa_set_stale(const struct in6_addr *remote, uint64_t assoc)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    struct psp_tx_sa *sa = tx_sa_find(remote, assoc);
    if (sa) {
        tx_sa_retire_iv(sa, true);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return sa != NULL;
}

bool
psp_dp_tx_sa_lookup(const struct in6_addr *remote, uint64_t assoc)
{
    psp_dp_init();
    return psp_tx_sa_lookup(psp_dp_thread_get(), remote, assoc) != NULL;
}

size_t
psp_dp_tx_sa_count(void)
{
    psp_dp_init();
    return cmap_count(&tx_sas);
}

bool
psp_dp_tx_sa_del(const struct in6_addr *remote, uint64_t assoc)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    struct psp_tx_sa *sa = tx_sa_find(remote, assoc);
    if (sa) {
        cmap_remove(&tx_sas, &sa->node, tx_sa_hash(remote, assoc));
        tx_sas_changed();
        ovsrcu_postpone(tx_sa_free, sa);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return sa != NULL;
}

/* What 'sa' was installed with (not its key). */
static void
tx_sa_get_info(const struct psp_tx_sa *sa, struct psp_dp_tx_info *info)
{
    info->spi = sa->spi;
    info->version = sa->key.version;
    info->opts.crypt_off = sa->crypt_off;
    info->opts.has_vc = sa->has_vc;
    info->opts.vc = sa->vc;
    info->opts.owner = sa->owner;
    info->opts.owner_epoch = sa->owner_epoch;
    info->opts.sample = (sa->sd_bits & PSP_DP_HDR_S) != 0;
    info->opts.drop_after_sample = (sa->sd_bits & PSP_DP_HDR_D) != 0;
    info->stale = psp_iv_gen_is_stale(&sa->iv);
}

bool
psp_dp_tx_sa_get_info(const struct in6_addr *remote, uint64_t assoc,
                      struct psp_dp_tx_info *info)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    const struct psp_tx_sa *sa = tx_sa_find(remote, assoc);
    if (sa) {
        tx_sa_get_info(sa, info);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return sa != NULL;
}

bool
psp_dp_tx_sa_set_epoch(const struct in6_addr *remote, uint64_t assoc,
                       const struct uuid *owner, uint8_t epoch)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    struct psp_tx_sa *sa = tx_sa_find(remote, assoc);
    bool found = sa && uuid_equals(&sa->owner, owner);
    if (found) {
        sa->owner_epoch = epoch;
        sa->reported_packets = UINT64_MAX;
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return found;
}

bool
psp_dp_tx_sa_del_owned(const struct in6_addr *remote, uint64_t assoc,
                       const struct uuid *owner)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    struct psp_tx_sa *sa = tx_sa_find(remote, assoc);
    bool found = sa && uuid_equals(&sa->owner, owner);
    if (found) {
        cmap_remove(&tx_sas, &sa->node, tx_sa_hash(remote, assoc));
        tx_sas_changed();
        ovsrcu_postpone(tx_sa_free, sa);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return found;
}

size_t
psp_dp_tx_sa_sweep(uint8_t epoch)
{
    struct psp_tx_sa **gone = NULL;
    size_t n = 0, allocated = 0;
    struct psp_tx_sa *sa;

    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    CMAP_FOR_EACH (sa, node, &tx_sas) {
        if (!uuid_is_zero(&sa->owner) && sa->owner_epoch != epoch) {
            if (n >= allocated) {
                gone = x2nrealloc(gone, &allocated, sizeof *gone);
            }
            gone[n++] = sa;
        }
    }
    for (size_t i = 0; i < n; i++) {
        sa = gone[i];
        cmap_remove(&tx_sas, &sa->node, tx_sa_hash(&sa->remote, sa->assoc));
        tx_sas_changed();
        ovsrcu_postpone(tx_sa_free, sa);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    free(gone);
    return n;
}

void
psp_dp_tx_sa_report(psp_dp_tx_report_cb *cb, void *aux)
{
    struct psp_tx_sa *sa;

    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    CMAP_FOR_EACH (sa, node, &tx_sas) {
        uint64_t packets, bytes;

        packets = tx_sa_packets(sa);
        if (packets == sa->reported_packets || uuid_is_zero(&sa->owner)) {
            continue;
        }
        atomic_read_relaxed(&sa->tx_bytes, &bytes);
        sa->reported_packets = packets;
        cb(&sa->owner, packets, bytes, aux);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
}

void
psp_dp_tx_sa_walk(psp_dp_tx_sa_cb *cb, void *aux)
{
    const struct psp_tx_sa *sa;

    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    CMAP_FOR_EACH (sa, node, &tx_sas) {
        struct psp_dp_tx_info info;
        uint64_t packets, bytes;

        packets = tx_sa_packets(sa);
        atomic_read_relaxed(CONST_CAST(atomic_uint64_t *, &sa->tx_bytes),
                            &bytes);
        tx_sa_get_info(sa, &info);
        cb(&sa->remote, sa->assoc, &info, packets, bytes, aux);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
}

/* IVs. */

void
psp_dp_set_iv_state_file(const char *path)
{
    psp_dp_init();
    psp_ivs_set_state_file(tx_ivs, path, true);
}

struct psp_ivs *
psp_dp_ivs(void)
{
    psp_dp_init();
    return tx_ivs;
}

/* For tests. */

bool
psp_dp_test_set_iv(const struct in6_addr *remote, uint64_t assoc,
                   uint64_t iv)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    struct psp_tx_sa *sa = tx_sa_find(remote, assoc);
    if (sa) {
        uint64_t sent = tx_sa_packets(sa);

        psp_iv_gen_init_at(&sa->iv, iv);
        sa->first_iv = iv - sent;
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    return sa != NULL;
}
