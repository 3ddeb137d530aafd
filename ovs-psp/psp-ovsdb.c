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

#include "psp-ovsdb.h"

#include <errno.h>
#include <string.h>

#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovsdb-data.h"
#include "ovsdb-idl.h"
#include "packets.h"
#include "psp-dp.h"
#include "psp.h"
#include "smap.h"
#include "timeval.h"
#include "util.h"
#include "uuid.h"
#include "vswitch-idl.h"

VLOG_DEFINE_THIS_MODULE(psp_ovsdb);

/* How often transmit SA statistics are written back, in ms. */
#define STATS_INTERVAL 5000

static struct ovsdb_idl *idl;
static struct ovsdb_idl_txn *txn;       /* In flight, or null. */
static bool keys_taken_over;            /* First sync with the database done. */
static bool resync;                     /* Process every row, not only the
                                         * changed ones. */
static uint64_t published_keys_seq;
static uint32_t published_spis_used;
static uint64_t marked_keys_seq;        /* Rx states marked for this. */
static long long int last_rotation;     /* Wall clock, ms; 0 = never. */
static long long int next_stats;

/* A transmit SA applied to the datapath, by row UUID and by (remote,
 * association), with what it was applied from. */
struct applied_tx_sa {
    struct hmap_node uuid_node;         /* In 'applied_tx_by_uuid'. */
    struct hmap_node sa_node;           /* In 'applied_tx_by_sa'. */
    struct uuid uuid;
    struct in6_addr remote;
    uint64_t assoc;
    uint32_t spi;
    uint8_t version;
    int8_t crypt_off;                   /* -1: none. */
    bool has_vc;
    uint64_t vc;
    uint64_t stats_packets;             /* As last written back. */
    uint64_t stats_bytes;
};

static struct hmap applied_tx_by_uuid = HMAP_INITIALIZER(&applied_tx_by_uuid);
static struct hmap applied_tx_by_sa = HMAP_INITIALIZER(&applied_tx_by_sa);

/* A receive SPI bound in the datapath, by row UUID. */
struct applied_rx_sa {
    struct hmap_node node;              /* In 'applied_rx'. */
    struct uuid uuid;
    uint32_t spi;
    struct in6_addr peer;
    uint64_t assoc;
    uint8_t version;
    uint64_t generation;
};

static struct hmap applied_rx = HMAP_INITIALIZER(&applied_rx);

static void
omit_table(struct ovsdb_idl *bridge_idl, struct ovsdb_idl_column *columns,
           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ovsdb_idl_omit(bridge_idl, &columns[i]);
    }
}

void
psp_ovsdb_init(struct ovsdb_idl *bridge_idl, const char *remote)
{
    omit_table(bridge_idl, ovsrec_psp_columns, OVSREC_PSP_N_COLUMNS);
    omit_table(bridge_idl, ovsrec_psp_rx_sa_columns,
               OVSREC_PSP_RX_SA_N_COLUMNS);
    omit_table(bridge_idl, ovsrec_psp_tx_sa_columns,
               OVSREC_PSP_TX_SA_N_COLUMNS);

    idl = ovsdb_idl_create(remote, &ovsrec_idl_class, false, true);
    ovsdb_idl_set_leader_only(idl, false);

    ovsdb_idl_add_table(idl, &ovsrec_table_psp);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_master_keys);
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_col_master_keys);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_key_state);
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_col_key_state);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_rotate_to);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_status);
    ovsdb_idl_omit_alert(idl, &ovsrec_psp_col_status);

    /* Inputs are tracked; what ovs-vswitchd writes wakes nobody up. */
    ovsdb_idl_add_table(idl, &ovsrec_table_psp_rx_sa);
    static const struct ovsdb_idl_column *rx_in[] = {
        &ovsrec_psp_rx_sa_col_peer, &ovsrec_psp_rx_sa_col_association,
        &ovsrec_psp_rx_sa_col_version, &ovsrec_psp_rx_sa_col_spi,
        &ovsrec_psp_rx_sa_col_sa_key, &ovsrec_psp_rx_sa_col_generation,
    };
    for (size_t i = 0; i < ARRAY_SIZE(rx_in); i++) {
        ovsdb_idl_add_column(idl, rx_in[i]);
        ovsdb_idl_track_add_column(idl, rx_in[i]);
    }
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_status);
    ovsdb_idl_omit_alert(idl, &ovsrec_psp_rx_sa_col_status);

    ovsdb_idl_add_table(idl, &ovsrec_table_psp_tx_sa);
    static const struct ovsdb_idl_column *tx_in[] = {
        &ovsrec_psp_tx_sa_col_remote, &ovsrec_psp_tx_sa_col_association,
        &ovsrec_psp_tx_sa_col_spi, &ovsrec_psp_tx_sa_col_version,
        &ovsrec_psp_tx_sa_col_sa_key, &ovsrec_psp_tx_sa_col_crypt_offset,
        &ovsrec_psp_tx_sa_col_vc,
    };
    for (size_t i = 0; i < ARRAY_SIZE(tx_in); i++) {
        ovsdb_idl_add_column(idl, tx_in[i]);
        ovsdb_idl_track_add_column(idl, tx_in[i]);
    }
    ovsdb_idl_add_column(idl, &ovsrec_psp_tx_sa_col_status);
    ovsdb_idl_omit_alert(idl, &ovsrec_psp_tx_sa_col_status);
    ovsdb_idl_add_column(idl, &ovsrec_psp_tx_sa_col_statistics);
    ovsdb_idl_omit_alert(idl, &ovsrec_psp_tx_sa_col_statistics);
}

