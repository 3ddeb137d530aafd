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

#include "psp-ovsdb-rx-sa.h"

#include <errno.h>
#include <string.h>

#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/vlog.h"
#include "ovsdb-data.h"
#include "ovsdb-idl.h"
#include "packets.h"
#include "psp-sa.h"
#include "psp-unixctl.h"
#include "psp.h"
#include "smap.h"
#include "util.h"
#include "uuid.h"
#include "vswitch-idl.h"

/* The PSP_Rx_SA table, read and written through psp-ovsdb.c's IDL: each
 * row's SPI and key allocated, its SPIs bound to the datapath for its peer
 * and association, its status written back, and its state marked as the
 * master keys rotate.  This file keeps, for each row applied, what was
 * bound for it (struct applied_rx_sa); it knows nothing of the connection,
 * the transaction or the database lock, which are psp-ovsdb.c's, nor of the
 * PSP row's master keys. */

/* This file logs as the "psp_ovsdb" module, defined in psp-ovsdb.c, like
 * the rest of ovs-vswitchd's side of the PSP tables. */
extern struct vlog_module *VLM_psp_ovsdb;
#define this_module (*VLM_psp_ovsdb)

static uint64_t marked_keys_seq;        /* Rx states marked for this. */

/* The receive SA rows this run applied, whose key in the replica is
 * overwritten once the transaction has gone out
 * (psp_ovsdb_rx_sa_wipe_keys()). */
static const struct ovsrec_psp_rx_sa **rx_touched;
static size_t n_rx_touched, allocated_rx_touched;

/* A receive SA row applied to the datapath, by row UUID.  The row owns the
 * bindings of its SPI and, after a re-key, of its old SPI (their owner in
 * the datapath is the row's UUID): nobody else can take them over, and
 * they go with the row. */
struct applied_rx_sa {
    struct hmap_node node;              /* In 'applied_rx'. */
    struct uuid uuid;
    uint32_t spi;
    uint32_t old_spi;                   /* The SPI before the last re-key,
                                         * still bound; 0: none. */
    struct in6_addr peer;
    uint64_t assoc;
    uint8_t version;
    uint64_t generation;                /* Of 'spi'. */
};

static struct hmap applied_rx = HMAP_INITIALIZER(&applied_rx);

/* What a receive SA's generation means now. */
static const char *
rx_generation_state(uint64_t gen)
{
    uint64_t active = psp_dp_active_generation();

    return (gen == active ? "active"
            : gen + 1 == active ? "rekey"
            : "stale");
}

static bool
generation_is_held(uint64_t gen)
{
    uint64_t active = psp_dp_active_generation();

    return gen == active || gen + 1 == active;
}

static struct applied_rx_sa *
applied_rx_find(const struct uuid *uuid)
{
    struct applied_rx_sa *a;

    HMAP_FOR_EACH_WITH_HASH (a, node, uuid_hash(uuid), &applied_rx) {
        if (uuid_equals(&a->uuid, uuid)) {
            return a;
        }
    }
    return NULL;
}

/* Sets 'row''s old_spi column to 'spi' (0: empty), if it says otherwise. */
static void
rx_put_old_spi(const struct ovsrec_psp_rx_sa *row, uint32_t spi)
{
    if (spi && (!row->n_old_spi || row->old_spi[0] != spi)) {
        int64_t spi64 = spi;
        ovsrec_psp_rx_sa_set_old_spi(row, &spi64, 1);
    } else if (!spi && row->n_old_spi) {
        ovsrec_psp_rx_sa_set_old_spi(row, NULL, 0);
    }
}

/* Ends the old SPI of 'a' (if nonnull): it is unbound, and 'row' (if
 * nonnull) no longer lists one. */
static void
rx_retire_old(struct applied_rx_sa *a, const struct ovsrec_psp_rx_sa *row)
{
    if (a && a->old_spi) {
        psp_dp_rx_unbind(a->old_spi, &a->uuid);
        a->old_spi = 0;
    }
    if (row) {
        rx_put_old_spi(row, 0);
    }
}

/* Forgets 'a', unbinding every SPI its row owns.  'row', its row if it is
 * still there, then lists no old SPI.  (An SPI whose generation is gone is
 * unbound already; the datapath removes only the row's own bindings, so
 * an SPI number that came round again for someone else is not touched.) */
static void
applied_rx_remove(struct applied_rx_sa *a, const struct ovsrec_psp_rx_sa *row)
{
    rx_retire_old(a, row);
    psp_dp_rx_unbind(a->spi, &a->uuid);
    hmap_remove(&applied_rx, &a->node);
    free(a);
}

