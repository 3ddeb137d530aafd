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

#include "psp-ovsdb-tx-sa.h"

#include <errno.h>
#include <string.h>
#if HAVE_DECL_MALLOC_TRIM
#include <malloc.h>
#endif

#include "jsonrpc.h"
#include "openvswitch/json.h"
#include "openvswitch/shash.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "psp-sa.h"
#include "psp-unixctl.h"
#include "psp.h"
#include "timeval.h"
#include "util.h"
#include "uuid.h"

/* The PSP_Tx_SA table, read through a raw JSON-RPC "monitor" and written
 * with raw "transact" requests.  This file holds that session and turns
 * each row update into psp_dp_tx_*() calls; it holds no IDL and no copy of
 * any row.  The PSP and PSP_Rx_SA tables, and the decision of when this
 * session may run (the database lock), are psp-ovsdb.c's.
 *
 * There may be a million rows, and ovs-vswitchd must not keep a replica of
 * each (an IDL row costs kilobytes).  PSP_Tx_SA is watched over a JSON-RPC
 * session of its own with the "monitor" method of RFC 7047, whose updates
 * carry every monitored column of a new or modified row and the old values
 * of a deleted one.  Each update is applied to the datapath and dropped: the
 * datapath's SA, tagged with the row's UUID (psp_dp_tx_opts's 'owner'), is
 * the only record of a row, and a deleted row's remote and association find
 * it.  Status and statistics go back as "update" operations; they are not
 * monitored, so they do not come back.
 *
 * Keeping the rows out of an IDL also keeps their keys out of its memory:
 * the hex digits of each sa_key are overwritten in the received message
 * once the update is handled (wipe_key_column()). */

/* This file logs as the "psp_ovsdb" module, defined in psp-ovsdb.c, like
 * the rest of ovs-vswitchd's side of the PSP tables. */
extern struct vlog_module *VLM_psp_ovsdb;
#define this_module (*VLM_psp_ovsdb)

/* How often transmit SA statistics are written back, in ms. */
#define STATS_INTERVAL 5000

static struct jsonrpc_session *tx_session;
static long long int next_stats;

static unsigned int tx_seqno;           /* Session seqno the monitor is for. */
static struct json *tx_monitor_id;      /* Monitor request awaiting reply. */
static bool tx_monitoring;              /* Initial contents received. */
static uint8_t tx_epoch;                /* Marks SAs seen since a resync. */
static struct json *tx_ops;             /* Operations to send, or null. */
static size_t tx_bulk;                  /* Rows and operations handled since
                                         * the heap was last trimmed. */

/* Operations per transaction, so that a resync of a million rows does not
 * make one huge transaction. */
#define TX_OPS_MAX 10000

/* Rows and operations after which the heap is trimmed.  A bulk update of
 * 50,000 rows takes tens of megabytes of JSON that is freed at once; the C
 * library would otherwise keep that memory, several times what the SAs
 * themselves take. */
#define TX_TRIM_BULK 1000

/* The monitored columns: what a transmit SA is made of. */
static const char *const tx_columns[] = {
    "remote", "association", "spi", "version", "sa_key", "crypt_offset", "vc",
    "sample", "drop_after_sample", "stale",
};

/* A PSP_Tx_SA row, as monitored. */
struct tx_row {
    const char *remote;
    int64_t assoc;
    int64_t spi;
    int64_t version;
    struct json *sa_key;                /* JSON string, or null. */
    int crypt_off;                      /* -1: none. */
    bool has_vc;
    int64_t vc;
    bool sample;
    bool drop_after_sample;
    bool stale;
};

static const struct json *
row_column(const struct json *row, const char *column)
{
    return (row && row->type == JSON_OBJECT
            ? shash_find_data(json_object(row), column)
            : NULL);
}

/* A column of type "integer", or of a set of at most one integer (an empty
 * set is ["set", []]). */
static bool
json_get_int(const struct json *j, int64_t *v)
{
    if (j && j->type == JSON_INTEGER) {
        *v = j->integer;
        return true;
    }
    return false;
}