/* The master keys. */

static const char *key_state_names[] = {
    "active", "rotations",
    "gen0", "first0", "alloc0", "next0", "flags0",
    "gen1", "first1", "alloc1", "next1", "flags1",
};

static void
key_state_to_ints(const struct psp_mkeys_state *st, int64_t *v)
{
    v[0] = st->active;
    v[1] = st->rotations;
    for (int i = 0; i < 2; i++) {
        const struct psp_mkeys_slot_state *ss = &st->slots[i];
        int64_t *w = &v[2 + 5 * i];

        w[0] = ss->gen;
        w[1] = ss->spi_first;
        w[2] = ss->n_alloc;
        w[3] = ss->next;
        w[4] = (ss->older_allocated | ss->wrapped << 1
                | ss->slot_wrapped << 2);
    }
}

/* Reads the master-key state back from 'row'.  Returns false if it is not
 * all there. */
static bool
key_state_from_row(const struct ovsrec_psp *row, struct psp_mkeys_state *st)
{
    int64_t v[ARRAY_SIZE(key_state_names)];

    memset(st, 0, sizeof *st);
    if (row->n_master_keys != 2) {
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(key_state_names); i++) {
        size_t j;

        for (j = 0; j < row->n_key_state; j++) {
            if (!strcmp(row->key_key_state[j], key_state_names[i])) {
                break;
            }
        }
        if (j >= row->n_key_state || row->value_key_state[j] < 0) {
            return false;
        }
        v[i] = row->value_key_state[j];
    }

    st->active = v[0];
    st->rotations = v[1];
    for (int i = 0; i < 2; i++) {
        struct psp_mkeys_slot_state *ss = &st->slots[i];
        const int64_t *w = &v[2 + 5 * i];

        ss->gen = w[0];
        ss->spi_first = w[1];
        ss->n_alloc = w[2];
        ss->next = w[3];
        ss->older_allocated = w[4] & 1;
        ss->wrapped = (w[4] >> 1) & 1;
        ss->slot_wrapped = (w[4] >> 2) & 1;
    }
    for (size_t i = 0; i < 2; i++) {
        int64_t slot = row->key_master_keys[i];

        if (slot < 0 || slot > 1
            || !psp_dp_parse_hex(row->value_master_keys[i],
                                 st->slots[slot].key, PSP_MASTER_KEY_LEN)) {
            psp_mkeys_state_wipe(st);
            return false;
        }
    }
    return true;
}

static const struct ovsrec_psp *
psp_row_get(void)
{
    const struct ovsrec_psp *row = ovsrec_psp_first(idl);

    return row ? row : ovsrec_psp_insert(txn);
}