/* Sets ('value' nonnull) or deletes key 'key' of string map column 'column'
 * of 'row'. */
static void
map_update(const struct ovsdb_idl_row *row,
           const struct ovsdb_idl_column *column,
           const char *key, const char *value)
{
    struct ovsdb_datum *datum = xmalloc(sizeof *datum);

    datum->n = 1;
    datum->refcnt = NULL;
    datum->keys = xmalloc(sizeof *datum->keys);
    datum->keys[0].s = ovsdb_atom_string_create(key);
    if (value) {
        datum->values = xmalloc(sizeof *datum->values);
        datum->values[0].s = ovsdb_atom_string_create(value);
        ovsdb_idl_txn_write_partial_map(row, column, datum);
    } else {
        datum->values = NULL;
        ovsdb_idl_txn_delete_partial_map(row, column, datum);
    }
}

/* Makes the 'status' column 'column' of 'row', now 'status', say 'state'
 * and 'error' (null: no error), writing nothing that is already there. */
static void
status_update(const struct ovsdb_idl_row *row,
              const struct ovsdb_idl_column *column,
              const struct smap *status, const char *state,
              const char *error)
{
    const char *old = smap_get(status, "state");
    const char *old_error = smap_get(status, "error");

    if (!old || strcmp(old, state)) {
        map_update(row, column, "state", state);
    }
    if (error ? !old_error || strcmp(old_error, error) : old_error != NULL) {
        map_update(row, column, "error", error);
    }
}

/* Records in 'a' (or a new record, if null) that 'row' is applied as 'spi'
 * of 'gen' for 'peer', and returns the record.  Its old SPI stays as it
 * was. */
static struct applied_rx_sa *
applied_rx_record(struct applied_rx_sa *a, const struct ovsrec_psp_rx_sa *row,
                  uint32_t spi, const struct in6_addr *peer, uint64_t gen)
{
    if (!a) {
        a = xzalloc(sizeof *a);
        a->uuid = row->header_.uuid;
        hmap_insert(&applied_rx, &a->node, uuid_hash(&a->uuid));
    }
    a->spi = spi;
    a->peer = *peer;
    a->assoc = row->association;
    a->version = row->version;
    a->generation = gen;
    return a;
}

static void
rx_set_state(const struct ovsrec_psp_rx_sa *row, const char *state,
             const char *error)
{
    status_update(&row->header_, &ovsrec_psp_rx_sa_col_status, &row->status,
                  state, error);
}

static void
rx_set_error(const struct ovsrec_psp_rx_sa *row, const char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    VLOG_WARN_RL(&rl, "PSP_Rx_SA "UUID_FMT": %s",
                 UUID_ARGS(&row->header_.uuid), error);
    rx_set_state(row, "error", error);
}

/* Whether ovs-vswitchd writes 'row''s key into its sa_key column
 * (publish_key true or empty).  ovs-psp-keyd's rows say false: it takes
 * the key with "ovs-appctl psp/rx-key", and sa_key stays empty. */
static bool
rx_publishes_key(const struct ovsrec_psp_rx_sa *row)
{
    return !row->n_publish_key || row->publish_key[0];
}

static void
rx_put_key(const struct ovsrec_psp_rx_sa *row, const uint8_t *key)
{
    struct ds hex = DS_EMPTY_INITIALIZER;

    psp_dp_put_hex(&hex, key, psp_version_key_len(row->version));
    ovsrec_psp_rx_sa_set_sa_key(row, ds_cstr(&hex));
    psp_dp_ds_wipe(&hex);
}

/* Sets 'row''s error: 'spi' is bound for 'holder' (all-zeros: for
 * ovs-appctl psp/alloc-spi), not for this row. */
static void
rx_set_claim_error(const struct ovsrec_psp_rx_sa *row, const char *column,
                   uint32_t spi, const struct uuid *holder)
{
    char *error = (uuid_is_zero(holder)
                   ? xasprintf("%s %"PRIu32" is bound by ovs-appctl "
                               "psp/alloc-spi, not by this row",
                               column, spi)
                   : xasprintf("%s %"PRIu32" belongs to PSP_Rx_SA "UUID_FMT,
                               column, spi, UUID_ARGS(holder)));
    rx_set_error(row, error);
    free(error);
}