/* A column of type boolean, or of a set of at most one boolean: true only
 * if it holds true. */
static bool
json_get_true(const struct json *j)
{
    return j && j->type == JSON_TRUE;
}

/* Reads 'json' (a row's "new" or "old" member) into 'r'.  Returns false if
 * a column that must be there is missing. */
static bool
tx_row_parse(const struct json *json, struct tx_row *r)
{
    const struct json *remote = row_column(json, "remote");
    const struct json *key = row_column(json, "sa_key");
    int64_t v;

    memset(r, 0, sizeof *r);
    r->remote = remote && remote->type == JSON_STRING ? json_string(remote)
                                                     : NULL;
    r->sa_key = key && key->type == JSON_STRING ? CONST_CAST(struct json *,
                                                             key)
                                                : NULL;
    r->crypt_off = (json_get_int(row_column(json, "crypt_offset"), &v)
                    ? v : -1);
    r->has_vc = json_get_int(row_column(json, "vc"), &r->vc);
    r->sample = json_get_true(row_column(json, "sample"));
    r->drop_after_sample = json_get_true(row_column(json,
                                                    "drop_after_sample"));
    r->stale = json_get_true(row_column(json, "stale"));
    return (r->remote
            && json_get_int(row_column(json, "association"), &r->assoc)
            && json_get_int(row_column(json, "spi"), &r->spi)
            && json_get_int(row_column(json, "version"), &r->version));
}

/* Overwrites the key's hex digits in the received message, which is
 * ordinary heap memory, once they are read. */
static void
wipe_key_column(const struct json *row)
{
    const struct json *key = row_column(row, "sa_key");

    if (key && key->type == JSON_STRING) {
        char *hex = CONST_CAST(char *, json_string(key));
        explicit_bzero(hex, strlen(hex));
    }
}

static struct json *
uuid_to_json(const struct uuid *uuid)
{
    return json_array_create_2(json_string_create("uuid"),
                               json_string_create_nocopy(
                                   xasprintf(UUID_FMT, UUID_ARGS(uuid))));
}

/* Queues an operation that writes 'value' into 'column' of row 'uuid'. */
static void
tx_queue_update(const struct uuid *uuid, const char *column,
                struct json *value)
{
    struct json *op = json_object_create();
    struct json *row = json_object_create();

    json_object_put_string(op, "op", "update");
    json_object_put_string(op, "table", "PSP_Tx_SA");
    json_object_put(op, "where",
                    json_array_create_1(json_array_create_3(
                                            json_string_create("_uuid"),
                                            json_string_create("=="),
                                            uuid_to_json(uuid))));
    json_object_put(row, column, value);
    json_object_put(op, "row", row);

    if (!tx_ops) {
        tx_ops = json_array_create_1(json_string_create("Open_vSwitch"));
    }
    json_array_add(tx_ops, op);
}

static void
tx_set_status(const struct uuid *uuid, const char *state, const char *error)
{
    struct json *pairs = json_array_create_1(
        json_array_create_2(json_string_create("state"),
                            json_string_create(state)));
    if (error) {
        json_array_add(pairs, json_array_create_2(json_string_create("error"),
                                                  json_string_create(error)));
    }
    tx_queue_update(uuid, "status",
                    json_array_create_2(json_string_create("map"), pairs));
}

/* The SA installed for row 'uuid' at 'remote' and 'assoc', if any. */
static bool
tx_find_owned(const struct uuid *uuid, const struct in6_addr *remote,
              uint64_t assoc, struct psp_dp_tx_info *info)
{
    return (psp_dp_tx_sa_get_info(remote, assoc, info)
            && uuid_equals(&info->opts.owner, uuid));
}

/* Refuses row 'uuid' for 'error'.  The datapath keeps the SA installed for
 * it before ('kept'): an invalid update never half-applies. */
static void
tx_refuse(const struct uuid *uuid, bool kept, const char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    VLOG_WARN_RL(&rl, "PSP_Tx_SA "UUID_FMT": %s%s", UUID_ARGS(uuid), error,
                 kept ? " (the SA installed before stays)" : "");
    tx_set_status(uuid, kept ? "error-kept" : "error", error);
}

