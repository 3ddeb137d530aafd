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

#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "packets.h"
#include "psp-keyring.h"
#include "psp-ovsdb-rx-sa.h"
#include "psp-ovsdb-tx-sa.h"
#include "psp-sa.h"
#include "psp-unixctl.h"
#include "psp-vsctl.h"
#include "psp.h"
#include "smap.h"
#include "timeval.h"
#include "util.h"
#include "uuid.h"
#include "vswitch-idl.h"

/* ovs-vswitchd's IDL client of the PSP tables (psp-ovsdb.h): the database
 * connection, its transaction and the main loop, and the PSP row (the
 * master keys, their state, the SPIs bound with ovs-appctl and rotate_to),
 * with the master keys kept where PSP:key_store says (the kernel keyring,
 * through psp-keyring.c, or the database).
 * The PSP_Rx_SA rows it replicates are applied by psp-ovsdb-rx-sa.c; the
 * PSP_Tx_SA rows are not replicated here at all, but monitored on a session
 * of their own by psp-ovsdb-tx-sa.c. */

/* Also the module of psp-ovsdb-rx-sa.c and psp-ovsdb-tx-sa.c. */
VLOG_DEFINE_THIS_MODULE(psp_ovsdb);

static struct ovsdb_idl *lock_idl;      /* The bridge's, which holds the
                                         * "ovs_vswitchd" lock. */
static struct ovsdb_idl *idl;
static struct ovsdb_idl_txn *txn;       /* In flight, or null. */
static bool keys_taken_over;            /* First sync with the database
                                         * done. */
static bool resync;                     /* Process every row, not only the
                                         * changed ones. */
static uint64_t published_keys_seq;
static uint32_t published_spis_used;
static uint64_t published_appctl_seq;   /* psp_dp_rx_unowned_seq(). */
static long long int last_rotation;     /* Wall clock, ms; 0 = never. */

/* Where the master keys are kept across a restart of ovs-vswitchd
 * (PSP:key_store). */
enum key_store {
    KEY_STORE_KEYRING,                  /* The default. */
    KEY_STORE_DATABASE,
};
static enum key_store published_store;  /* Where publish_keys() last put
                                         * them. */
static bool keyring_may_hold_keys = true; /* A keyring key of ours may
                                           * exist: unlinked in database
                                           * mode. */
static bool keyring_warned;             /* Said the keyring is unusable. */
static bool column_holds_ours;          /* master_keys holds what we wrote
                                         * there in database mode. */