/* 'row', applied as 'a' (if nonnull), was just re-keyed, for 'peer'.
 *
 * The SPI it replaces stays bound, as the row's old SPI, so that the peer
 * can switch to the new one without losing a packet: until the next
 * rotation (by which the peer must have switched, as with any re-key),
 * until the control plane clears old_spi, or until the row goes.  A row has
 * one old SPI: that of an earlier re-key goes now.  So does the replaced
 * SPI if its generation is gone, or if it was bound for another peer,
 * association or version (the row changed with the re-key). */
static void
rx_keep_old(struct applied_rx_sa *a, const struct ovsrec_psp_rx_sa *row,
            const struct in6_addr *peer)
{
    uint32_t old = 0;

    if (a) {
        rx_retire_old(a, NULL);
        if (generation_is_held(a->generation)
            && a->assoc == (uint64_t) row->association
            && a->version == row->version
            && ipv6_addr_equals(&a->peer, peer)) {
            old = a->old_spi = a->spi;
        } else {
            psp_dp_rx_unbind(a->spi, &a->uuid);
        }
    }
    rx_put_old_spi(row, old);
}

/* 'row', applied as 'a', was not applied in this process before (it has
 * just started, or the row had an error): binds its old SPI again if it
 * still may be, else clears it.  It may be only if the row's SPI is still
 * of the active generation (no rotation since the re-key), the old SPI's
 * generation is held, and no one else holds it. */
static void
rx_restore_old(struct applied_rx_sa *a, const struct ovsrec_psp_rx_sa *row)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    uint32_t old = row->n_old_spi ? row->old_spi[0] : 0;

    if (!old) {
        return;
    }

    enum psp_spi_state state = psp_dp_rx_spi_state(old);
    struct uuid holder;
    if (old != a->spi && a->generation == psp_dp_active_generation()
        && (state == PSP_SPI_ACTIVE || state == PSP_SPI_PREVIOUS)) {
        if (!psp_dp_rx_bind(old, &a->peer, a->assoc, a->version, &a->uuid,
                            &holder)) {
            a->old_spi = old;
            return;
        }
        VLOG_WARN_RL(&rl, "PSP_Rx_SA "UUID_FMT": old_spi %"PRIu32" is "
                     "bound for %s "UUID_FMT", not for this row: cleared",
                     UUID_ARGS(&row->header_.uuid), old,
                     uuid_is_zero(&holder) ? "ovs-appctl" : "PSP_Rx_SA",
                     UUID_ARGS(&holder));
    }
    rx_put_old_spi(row, 0);
}

/* Records that 'row' is applied in this run, so that the key its replica
 * holds is overwritten once the transaction has gone out. */
static void
rx_touch(const struct ovsrec_psp_rx_sa *row)
{
    if (n_rx_touched >= allocated_rx_touched) {
        rx_touched = x2nrealloc(rx_touched, &allocated_rx_touched,
                                sizeof *rx_touched);
    }
    rx_touched[n_rx_touched++] = row;
}

/* Reads 'row''s peer into '*peer' and checks the row.  Returns null if it
 * may be applied, else an error message for the caller to free. */
static char *
rx_check(const struct ovsrec_psp_rx_sa *row, struct in6_addr *peer)
{
    if (!psp_dp_parse_addr(row->peer, true, peer)) {
        return xasprintf("invalid peer \"%s\" (must be an IPv4 or IPv6 "
                         "address, or \"any\")", row->peer);
    }
    if (row->n_spi && !row->n_generation) {
        return xstrdup("spi is allocated by ovs-vswitchd: clear it to have "
                       "one allocated");
    }
    return NULL;
}

/* Allocates an SPI and key for 'row', applied as 'a' (if nonnull), which
 * has no SPI: it is new, or the control plane asks for a re-key. */
static void
rx_allocate(struct applied_rx_sa *a, const struct ovsrec_psp_rx_sa *row,
            const struct in6_addr *peer)
{
    uint8_t key[PSP_MAX_KEY_LEN];
    uint64_t gen;
    uint32_t spi;
    int error = psp_dp_rx_spi_alloc_gen(peer, row->association,
                                        row->version, &spi, key, &gen,
                                        &row->header_.uuid);
    if (error) {
        rx_set_error(row, (error == ENOSPC
                           ? "no SPI left in the active generation: "
                             "rotate the master keys"
                           : "SPI allocation failed"));
        return;
    }
    int64_t spi64 = spi, gen64 = gen;
    ovsrec_psp_rx_sa_set_spi(row, &spi64, 1);
    ovsrec_psp_rx_sa_set_generation(row, &gen64, 1);
    if (rx_publishes_key(row)) {
        rx_put_key(row, key);
    }
    explicit_bzero(key, sizeof key);
    rx_set_state(row, "active", NULL);
    rx_keep_old(a, row, peer);
    applied_rx_record(a, row, spi, peer, gen);
}