/* An update of a PSP_Tx_SA row, as tx_apply() reads, checks and applies
 * it. */
struct tx_update {
    const struct uuid *uuid;            /* The row's. */
    struct tx_row r;                    /* The row's new values. */
    bool complete;                      /* 'r' has every column it needs. */
    struct psp_dp_tx_opts opts;         /* The SA's options, from 'r'. */
    struct in6_addr remote;             /* 'r.remote', once checked. */

    /* The SA installed for the row before, if 'has_prev'. */
    bool has_prev;
    struct in6_addr prev_remote;
    int64_t prev_assoc;
    struct psp_dp_tx_info prev;
};

/* Reads into 'u' the update of row 'uuid' to 'new' ('old' as for
 * tx_apply()), and finds the SA installed for the row before, if any.  That
 * SA is kept whatever happens next, unless replaced or removed: its marker
 * is brought up to date. */
static void
tx_update_parse(const struct uuid *uuid, const struct json *new,
                const struct json *old, struct tx_update *u)
{
    u->uuid = uuid;
    u->complete = tx_row_parse(new, &u->r);
    u->opts = (struct psp_dp_tx_opts) {
        .crypt_off = u->r.crypt_off,
        .has_vc = u->r.has_vc,
        .vc = u->r.has_vc ? u->r.vc : 0,
        .sample = u->r.sample,
        .drop_after_sample = u->r.drop_after_sample,
        .owner = *uuid,
        .owner_epoch = tx_epoch,
    };

    /* Where the row's SA was installed before, if it was. */
    const struct json *j = row_column(old, "remote");
    const char *prev_remote_s = (j && j->type == JSON_STRING ? json_string(j)
                                 : u->r.remote);
    u->prev_assoc = u->r.assoc;
    json_get_int(row_column(old, "association"), &u->prev_assoc);
    u->has_prev = (u->complete
                   && psp_dp_parse_addr(prev_remote_s, false, &u->prev_remote)
                   && tx_find_owned(uuid, &u->prev_remote, u->prev_assoc,
                                    &u->prev));
    if (u->has_prev) {
        psp_dp_tx_sa_set_epoch(&u->prev_remote, u->prev_assoc, uuid,
                               tx_epoch);
    }
}

/* Checks the new values of 'u', all but the key, and reads its remote into
 * 'u->remote'.  Returns null if they are fine, else an error message for
 * the caller to free. */
static char *
tx_update_check(struct tx_update *u)
{
    struct psp_dp_tx_info other;

    if (!u->complete) {
        return xstrdup("incomplete row");
    }
    if (!psp_dp_parse_addr(u->r.remote, false, &u->remote)) {
        return xasprintf("invalid remote \"%s\" (must be an IPv4 or IPv6 "
                         "address)", u->r.remote);
    }
    if (psp_dp_tx_sa_get_info(&u->remote, u->r.assoc, &other)
        && !uuid_is_zero(&other.opts.owner)
        && !uuid_equals(&other.opts.owner, u->uuid)) {
        return xasprintf("same remote and association as PSP_Tx_SA "UUID_FMT,
                         UUID_ARGS(&other.opts.owner));
    }
    return NULL;
}

/* Reads the key of 'u', checked by tx_update_check(), into 'key' and
 * '*key_len', and checks what only matters once there is a key.  Returns
 * null if all is fine, else an error message for the caller to free. */
static char *
tx_update_check_key(const struct tx_update *u, uint8_t key[PSP_MAX_KEY_LEN],
                    size_t *key_len)
{
    *key_len = psp_version_key_len(u->r.version);
    if (!psp_dp_parse_hex(json_string(u->r.sa_key), key, *key_len)) {
        return xasprintf("sa_key must be %"PRIuSIZE" bytes (%"PRIuSIZE" hex "
                         "digits) for version %"PRId64, *key_len,
                         2 * *key_len, u->r.version);
    }
    if (u->opts.drop_after_sample && !u->opts.sample) {
        explicit_bzero(key, PSP_MAX_KEY_LEN);
        return xstrdup("drop_after_sample requires sample");
    }
    if (u->opts.crypt_off > 0 && psp_version_is_gmac(u->r.version)) {
        explicit_bzero(key, PSP_MAX_KEY_LEN);
        return xstrdup("crypt_offset must be 0 with AES-GMAC (version 2 or "
                       "3)");
    }
    return NULL;
}

