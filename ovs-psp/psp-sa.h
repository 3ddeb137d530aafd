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

#ifndef PSP_SA_H
#define PSP_SA_H 1

/* The security state of the PSP datapath: the device's master keys, its
 * transmit SAs and its receive SPI bindings, as those who install and
 * remove them see it (ovs-psp/psp-ovsdb*.c, ovs-psp/psp-unixctl.c).
 *
 * The transmit SAs are in psp-tx-sa.c, the master keys and receive SPI
 * bindings in psp-rx-sa.c, and what they share (the lock, the per-thread
 * state and counters) in psp-sa.c.  The packet path reads the same state
 * through psp-sa-private.h; the packets themselves are sealed and opened in
 * psp-tunnel.c and psp-transport.c.
 *
 * Threads: the SA tables are cmaps read without locks; writers serialize on
 * an internal mutex and free replaced entries after an RCU grace period.
 * Each thread has its own cipher contexts and counters. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openvswitch/uuid.h"
#include "psp.h"

struct psp_ivs;

void psp_dp_init(void);

/* Transmit SAs, keyed by the remote tunnel endpoint (IPv4 as v4-mapped) and
 * the association.  Installing over an existing SA re-keys it; installing it
 * again as it is changes nothing.  Returns 0, EINVAL (bad SPI, version or
 * key length), ENOMEM, or EEXIST if another SA has the same key (logged and
 * counted, coverage psp_tx_sa_key_in_use): their IVs would repeat GCM
 * nonces.  (The same owner may move its SA: see psp_dp_tx_opts.)
 *
 * The SA's IVs start past every IV given under its key before, in this
 * process or an earlier one (ovs-psp/psp-iv.h). */
int psp_dp_tx_sa_set(const struct in6_addr *remote, uint64_t assoc,
                     uint32_t spi, enum psp_version,
                     const uint8_t *key, size_t key_len);
bool psp_dp_tx_sa_del(const struct in6_addr *remote, uint64_t assoc);

/* Per-SA overrides of the port's header options, and who installs the SA. */
struct psp_dp_tx_opts {
    int crypt_off;              /* 0 to 63, or -1: the port's. */
    bool has_vc;                /* Send this VC; the port must have vc set,
                                 * else the SA's packets are dropped. */
    uint64_t vc;
    bool sample;                /* Set the S bit. */
    bool drop_after_sample;     /* Set the D bit (with 'sample'). */

    /* The owner's bookkeeping, kept in the SA so that the owner needs no
     * memory of its own per SA: its identity (psp-ovsdb: the database row;
     * all-zeros: none, e.g. ovs-appctl psp/tx-sa-set) and a marker it uses
     * to find the SAs it no longer has (psp_dp_tx_sa_sweep()).  An SA whose
     * key is that of another SA of the same (nonzero) owner takes that key
     * over, as a database row does when its remote or association changes:
     * the other SA sends no more, and the owner removes it next. */
    struct uuid owner;
    uint8_t owner_epoch;
};
int psp_dp_tx_sa_set_opts(const struct in6_addr *remote, uint64_t assoc,
                          uint32_t spi, enum psp_version,
                          const uint8_t *key, size_t key_len,
                          const struct psp_dp_tx_opts *);

/* The packets and bytes (payload, without the PSP header and ICV) sent on
 * the SA of 'remote' and 'assoc'.  Returns false if there is none. */
bool psp_dp_tx_sa_get_stats(const struct in6_addr *remote, uint64_t assoc,
                            uint64_t *packets, uint64_t *bytes);

/* Marks the SA of 'remote' and 'assoc' stale: the receiver's master key
 * generation that its key comes from is gone, so that the receiver would
 * drop what it sends.  Its packets are dropped and counted as stale-sa
 * (PSP_E_SA_STALE) until it is re-keyed (installed again).  Returns false
 * if there is no such SA. */
bool psp_dp_tx_sa_set_stale(const struct in6_addr *remote, uint64_t assoc);
size_t psp_dp_tx_sa_count(void);