/* Whether 'row', applied as 'a' (if nonnull), must be bound again, as 'spi'
 * of 'gen' for 'peer': the row is new to this process (it restarted), or
 * the control plane changed it. */
static bool
rx_needs_bind(const struct applied_rx_sa *a,
              const struct ovsrec_psp_rx_sa *row, const struct in6_addr *peer,
              uint32_t spi, uint64_t gen)
{
    return (!a || a->spi != spi || a->assoc != (uint64_t) row->association
            || a->version != row->version || a->generation != gen
            || !ipv6_addr_equals(&a->peer, peer));
}

/* Binds 'spi' of 'gen' to 'row', applied as 'a' (if nonnull), for 'peer',
 * and returns the row's record.  The SPI may not be another row's: that one
 * keeps it, this row keeps what it had, and the return value is null. */
static struct applied_rx_sa *
rx_bind(struct applied_rx_sa *a, const struct ovsrec_psp_rx_sa *row,
        const struct in6_addr *peer, uint32_t spi, uint64_t gen)
{
    const struct uuid *uuid = &row->header_.uuid;
    struct uuid holder;

    if (psp_dp_rx_bind(spi, peer, row->association, row->version, uuid,
                       &holder)) {
        rx_set_claim_error(row, "spi", spi, &holder);
        return NULL;
    }
    if (a) {
        /* What the row had goes: the SPI it moved from, if it moved, and
         * the old SPI (unless it is now the SPI). */
        if (a->spi != spi) {
            psp_dp_rx_unbind(a->spi, uuid);
        }
        if (a->old_spi == spi) {
            a->old_spi = 0;
        }
        rx_retire_old(a, row);
    }
    return applied_rx_record(a, row, spi, peer, gen);
}

/* Brings the old SPI of 'row', applied as 'a', and its old_spi column into
 * line.  'fresh': the row was not applied in this process before.
 *
 * The old SPI is ovs-vswitchd's to write.  The control plane clears it to
 * retire the old SPI early; any other change is undone. */
static void
rx_sync_old(struct applied_rx_sa *a, const struct ovsrec_psp_rx_sa *row,
            bool fresh)
{
    uint32_t row_old = row->n_old_spi ? row->old_spi[0] : 0;

    if (fresh) {
        rx_restore_old(a, row);
    } else if (row_old != a->old_spi) {
        if (!row_old) {
            rx_retire_old(a, NULL);
        } else {
            rx_put_old_spi(row, a->old_spi);
        }
    }
}

/* Writes the key of 'row', bound as 'spi', back into the row if the row
 * lacks it and publishes its key.  The key column is ephemeral: a
 * restarted ovsdb-server lost it, publish_key became true, or the version
 * changed.  ovs-vswitchd still can derive it. */
static void
rx_restore_key(const struct ovsrec_psp_rx_sa *row, uint32_t spi)
{
    if (rx_publishes_key(row)
        && (!row->sa_key || strlen(row->sa_key)
                            != 2 * psp_version_key_len(row->version))) {
        uint8_t key[PSP_MAX_KEY_LEN];

        if (psp_dp_rx_derive(spi, row->version, key)) {
            rx_put_key(row, key);
        }
        explicit_bzero(key, sizeof key);
    }
}

/* Applies 'row', applied before as 'a' (if nonnull), whose SPI and
 * generation ovs-vswitchd allocated, for 'peer'. */
static void
rx_apply_allocated(struct applied_rx_sa *a,
                   const struct ovsrec_psp_rx_sa *row,
                   const struct in6_addr *peer)
{
    uint32_t spi = row->spi[0];
    uint64_t gen = row->generation[0];

    if (!generation_is_held(gen)) {
        rx_set_state(row, "stale", NULL);
        if (a) {
            applied_rx_remove(a, row);
        } else {
            rx_put_old_spi(row, 0);
        }
        return;
    }

    bool fresh = !a;
    if (rx_needs_bind(a, row, peer, spi, gen)) {
        a = rx_bind(a, row, peer, spi, gen);
        if (!a) {
            return;
        }
    }
    rx_sync_old(a, row, fresh);
    rx_restore_key(row, spi);
    rx_set_state(row, rx_generation_state(gen), NULL);
}