/* Writes the master keys, their state and status to the PSP row. */
static void
publish_keys(void)
{
    const struct ovsrec_psp *row = psp_row_get();
    struct psp_mkeys_state st;
    int64_t values[ARRAY_SIZE(key_state_names)];

    psp_dp_keys_export(&st);

    struct ds hex[2] = { DS_EMPTY_INITIALIZER, DS_EMPTY_INITIALIZER };
    const char *hexes[2];
    int64_t slots[2] = { 0, 1 };
    for (int i = 0; i < 2; i++) {
        psp_dp_put_hex(&hex[i], st.slots[i].key, PSP_MASTER_KEY_LEN);
        hexes[i] = ds_cstr(&hex[i]);
    }
    ovsrec_psp_set_master_keys(row, slots, hexes, 2);
    psp_dp_ds_wipe(&hex[0]);
    psp_dp_ds_wipe(&hex[1]);

    key_state_to_ints(&st, values);
    ovsrec_psp_set_key_state(row, key_state_names, values,
                             ARRAY_SIZE(key_state_names));

    char *s = xasprintf("%"PRIu64, st.active);
    ovsrec_psp_update_status_setkey(row, "active_generation", s);
    free(s);
    s = xasprintf("%"PRIu64, st.rotations);
    ovsrec_psp_update_status_setkey(row, "rotations", s);
    free(s);
    s = xasprintf("%"PRIu32, st.slots[st.active & 1].n_alloc);
    ovsrec_psp_update_status_setkey(row, "spis_used", s);
    free(s);
    if (last_rotation) {
        s = xasprintf("%lld", last_rotation);
        ovsrec_psp_update_status_setkey(row, "last_rotation", s);
        free(s);
    }
    if (smap_get(&row->status, "error")) {
        ovsrec_psp_update_status_delkey(row, "error");
    }

    published_keys_seq = psp_dp_keys_seq();
    published_spis_used = st.slots[st.active & 1].n_alloc;
    psp_mkeys_state_wipe(&st);
}

/* The first time the database is there: takes over the master keys a
 * previous ovs-vswitchd published, or, if the database has none (it was
 * restarted: master keys live in RAM only), starts new generations past
 * every generation the receive SAs were allocated from. */
static void
take_over_keys(void)
{
    const struct ovsrec_psp *row = ovsrec_psp_first(idl);
    struct psp_mkeys_state st;

    if (row && key_state_from_row(row, &st)) {
        bool ok = psp_dp_keys_import(&st);
        psp_mkeys_state_wipe(&st);
        if (ok) {
            const char *lr = smap_get(&row->status, "last_rotation");
            last_rotation = lr ? strtoll(lr, NULL, 10) : 0;
            VLOG_INFO("PSP: took over master key generation %"PRIu64
                      " from the database", psp_dp_active_generation());
            return;
        }
        VLOG_WARN("PSP: master key state in the database is inconsistent, "
                  "starting new keys");
    }

    uint64_t max_gen = 0;
    size_t n_lost = 0;
    const struct ovsrec_psp_rx_sa *rx;
    OVSREC_PSP_RX_SA_FOR_EACH (rx, idl) {
        if (rx->n_generation) {
            max_gen = MAX(max_gen, rx->generation[0]);
            n_lost += rx->n_spi > 0;
        }
    }
    if (row && row->n_key_state) {
        const char *names = "active";
        for (size_t i = 0; i < row->n_key_state; i++) {
            if (!strcmp(row->key_key_state[i], names)) {
                max_gen = MAX(max_gen, row->value_key_state[i]);
            }
        }
    }
    if (max_gen && !psp_dp_keys_reset(max_gen + 2)) {
        VLOG_ERR("PSP: cannot create master keys");
    }
    if (n_lost) {
        VLOG_WARN("PSP: the database holds no master keys (ovsdb-server "
                  "restarted?): %"PRIuSIZE" receive SAs are stale and must "
                  "be re-keyed", n_lost);
    }
}

/* Rotates if 'rotate_to' asks for the generation after the active one. */
static void
run_rotate_to(const struct ovsrec_psp *row)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

    if (!row || !row->n_rotate_to) {
        return;
    }
    uint64_t want = row->rotate_to[0];
    uint64_t active = psp_dp_active_generation();
    if (want == active + 1) {
        if (psp_dp_rotate()) {
            last_rotation = time_wall_msec();
            VLOG_INFO("PSP: rotated the master keys to generation %"PRIu64,
                      want);
        } else {
            VLOG_ERR_RL(&rl, "PSP: master key rotation failed");
        }
    } else if (want > active + 1) {
        char *error = xasprintf("rotate_to %"PRIu64" is not the next "
                                "generation (%"PRIu64")", want, active + 1);
        const char *old = smap_get(&row->status, "error");
        if (!old || strcmp(old, error)) {
            VLOG_WARN_RL(&rl, "PSP: %s", error);
            ovsrec_psp_update_status_setkey(row, "error", error);
        }
        free(error);
    }
}