/* Whether the SA installed for 'u''s row before is the one its new values
 * describe, the key aside. */
static bool
tx_update_is_same(const struct tx_update *u)
{
    const struct psp_dp_tx_info *prev = &u->prev;
    const struct psp_dp_tx_opts *opts = &u->opts;

    return (u->has_prev && ipv6_addr_equals(&u->prev_remote, &u->remote)
            && u->prev_assoc == u->r.assoc && prev->spi == u->r.spi
            && prev->version == u->r.version
            && prev->opts.crypt_off == opts->crypt_off
            && prev->opts.has_vc == opts->has_vc
            && prev->opts.vc == opts->vc
            && prev->opts.sample == opts->sample
            && prev->opts.drop_after_sample == opts->drop_after_sample);
}

/* Applies 'u', checked by tx_update_check(), whose row has no sa_key. */
static void
tx_apply_keyless(const struct tx_update *u)
{
    if (tx_update_is_same(u) && (u->r.stale || !u->prev.stale)) {
        /* The key column is ephemeral: a restarted ovsdb-server lost it,
         * but the datapath still holds the key.  (An SA no longer stale
         * needs its key again.) */
        if (u->r.stale) {
            psp_dp_tx_sa_set_stale(&u->remote, u->r.assoc);
        }
        tx_set_status(u->uuid, u->r.stale ? "stale" : "applied", NULL);
    } else {
        tx_refuse(u->uuid, u->has_prev, "no sa_key");
    }
}

/* Installs the SA of 'u', checked by tx_update_check() and
 * tx_update_check_key(), with 'key' ('key_len' bytes), which it wipes.
 * Returns null if it is installed, else an error message for the caller to
 * free. */
static char *
tx_install(const struct tx_update *u, uint8_t key[PSP_MAX_KEY_LEN],
           size_t key_len)
{
    /* A re-key of the same remote and association replaces the SA in place,
     * with no gap; a row that moved drops its old SA once the new one is
     * there. */
    int err = psp_dp_tx_sa_set_opts(&u->remote, u->r.assoc, u->r.spi,
                                    u->r.version, key, key_len, &u->opts);
    explicit_bzero(key, PSP_MAX_KEY_LEN);
    if (err) {
        return xstrdup(err == ENOMEM ? "out of memory"
                       : err == EEXIST ? "sa_key is the key of another "
                                         "transmit SA (one key for two SAs "
                                         "would repeat GCM nonces)"
                       : "invalid SA");
    }
    if (u->has_prev && !(ipv6_addr_equals(&u->prev_remote, &u->remote)
                         && u->prev_assoc == u->r.assoc)) {
        psp_dp_tx_sa_del_owned(&u->prev_remote, u->prev_assoc, u->uuid);
    }
    if (u->r.stale) {
        /* The receiver's generation of this key is gone: nothing is sent
         * with it until the control plane re-keys. */
        psp_dp_tx_sa_set_stale(&u->remote, u->r.assoc);
    }
    tx_set_status(u->uuid, u->r.stale ? "stale" : "applied", NULL);
    return NULL;
}

/* Applies row 'uuid', now 'new'.  'old' holds the old values of the columns
 * that changed (null for a new row, or at a resync, when the old values are
 * unknown). */
static void
tx_apply(const struct uuid *uuid, const struct json *new,
         const struct json *old)
{
    uint8_t key[PSP_MAX_KEY_LEN];
    struct tx_update u;
    size_t key_len;
    char *error;

    tx_update_parse(uuid, new, old, &u);
    error = tx_update_check(&u);
    if (!error && !u.r.sa_key) {
        tx_apply_keyless(&u);
        return;
    }
    if (!error) {
        error = tx_update_check_key(&u, key, &key_len);
    }
    if (!error) {
        error = tx_install(&u, key, key_len);
    }
    if (error) {
        tx_refuse(uuid, u.has_prev, error);
        free(error);
    }
}