static void
rx_apply(const struct ovsrec_psp_rx_sa *row)
{
    struct applied_rx_sa *a = applied_rx_find(&row->header_.uuid);
    struct in6_addr peer;
    char *error;

    rx_touch(row);
    if (row->sa_key && !rx_publishes_key(row)) {
        /* The key of this row never passes through the database: whoever
         * wrote sa_key (ovs-vswitchd before publish_key became false, or
         * anyone else), it goes. */
        ovsrec_psp_rx_sa_set_sa_key(row, NULL);
    }
    error = rx_check(row, &peer);
    if (error) {
        rx_set_error(row, error);
        free(error);
        if (a) {
            applied_rx_remove(a, row);
        }
    } else if (!row->n_spi) {
        rx_allocate(a, row, &peer);
    } else {
        rx_apply_allocated(a, row, &peer);
    }
}

static bool
rx_has_error(const struct ovsrec_psp_rx_sa *row)
{
    const char *state = smap_get(&row->status, "state");

    return state && !strcmp(state, "error");
}

void
psp_ovsdb_rx_sa_run(struct ovsdb_idl *idl, bool all)
{
    const struct ovsrec_psp_rx_sa *row;

    if (all) {
        /* Rows gone while we were not looking. */
        struct applied_rx_sa *a;
        HMAP_FOR_EACH_SAFE (a, node, &applied_rx) {
            if (!ovsrec_psp_rx_sa_get_for_uuid(idl, &a->uuid)) {
                applied_rx_remove(a, NULL);
            }
        }

        /* Rows with an error last: one whose SPI was refused because
         * another row holds it must not get it now that, after a restart,
         * nothing is bound yet. */
        const struct ovsrec_psp_rx_sa **later = NULL;
        size_t n_later = 0, allocated_later = 0;
        OVSREC_PSP_RX_SA_FOR_EACH (row, idl) {
            if (!rx_has_error(row)) {
                rx_apply(row);
            } else {
                if (n_later >= allocated_later) {
                    later = x2nrealloc(later, &allocated_later,
                                       sizeof *later);
                }
                later[n_later++] = row;
            }
        }
        for (size_t i = 0; i < n_later; i++) {
            rx_apply(later[i]);
        }
        free(later);
        return;
    }

    OVSREC_PSP_RX_SA_FOR_EACH_TRACKED (row, idl) {
        if (ovsrec_psp_rx_sa_is_deleted(row)) {
            struct applied_rx_sa *a = applied_rx_find(&row->header_.uuid);
            if (a && !ovsrec_psp_rx_sa_get_for_uuid(idl, &a->uuid)) {
                applied_rx_remove(a, NULL);
            }
        }
    }
    OVSREC_PSP_RX_SA_FOR_EACH_TRACKED (row, idl) {
        if (!ovsrec_psp_rx_sa_is_deleted(row)) {
            rx_apply(row);
        }
    }
}

/* After the keys changed: each row's state, from its generation.  A
 * rotation ends the old SPIs of re-keys done before it. */
static void
rx_mark_states(struct ovsdb_idl *idl)
{
    const struct ovsrec_psp_rx_sa *row;
    struct applied_rx_sa *a;

    OVSREC_PSP_RX_SA_FOR_EACH (row, idl) {
        if (row->n_spi && row->n_generation && !rx_has_error(row)) {
            rx_set_state(row, rx_generation_state(row->generation[0]), NULL);
            if (!generation_is_held(row->generation[0])) {
                a = applied_rx_find(&row->header_.uuid);
                if (a) {
                    applied_rx_remove(a, row);
                }
            }
        }
    }

    uint64_t active = psp_dp_active_generation();
    HMAP_FOR_EACH (a, node, &applied_rx) {
        if (a->old_spi && a->generation != active) {
            rx_retire_old(a, ovsrec_psp_rx_sa_get_for_uuid(idl, &a->uuid));
        }
    }
    marked_keys_seq = psp_dp_keys_seq();
}

void
psp_ovsdb_rx_sa_mark_states(struct ovsdb_idl *idl, bool all)
{
    if (all || marked_keys_seq != psp_dp_keys_seq()) {
        rx_mark_states(idl);
    }
}

void
psp_ovsdb_rx_sa_wipe_keys(void)
{
    for (size_t i = 0; i < n_rx_touched; i++) {
        psp_ovsdb_wipe_replica_string(rx_touched[i]->sa_key);
    }
    n_rx_touched = 0;
}

void
psp_ovsdb_rx_sa_destroy(void)
{
    free(rx_touched);
    rx_touched = NULL;
    n_rx_touched = allocated_rx_touched = 0;

    /* The datapath keeps its SAs until the process exits. */
    struct applied_rx_sa *r;
    HMAP_FOR_EACH_POP (r, node, &applied_rx) {
        free(r);
    }
}