/* Whether there is an SA for 'remote' and 'assoc', found as the datapath
 * finds it (through the calling thread's cache of SAs): for benchmarks. */
bool psp_dp_tx_sa_lookup(const struct in6_addr *remote, uint64_t assoc);

/* What the SA of 'remote' and 'assoc' was installed with (not its key).
 * Returns false if there is none. */
struct psp_dp_tx_info {
    uint32_t spi;
    enum psp_version version;
    struct psp_dp_tx_opts opts;
    bool stale;                 /* psp_dp_tx_sa_set_stale(). */
};
bool psp_dp_tx_sa_get_info(const struct in6_addr *remote, uint64_t assoc,
                           struct psp_dp_tx_info *);

/* If the SA of 'remote' and 'assoc' belongs to 'owner', sets its marker to
 * 'epoch' (and makes psp_dp_tx_sa_report() report it again) or deletes
 * it.  Returns false if it does not belong to 'owner'. */
bool psp_dp_tx_sa_set_epoch(const struct in6_addr *remote, uint64_t assoc,
                            const struct uuid *owner, uint8_t epoch);
bool psp_dp_tx_sa_del_owned(const struct in6_addr *remote, uint64_t assoc,
                            const struct uuid *owner);

/* Deletes every SA that has an owner and a marker other than 'epoch'.
 * Returns how many. */
size_t psp_dp_tx_sa_sweep(uint8_t epoch);

/* Calls 'cb' with the counters of every SA that has an owner and sent
 * packets since the last report (or since it was installed or marked). */
typedef void psp_dp_tx_report_cb(const struct uuid *owner, uint64_t packets,
                                 uint64_t bytes, void *aux);
void psp_dp_tx_sa_report(psp_dp_tx_report_cb *, void *aux);

/* Receive SPI bindings.  A binding says that packets with an SPI may come
 * from a peer (or any, if 'peer' is all-zeros), for an association, with
 * one version; a packet that does not fit its SPI's binding is dropped as
 * unbound, whatever its key.  Each binding belongs to one owner: a database
 * row (its UUID), or none ('owner' null or all-zeros: ovs-appctl
 * psp/alloc-spi).  Only its owner replaces or removes it.
 *
 * psp_dp_rx_spi_alloc() allocates a receive SPI, bound with no owner, and
 * derives its key ('key' has room for 32 bytes).  Returns 0 or an errno
 * value.  psp_dp_rx_spi_alloc_gen() also stores the SPI's master key
 * generation in '*gen' if nonnull, and binds it to 'owner'. */
int psp_dp_rx_spi_alloc(const struct in6_addr *peer, uint64_t assoc,
                        enum psp_version, uint32_t *spi, uint8_t *key);
int psp_dp_rx_spi_alloc_gen(const struct in6_addr *peer, uint64_t assoc,
                            enum psp_version, uint32_t *spi, uint8_t *key,
                            uint64_t *gen, const struct uuid *owner);

/* Binds 'spi', allocated earlier (by this process or one whose master keys
 * were imported), for 'owner', replacing the owner's binding of 'spi' if it
 * has one.  Returns 0, or EBUSY if 'spi' is bound for another owner (which
 * it stores in '*holder', if nonnull; all-zeros: none), whose binding
 * stays.  psp_dp_rx_unbind() removes the binding of 'spi' if it belongs to
 * 'owner', and returns whether it did. */
int psp_dp_rx_bind(uint32_t spi, const struct in6_addr *peer,
                   uint64_t assoc, enum psp_version,
                   const struct uuid *owner, struct uuid *holder);
bool psp_dp_rx_unbind(uint32_t spi, const struct uuid *owner);

/* The bindings that have no owner, for the one who keeps them across a
 * restart: psp_dp_rx_unowned_walk() calls 'cb' for each, and
 * psp_dp_rx_unowned_seq() changes whenever they do. */
typedef void psp_dp_rx_binding_cb(uint32_t spi, const struct in6_addr *peer,
                                  uint64_t assoc, enum psp_version,
                                  void *aux);
void psp_dp_rx_unowned_walk(psp_dp_rx_binding_cb *, void *aux);
uint64_t psp_dp_rx_unowned_seq(void);

