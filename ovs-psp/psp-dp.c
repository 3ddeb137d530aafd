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

#include <config.h>

#include "psp-dp.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cmap.h"
#include "coverage.h"
#include "crc32c.h"
#include "csum.h"
#include "dp-packet.h"
#include "hash.h"
#include "netdev-native-tnl.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/vlog.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "openvswitch/hmap.h"
#include "packets.h"
#include "psp-iv.h"
#include "random.h"
#include "svec.h"
#include "util.h"
#include "uuid.h"

VLOG_DEFINE_THIS_MODULE(psp_dp);

COVERAGE_DEFINE(psp_tx_sealed);
COVERAGE_DEFINE(psp_tx_drop);
COVERAGE_DEFINE(psp_rx_opened);
COVERAGE_DEFINE(psp_rx_drop);
COVERAGE_DEFINE(psp_rx_key_derived);
COVERAGE_DEFINE(psp_tx_mss_clamped);
COVERAGE_DEFINE(psp_tx_csum_completed);
COVERAGE_DEFINE(psp_tx_sa_key_in_use);

/* A transmit SA.  Immutable once published, but for its counters and IV
 * generator, and its owner's bookkeeping (written under 'psp_dp_mutex'); a
 * re-key publishes a new one.  This is all ovs-vswitchd keeps per SA (the
 * database side keeps nothing more), so every byte counts: 160 bytes, a
 * secure memory size class of its own. */
struct psp_tx_sa {
    struct cmap_node node;      /* In 'tx_sas', by hash of remote and
                                 * association. */
    struct in6_addr remote;
    uint64_t assoc;
    uint32_t spi;
    int8_t crypt_off;           /* Overrides the port's, if nonnegative. */
    bool has_vc;                /* Overrides the port's VC value. */
    uint8_t owner_epoch;        /* Owner's resync marker. */
    uint8_t sd_bits;            /* S and D bits for header byte 3. */
    uint64_t vc;
    struct psp_key key;
    struct psp_iv_gen iv;       /* Started and bounded by 'tx_ivs'. */
    uint64_t first_iv;          /* The IV of the first packet.  The IVs used
                                 * count the packets sent, so that a packet
                                 * costs one atomic add less.  Once 'iv' is
                                 * retired, the packets it sent. */
    atomic_uint64_t tx_bytes;
    struct uuid owner;          /* Who installed it (a database row). */
    uint64_t reported_packets;  /* Packets as last reported. */
    struct hmap_node key_node;  /* In 'tx_keys', by key fingerprint. */
};
BUILD_ASSERT_DECL(sizeof(struct psp_tx_sa) <= 160);

/* A receive SPI allocated for a peer, association and version.  Not needed
 * to derive its key (that is stateless); it says who may send with the SPI,
 * which receive checks before any key work.  Immutable once published: a
 * change publishes a new one.  Each binding belongs to one owner, the only
 * one that may replace or remove it. */
struct psp_rx_binding {
    struct cmap_node node;      /* In 'rx_bindings', by hash of SPI. */
    uint32_t spi;
    uint8_t version;
    struct in6_addr peer;       /* All-zeros: any peer. */
    uint64_t assoc;
    struct uuid owner;          /* A database row, or all-zeros: none
                                 * (ovs-appctl psp/alloc-spi). */
};

/* A thread's cache of transmit SAs, direct-mapped by hash: the SAs that a
 * thread sends on are found in a small array that stays in its caches and
 * TLB, whatever the size of 'tx_sas'.  An entry is valid only while
 * 'tx_sas_seq' has not changed since it was filled: any change to 'tx_sas'
 * empties every cache, and since the SA an entry points to cannot be freed
 * before the thread next quiesces (RCU), a pointer read with the current
 * 'tx_sas_seq' is safe to use until then. */
#define TX_CACHE_SIZE 4096              /* 64 kB per thread. */
struct tx_cache_entry {
    const struct psp_tx_sa *sa;
    uint64_t seq;
};

/* Per-thread state. */
struct psp_dp_thread {
    struct ovs_list list_node;  /* In 'threads'. */
    struct psp_crypto *cc;
    struct psp_stats stats;
    struct tx_cache_entry tx_cache[TX_CACHE_SIZE];
};

static struct ovs_mutex psp_dp_mutex = OVS_MUTEX_INITIALIZER;
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
static struct cmap rx_bindings;
static atomic_uint64_t rx_unowned_seq;  /* Changes with the bindings that
                                         * have no owner. */
static ATOMIC(struct psp_mkeys *) mkeys_ptr; /* Replaced on import. */
static atomic_uint64_t keys_seq;        /* Changes with the master keys. */
static uint32_t entropy_secret;

static ovsthread_key_t thread_key;
static struct ovs_list threads OVS_GUARDED_BY(psp_dp_mutex);
static struct psp_stats exited_stats OVS_GUARDED_BY(psp_dp_mutex);

static void
psp_postpone(void (*fn)(void *), void *aux)
{
    ovsrcu_postpone__(fn, aux);
}

static void
psp_dp_thread_destroy(void *t_)
{
    struct psp_dp_thread *t = t_;

    ovs_mutex_lock(&psp_dp_mutex);
    ovs_list_remove(&t->list_node);
    psp_stats_add(&exited_stats, &t->stats);
    ovs_mutex_unlock(&psp_dp_mutex);
    psp_crypto_destroy(t->cc);
    free(t);
}

void
psp_dp_init(void)
{
    static struct ovsthread_once once = OVSTHREAD_ONCE_INITIALIZER;

    if (ovsthread_once_start(&once)) {
        cmap_init(&tx_sas);
        hmap_init(&tx_keys);
        tx_ivs = psp_ivs_create();
        cmap_init(&rx_bindings);
        ovs_list_init(&threads);
        ovsthread_key_create(&thread_key, psp_dp_thread_destroy);
        struct psp_mkeys *mkeys = psp_mkeys_create(psp_postpone);
        if (!mkeys) {
            ovs_abort(0, "PSP: cannot create master keys (no randomness?)");
        }
        atomic_init(&mkeys_ptr, mkeys);
        atomic_init(&keys_seq, 1);
        entropy_secret = random_uint32();
        ovsthread_once_done(&once);
    }
}

static struct psp_mkeys *
get_mkeys(void)
{
    struct psp_mkeys *mk;

    atomic_read_explicit(&mkeys_ptr, &mk, memory_order_acquire);
    return mk;
}

/* The calling thread's, found without a call on the per-packet path; the key
 * ('thread_key') is there for its destructor. */
DEFINE_STATIC_PER_THREAD_DATA(struct psp_dp_thread *, cur_thread, NULL);

