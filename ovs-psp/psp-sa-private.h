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

#ifndef PSP_SA_PRIVATE_H
#define PSP_SA_PRIVATE_H 1

/* The SA state as the packet path sees it: for the files of the PSP
 * datapath only (psp-sa.c, psp-tx-sa.c, psp-rx-sa.c, which keep it, and
 * psp-packet.c, psp-tunnel.c, psp-transport.c, which use it per packet).
 * The rest of Open vSwitch installs and removes SAs through psp-sa.h. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmap.h"
#include "openvswitch/hmap.h"
#include "openvswitch/list.h"
#include "openvswitch/thread.h"
#include "openvswitch/util.h"
#include "openvswitch/uuid.h"
#include "ovs-atomic.h"
#include "psp-iv.h"
#include "psp.h"

/* Serializes the writers of the SA tables and master keys (psp-tx-sa.c,
 * psp-rx-sa.c) and guards the list of threads (psp-sa.c). */
extern struct ovs_mutex psp_dp_mutex;

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

/* Threads (psp-sa.c).  psp_dp_thread_get() returns the calling thread's
 * state, psp_dp_packet_thread() the same after psp_dp_init(), for a
 * packet.  The secret salts the UDP source ports. */
struct psp_dp_thread *psp_dp_thread_get(void);
struct psp_dp_thread *psp_dp_packet_thread(void);
uint32_t psp_sa_entropy_secret(void);

/* Transmit SAs (psp-tx-sa.c).  psp_dp_init() calls psp_tx_sa_init() once.
 * psp_tx_sa_lookup() finds the SA of 'remote' and 'assoc' through 't''s
 * cache; psp_tx_sa_take_iv() takes the next IV of 'sa', or fails if 'sa'
 * may send no more. */
void psp_tx_sa_init(void);
const struct psp_tx_sa *psp_tx_sa_lookup(struct psp_dp_thread *t,
                                         const struct in6_addr *remote,
                                         uint64_t assoc);
enum psp_error psp_tx_sa_take_iv(const struct psp_tx_sa *, uint64_t *iv);

/* Master keys and receive SPI bindings (psp-rx-sa.c).  psp_dp_init() calls
 * psp_rx_sa_init() once.  psp_rx_mkeys() returns the current master keys,
 * good until the calling thread quiesces. */
void psp_rx_sa_init(void);
struct psp_mkeys *psp_rx_mkeys(void);
const struct psp_rx_binding *psp_rx_binding_check(
    const struct psp_hdr_info *, const struct in6_addr *src,
    const uint64_t *assoc);

#endif /* psp-sa-private.h */