/* Removes the SA of row 'uuid', deleted, whose columns were 'old'. */
static void
tx_delete(const struct uuid *uuid, const struct json *old)
{
    struct tx_row r;
    struct in6_addr remote;

    if (tx_row_parse(old, &r) && psp_dp_parse_addr(r.remote, false, &remote)) {
        psp_dp_tx_sa_del_owned(&remote, r.assoc, uuid);
    }
}

/* Applies <table-updates> 'updates' (of a "monitor" reply if 'initial', else
 * of an "update" notification). */
static void
tx_process(const struct json *updates, bool initial)
{
    const struct json *table = (updates && updates->type == JSON_OBJECT
                                ? shash_find_data(json_object(updates),
                                                  "PSP_Tx_SA")
                                : NULL);
    const struct shash_node *node;

    if (initial) {
        tx_epoch++;
    }
    if (table && table->type == JSON_OBJECT) {
        /* Deletions first, so that a row that replaces a deleted one for the
         * same SA is not refused as a duplicate. */
        for (int pass = 0; pass < 2; pass++) {
            SHASH_FOR_EACH (node, json_object(table)) {
                const struct json *old = row_column(node->data, "old");
                const struct json *new = row_column(node->data, "new");
                struct uuid uuid;

                if (!uuid_from_string(&uuid, node->name)) {
                    continue;
                }
                tx_bulk += pass;
                if (pass == 0 && old && !new) {
                    tx_delete(&uuid, old);
                } else if (pass == 1 && new) {
                    tx_apply(&uuid, new, initial ? NULL : old);
                }
                if (pass == 1) {
                    wipe_key_column(old);
                    wipe_key_column(new);
                }
            }
        }
    }
    if (initial) {
        size_t n = psp_dp_tx_sa_sweep(tx_epoch);
        if (n) {
            VLOG_INFO("PSP: removed %"PRIuSIZE" transmit SAs whose rows are "
                      "gone from the database", n);
        }
    }
}

static void
tx_send_monitor(void)
{
    struct json *columns = json_array_create_empty();
    for (size_t i = 0; i < ARRAY_SIZE(tx_columns); i++) {
        json_array_add(columns, json_string_create(tx_columns[i]));
    }
    struct json *request = json_object_create();
    json_object_put(request, "columns", columns);
    struct json *requests = json_object_create();
    json_object_put(requests, "PSP_Tx_SA", request);

    struct jsonrpc_msg *msg = jsonrpc_create_request(
        "monitor", json_array_create_3(json_string_create("Open_vSwitch"),
                                       json_string_create("psp_tx"),
                                       requests), NULL);
    json_destroy(tx_monitor_id);
    tx_monitor_id = json_clone(msg->id);
    tx_monitoring = false;
    jsonrpc_session_send(tx_session, msg);
}

static void
tx_report_stats(const struct uuid *owner, uint64_t packets, uint64_t bytes,
                void *aux OVS_UNUSED)
{
    struct json *pairs = json_array_create_2(
        json_array_create_2(json_string_create("tx_bytes"),
                            json_integer_create(bytes)),
        json_array_create_2(json_string_create("tx_packets"),
                            json_integer_create(packets)));
    tx_queue_update(owner, "statistics",
                    json_array_create_2(json_string_create("map"), pairs));
}