static struct psp_dp_thread *
psp_dp_thread_get(void)
{
    struct psp_dp_thread **tp = cur_thread_get();
    struct psp_dp_thread *t = *tp;

    if (OVS_UNLIKELY(!t)) {
        t = xzalloc(sizeof *t);
        t->cc = psp_crypto_create(4096);
        if (!t->cc) {
            ovs_abort(0, "PSP: cannot create cipher contexts");
        }
        ovs_mutex_lock(&psp_dp_mutex);
        ovs_list_push_back(&threads, &t->list_node);
        ovs_mutex_unlock(&psp_dp_mutex);
        ovsthread_setspecific(thread_key, t);
        *tp = t;
    }
    return t;
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

/* ipv6_addr_equals() without the call to memcmp(), for the per-packet
 * lookups. */
static inline bool
addr_equals(const struct in6_addr *a, const struct in6_addr *b)
{
    uint64_t x[2], y[2];

    memcpy(x, a, sizeof x);
    memcpy(y, b, sizeof y);
    return !((x[0] ^ y[0]) | (x[1] ^ y[1]));
}

/* Sets 'a' to the IPv4-mapped IPv6 address of 'ip4' with two 64-bit stores,
 * unlike in6_addr_mapped_ipv4(), whose byte stores stall the 64-bit loads
 * of tx_sa_hash() and addr_equals() right after. */
static inline void
addr_set_mapped(struct in6_addr *a, ovs_be32 ip4)
{
    uint64_t ip = (OVS_FORCE uint32_t) ip4;     /* Bytes in memory order. */
#ifdef WORDS_BIGENDIAN
    uint64_t w[2] = { 0, (UINT64_C(0xffff) << 32) | ip };
#else
    uint64_t w[2] = { 0, (UINT64_C(0xffff) << 16) | (ip << 32) };
#endif

    memcpy(a, w, sizeof w);
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
static const struct psp_tx_sa *
tx_sa_lookup(struct psp_dp_thread *t, const struct in6_addr *remote,
             uint64_t assoc)
{
    uint32_t hash = tx_sa_hash(remote, assoc);
    struct tx_cache_entry *e = &t->tx_cache[hash & (TX_CACHE_SIZE - 1)];
    uint64_t seq;

    atomic_read_explicit(&tx_sas_seq, &seq, memory_order_acquire);
    if (OVS_LIKELY(e->seq == seq && e->sa && e->sa->assoc == assoc
                   && addr_equals(&e->sa->remote, remote))) {
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

/* Appends 'addr' to 's', "any" if it is all zeros. */
static void
format_addr(struct ds *s, const struct in6_addr *addr)
{
    if (!ipv6_addr_is_set(addr)) {
        ds_put_cstr(s, "any");
    } else {
        ipv6_format_mapped(addr, s);
    }
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
        format_addr(&s, remote);
        ds_put_format(&s, " for key %"PRIu64": its key is the key of the SA "
                      "to ", assoc);
        format_addr(&s, &holder->remote);
        ds_put_format(&s, " for key %"PRIu64" (spi 0x%08"PRIx32"), and two "
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
    return tx_sa_lookup(psp_dp_thread_get(), remote, assoc) != NULL;
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

bool
psp_dp_tx_sa_get_info(const struct in6_addr *remote, uint64_t assoc,
                      struct psp_dp_tx_info *info)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    const struct psp_tx_sa *sa = tx_sa_find(remote, assoc);
    if (sa) {
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
    int error = psp_mkeys_alloc_spi(get_mkeys(), version, spi, key, gen);
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

enum psp_spi_state
psp_dp_rx_spi_state(uint32_t spi)
{
    psp_dp_init();
    return psp_mkeys_spi_state(get_mkeys(), spi);
}

bool
psp_dp_rx_derive(uint32_t spi, enum psp_version version, uint8_t *key)
{
    psp_dp_init();
    return psp_mkeys_derive(get_mkeys(), spi, version, key);
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
    struct psp_mkeys *old = get_mkeys();
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
    const struct psp_mkeys *mkeys = get_mkeys();
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
    bool ok = psp_mkeys_rotate(get_mkeys(), NULL);
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
    return psp_mkeys_active_gen(get_mkeys());
}

uint32_t
psp_dp_spis_used(void)
{
    psp_dp_init();
    return psp_mkeys_spis_used(get_mkeys());
}

void
psp_dp_keys_export(struct psp_mkeys_state *state)
{
    psp_dp_init();
    ovs_mutex_lock(&psp_dp_mutex);
    psp_mkeys_export(get_mkeys(), state);
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

/* Header templates. */

static void
put_be32(uint8_t *p, uint32_t x)
{
    ovs_be32 y = htonl(x);
    memcpy(p, &y, sizeof y);
}

static void
put_be64(uint8_t *p, uint64_t x)
{
    ovs_be64 y = htonll(x);
    memcpy(p, &y, sizeof y);
}

size_t
psp_dp_build_header(uint8_t *hdr, const struct psp_port_cfg *cfg,
                    uint64_t assoc)
{
    struct psp_hdr_info h = {
        .crypt_off = cfg->crypt_off,
        .has_vc = cfg->has_vc,
        .vc = cfg->vc,
        .iv = assoc,            /* Replaced by the IV at packet time. */
    };

    psp_hdr_write(hdr, &h);
    /* The template's SPI field, replaced by the SA's SPI at packet time,
     * carries the egress MTU. */
    put_be32(hdr + 4, cfg->mtu);
    if (cfg->has_version) {
        hdr[3] = (hdr[3] & ~0x3c) | (cfg->version << 2);
    } else {
        hdr[3] |= PSP_DP_VERSION_ANY << 2;
    }
    hdr[3] |= cfg->sd_bits & (PSP_DP_HDR_S | PSP_DP_HDR_D);
    return psp_hdr_len(cfg->has_vc);
}

uint64_t
psp_dp_header_assoc(const uint8_t *psp_hdr)
{
    ovs_be64 x;

    memcpy(&x, psp_hdr + 8, sizeof x);
    return ntohll(x);
}

/* Datapath. */

static bool
packet_can_grow(const struct dp_packet *packet)
{
    enum dp_packet_source source = packet->source;

    return source == DPBUF_MALLOC || source == DPBUF_STUB;
}

/* Whether the size that 'packet' records for its buffer covers its data.
 * A dp_packet records at most UINT16_MAX bytes: a packet whose headroom and
 * data go past that (a 64 kB receive buffer) has a tailroom that cannot be
 * computed, and no resize of it can be trusted. */
static bool
packet_room_known(const struct dp_packet *packet)
{
    return ((const char *) dp_packet_tail(packet)
            <= (const char *) dp_packet_end(packet));
}

/* Makes sure that 'packet' has 'head' bytes of headroom and 'tail' bytes of
 * tailroom, growing it if it can, so that no later push or put resizes it.
 * Returns false if the packet cannot have that room. */
static bool
packet_make_room(struct dp_packet *packet, size_t head, size_t tail)
{
    if (!packet_room_known(packet)
        || dp_packet_headroom(packet) + dp_packet_size(packet) + head + tail
           > UINT16_MAX) {
        return false;
    }
    if (dp_packet_tailroom(packet) < tail
        || dp_packet_headroom(packet) < head) {
        if (!packet_can_grow(packet)) {
            return false;
        }
        dp_packet_prealloc_tailroom(packet, tail);
        dp_packet_prealloc_headroom(packet, head);
    }
    return (packet_room_known(packet)
            && dp_packet_tailroom(packet) >= tail
            && dp_packet_headroom(packet) >= head);
}

/* Shortens 'packet' to 'size' bytes, which removes its Ethernet padding:
 * the padding that its metadata records goes too, or a later pull would
 * count it twice. */
static void
packet_trim(struct dp_packet *packet, size_t size)
{
    dp_packet_set_size(packet, size);
    dp_packet_set_l2_pad_size(packet, 0);
}

/* A hash of the inner flow of 'packet' (an IP packet at its start): the
 * RSS hash when the datapath has one, else the addresses and, for TCP, UDP
 * and SCTP, the ports. */
static uint32_t
inner_flow_hash(const struct dp_packet *packet, uint8_t next_hdr)
{
    if (dp_packet_rss_valid(packet)) {
        return dp_packet_get_rss_hash(packet);
    }

    const uint8_t *ip = dp_packet_data(packet);
    bool v6 = next_hdr == PSP_NH_IPV6;
    size_t hlen = v6 ? IPV6_HEADER_LEN : (ip[0] & 0x0f) * 4;
    uint8_t proto = v6 ? ip[6] : ip[9];
    uint32_t hash = hash_bytes(ip + (v6 ? 8 : 12), v6 ? 32 : 8, proto);

    if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP
         || proto == IPPROTO_SCTP)
        && dp_packet_size(packet) >= hlen + 4
        && (v6 || !(((ip[6] << 8) | ip[7]) & (IP_MORE_FRAGMENTS
                                              | IP_FRAG_OFF_MASK)))) {
        hash = hash_bytes(ip + hlen, 4, hash);
    }
    return hash;
}

/* The calling thread's state, for a packet. */
static struct psp_dp_thread *
psp_dp_packet_thread(void)
{
    psp_dp_init();
    return psp_dp_thread_get();
}

/* Counts the outcome of sealing ('tx') or opening a packet in 't'. */
static enum psp_error
psp_dp_count(struct psp_dp_thread *t, bool tx, enum psp_error error)
{
    if (error) {
        psp_stats_count_error(&t->stats, error,
                              tx ? PSP_DIR_TX : PSP_DIR_RX);
        if (tx) {
            COVERAGE_INC(psp_tx_drop);
        } else {
            COVERAGE_INC(psp_rx_drop);
        }
    } else if (tx) {
        COVERAGE_INC(psp_tx_sealed);
    } else {
        COVERAGE_INC(psp_rx_opened);
    }
    return error;
}

static enum psp_error
psp_dp_push__(struct psp_dp_thread *t, struct dp_packet *packet,
              const void *header, size_t header_len, bool csum)
{
    const struct eth_header *eth = header;
    bool outer_v6 = eth->eth_type == htons(ETH_TYPE_IPV6);
    size_t outer_ip_len = outer_v6 ? IPV6_HEADER_LEN : IP_HEADER_LEN;
    size_t psp_ofs = ETH_HEADER_LEN + outer_ip_len + UDP_HEADER_LEN;
    const uint8_t *tmpl = (const uint8_t *) header;

    if (header_len < psp_ofs + PSP_HDR_LEN) {
        return PSP_E_TX_INNER;
    }
    size_t hdr_len = header_len - psp_ofs;

    /* The inner packet: an IP packet, as long as its header says (Ethernet
     * padding is not payload). */
    const uint8_t *inner = dp_packet_data(packet);
    size_t size = dp_packet_size(packet);
    size_t inner_len;
    uint8_t next_hdr;
    if (size >= IP_HEADER_LEN && inner[0] >> 4 == 4) {
        inner_len = (inner[2] << 8) | inner[3];
        next_hdr = PSP_NH_IPV4;
        if (inner_len < IP_HEADER_LEN) {
            return PSP_E_TX_INNER;
        }
    } else if (size >= IPV6_HEADER_LEN && inner[0] >> 4 == 6) {
        inner_len = IPV6_HEADER_LEN + ((inner[4] << 8) | inner[5]);
        next_hdr = PSP_NH_IPV6;
    } else {
        return PSP_E_TX_INNER;
    }
    if (inner_len > size) {
        return PSP_E_TX_INNER;
    }

    /* The SA, by outer destination and association. */
    struct in6_addr remote;
    if (outer_v6) {
        memcpy(&remote, tmpl + ETH_HEADER_LEN + 24, sizeof remote);
    } else {
        ovs_be32 ip4;
        memcpy(&ip4, tmpl + ETH_HEADER_LEN + 16, sizeof ip4);
        addr_set_mapped(&remote, ip4);
    }
    const struct psp_tx_sa *sa = tx_sa_lookup(t, &remote,
                                              psp_dp_header_assoc(tmpl
                                                                  + psp_ofs));
    if (!sa) {
        return PSP_E_NO_SA;
    }
    unsigned int port_version = (tmpl[psp_ofs + 3] >> 2) & 0xf;
    if (port_version != PSP_DP_VERSION_ANY
        && port_version != sa->key.version) {
        return PSP_E_KEY_VERSION;
    }

    /* The outer IP length must hold the encrypted packet, and the egress
     * port's MTU (the template's SPI field) must let it through: what the
     * underlay would refuse is not sealed. */
    size_t outer_len = header_len - ETH_HEADER_LEN + inner_len + PSP_ICV_LEN;
    ovs_be32 mtu;
    memcpy(&mtu, tmpl + psp_ofs + 4, sizeof mtu);
    if (outer_len - (outer_v6 ? IPV6_HEADER_LEN : 0) > UINT16_MAX
        || (mtu && outer_len > ntohl(mtu))) {
        return PSP_E_TX_TOO_BIG;
    }

    /* Room: the ICV at the tail, the headers at the head, made here once so
     * that the pushes below never resize the packet.  DPDK and AF_XDP
     * buffers cannot grow. */
    if (inner_len < size) {
        packet_trim(packet, inner_len);
    }
    if (!packet_make_room(packet, header_len, PSP_ICV_LEN)) {
        return (packet_can_grow(packet) ? PSP_E_TX_TOO_BIG : PSP_E_NO_ROOM);
    }

    /* The source port's entropy, from the inner packet alone: once the
     * outer headers are pushed, the packet starts with them, and a hash of
     * those would change with the packet's length. */
    uint32_t hash = hash_2words(inner_flow_hash(packet, next_hdr),
                                entropy_secret);

    /* The ICV first, so that the IP and UDP lengths include it. */
    dp_packet_put_uninit(packet, PSP_ICV_LEN);
    int ip_tot_size;
    struct udp_header *udp = netdev_tnl_push_ip_header(packet, header,
                                                       header_len,
                                                       &ip_tot_size);
    udp->udp_src = htons(tnl_udp_port_min
                         + hash % (tnl_udp_port_max - tnl_udp_port_min + 1));
    udp->udp_len = htons(ip_tot_size);
    udp->udp_csum = 0;

    uint8_t *psp = (uint8_t *) (udp + 1);
    if (!packet_room_known(packet)
        || psp + hdr_len + inner_len + PSP_ICV_LEN
           != (uint8_t *) dp_packet_tail(packet)) {
        /* The push resized the packet after all: do not seal into memory
         * that may be gone.  The packet is dropped, never sent. */
        return PSP_E_NO_ROOM;
    }
    psp[0] = next_hdr;
    /* The template's S and D bits (the flow's) stay; the SA's add to them. */
    psp[3] = (psp[3] & ~0x3c) | (sa->key.version << 2) | sa->sd_bits;
    if (sa->crypt_off >= 0) {
        psp[2] = (psp[2] & ~0x3f) | sa->crypt_off;
    }
    if (sa->has_vc) {
        if (hdr_len < PSP_HDR_LEN + PSP_VC_LEN) {
            /* No room for the SA's VC in this port's header: better dropped
             * than sent without the cookie the peer expects. */
            memset(psp + hdr_len, 0, inner_len);
            return PSP_E_TX_INNER;
        }
        put_be64(psp + PSP_HDR_LEN, sa->vc);
    }
    uint64_t iv;
    enum psp_error error = psp_ivs_take(tx_ivs,
                                        CONST_CAST(struct psp_iv_gen *,
                                                   &sa->iv), &iv);
    if (error) {
        /* Stale, gone, or past the IVs reserved: never sent. */
        memset(psp + hdr_len, 0, inner_len);
        return error;
    }
    put_be32(psp + 4, sa->spi);
    put_be64(psp + 8, iv);
    error = psp_seal(t->cc, &sa->key, psp, hdr_len + inner_len);
    if (error) {
        /* Nothing of the inner packet may leave in clear. */
        memset(psp + hdr_len, 0, inner_len);
        return error;
    }

    if (csum) {
        uint32_t partial = (outer_v6
                            ? packet_csum_pseudoheader6(
                                  netdev_tnl_ipv6_hdr(dp_packet_data(packet)))
                            : packet_csum_pseudoheader(
                                  netdev_tnl_ip_hdr(dp_packet_data(packet))));
        udp->udp_csum = csum_finish(csum_continue(partial, udp,
                                                  ip_tot_size));
        if (!udp->udp_csum) {
            udp->udp_csum = htons(0xffff);
        }
    }

    size_t psp_len = hdr_len + inner_len + PSP_ICV_LEN;
    atomic_add_relaxed(CONST_CAST(atomic_uint64_t *, &sa->tx_bytes),
                       inner_len,
                       &(uint64_t) { 0 });
    psp_stats_count_tx(&t->stats, psp_len);
    return PSP_OK;
}

enum psp_error
psp_dp_push(struct dp_packet *packet, const void *header, size_t header_len,
            bool csum)
{
    struct psp_dp_thread *t = psp_dp_packet_thread();

    return psp_dp_count(t, true, psp_dp_push__(t, packet, header,
                                               header_len, csum));
}

/* Receive, in this order, so that a packet with an SPI that was not given
 * to its sender costs no key work: psp_rx_parse() parses the header and
 * checks the SPI against the master keys; rx_binding_check() finds the
 * SPI's binding (a cmap lookup) and checks it against the packet; only then
 * psp_dp_rx_open() takes the key from the thread's cache, or derives it,
 * and opens the packet.  Up to the binding check nothing allocates or takes
 * a lock: a flood of spoofed SPIs never reaches the KDF, OpenSSL's
 * allocations (and the key allocator's mutex) or the thread's key cache.
 *
 * Returns the binding of the SPI that psp_rx_parse() parsed into 'h', if
 * the SPI was given to 'src' (or to any peer) for the packet's version and,
 * if 'assoc' is nonnull, for that association; else NULL. */
static const struct psp_rx_binding *
rx_binding_check(const struct psp_hdr_info *h, const struct in6_addr *src,
                 const uint64_t *assoc)
{
    const struct psp_rx_binding *b = rx_binding_find(h->spi);

    if (!b || b->version != h->version
        || (!addr_equals(&b->peer, &in6addr_any)
            && !addr_equals(&b->peer, src))
        || (assoc && b->assoc != *assoc)) {
        return NULL;
    }
    return b;
}

/* Opens the packet whose bound SPI rx_binding_check() approved, counting
 * key derivations (a miss in the thread's key cache). */
static enum psp_error
psp_dp_rx_open(struct psp_dp_thread *t, const struct psp_mkeys *mkeys,
               uint8_t *psp, size_t psp_len, struct psp_hdr_info *h)
{
    bool derived;
    enum psp_error error = psp_rx_open(t->cc, mkeys, psp, psp_len, h,
                                       &derived);

    if (derived) {
        COVERAGE_INC(psp_rx_key_derived);
    }
    return error;
}

static enum psp_error
psp_dp_pop__(struct psp_dp_thread *t, struct dp_packet *packet,
             struct flow_tnl *tnl, uint32_t *spi, uint64_t *vc,
             uint8_t *hdr_flags)
{
    unsigned int hlen;
    struct udp_header *udp = netdev_tnl_ip_extract_tnl_md(packet, tnl, &hlen);

    if (!udp) {
        return PSP_E_TRUNCATED;
    }
    size_t l4_size = dp_packet_l4_size(packet);
    size_t udp_len = ntohs(udp->udp_len);
    if (udp_len < UDP_HEADER_LEN || udp_len > l4_size) {
        return PSP_E_TRUNCATED;
    }
    if (udp->udp_csum) {
        bool v6 = netdev_tnl_is_header_ipv6(dp_packet_data(packet));
        uint32_t partial = (v6
                            ? packet_csum_pseudoheader6(dp_packet_l3(packet))
                            : packet_csum_pseudoheader(dp_packet_l3(packet)));
        if (csum_finish(csum_continue(partial, udp, udp_len))) {
            return PSP_E_TRUNCATED;
        }
        tnl->flags |= FLOW_TNL_F_CSUM;
    }
    tnl->tp_src = udp->udp_src;
    tnl->tp_dst = udp->udp_dst;

    /* The header, and the SPI's binding: the SPI must have been given to
     * this peer for this version.  Only then any key work. */
    uint8_t *psp = (uint8_t *) (udp + 1);
    size_t psp_len = udp_len - UDP_HEADER_LEN;
    const struct psp_mkeys *mkeys = get_mkeys();
    struct psp_hdr_info h;
    enum psp_error error = psp_rx_parse(mkeys, psp, psp_len, &h);
    if (error) {
        return error;
    }
    struct in6_addr src;
    if (tnl->ip_src) {
        addr_set_mapped(&src, tnl->ip_src);
    } else {
        src = tnl->ipv6_src;
    }
    const struct psp_rx_binding *b = rx_binding_check(&h, &src, NULL);
    if (!b) {
        return PSP_E_UNBOUND_SPI;
    }
    error = psp_dp_rx_open(t, mkeys, psp, psp_len, &h);
    if (error) {
        return error;
    }

    /* Tunnel mode only: the payload is the inner IP packet. */
    const uint8_t *inner = psp + h.payload_ofs;
    size_t inner_len = h.payload_len;
    ovs_be32 packet_type;
    if (h.next_hdr == PSP_NH_IPV4 && inner_len >= IP_HEADER_LEN
        && inner[0] >> 4 == 4
        && ((inner[2] << 8) | inner[3]) == inner_len) {
        packet_type = htonl(PT_IPV4);
    } else if (h.next_hdr == PSP_NH_IPV6 && inner_len >= IPV6_HEADER_LEN
               && inner[0] >> 4 == 6
               && (IPV6_HEADER_LEN + ((inner[4] << 8) | inner[5])
                   == inner_len)) {
        packet_type = htonl(PT_IPV6);
    } else {
        return PSP_E_INNER;
    }

    tnl->tun_id = htonll(b->assoc);
    tnl->flags |= FLOW_TNL_F_KEY;
    *spi = h.spi;
    *vc = h.has_vc ? h.vc : 0;
    if (hdr_flags) {
        *hdr_flags = ((h.s ? PSP_DP_HDR_S : 0) | (h.d ? PSP_DP_HDR_D : 0)
                      | (h.has_vc ? PSP_DP_HDR_V : 0));
    }
    if (h.s) {
        t->stats.rx_sample++;
        t->stats.rx_sample_drop += h.d;
    }

    /* The inner packet starts 'payload_ofs' bytes into the PSP header,
     * wherever that is: 'hlen' assumes a bare Ethernet header and no IPv4
     * options, and a VLAN tag or an option would shift it. */
    dp_packet_reset_packet(packet, (psp - (uint8_t *) dp_packet_data(packet))
                                   + h.payload_ofs);
    dp_packet_set_size(packet, inner_len);
    packet->packet_type = packet_type;
    psp_stats_count_rx(&t->stats, psp_len);
    return PSP_OK;
}

enum psp_error
psp_dp_pop(struct dp_packet *packet, struct flow_tnl *tnl, uint32_t *spi,
           uint64_t *vc, uint8_t *hdr_flags)
{
    struct psp_dp_thread *t = psp_dp_packet_thread();

    return psp_dp_count(t, false, psp_dp_pop__(t, packet, tnl, spi, vc,
                                               hdr_flags));
}

/* Transport mode. */

/* The IP header at 'packet''s L3 offset, parsed for transport mode. */
struct transport_ip {
    uint8_t *ip;
    bool v6;
    size_t hlen;                /* IP header, with IPv4 options. */
    size_t len;                 /* IP length, from the header. */
    uint8_t proto;
};

static enum psp_error
transport_ip_parse(struct dp_packet *packet, struct transport_ip *t,
                   enum psp_error bad)
{
    uint8_t *ip = dp_packet_l3(packet);
    size_t room = ip ? (const char *) dp_packet_tail(packet) - (char *) ip : 0;

    t->ip = ip;
    if (room >= IP_HEADER_LEN && ip[0] >> 4 == 4) {
        t->v6 = false;
        t->hlen = (ip[0] & 0x0f) * 4;
        t->len = (ip[2] << 8) | ip[3];
        t->proto = ip[9];
        if (t->hlen < IP_HEADER_LEN || t->len < t->hlen || t->len > room) {
            return bad;
        }
        if (((ip[6] << 8) | ip[7]) & (IP_MORE_FRAGMENTS | IP_FRAG_OFF_MASK)) {
            return PSP_E_TX_UNSUPPORTED;
        }
    } else if (room >= IPV6_HEADER_LEN && ip[0] >> 4 == 6) {
        t->v6 = true;
        t->hlen = IPV6_HEADER_LEN;
        t->len = IPV6_HEADER_LEN + ((ip[4] << 8) | ip[5]);
        t->proto = ip[6];
        if (t->len > room) {
            return bad;
        }
        if (t->proto == IPPROTO_HOPOPTS || t->proto == IPPROTO_ROUTING
            || t->proto == IPPROTO_FRAGMENT || t->proto == IPPROTO_DSTOPTS
            || t->proto == IPPROTO_AH || t->proto == IPPROTO_ESP) {
            return PSP_E_TX_UNSUPPORTED;
        }
    } else {
        return ip ? bad : PSP_E_TX_UNSUPPORTED;
    }
    /* Ethernet padding is not payload. */
    packet_trim(packet,
                (char *) ip - (char *) dp_packet_data(packet) + t->len);
    return PSP_OK;
}

/* Sets 'addr' to the source (if 'src') or destination address of the IP
 * header 't', IPv4 as v4-mapped. */
static void
transport_ip_addr(const struct transport_ip *t, bool src,
                  struct in6_addr *addr)
{
    if (t->v6) {
        memcpy(addr, t->ip + (src ? 8 : 24), sizeof *addr);
    } else {
        ovs_be32 ip4;

        memcpy(&ip4, t->ip + (src ? 12 : 16), sizeof ip4);
        addr_set_mapped(addr, ip4);
    }
}

/* Sets the length and protocol of the IP header 't' and, for IPv4, its
 * checksum. */
static void
transport_ip_set(const struct transport_ip *t, size_t len, uint8_t proto)
{
    uint8_t *ip = t->ip;

    if (t->v6) {
        len -= IPV6_HEADER_LEN;
        ip[4] = len >> 8;
        ip[5] = len;
        ip[6] = proto;
    } else {
        ip[2] = len >> 8;
        ip[3] = len;
        ip[9] = proto;
        ip[10] = ip[11] = 0;
        ovs_be16 sum = csum(ip, t->hlen);
        memcpy(ip + 10, &sum, sizeof sum);
    }
}

/* With an MTU, lowers the MSS option of a TCP SYN in 'ip' so that the
 * segments the peer sends fit in 'mtu' once 'overhead' bytes are added
 * (and fixes the TCP checksum). */
static void
clamp_tcp_mss(const struct transport_ip *ip, unsigned int mtu,
              size_t overhead)
{
    uint8_t *tcp = ip->ip + ip->hlen;
    size_t l4_len = ip->len - ip->hlen;

    if (ip->proto != IPPROTO_TCP || l4_len < TCP_HEADER_LEN
        || !(tcp[13] & 0x02)) {                 /* SYN. */
        return;
    }
    size_t thl = (tcp[12] >> 4) * 4;
    long int max = (long int) mtu - overhead - ip->hlen - TCP_HEADER_LEN;
    if (thl > l4_len || max <= 0) {
        return;
    }
    for (size_t i = TCP_HEADER_LEN; i < thl; ) {
        uint8_t kind = tcp[i];

        if (kind == 0) {                        /* End of options. */
            return;
        } else if (kind == 1) {                 /* NOP. */
            i++;
            continue;
        } else if (i + 1 >= thl || tcp[i + 1] < 2 || i + tcp[i + 1] > thl) {
            return;
        }
        if (kind == 2 && tcp[i + 1] == 4) {     /* MSS. */
            uint16_t mss = (tcp[i + 2] << 8) | tcp[i + 3];
            if (mss > max) {
                ovs_be16 old_mss = htons(mss), new_mss = htons(max);
                ovs_be16 sum;

                /* A 16-bit field at an odd offset adds to the one's
                 * complement sum byte-swapped. */
                if (i % 2) {
                    old_mss = htons(((mss & 0xff) << 8) | (mss >> 8));
                    new_mss = htons(((max & 0xff) << 8) | (max >> 8));
                }
                memcpy(&sum, tcp + 16, sizeof sum);
                sum = recalc_csum16(sum, old_mss, new_mss);
                memcpy(tcp + 16, &sum, sizeof sum);
                tcp[i + 2] = max >> 8;
                tcp[i + 3] = max;
                COVERAGE_INC(psp_tx_mss_clamped);
            }
            return;
        }
        i += tcp[i + 1];
    }
}

/* Offloads.  A packet that asks the NIC to segment it (TSO) or to finish
 * its L4 checksum cannot have that done once it is encrypted: the NIC
 * would segment ciphertext or write a checksum into it.  Checksums are
 * finished here, before sealing; TSO packets are refused (Open vSwitch
 * 3.1 has no software segmentation). */
static enum psp_error
complete_offloads(struct dp_packet *packet, const struct transport_ip *ip)
{
    if (dp_packet_hwol_is_tso(packet)) {
        return PSP_E_TX_UNSUPPORTED;
    }
    if (!dp_packet_hwol_tx_l4_checksum(packet)) {
        return PSP_OK;
    }

    uint8_t *l4 = ip->ip + ip->hlen;
    size_t l4_len = ip->len - ip->hlen;
    size_t csum_ofs;
    if (dp_packet_hwol_l4_is_tcp(packet) && l4_len >= TCP_HEADER_LEN) {
        csum_ofs = 16;
    } else if (dp_packet_hwol_l4_is_udp(packet) && l4_len >= UDP_HEADER_LEN) {
        csum_ofs = 6;
    } else if (dp_packet_hwol_l4_is_sctp(packet) && l4_len >= 12) {
        ovs_be32 crc;

        memset(l4 + 8, 0, 4);
        crc = crc32c(l4, l4_len);
        memcpy(l4 + 8, &crc, sizeof crc);
        goto done;
    } else {
        return PSP_E_TX_INNER;
    }

    ovs_be16 sum = 0;
    memcpy(l4 + csum_ofs, &sum, sizeof sum);
    uint32_t partial = (ip->v6
                        ? packet_csum_pseudoheader6(
                              ALIGNED_CAST(struct ovs_16aligned_ip6_hdr *,
                                           ip->ip))
                        : packet_csum_pseudoheader(
                              ALIGNED_CAST(struct ip_header *, ip->ip)));
    sum = csum_finish(csum_continue(partial, l4, l4_len));
    if (!sum && csum_ofs == 6) {
        sum = htons(0xffff);    /* UDP: 0 means no checksum. */
    }
    memcpy(l4 + csum_ofs, &sum, sizeof sum);

done:
    *dp_packet_ol_flags_ptr(packet) &= ~DP_PACKET_OL_TX_L4_MASK;
    COVERAGE_INC(psp_tx_csum_completed);
    return PSP_OK;
}

static enum psp_error
psp_dp_encrypt__(struct psp_dp_thread *t, struct dp_packet *packet,
                 uint64_t assoc, int crypt_off, unsigned int mtu)
{
    struct transport_ip ip;
    enum psp_error error = transport_ip_parse(packet, &ip, PSP_E_TX_INNER);

    if (error) {
        return error;
    }

    /* An IP-in-IP packet would carry Next Header 4 or 41, which the
     * receiver reads as tunnel mode: transport mode cannot say it. */
    if (ip.proto == IPPROTO_IPIP || ip.proto == IPPROTO_IPV6) {
        return PSP_E_TX_UNSUPPORTED;
    }

    struct in6_addr remote;
    transport_ip_addr(&ip, false, &remote);
    const struct psp_tx_sa *sa = tx_sa_lookup(t, &remote, assoc);
    if (!sa) {
        return PSP_E_NO_SA;
    }

    size_t hdr_len = psp_hdr_len(sa->has_vc);
    size_t grow = UDP_HEADER_LEN + hdr_len;
    size_t l4_len = ip.len - ip.hlen;
    size_t new_len = ip.len + grow + PSP_ICV_LEN;
    if (crypt_off < 0) {
        crypt_off = sa->crypt_off >= 0 ? sa->crypt_off : 0;
    }
    if ((mtu && new_len > mtu)
        || new_len - (ip.v6 ? IPV6_HEADER_LEN : 0) > UINT16_MAX) {
        return PSP_E_TX_TOO_BIG;
    }
    error = complete_offloads(packet, &ip);
    if (error) {
        return error;
    }
    if (mtu) {
        clamp_tcp_mss(&ip, mtu, grow + PSP_ICV_LEN);
    }
    if (psp_version_is_gmac(sa->key.version)) {
        crypt_off = 0;
    } else {
        /* A short packet gets what fits of the cleartext asked for. */
        crypt_off = MIN(crypt_off, (hdr_len - PSP_HDR_LEN + l4_len) / 4);
    }

    /* Room for UDP and the PSP header after the IP header, and the ICV. */
    if (!packet_make_room(packet, grow, PSP_ICV_LEN)) {
        return (packet_can_grow(packet) ? PSP_E_TX_TOO_BIG : PSP_E_NO_ROOM);
    }
    ip.ip = dp_packet_l3(packet);
    size_t head = ip.ip - (uint8_t *) dp_packet_data(packet) + ip.hlen;
    dp_packet_put_uninit(packet, PSP_ICV_LEN);
    uint8_t *data = dp_packet_push_uninit(packet, grow);
    memmove(data, data + grow, head);
    ip.ip = dp_packet_l3(packet);   /* Offsets are from the data: unchanged. */

    uint8_t *l4 = ip.ip + ip.hlen + grow;
    uint32_t hash = hash_bytes(ip.ip + (ip.v6 ? 8 : 12), ip.v6 ? 32 : 8,
                               ip.proto);
    if ((ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP
         || ip.proto == IPPROTO_SCTP) && l4_len >= 4) {
        hash = hash_bytes(l4, 4, hash);
    }
    hash = hash_2words(hash, entropy_secret);

    struct udp_header *udp = ALIGNED_CAST(struct udp_header *,
                                          ip.ip + ip.hlen);
    udp->udp_src = htons(tnl_udp_port_min
                         + hash % (tnl_udp_port_max - tnl_udp_port_min + 1));
    udp->udp_dst = htons(PSP_DEFAULT_UDP_PORT);
    udp->udp_len = htons(UDP_HEADER_LEN + hdr_len + l4_len + PSP_ICV_LEN);
    udp->udp_csum = 0;

    uint8_t *psp = (uint8_t *) (udp + 1);
    uint64_t iv;
    error = psp_ivs_take(tx_ivs, CONST_CAST(struct psp_iv_gen *, &sa->iv),
                         &iv);
    if (error) {
        /* Stale, gone, or past the IVs reserved: never sent. */
        memset(psp, 0, hdr_len + l4_len);
        return error;
    }
    struct psp_hdr_info h = {
        .next_hdr = ip.proto,
        .version = sa->key.version,
        .crypt_off = crypt_off,
        .has_vc = sa->has_vc,
        .vc = sa->vc,
        .s = (sa->sd_bits & PSP_DP_HDR_S) != 0,
        .d = (sa->sd_bits & PSP_DP_HDR_D) != 0,
        .spi = sa->spi,
        .iv = iv,
    };
    psp_hdr_write(psp, &h);
    error = psp_seal(t->cc, &sa->key, psp, hdr_len + l4_len);
    if (error) {
        /* Nothing of the packet may leave in clear. */
        memset(psp + PSP_HDR_LEN, 0, hdr_len - PSP_HDR_LEN + l4_len);
        return error;
    }
    transport_ip_set(&ip, new_len, IPPROTO_UDP);

    atomic_add_relaxed(CONST_CAST(atomic_uint64_t *, &sa->tx_bytes), l4_len,
                       &(uint64_t) { 0 });
    psp_stats_count_tx(&t->stats, hdr_len + l4_len + PSP_ICV_LEN);
    return PSP_OK;
}

enum psp_error
psp_dp_encrypt(struct dp_packet *packet, uint64_t assoc, int crypt_off,
               unsigned int mtu)
{
    struct psp_dp_thread *t = psp_dp_packet_thread();

    return psp_dp_count(t, true, psp_dp_encrypt__(t, packet, assoc,
                                                  crypt_off, mtu));
}

static enum psp_error
psp_dp_decrypt__(struct psp_dp_thread *t, struct dp_packet *packet,
                 const uint64_t *assoc, struct psp_dp_rx_info *info)
{
    struct transport_ip ip;
    enum psp_error error = transport_ip_parse(packet, &ip, PSP_E_TRUNCATED);

    if (error) {
        return error == PSP_E_TX_UNSUPPORTED ? PSP_E_NOT_PSP : error;
    }
    size_t udp_len = ip.len - ip.hlen;
    struct udp_header *udp = ALIGNED_CAST(struct udp_header *,
                                          ip.ip + ip.hlen);
    if (ip.proto != IPPROTO_UDP || udp_len < UDP_HEADER_LEN
        || udp->udp_dst != htons(PSP_DEFAULT_UDP_PORT)) {
        return PSP_E_NOT_PSP;
    }
    if (ntohs(udp->udp_len) != udp_len) {
        return PSP_E_TRUNCATED;
    }
    if (udp->udp_csum) {
        uint32_t partial = (ip.v6
                            ? packet_csum_pseudoheader6(
                                  ALIGNED_CAST(struct ovs_16aligned_ip6_hdr *,
                                               ip.ip))
                            : packet_csum_pseudoheader(
                                  ALIGNED_CAST(struct ip_header *, ip.ip)));
        if (csum_finish(csum_continue(partial, udp, udp_len))) {
            return PSP_E_TRUNCATED;
        }
    }

    /* The header, and the SPI's binding: the SPI must have been given to
     * this peer for this version (and association).  Only then any key
     * work. */
    uint8_t *psp = (uint8_t *) (udp + 1);
    size_t psp_len = udp_len - UDP_HEADER_LEN;
    const struct psp_mkeys *mkeys = get_mkeys();
    struct psp_hdr_info h;
    error = psp_rx_parse(mkeys, psp, psp_len, &h);
    if (error) {
        return error;
    }
    struct in6_addr src;
    transport_ip_addr(&ip, true, &src);
    const struct psp_rx_binding *b = rx_binding_check(&h, &src, assoc);
    if (!b) {
        return PSP_E_UNBOUND_SPI;
    }
    error = psp_dp_rx_open(t, mkeys, psp, psp_len, &h);
    if (error) {
        return error;
    }
    if (h.next_hdr == PSP_NH_IPV4 || h.next_hdr == PSP_NH_IPV6) {
        return PSP_E_INNER;     /* Tunnel mode: for a psp port. */
    }

    /* Strip UDP, the PSP header and the ICV; the IP header moves up. */
    size_t strip = UDP_HEADER_LEN + h.payload_ofs;
    size_t head = ip.ip - (uint8_t *) dp_packet_data(packet) + ip.hlen;
    packet_trim(packet, dp_packet_size(packet) - PSP_ICV_LEN);
    uint8_t *data = dp_packet_data(packet);
    memmove(data + strip, data, head);
    dp_packet_pull(packet, strip);
    ip.ip = dp_packet_l3(packet);
    transport_ip_set(&ip, ip.hlen + h.payload_len, h.next_hdr);

    info->spi = h.spi;
    info->version = h.version;
    info->crypt_off = h.crypt_off;
    info->hdr_flags = ((h.s ? PSP_DP_HDR_S : 0) | (h.d ? PSP_DP_HDR_D : 0)
                       | (h.has_vc ? PSP_DP_HDR_V : 0));
    info->vc = h.has_vc ? h.vc : 0;
    info->assoc = b->assoc;
    if (h.s) {
        t->stats.rx_sample++;
        t->stats.rx_sample_drop += h.d;
    }
    psp_stats_count_rx(&t->stats, psp_len);
    return PSP_OK;
}

enum psp_error
psp_dp_decrypt(struct dp_packet *packet, const uint64_t *assoc,
               struct psp_dp_rx_info *info)
{
    struct psp_dp_thread *t = psp_dp_packet_thread();

    return psp_dp_count(t, false,
                        psp_dp_decrypt__(t, packet, assoc, info));
}

/* Management. */

/* Parses 's' as an IPv4 or IPv6 address (IPv4 as v4-mapped), or "any" if
 * 'any_ok' (all-zeros). */
bool
psp_dp_parse_addr(const char *s, bool any_ok, struct in6_addr *addr)
{
    ovs_be32 ip4;

    if (any_ok && !strcmp(s, "any")) {
        memset(addr, 0, sizeof *addr);
        return true;
    } else if (ip_parse(s, &ip4)) {
        *addr = in6_addr_mapped_ipv4(ip4);
        return ip4 != 0;
    }
    return ipv6_parse(s, addr) && ipv6_addr_is_set(addr);
}

/* Parses 'hex', exactly 2 * 'n' hexadecimal digits, into 'out'. */
bool
psp_dp_parse_hex(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool ok;

        out[i] = hexits_value(hex + 2 * i, 2, &ok);
        if (!ok) {
            explicit_bzero(out, n);
            return false;
        }
    }
    return true;
}

void
psp_dp_put_hex(struct ds *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ds_put_format(s, "%02"PRIx8, p[i]);
    }
}

void
psp_dp_ds_wipe(struct ds *s)
{
    if (s->string) {
        explicit_bzero(s->string, s->allocated);
    }
    ds_destroy(s);
}

/* Management view. */

void
psp_dp_get_stats(struct psp_stats *stats)
{
    struct psp_dp_thread *t;

    psp_dp_init();
    memset(stats, 0, sizeof *stats);
    ovs_mutex_lock(&psp_dp_mutex);
    psp_stats_add(stats, &exited_stats);
    LIST_FOR_EACH (t, list_node, &threads) {
        psp_stats_add(stats, &t->stats);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    stats->key_rotations = psp_mkeys_rotations(get_mkeys());
}

/* Appends the lines of 'lines', sorted, to 's', and clears 'lines'. */
static void
put_sorted(struct ds *s, struct svec *lines)
{
    const char *line;
    size_t i;

    svec_sort(lines);
    SVEC_FOR_EACH (i, line, lines) {
        ds_put_format(s, "%s\n", line);
    }
    svec_clear(lines);
}

void
psp_dp_format(struct ds *s, bool brief)
{
    struct svec lines = SVEC_EMPTY_INITIALIZER;
    struct ds line = DS_EMPTY_INITIALIZER;
    const struct psp_tx_sa *sa;
    const struct psp_rx_binding *b;

    psp_dp_init();
    const struct psp_mkeys *mkeys = get_mkeys();
    ds_put_format(s, "master key generation %"PRIu64", %"PRIu32" SPIs "
                  "allocated in it, %"PRIu64" rotations\n",
                  psp_mkeys_active_gen(mkeys), psp_mkeys_spis_used(mkeys),
                  psp_mkeys_rotations(mkeys));
    if (brief) {
        ds_put_format(s, "transmit SAs: %"PRIuSIZE"\n"
                      "receive SPIs: %"PRIuSIZE"\n",
                      cmap_count(&tx_sas), cmap_count(&rx_bindings));
        return;
    }

    ds_put_cstr(s, "transmit SAs:\n");
    ovs_mutex_lock(&psp_dp_mutex);
    CMAP_FOR_EACH (sa, node, &tx_sas) {
        uint64_t packets, bytes;

        packets = tx_sa_packets(sa);
        atomic_read_relaxed(CONST_CAST(atomic_uint64_t *, &sa->tx_bytes),
                            &bytes);
        ds_clear(&line);
        ds_put_cstr(&line, "  remote=");
        format_addr(&line, &sa->remote);
        ds_put_format(&line, " key=%"PRIu64" spi=0x%08"PRIx32" version=%d "
                      "(%s) tx_packets=%"PRIu64" tx_bytes=%"PRIu64,
                      sa->assoc, sa->spi, sa->key.version,
                      psp_version_name(sa->key.version), packets, bytes);
        if (sa->sd_bits) {
            ds_put_cstr(&line, (sa->sd_bits & PSP_DP_HDR_D ? " sample,drop"
                                : " sample"));
        }
        if (psp_iv_gen_is_stale(&sa->iv)) {
            ds_put_cstr(&line, " stale");
        }
        svec_add(&lines, ds_cstr(&line));
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    put_sorted(s, &lines);

    ds_put_cstr(s, "receive SPIs:\n");
    CMAP_FOR_EACH (b, node, &rx_bindings) {
        ds_clear(&line);
        ds_put_format(&line, "  spi=0x%08"PRIx32" peer=", b->spi);
        format_addr(&line, &b->peer);
        ds_put_format(&line, " key=%"PRIu64" version=%d state=%s", b->assoc,
                      b->version,
                      psp_spi_state_name(psp_mkeys_spi_state(mkeys, b->spi)));
        svec_add(&lines, ds_cstr(&line));
    }
    put_sorted(s, &lines);

    svec_destroy(&lines);
    ds_destroy(&line);
}