/* The state of receive SPI 'spi' under the current master keys, and its key
 * for 'version' (whatever its state; false if OpenSSL failed). */
enum psp_spi_state psp_dp_rx_spi_state(uint32_t spi);
bool psp_dp_rx_derive(uint32_t spi, enum psp_version, uint8_t *key);

/* The key of receive SPI 'spi', if it is bound (by its owner, whoever that
 * is) and its generation is held: derives it into 'key' (room for 32
 * bytes) for the version 'spi' is bound for, which it stores in
 * '*version'.  Returns 0, ENOENT if 'spi' is not bound, or EIO if OpenSSL
 * failed. */
int psp_dp_rx_key(uint32_t spi, uint8_t *key, enum psp_version *version);

/* Rotates the master keys.  Returns false if no random key could be had. */
bool psp_dp_rotate(void);

/* Master-key state.  psp_dp_keys_seq() changes whenever the keys do
 * (rotation, import, reset).  Export and import carry the whole state, keys
 * included, to and from a restarted process; reset starts afresh with new
 * random keys whose active generation is 'active'.  Import and reset remove
 * every SPI binding (made under other keys): the caller binds again those
 * of the imported keys. */
uint64_t psp_dp_keys_seq(void);
uint64_t psp_dp_active_generation(void);
uint32_t psp_dp_spis_used(void);
void psp_dp_keys_export(struct psp_mkeys_state *);
bool psp_dp_keys_import(const struct psp_mkeys_state *);
bool psp_dp_keys_reset(uint64_t active);

/* Keeps the mark of the transmit SAs' IVs in 'path' (ovs-vswitchd: in its
 * database directory), so that IVs never repeat across restarts; without
 * it, they do not repeat within the process.  See ovs-psp/psp-iv.h. */
void psp_dp_set_iv_state_file(const char *path);
struct psp_ivs *psp_dp_ivs(void);

/* For tests only (ovs-vswitchd --enable-dummy): replaces the master keys by
 * 'key0' and 'key1', with which any SPI is accepted, and binds 'spi' to
 * 'peer' and 'assoc' as if it had been allocated, so that packets encrypted
 * elsewhere (e.g. the reference vectors) can be received, with no owner
 * (as psp_dp_rx_bind()).  Returns false if the keys could not be installed,
 * EBUSY if 'spi' has an owner. */
bool psp_dp_test_set_master_keys(const uint8_t key0[PSP_MASTER_KEY_LEN],
                                 const uint8_t key1[PSP_MASTER_KEY_LEN]);
int psp_dp_test_bind_spi(uint32_t spi, const struct in6_addr *peer,
                         uint64_t assoc, enum psp_version);

/* Testing only: the next packet on the SA of 'remote' and 'assoc' gets IV
 * 'iv' (the reference vectors' first packet has IV 1).  Returns false if
 * there is no such SA. */
bool psp_dp_test_set_iv(const struct in6_addr *remote, uint64_t assoc,
                        uint64_t iv);

/* Counters of all threads. */
void psp_dp_get_stats(struct psp_stats *);

/* For the operator's view (psp_dp_format()).  psp_dp_tx_sa_walk() calls
 * 'cb' for every transmit SA with what it was installed with and its
 * counters, holding the SA tables' mutex ('cb' must not call back in);
 * psp_dp_rx_walk() calls 'cb' for every receive SPI binding, without a
 * lock.  psp_dp_rx_count() is the number of bindings,
 * psp_dp_key_rotations() that of master key rotations. */
typedef void psp_dp_tx_sa_cb(const struct in6_addr *remote, uint64_t assoc,
                             const struct psp_dp_tx_info *,
                             uint64_t packets, uint64_t bytes, void *aux);
void psp_dp_tx_sa_walk(psp_dp_tx_sa_cb *, void *aux);
void psp_dp_rx_walk(psp_dp_rx_binding_cb *, void *aux);
size_t psp_dp_rx_count(void);
uint64_t psp_dp_key_rotations(void);

#endif /* psp-sa.h */