/* Receive SAs. */

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

static void
applied_rx_remove(struct applied_rx_sa *a, bool unbind)
{
    if (unbind && generation_is_held(a->generation)) {
        psp_dp_rx_unbind(a->spi, &a->peer, a->assoc);
    }
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
 * of 'gen' for 'peer'. */
static void
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

static void
rx_put_key(const struct ovsrec_psp_rx_sa *row, const uint8_t *key)
{
    struct ds hex = DS_EMPTY_INITIALIZER;

    psp_dp_put_hex(&hex, key, psp_version_key_len(row->version));
    ovsrec_psp_rx_sa_set_sa_key(row, ds_cstr(&hex));
    psp_dp_ds_wipe(&hex);
}

static void
rx_apply(const struct ovsrec_psp_rx_sa *row)
{
    struct applied_rx_sa *a = applied_rx_find(&row->header_.uuid);
    uint8_t key[PSP_MAX_KEY_LEN];
    struct in6_addr peer;

    if (!psp_dp_parse_addr(row->peer, true, &peer)) {
        char *error = xasprintf("invalid peer \"%s\" (must be an IPv4 or "
                                "IPv6 address, or \"any\")", row->peer);
        rx_set_error(row, error);
        free(error);
        if (a) {
            applied_rx_remove(a, true);
        }
        return;
    }

    if (!row->n_spi) {
        /* New, or the control plane asks for a re-key.  The SPI it had, if
         * any, stays bound until its generation goes, so that the peer can
         * switch to the new one without losing packets. */
        uint64_t gen;
        uint32_t spi;
        int error = psp_dp_rx_spi_alloc_gen(&peer, row->association,
                                            row->version, &spi, key, &gen);
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
        rx_put_key(row, key);
        explicit_bzero(key, sizeof key);
        rx_set_state(row, "active", NULL);
        applied_rx_record(a, row, spi, &peer, gen);
        return;
    }

    if (!row->n_generation) {
        rx_set_error(row, "spi is allocated by ovs-vswitchd: clear it to "
                     "have one allocated");
        if (a) {
            applied_rx_remove(a, true);
        }
        return;
    }

    uint32_t spi = row->spi[0];
    uint64_t gen = row->generation[0];
    if (!generation_is_held(gen)) {
        rx_set_state(row, "stale", NULL);
        if (a) {
            applied_rx_remove(a, false);
        }
        return;
    }
    if (!a || a->spi != spi || a->assoc != (uint64_t) row->association
        || a->version != row->version || a->generation != gen
        || !ipv6_addr_equals(&a->peer, &peer)) {
        if (a && a->spi != spi) {
            applied_rx_remove(a, true);
            a = NULL;
        }
        psp_dp_rx_bind(spi, &peer, row->association, row->version);
        applied_rx_record(a, row, spi, &peer, gen);
    }
    if (!row->sa_key || strlen(row->sa_key)
                        != 2 * psp_version_key_len(row->version)) {
        /* The key column is ephemeral: a restarted ovsdb-server lost it, or
         * the version changed.  ovs-vswitchd still can derive it. */
        if (psp_dp_rx_derive(spi, row->version, key)) {
            rx_put_key(row, key);
        }
        explicit_bzero(key, sizeof key);
    }
    rx_set_state(row, rx_generation_state(gen), NULL);
}

static void
rx_run(bool all)
{
    const struct ovsrec_psp_rx_sa *row;

    if (all) {
        /* Rows gone while we were not looking. */
        struct applied_rx_sa *a;
        HMAP_FOR_EACH_SAFE (a, node, &applied_rx) {
            if (!ovsrec_psp_rx_sa_get_for_uuid(idl, &a->uuid)) {
                applied_rx_remove(a, true);
            }
        }
        OVSREC_PSP_RX_SA_FOR_EACH (row, idl) {
            rx_apply(row);
        }
        return;
    }

    OVSREC_PSP_RX_SA_FOR_EACH_TRACKED (row, idl) {
        if (ovsrec_psp_rx_sa_is_deleted(row)) {
            struct applied_rx_sa *a = applied_rx_find(&row->header_.uuid);
            if (a && !ovsrec_psp_rx_sa_get_for_uuid(idl, &a->uuid)) {
                applied_rx_remove(a, true);
            }
        }
    }
    OVSREC_PSP_RX_SA_FOR_EACH_TRACKED (row, idl) {
        if (!ovsrec_psp_rx_sa_is_deleted(row)) {
            rx_apply(row);
        }
    }
}

/* After the keys changed: each row's state, from its generation. */
static void
rx_mark_states(void)
{
    const struct ovsrec_psp_rx_sa *row;

    OVSREC_PSP_RX_SA_FOR_EACH (row, idl) {
        const char *state = smap_get(&row->status, "state");

        if (row->n_spi && row->n_generation
            && !(state && !strcmp(state, "error"))) {
            rx_set_state(row, rx_generation_state(row->generation[0]), NULL);
            if (!generation_is_held(row->generation[0])) {
                struct applied_rx_sa *a = applied_rx_find(&row->header_.uuid);
                if (a) {
                    applied_rx_remove(a, false);
                }
            }
        }
    }
    marked_keys_seq = psp_dp_keys_seq();
}

/* Transmit SAs. */

static uint32_t
sa_hash(const struct in6_addr *remote, uint64_t assoc)
{
    return hash_bytes(remote, sizeof *remote, hash_uint64(assoc));
}

static struct applied_tx_sa *
applied_tx_find(const struct uuid *uuid)
{
    struct applied_tx_sa *a;

    HMAP_FOR_EACH_WITH_HASH (a, uuid_node, uuid_hash(uuid),
                             &applied_tx_by_uuid) {
        if (uuid_equals(&a->uuid, uuid)) {
            return a;
        }
    }
    return NULL;
}

static struct applied_tx_sa *
applied_tx_find_sa(const struct in6_addr *remote, uint64_t assoc)
{
    struct applied_tx_sa *a;

    HMAP_FOR_EACH_WITH_HASH (a, sa_node, sa_hash(remote, assoc),
                             &applied_tx_by_sa) {
        if (a->assoc == assoc && ipv6_addr_equals(&a->remote, remote)) {
            return a;
        }
    }
    return NULL;
}

static void
applied_tx_remove(struct applied_tx_sa *a)
{
    psp_dp_tx_sa_del(&a->remote, a->assoc);
    hmap_remove(&applied_tx_by_uuid, &a->uuid_node);
    hmap_remove(&applied_tx_by_sa, &a->sa_node);
    free(a);
}

static void
tx_set_status(const struct ovsrec_psp_tx_sa *row, const char *state,
              const char *error)
{
    status_update(&row->header_, &ovsrec_psp_tx_sa_col_status, &row->status,
                  state, error);
}

/* Refuses 'row' for 'error'.  The datapath keeps what it had for the row:
 * an invalid update never half-applies. */
static void
tx_refuse(const struct ovsrec_psp_tx_sa *row, const struct applied_tx_sa *a,
          const char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    VLOG_WARN_RL(&rl, "PSP_Tx_SA "UUID_FMT": %s%s",
                 UUID_ARGS(&row->header_.uuid), error,
                 a ? " (the SA installed before stays)" : "");
    tx_set_status(row, a ? "error-kept" : "error", error);
}

static void
tx_apply(const struct ovsrec_psp_tx_sa *row)
{
    struct applied_tx_sa *a = applied_tx_find(&row->header_.uuid);
    size_t key_len = psp_version_key_len(row->version);
    struct psp_dp_tx_opts opts = {
        .crypt_off = row->n_crypt_offset ? row->crypt_offset[0] : -1,
        .has_vc = row->n_vc > 0,
        .vc = row->n_vc ? row->vc[0] : 0,
    };
    struct in6_addr remote;

    if (!psp_dp_parse_addr(row->remote, false, &remote)) {
        char *error = xasprintf("invalid remote \"%s\" (must be an IPv4 or "
                                "IPv6 address)", row->remote);
        tx_refuse(row, a, error);
        free(error);
        return;
    }

    struct applied_tx_sa *other = applied_tx_find_sa(&remote,
                                                     row->association);
    if (other && other != a) {
        char *error = xasprintf("same remote and association as PSP_Tx_SA "
                                UUID_FMT, UUID_ARGS(&other->uuid));
        tx_refuse(row, a, error);
        free(error);
        return;
    }

    bool same = (a && ipv6_addr_equals(&a->remote, &remote)
                 && a->assoc == (uint64_t) row->association
                 && a->spi == row->spi && a->version == row->version
                 && a->crypt_off == opts.crypt_off
                 && a->has_vc == opts.has_vc && a->vc == opts.vc);
    if (!row->sa_key) {
        if (same) {
            /* The key column is ephemeral: a restarted ovsdb-server lost it,
             * but the datapath still holds the key. */
            tx_set_status(row, "applied", NULL);
        } else {
            tx_refuse(row, a, "no sa_key");
        }
        return;
    }

    uint8_t key[PSP_MAX_KEY_LEN];
    if (!psp_dp_parse_hex(row->sa_key, key, key_len)) {
        char *error = xasprintf("sa_key must be %"PRIuSIZE" bytes (%"PRIuSIZE
                                " hex digits) for version %"PRId64, key_len,
                                2 * key_len, row->version);
        tx_refuse(row, a, error);
        free(error);
        return;
    }
    if (opts.crypt_off > 0 && psp_version_is_gmac(row->version)) {
        explicit_bzero(key, sizeof key);
        tx_refuse(row, a, "crypt_offset must be 0 with AES-GMAC (version 2 "
                  "or 3)");
        return;
    }

    int error = psp_dp_tx_sa_set_opts(&remote, row->association, row->spi,
                                      row->version, key, key_len, &opts);
    explicit_bzero(key, sizeof key);
    if (error) {
        tx_refuse(row, a, error == ENOMEM ? "out of memory" : "invalid SA");
        return;
    }

    /* The new SA is in place before the old one goes, so that a re-key
     * of the same remote and association replaces it with no gap. */
    if (a && !(ipv6_addr_equals(&a->remote, &remote)
               && a->assoc == (uint64_t) row->association)) {
        psp_dp_tx_sa_del(&a->remote, a->assoc);
        hmap_remove(&applied_tx_by_sa, &a->sa_node);
    } else if (a) {
        hmap_remove(&applied_tx_by_sa, &a->sa_node);
    }
    if (!a) {
        a = xzalloc(sizeof *a);
        a->uuid = row->header_.uuid;
        hmap_insert(&applied_tx_by_uuid, &a->uuid_node, uuid_hash(&a->uuid));
    }
    a->remote = remote;
    a->assoc = row->association;
    a->spi = row->spi;
    a->version = row->version;
    a->crypt_off = opts.crypt_off;
    a->has_vc = opts.has_vc;
    a->vc = opts.vc;
    a->stats_packets = a->stats_bytes = UINT64_MAX;
    hmap_insert(&applied_tx_by_sa, &a->sa_node, sa_hash(&remote, a->assoc));
    tx_set_status(row, "applied", NULL);
}

static void
tx_run(bool all)
{
    const struct ovsrec_psp_tx_sa *row;

    if (all) {
        struct applied_tx_sa *a;
        HMAP_FOR_EACH_SAFE (a, uuid_node, &applied_tx_by_uuid) {
            if (!ovsrec_psp_tx_sa_get_for_uuid(idl, &a->uuid)) {
                applied_tx_remove(a);
            }
        }
        OVSREC_PSP_TX_SA_FOR_EACH (row, idl) {
            tx_apply(row);
        }
        return;
    }

    /* Deletions first, so that a row that replaces a deleted one for the
     * same SA is not refused as a duplicate.  A row deleted and inserted
     * again (the IDL reconnected) is not a deletion. */
    OVSREC_PSP_TX_SA_FOR_EACH_TRACKED (row, idl) {
        if (ovsrec_psp_tx_sa_is_deleted(row)) {
            struct applied_tx_sa *a = applied_tx_find(&row->header_.uuid);
            if (a && !ovsrec_psp_tx_sa_get_for_uuid(idl, &a->uuid)) {
                applied_tx_remove(a);
            }
        }
    }
    OVSREC_PSP_TX_SA_FOR_EACH_TRACKED (row, idl) {
        if (!ovsrec_psp_tx_sa_is_deleted(row)) {
            tx_apply(row);
        }
    }
}

static void
tx_write_stats(void)
{
    struct applied_tx_sa *a;

    HMAP_FOR_EACH (a, uuid_node, &applied_tx_by_uuid) {
        uint64_t packets, bytes;

        psp_dp_tx_sa_get_stats(&a->remote, a->assoc, &packets, &bytes);
        if (packets == a->stats_packets && bytes == a->stats_bytes) {
            continue;
        }
        const struct ovsrec_psp_tx_sa *row
            = ovsrec_psp_tx_sa_get_for_uuid(idl, &a->uuid);
        if (row) {
            const char *keys[] = { "tx_packets", "tx_bytes" };
            int64_t values[] = { packets, bytes };

            ovsrec_psp_tx_sa_set_statistics(row, keys, values, 2);
            a->stats_packets = packets;
            a->stats_bytes = bytes;
        }
    }
}

/* Main loop. */

void
psp_ovsdb_run(void)
{
    if (!idl) {
        return;
    }

    ovsdb_idl_run(idl);
    if (txn) {
        enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(txn);
        if (status == TXN_INCOMPLETE) {
            return;
        }
        if (status != TXN_SUCCESS && status != TXN_UNCHANGED) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

            VLOG_WARN_RL(&rl, "PSP: database transaction failed (%s), "
                         "resyncing",
                         ovsdb_idl_txn_status_to_string(status));
            resync = true;
        }
        ovsdb_idl_txn_destroy(txn);
        txn = NULL;
    }
    if (!ovsdb_idl_has_ever_connected(idl) || !ovsdb_idl_is_connected(idl)) {
        return;
    }

    txn = ovsdb_idl_txn_create(idl);

    bool all = resync || !keys_taken_over;
    if (!keys_taken_over) {
        take_over_keys();
        keys_taken_over = true;
    }
    resync = false;

    /* Someone else wrote the keys: put ours back.  (Our own writes come
     * back here too, and rewriting the same values changes nothing.) */
    bool keys_written = false;
    const struct ovsrec_psp *psp;
    OVSREC_PSP_FOR_EACH_TRACKED (psp, idl) {
        keys_written = true;
    }

    psp = ovsrec_psp_first(idl);
    run_rotate_to(psp);
    if (all || marked_keys_seq != psp_dp_keys_seq()) {
        rx_mark_states();
    }
    rx_run(all);
    tx_run(all);
    ovsdb_idl_track_clear(idl);

    if (time_msec() >= next_stats) {
        tx_write_stats();
        next_stats = time_msec() + STATS_INTERVAL;
    }

    /* Publish the keys when they changed, SPIs were allocated (a restarted
     * ovs-vswitchd must know them), or the database lost them. */
    if (!psp || psp->n_master_keys != 2 || keys_written
        || published_keys_seq != psp_dp_keys_seq()
        || published_spis_used != psp_dp_spis_used()) {
        publish_keys();
    }

    enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(txn);
    if (status != TXN_INCOMPLETE) {
        if (status != TXN_SUCCESS && status != TXN_UNCHANGED) {
            resync = true;
        }
        ovsdb_idl_txn_destroy(txn);
        txn = NULL;
    }
}

void
psp_ovsdb_wait(void)
{
    if (idl) {
        ovsdb_idl_wait(idl);
        if (txn) {
            ovsdb_idl_txn_wait(txn);
        }
        poll_timer_wait_until(next_stats);
    }
}

void
psp_ovsdb_destroy(void)
{
    if (idl) {
        if (txn) {
            ovsdb_idl_txn_destroy(txn);
            txn = NULL;
        }
        ovsdb_idl_destroy(idl);
        idl = NULL;
    }

    /* The datapath keeps its SAs until the process exits. */
    struct applied_tx_sa *t;
    HMAP_FOR_EACH_POP (t, uuid_node, &applied_tx_by_uuid) {
        free(t);
    }
    hmap_clear(&applied_tx_by_sa);
    struct applied_rx_sa *r;
    HMAP_FOR_EACH_POP (r, node, &applied_rx) {
        free(r);
    }
}