/* Sends the queued operations, TX_OPS_MAX per transaction. */
static void
tx_flush(void)
{
    if (!tx_ops) {
        return;
    }
    if (!jsonrpc_session_is_connected(tx_session)) {
        /* The resync after the reconnection writes everything again. */
        json_destroy(tx_ops);
        tx_ops = NULL;
        return;
    }

    const struct json_array *ops = json_array(tx_ops);
    tx_bulk += ops->n - 1;
    for (size_t i = 1; i < ops->n; i += TX_OPS_MAX) {
        size_t n = MIN(TX_OPS_MAX, ops->n - i);
        struct json *params = json_array_create_1(
            json_string_create("Open_vSwitch"));
        for (size_t j = 0; j < n; j++) {
            json_array_add(params, ops->elems[i + j]);
            ops->elems[i + j] = NULL;
        }
        jsonrpc_session_send(tx_session,
                             jsonrpc_create_request("transact", params,
                                                    NULL));
    }
    json_destroy(tx_ops);
    tx_ops = NULL;
}

/* Logs the errors a transaction's reply 'msg' holds. */
static void
tx_check_reply(const struct jsonrpc_msg *msg)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
    const struct json *error = msg->error;

    if (!error && msg->result && msg->result->type == JSON_ARRAY) {
        const struct json_array *results = json_array(msg->result);
        for (size_t i = 0; i < results->n && !error; i++) {
            error = row_column(results->elems[i], "error");
        }
    }
    if (error) {
        char *s = json_to_string(error, 0);
        VLOG_WARN_RL(&rl, "PSP: writing transmit SA status failed: %s", s);
        free(s);
    }
}

void
psp_ovsdb_tx_sa_run(void)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

    jsonrpc_session_run(tx_session);
    if (tx_seqno != jsonrpc_session_get_seqno(tx_session)) {
        tx_seqno = jsonrpc_session_get_seqno(tx_session);
        json_destroy(tx_ops);
        tx_ops = NULL;
        tx_monitoring = false;
        if (jsonrpc_session_is_connected(tx_session)) {
            tx_send_monitor();
        }
    }

    for (int i = 0; i < 50; i++) {
        struct jsonrpc_msg *msg = jsonrpc_session_recv(tx_session);
        if (!msg) {
            break;
        }
        if (msg->type == JSONRPC_NOTIFY && !strcmp(msg->method, "update")
            && tx_monitoring && msg->params->type == JSON_ARRAY
            && json_array(msg->params)->n == 2) {
            tx_process(json_array(msg->params)->elems[1], false);
        } else if (tx_monitor_id && msg->id
                   && json_equal(msg->id, tx_monitor_id)) {
            json_destroy(tx_monitor_id);
            tx_monitor_id = NULL;
            if (msg->type == JSONRPC_REPLY) {
                tx_monitoring = true;
                tx_process(msg->result, true);
                next_stats = 0;
            } else {
                char *s = json_to_string(msg->error, 0);
                VLOG_WARN_RL(&rl, "PSP: cannot monitor PSP_Tx_SA: %s", s);
                free(s);
            }
        } else if (msg->type == JSONRPC_REPLY || msg->type == JSONRPC_ERROR) {
            tx_check_reply(msg);
        }
        jsonrpc_msg_destroy(msg);
    }

    if (tx_monitoring && time_msec() >= next_stats) {
        psp_dp_tx_sa_report(tx_report_stats, NULL);
        next_stats = time_msec() + STATS_INTERVAL;
    }
    tx_flush();

    /* Once what was sent for the bulk is gone too. */
    if (tx_bulk >= TX_TRIM_BULK && !jsonrpc_session_get_backlog(tx_session)) {
        tx_bulk = 0;
#if HAVE_DECL_MALLOC_TRIM
        malloc_trim(0);
#endif
    }
}

void
psp_ovsdb_tx_sa_open(const char *remote)
{
    tx_session = jsonrpc_session_open(remote, true);
}

void
psp_ovsdb_tx_sa_wait(void)
{
    jsonrpc_session_wait(tx_session);
    jsonrpc_session_recv_wait(tx_session);
    if (tx_monitoring) {
        poll_timer_wait_until(next_stats);
    }
}

void
psp_ovsdb_tx_sa_close(void)
{
    if (tx_session) {
        jsonrpc_session_close(tx_session);
        tx_session = NULL;
        json_destroy(tx_monitor_id);
        tx_monitor_id = NULL;
        json_destroy(tx_ops);
        tx_ops = NULL;
        tx_monitoring = false;
    }
}