static bool planted_warned;             /* Said master_keys holds keys that
                                         * are not ours. */

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
    /* Keys pass through the connections opened here: never into the
     * debug log. */
    psp_log_redact_keys();

    lock_idl = bridge_idl;

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
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_appctl_spis);
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_col_appctl_spis);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_rotate_to);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_key_store);
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_col_key_store);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_status);
    ovsdb_idl_omit_alert(idl, &ovsrec_psp_col_status);

    /* The Open_vSwitch row, whose UUID names the keyring key: no column,
     * only the row. */
    ovsdb_idl_add_table(idl, &ovsrec_table_open_vswitch);

    /* Inputs are tracked; what ovs-vswitchd writes wakes nobody up. */
    ovsdb_idl_add_table(idl, &ovsrec_table_psp_rx_sa);
    static const struct ovsdb_idl_column *rx_in[] = {
        &ovsrec_psp_rx_sa_col_peer, &ovsrec_psp_rx_sa_col_association,
        &ovsrec_psp_rx_sa_col_version, &ovsrec_psp_rx_sa_col_spi,
        &ovsrec_psp_rx_sa_col_sa_key, &ovsrec_psp_rx_sa_col_generation,
        &ovsrec_psp_rx_sa_col_old_spi, &ovsrec_psp_rx_sa_col_publish_key,
    };
    for (size_t i = 0; i < ARRAY_SIZE(rx_in); i++) {
        ovsdb_idl_add_column(idl, rx_in[i]);
        ovsdb_idl_track_add_column(idl, rx_in[i]);
    }
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_status);
    ovsdb_idl_omit_alert(idl, &ovsrec_psp_rx_sa_col_status);


    if (!psp_openssl_mem_is_secure()) {
        VLOG_WARN("PSP: OpenSSL's memory is not kept out of core dumps (it "
                  "allocated before ovs-vswitchd could set that up): core "
                  "dumps may hold expanded SA keys");
    }

    /* PSP_Tx_SA has a session of its own: see psp-ovsdb-tx-sa.c. */
    psp_ovsdb_tx_sa_open(remote);
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
    for (int i = 0; i < 2; i++) {
        /* SPI counters are 32 bits: a larger value would wrap into one
         * that looks consistent. */
        const int64_t *w = &v[2 + 5 * i];
        if (w[1] > UINT32_MAX || w[2] > UINT32_MAX || w[3] > UINT32_MAX) {
            return false;
        }
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

/* Where the keys go: PSP:key_store, "keyring" if empty (or no row). */
static enum key_store
key_store_get(const struct ovsrec_psp *row)
{
    return (row && row->key_store && !strcmp(row->key_store, "database")
            ? KEY_STORE_DATABASE : KEY_STORE_KEYRING);
}

/* The description of this database's keyring key, for the caller to free,
 * or null if the database has no Open_vSwitch row (yet). */
static char *
keyring_name(void)
{
    const struct ovsrec_open_vswitch *ovs = ovsrec_open_vswitch_first(idl);

    return (ovs
            ? xasprintf(PSP_KEYRING_PREFIX UUID_FMT,
                        UUID_ARGS(&ovs->header_.uuid))
            : NULL);
}

/* Writes the master-key state 'st' to the keyring.  Returns false, having
 * said why once, if the keyring cannot be used: the keys are then kept in
 * memory only. */
static bool
keyring_store(const struct psp_mkeys_state *st)
{
    char *name = keyring_name();
    int error = name ? psp_keyring_store(name, st) : ENOENT;

    free(name);
    if (error) {
        if (!keyring_warned) {
            VLOG_WARN("PSP: cannot keep the master keys in the kernel "
                      "keyring (%s): they are kept in memory only, and a "
                      "restart of ovs-vswitchd loses them",
                      error == ENOENT ? "no Open_vSwitch row"
                      : ovs_strerror(error));
            keyring_warned = true;
        }
        return false;
    }
    if (keyring_warned) {
        VLOG_INFO("PSP: the master keys are kept in the kernel keyring "
                  "again");
        keyring_warned = false;
    }
    keyring_may_hold_keys = true;
    return true;
}

/* Reads the master-key state from the keyring into '*st'.  Returns false if
 * there is none (or it cannot be read, which it logs). */
static bool
keyring_load(struct psp_mkeys_state *st)
{
    char *name = keyring_name();
    int error = name ? psp_keyring_load(name, st) : ENOKEY;

    /* A keyring that cannot be used at all (ENOSYS, EPERM, EACCES) is
     * said once, by keyring_store(). */
    if (error == EINVAL || (error && error != ENOKEY && error != ENOSYS
                            && error != EPERM && error != EACCES)) {
        VLOG_WARN("PSP: cannot read the master keys from kernel keyring key "
                  "\"%s\" (%s)", name,
                  error == EINVAL ? "not a PSP master key state"
                  : ovs_strerror(error));
    }
    free(name);
    return !error;
}

/* In database mode, the keyring key (left from keyring mode, or by a
 * previous ovs-vswitchd) no longer holds the keys: it goes. */
static void
keyring_forget(void)
{
    if (keyring_may_hold_keys) {
        char *name = keyring_name();
        if (name) {
            int error = psp_keyring_remove(name);
            if (error && error != ENOKEY) {
                VLOG_DBG("PSP: cannot remove keyring key \"%s\" (%s)",
                         name, ovs_strerror(error));
            }
            free(name);
        }
        keyring_may_hold_keys = false;
    }
}

static const struct ovsrec_psp *
psp_row_get(void)
{
    const struct ovsrec_psp *row = ovsrec_psp_first(idl);

    return row ? row : ovsrec_psp_insert(txn);
}

/* SPIs bound with no PSP_Rx_SA row (ovs-appctl psp/alloc-spi): kept in
 * PSP's appctl_spis beside the master keys, so that a restarted
 * ovs-vswitchd keeps them too.  Each is SPI -> "PEER ASSOCIATION VERSION",
 * PEER "any" or an address. */
struct appctl_spis {
    int64_t *spis;
    char **values;
    size_t n, allocated;
};

static void
appctl_spis_add(uint32_t spi, const struct in6_addr *peer, uint64_t assoc,
                enum psp_version version, void *aux)
{
    struct appctl_spis *a = aux;
    struct ds s = DS_EMPTY_INITIALIZER;

    if (a->n >= a->allocated) {
        a->spis = x2nrealloc(a->spis, &a->allocated, sizeof *a->spis);
        a->values = xrealloc(a->values, a->allocated * sizeof *a->values);
    }
    if (ipv6_addr_is_set(peer)) {
        ipv6_format_mapped(peer, &s);
    } else {
        ds_put_cstr(&s, "any");
    }
    ds_put_format(&s, " %"PRIu64" %d", assoc, version);
    a->spis[a->n] = spi;
    a->values[a->n++] = ds_steal_cstr(&s);
}

static void
publish_appctl_spis(const struct ovsrec_psp *row)
{
    struct appctl_spis a = { .n = 0 };

    published_appctl_seq = psp_dp_rx_unowned_seq();
    psp_dp_rx_unowned_walk(appctl_spis_add, &a);
    ovsrec_psp_set_appctl_spis(row, a.spis, (const char **) a.values, a.n);
    for (size_t i = 0; i < a.n; i++) {
        free(a.values[i]);
    }
    free(a.values);
    free(a.spis);
}

/* Binds again the SPIs of 'row''s appctl_spis, after the master keys they
 * were allocated under were taken over. */
static void
restore_appctl_spis(const struct ovsrec_psp *row)
{
    size_t n = 0;

    for (size_t i = 0; i < row->n_appctl_spis; i++) {
        uint32_t spi = row->key_appctl_spis[i];
        const char *value = row->value_appctl_spis[i];
        char peer_s[INET6_ADDRSTRLEN + 1];
        enum psp_spi_state state;
        struct in6_addr peer;
        unsigned int version;
        uint64_t assoc;
        int len = 0;

        if (sscanf(value, "%46s %"SCNu64" %u%n", peer_s, &assoc, &version,
                   &len) != 3 || value[len]
            || !psp_dp_parse_addr(peer_s, true, &peer)
            || !psp_version_is_valid(version)) {
            VLOG_WARN("PSP: appctl_spis: SPI %"PRIu32": cannot parse \"%s\"",
                      spi, value);
            continue;
        }
        state = psp_dp_rx_spi_state(spi);
        if ((state == PSP_SPI_ACTIVE || state == PSP_SPI_PREVIOUS)
            && !psp_dp_rx_bind(spi, &peer, assoc, version, NULL, NULL)) {
            n++;
        }
    }
    if (n) {
        VLOG_INFO("PSP: took over %"PRIuSIZE" SPIs allocated with "
                  "ovs-appctl", n);
    }
}

/* Writes the master keys of 'st' to 'row''s master_keys column. */
static void
put_master_keys(const struct ovsrec_psp *row,
                const struct psp_mkeys_state *st)
{
    struct ds hex[2] = { DS_EMPTY_INITIALIZER, DS_EMPTY_INITIALIZER };
    const char *hexes[2];
    int64_t slots[2] = { 0, 1 };

    for (int i = 0; i < 2; i++) {
        psp_dp_put_hex(&hex[i], st->slots[i].key, PSP_MASTER_KEY_LEN);
        hexes[i] = ds_cstr(&hex[i]);
    }
    ovsrec_psp_set_master_keys(row, slots, hexes, 2);
    psp_dp_ds_wipe(&hex[0]);
    psp_dp_ds_wipe(&hex[1]);
}

/* What clear_master_keys() first writes over master_keys values. */
#define MASTER_KEYS_FILLER "0"

/* Whether every value of 'row''s master_keys is MASTER_KEYS_FILLER. */
static bool
master_keys_are_filler(const struct ovsrec_psp *row)
{
    for (size_t i = 0; i < row->n_master_keys; i++) {
        if (strcmp(row->value_master_keys[i], MASTER_KEYS_FILLER)) {
            return false;
        }
    }
    return true;
}

/* Clears 'row''s master_keys, in two runs.  The IDL's replica of the column
 * holds wiped values (wipe_replica_keys()), and the database sends the
 * removal of pairs from a map as the pairs removed, which the IDL takes for
 * new values of the keys when its own differ: clearing wiped values would
 * put the database's values back into the replica, and leave them there.
 * So values other than MASTER_KEYS_FILLER are first overwritten with it
 * (which no wiping changes), and cleared once the replica has them. */
static void
clear_master_keys(const struct ovsrec_psp *row)
{
    size_t n = row->n_master_keys;

    if (master_keys_are_filler(row)) {
        ovsrec_psp_set_master_keys(row, NULL, NULL, 0);
    } else {
        int64_t *slots = xmemdup(row->key_master_keys, n * sizeof *slots);
        const char **fillers = xmalloc(n * sizeof *fillers);

        for (size_t i = 0; i < n; i++) {
            fillers[i] = MASTER_KEYS_FILLER;
        }
        ovsrec_psp_set_master_keys(row, slots, fillers, n);
        free(fillers);
        free(slots);
    }
}

/* Keeps the master keys where PSP:key_store says, and writes their state
 * and status to the PSP row.  In keyring mode, master_keys is cleared. */
static void
publish_keys(void)
{
    const struct ovsrec_psp *row = psp_row_get();
    enum key_store store = key_store_get(row);
    struct psp_mkeys_state st;
    int64_t values[ARRAY_SIZE(key_state_names)];
    const char *where;

    psp_dp_keys_export(&st);

    if (store == KEY_STORE_DATABASE) {
        put_master_keys(row, &st);
        column_holds_ours = true;
        keyring_forget();
        where = "database";
    } else {
        where = keyring_store(&st) ? "keyring" : "memory";
        if (row->n_master_keys) {
            clear_master_keys(row);
        }
    }
    published_store = store;

    const char *old_where = smap_get(&row->status, "key_store");
    if (!old_where || strcmp(old_where, where)) {
        ovsrec_psp_update_status_setkey(row, "key_store", where);
    }

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

    publish_appctl_spis(row);
}

/* The first time the database is there: takes over the master keys a
 * previous ovs-vswitchd kept where PSP:key_store says (in keyring mode,
 * from the keyring only, never from the database), or, if there are none
 * (a reboot, or a restart of ovsdb-server in database mode: master keys
 * live in RAM only), starts new generations past every generation the
 * receive SAs were allocated from. */
static void
take_over_keys(void)
{
    const struct ovsrec_psp *row = ovsrec_psp_first(idl);
    bool keyring = key_store_get(row) == KEY_STORE_KEYRING;
    const char *where = keyring ? "the keyring" : "the database";
    struct psp_mkeys_state st;

    if (keyring ? keyring_load(&st) : row && key_state_from_row(row, &st)) {
        bool ok = psp_dp_keys_import(&st);
        psp_mkeys_state_wipe(&st);
        if (ok) {
            const char *lr = row ? smap_get(&row->status, "last_rotation")
                             : NULL;
            last_rotation = lr ? strtoll(lr, NULL, 10) : 0;
            VLOG_INFO("PSP: took over master key generation %"PRIu64
                      " from %s", psp_dp_active_generation(), where);
            /* The import dropped every binding; the rows' come back as
             * psp_ovsdb_rx_sa_run() applies them, these from here. */
            if (row) {
                restore_appctl_spis(row);
            }
            return;
        }
        VLOG_WARN("PSP: master key state in %s is inconsistent, starting "
                  "new keys", where);
    }

    uint64_t max_gen = 0;
    size_t n_lost = 0;
    const struct ovsrec_psp_rx_sa *rx;
    OVSREC_PSP_RX_SA_FOR_EACH (rx, idl) {
        if (rx->n_generation) {
            max_gen = MAX(max_gen, (uint64_t) rx->generation[0]);
            n_lost += rx->n_spi > 0;
        }
    }
    if (row && row->n_key_state) {
        for (size_t i = 0; i < row->n_key_state; i++) {
            /* A negative value (the column is any integer) would compare
             * as a huge unsigned one. */
            int64_t v = row->value_key_state[i];
            if (!strcmp(row->key_key_state[i], "active") && v > 0) {
                max_gen = MAX(max_gen, (uint64_t) v);
            }
        }
    }
    if (max_gen && !psp_dp_keys_reset(max_gen + 2)) {
        VLOG_ERR("PSP: cannot create master keys");
    }
    if (n_lost) {
        VLOG_WARN("PSP: %s: %"PRIuSIZE" receive SAs are stale and must be "
                  "re-keyed",
                  keyring ? "the keyring holds no master keys (rebooted?)"
                  : "the database holds no master keys (ovsdb-server "
                    "restarted?)", n_lost);
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

/* Overwrites, with '0' digits, the string 's' of the IDL's replica (or of
 * a transaction's write, once it has gone out). */
void
psp_ovsdb_wipe_replica_string(const char *s)
{
    if (s) {
        memset(CONST_CAST(char *, s), '0', strlen(s));
    }
}

/* ovs-vswitchd reads the hex keys of its replica at most once: the master
 * keys when it takes them over, a receive SA's key only for its length.  So
 * that no copy of a key lingers in the IDL's memory (and in a core dump),
 * the replica's copies are overwritten once read and the ones written once
 * sent.  The lengths stay, which is all psp-ovsdb-rx-sa.c checks; a wiped
 * value only makes the IDL write the real one again if asked to. */
static void
wipe_replica_keys(void)
{
    const struct ovsrec_psp *psp = ovsrec_psp_first(idl);

    if (psp) {
        for (size_t i = 0; i < psp->n_master_keys; i++) {
            psp_ovsdb_wipe_replica_string(psp->value_master_keys[i]);
        }
    }
    psp_ovsdb_rx_sa_wipe_keys();
}

/* Main loop. */

/* Whether this ovs-vswitchd may act on the PSP tables: only one
 * ovs-vswitchd may, the one whose bridge IDL holds the "ovs_vswitchd" lock
 * (bridge_init()).  A second one started against the same database is
 * locked out until the first goes away: it must neither take over the
 * master keys nor write anything.  The PSP connections do not hold the lock
 * themselves (one session holds it), so they are not even connected, let
 * alone run, until the bridge's has it; if the bridge's loses it, they
 * pause (nothing more is sent) until it is back. */
static bool
psp_ovsdb_is_active(void)
{
    return idl && ovsdb_idl_has_lock(lock_idl);
}

/* Ends the transaction in flight, if there is one and it is done: after a
 * failure, the next run goes through every row again.  Returns false while
 * it is still in flight. */
static bool
txn_finish(void)
{
    if (txn) {
        enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(txn);
        if (status == TXN_INCOMPLETE) {
            return false;
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
    return true;
}

/* Whether the master keys must be published to 'psp', the PSP row (if
 * any), which someone other than us wrote if 'keys_written': when they
 * changed, SPIs were allocated (a restarted ovs-vswitchd must know them),
 * the database lost them, key_store changed, or master_keys holds keys in
 * keyring mode. */
static bool
keys_need_publishing(const struct ovsrec_psp *psp, bool keys_written)
{
    enum key_store store = key_store_get(psp);
    size_t n_keys = store == KEY_STORE_DATABASE ? 2 : 0;

    return (!psp || psp->n_master_keys != n_keys || keys_written
            || published_store != store
            || published_keys_seq != psp_dp_keys_seq()
            || published_spis_used != psp_dp_spis_used()
            || published_appctl_seq != psp_dp_rx_unowned_seq());
}

/* In keyring mode, master_keys must stay empty: keys there are not ours
 * (ovs-vswitchd never writes them in this mode, but for the filler of
 * clear_master_keys()), but a careless operator's or an attacker's, and
 * are never taken.  publish_keys() clears them; here, a warning, once per
 * value written ('written': the column changed since the last run),
 * without the keys.  What ovs-vswitchd itself wrote there in database
 * mode, before key_store changed, goes silently. */
static void
check_planted_keys(const struct ovsrec_psp *psp, bool written)
{
    if (!psp || !psp->n_master_keys) {
        column_holds_ours = false;
        planted_warned = false;
    } else if (key_store_get(psp) == KEY_STORE_KEYRING
               && !column_holds_ours && !master_keys_are_filler(psp)
               && (written || !planted_warned)) {
        VLOG_WARN("PSP: ignored and cleared the %"PRIuSIZE" master keys "
                  "written to the database's PSP:master_keys: with "
                  "key_store=keyring, ovs-vswitchd keeps its master keys "
                  "in the kernel keyring and never takes them from the "
                  "database", psp->n_master_keys);
        planted_warned = true;
    }
}

/* Brings the PSP and PSP_Rx_SA tables and the datapath into line, in the
 * new transaction 'txn'. */
static void
sync_tables(void)
{
    bool all = resync || !keys_taken_over;
    if (!keys_taken_over) {
        take_over_keys();
        keys_taken_over = true;
    }
    resync = false;

    /* Someone else wrote the keys: put ours back.  (Our own writes come
     * back here too, and rewriting the same values changes nothing.) */
    bool keys_written = false;
    bool master_keys_written = false;
    const struct ovsrec_psp *psp;
    OVSREC_PSP_FOR_EACH_TRACKED (psp, idl) {
        keys_written = true;
        master_keys_written |= ovsrec_psp_is_updated(
            psp, OVSREC_PSP_COL_MASTER_KEYS);
    }

    psp = ovsrec_psp_first(idl);
    check_planted_keys(psp, master_keys_written);
    run_rotate_to(psp);
    psp_ovsdb_rx_sa_mark_states(idl, all);
    psp_ovsdb_rx_sa_run(idl, all);
    ovsdb_idl_track_clear(idl);

    if (keys_need_publishing(psp, keys_written)) {
        publish_keys();
    }
}

void
psp_ovsdb_run(void)
{
    if (!psp_ovsdb_is_active()) {
        return;
    }

    psp_ovsdb_tx_sa_run();

    ovsdb_idl_run(idl);
    if (!txn_finish()) {
        return;
    }
    if (!ovsdb_idl_has_ever_connected(idl) || !ovsdb_idl_is_connected(idl)) {
        return;
    }

    txn = ovsdb_idl_txn_create(idl);
    sync_tables();

    enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(txn);
    wipe_replica_keys();
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
    /* Without the lock, the bridge's IDL wakes us when the lock comes. */
    if (psp_ovsdb_is_active()) {
        ovsdb_idl_wait(idl);
        if (txn) {
            ovsdb_idl_txn_wait(txn);
        }
        psp_ovsdb_tx_sa_wait();
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

    psp_ovsdb_tx_sa_close();

    psp_ovsdb_rx_sa_destroy();
}
