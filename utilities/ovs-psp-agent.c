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

/* ovs-psp-agent: rotates the PSP master keys of an ovs-vswitchd through
 * its database, on a policy or on demand.
 *
 * The agent never sees a key.  It monitors the PSP row's rotate_to,
 * rotation_policy and status columns and the status of the PSP_Rx_SA rows,
 * and asks for a rotation by writing rotate_to.  ovs-vswitchd rotates and
 * marks the receive SAs of the previous generation "rekey" and those of
 * older ones "stale"; the agent counts the "rekey" rows as the re-keys still
 * pending, and does not rotate again while there are any, unless the
 * policy's rekey-timeout has run out. */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "command-line.h"
#include "daemon.h"
#include "dirs.h"
#include "fatal-signal.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "smap.h"
#include "stream-ssl.h"
#include "stream.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"
#include "vswitch-idl.h"

VLOG_DEFINE_THIS_MODULE(psp_agent);

/* SPIs in one master key generation: the SPI's top bit picks the
 * generation's slot, and SPI 0 is reserved. */
#define SPIS_PER_GENERATION 2147483647.0

/* How long ovs-vswitchd may take to apply a rotation before the agent says
 * so (it keeps waiting). */
#define APPLY_WARN_MSEC (10 * 1000)

/* The policy, from the PSP row's rotation_policy column. */
struct policy {
    long long int interval;     /* Seconds between rotations, 0 = none. */
    double max_spi_usage;       /* Percent of a generation's SPIs, 0 = none.*/
    long long int max_spis;     /* SPIs allocated, 0 = none. */
    long long int rekey_timeout; /* Seconds, -1 = wait forever. */
    char *error;                /* Why a key was ignored, or NULL. */
};

/* What the agent is doing, as "psp-agent/status" and the PSP row's
 * status:agent_state say it. */
enum agent_state {
    ST_CONNECTING,              /* No database contents yet. */
    ST_STANDBY,                 /* Another agent holds the lock. */
    ST_NO_KEYS,                 /* ovs-vswitchd has published no keys. */
    ST_IDLE,                    /* No rotation due. */
    ST_WAITING_REKEY,           /* Rotation due, re-keys pending. */
    ST_ROTATING,                /* rotate_to written, not applied yet. */
};

static const char *
state_name(enum agent_state st)
{
    switch (st) {
    case ST_CONNECTING: return "connecting";
    case ST_STANDBY: return "standby";
    case ST_NO_KEYS: return "no-keys";
    case ST_IDLE: return "idle";
    case ST_WAITING_REKEY: return "waiting-rekey";
    case ST_ROTATING: return "rotating";
    }
    return "unknown";
}

static struct ovsdb_idl *idl;
static struct ovsdb_idl_txn *txn;   /* In flight, or NULL. */
static bool exiting;

static enum agent_state state = ST_CONNECTING;
static struct policy policy;
static char *policy_error_logged;

/* The active generation, from status:active_generation, and when the agent
 * first saw it (the baseline of the interval when the keys never rotated). */
static long long int active_gen = -1;
static long long int active_seen_at;

/* A rotation the agent asked for: rotate_to = 'target', written at
 * 'requested_at' (wall clock, ms); 'target' is 0 when none. */
static long long int target;
static long long int requested_at;
static bool target_forced;
static bool apply_warned;

/* When the current rotation became due (wall clock, ms), 0 when none is
 * due, and why. */
static long long int due_since;
static const char *due_reason;
static bool wait_logged;

/* Counters. */
static unsigned long long int n_rotations;
static unsigned long long int n_forced;

/* An on-demand rotation: the connection waiting for its result, and
 * whether it was forced. */
static struct unixctl_conn *rotate_conn;
static bool rotate_requested;
static bool rotate_force;

/* Receive SAs by state, counted each run. */
static size_t n_rekey, n_stale, n_rx;

static void parse_options(int argc, char *argv[], char **unixctl_path,
                          char **remote);
OVS_NO_RETURN static void usage(void);

static unixctl_cb_func agent_exit;
static unixctl_cb_func agent_rotate;
static unixctl_cb_func agent_show;

static void agent_run(void);
static void agent_wait(void);
static void agent_stopped(void);

int
main(int argc, char *argv[])
{
    struct unixctl_server *unixctl;
    char *unixctl_path = NULL;
    char *remote = NULL;

    ovs_cmdl_proctitle_init(argc, argv);
    set_program_name(argv[0]);
    service_start(&argc, &argv);
    parse_options(argc, argv, &unixctl_path, &remote);
    fatal_ignore_sigpipe();

    daemonize_start(false);

    int retval = unixctl_server_create(unixctl_path, &unixctl);
    if (retval) {
        exit(EXIT_FAILURE);
    }
    unixctl_command_register("exit", "", 0, 0, agent_exit, NULL);
    unixctl_command_register("psp-agent/rotate", "[--force]", 0, 1,
                             agent_rotate, NULL);
    unixctl_command_register("psp-agent/show", "", 0, 0, agent_show, NULL);

    daemonize_complete();

    /* Only the columns the agent acts on: never master_keys, key_state or
     * sa_key, so no key ever reaches this process. */
    idl = ovsdb_idl_create(remote, &ovsrec_idl_class, false, true);
    ovsdb_idl_set_lock(idl, "ovs_psp_agent");
    ovsdb_idl_add_table(idl, &ovsrec_table_psp);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_rotate_to);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_rotation_policy);
    ovsdb_idl_add_column(idl, &ovsrec_psp_col_status);
    ovsdb_idl_add_table(idl, &ovsrec_table_psp_rx_sa);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_status);
    VLOG_INFO("connecting to %s", remote);

    while (!exiting) {
        ovsdb_idl_run(idl);
        unixctl_server_run(unixctl);
        agent_run();

        ovsdb_idl_wait(idl);
        unixctl_server_wait(unixctl);
        agent_wait();
        if (exiting) {
            poll_immediate_wake();
        }
        poll_block();
    }

    if (rotate_conn) {
        unixctl_command_reply_error(rotate_conn, "ovs-psp-agent is exiting");
    }
    if (txn) {
        ovsdb_idl_txn_destroy(txn);
    }
    agent_stopped();
    ovsdb_idl_destroy(idl);
    unixctl_server_destroy(unixctl);
    free(policy.error);
    free(policy_error_logged);
    free(unixctl_path);
    free(remote);
    service_stop();
    return 0;
}

/* Policy. */

/* Parses 's', an integer from 1 to INT_MAX, into '*out'.
 * Returns false if it is not one. */
static bool
parse_positive(const char *s, long long int *out)
{
    char *end;

    errno = 0;
    long long int v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > INT_MAX) {
        return false;
    }
    *out = v;
    return true;
}

/* Reads the policy from 'cfg' (the rotation_policy column) into 'p'.  A
 * bad value is ignored, with p->error saying which. */
static void
policy_parse(const struct smap *cfg, struct policy *p)
{
    const struct smap_node **nodes = smap_sort(cfg);
    struct ds errors = DS_EMPTY_INITIALIZER;

    free(p->error);
    memset(p, 0, sizeof *p);
    p->rekey_timeout = -1;

    for (size_t i = 0; i < smap_count(cfg); i++) {
        const char *k = nodes[i]->key, *v = nodes[i]->value;
        bool ok = true;

        if (!strcmp(k, "interval")) {
            ok = parse_positive(v, &p->interval);
        } else if (!strcmp(k, "rekey-timeout")) {
            ok = parse_positive(v, &p->rekey_timeout);
        } else if (!strcmp(k, "max-spis")) {
            ok = parse_positive(v, &p->max_spis);
        } else if (!strcmp(k, "max-spi-usage")) {
            char *end;
            errno = 0;
            p->max_spi_usage = strtod(v, &end);
            ok = (!errno && end != v && !*end && isfinite(p->max_spi_usage)
                  && p->max_spi_usage > 0 && p->max_spi_usage <= 100);
            if (!ok) {
                p->max_spi_usage = 0;
            }
        } else {
            ds_put_format(&errors, "%sunknown key \"%s\"",
                          errors.length ? "; " : "", k);
            continue;
        }
        if (!ok) {
            ds_put_format(&errors, "%s%s: \"%s\" is not valid, ignored",
                          errors.length ? "; " : "", k, v);
        }
    }
    free(nodes);
    p->error = errors.length ? ds_steal_cstr(&errors) : NULL;
    ds_destroy(&errors);
}

static void
policy_format(const struct policy *p, struct ds *s)
{
    size_t start = s->length;

    if (p->interval) {
        ds_put_format(s, " interval=%lld", p->interval);
    }
    if (p->max_spi_usage) {
        ds_put_format(s, " max-spi-usage=%g", p->max_spi_usage);
    }
    if (p->max_spis) {
        ds_put_format(s, " max-spis=%lld", p->max_spis);
    }
    if (p->rekey_timeout >= 0) {
        ds_put_format(s, " rekey-timeout=%lld", p->rekey_timeout);
    }
    if (s->length == start) {
        ds_put_cstr(s, " on demand only");
    }
}

/* Reads integer 'key' of 'status' into '*v'; false if it is missing. */
static bool
status_get_ll(const struct smap *status, const char *key, long long int *v)
{
    const char *s = smap_get(status, key);
    char *end;

    if (!s) {
        return false;
    }
    errno = 0;
    *v = strtoll(s, &end, 10);
    return !errno && end != s && !*end && *v >= 0;
}

/* When the interval policy makes the next rotation due (wall clock, ms), or
 * LLONG_MAX if it does not. */
static long long int
interval_due(const struct ovsrec_psp *row)
{
    long long int base;

    if (!policy.interval) {
        return LLONG_MAX;
    }
    if (!status_get_ll(&row->status, "last_rotation", &base) || !base) {
        base = active_seen_at;
    }
    return base + policy.interval * 1000;
}

/* Why a rotation is due now, or NULL.  Sets '*since' to when it became
 * due. */
static const char *
rotation_due(const struct ovsrec_psp *row, long long int now,
             long long int *since)
{
    long long int used = 0;

    status_get_ll(&row->status, "spis_used", &used);
    if (rotate_requested) {
        *since = now;
        return "requested";
    }
    long long int when = interval_due(row);
    if (now >= when) {
        *since = when;
        return "interval";
    }
    if (policy.max_spis && used >= policy.max_spis) {
        *since = due_since ? due_since : now;
        return "max-spis";
    }
    if (policy.max_spi_usage
        && used * 100.0 >= policy.max_spi_usage * SPIS_PER_GENERATION) {
        *since = due_since ? due_since : now;
        return "max-spi-usage";
    }
    return NULL;
}

/* Database. */

/* Sets status key 'key' of 'row' to 'value' (NULL: removes it), if it
 * differs. */
static void
status_set(const struct ovsrec_psp *row, const char *key, const char *value)
{
    const char *old = smap_get(&row->status, key);

    if (value && (!old || strcmp(old, value))) {
        ovsrec_psp_update_status_setkey(row, key, value);
    } else if (!value && old) {
        ovsrec_psp_update_status_delkey(row, key);
    }
}

/* Writes what the agent does to the PSP row's status. */
static void
publish(const struct ovsrec_psp *row, long long int next)
{
    char buf[32];

    status_set(row, "agent_state", state_name(state));
    snprintf(buf, sizeof buf, "%"PRIuSIZE, n_rekey);
    status_set(row, "agent_pending_rekeys", buf);
    if (next != LLONG_MAX) {
        snprintf(buf, sizeof buf, "%lld", next);
        status_set(row, "agent_next_rotation", buf);
    } else {
        status_set(row, "agent_next_rotation", NULL);
    }
    status_set(row, "agent_error", policy.error);
}

static void
reply_rotate(bool ok, const char *msg)
{
    if (rotate_conn) {
        if (ok) {
            unixctl_command_reply(rotate_conn, msg);
        } else {
            unixctl_command_reply_error(rotate_conn, msg);
        }
        rotate_conn = NULL;
    }
}

/* Finishes the transaction in flight.  Returns true if there is none
 * left. */
static bool
txn_finish(void)
{
    if (!txn) {
        return true;
    }

    enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(txn);
    if (status == TXN_INCOMPLETE) {
        return false;
    }
    if (status != TXN_SUCCESS && status != TXN_UNCHANGED) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
        VLOG_WARN_RL(&rl, "database transaction failed (%s)",
                     ovsdb_idl_txn_status_to_string(status));
        if (target && status != TXN_TRY_AGAIN) {
            /* The rotation request did not reach the database. */
            target = 0;
            reply_rotate(false, "database transaction failed");
        } else if (target) {
            /* Someone changed rotate_to meanwhile: decide again, and retry
             * a request from ovs-appctl. */
            target = 0;
            if (rotate_conn) {
                rotate_requested = true;
            }
        }
    }
    ovsdb_idl_txn_destroy(txn);
    txn = NULL;
    return true;
}

/* Counts the receive SAs by state. */
static void
count_rx(void)
{
    const struct ovsrec_psp_rx_sa *rx;

    n_rekey = n_stale = n_rx = 0;
    OVSREC_PSP_RX_SA_FOR_EACH (rx, idl) {
        const char *st = smap_get(&rx->status, "state");
        n_rx++;
        if (st && !strcmp(st, "rekey")) {
            n_rekey++;
        } else if (st && !strcmp(st, "stale")) {
            n_stale++;
        }
    }
}

/* Asks ovs-vswitchd for the generation after the active one. */
static void
rotate(const struct ovsrec_psp *row, const char *reason, bool forced)
{
    int64_t next = active_gen + 1;

    ovsrec_psp_verify_rotate_to(row);
    ovsrec_psp_set_rotate_to(row, &next, 1);
    target = next;
    target_forced = forced;
    requested_at = time_wall_msec();
    apply_warned = false;
    if (forced) {
        VLOG_WARN("forcing rotation to generation %lld (%s): %"PRIuSIZE
                  " receive SAs did not re-key and become stale",
                  target, reason, n_rekey);
    } else {
        VLOG_INFO("rotating to generation %lld (%s)", target, reason);
    }
    due_since = 0;
    due_reason = NULL;
    wait_logged = false;
    rotate_requested = false;
    rotate_force = false;
}

static void
agent_run(void)
{
    if (!txn_finish()) {
        return;
    }

    const struct ovsrec_psp *row = ovsrec_psp_first(idl);
    long long int now = time_wall_msec();

    if (!ovsdb_idl_has_ever_connected(idl)) {
        state = ST_CONNECTING;
        return;
    }
    if (!ovsdb_idl_has_lock(idl)) {
        state = ST_STANDBY;
        if (rotate_conn) {
            reply_rotate(false, "another ovs-psp-agent holds the lock");
        }
        rotate_requested = false;
        return;
    }

    long long int gen;
    if (!row || !status_get_ll(&row->status, "active_generation", &gen)) {
        state = ST_NO_KEYS;
        if (rotate_conn) {
            reply_rotate(false, "ovs-vswitchd has published no master keys");
        }
        rotate_requested = false;
        return;
    }

    policy_parse(&row->rotation_policy, &policy);
    if (policy.error && (!policy_error_logged
                         || strcmp(policy.error, policy_error_logged))) {
        VLOG_WARN("rotation_policy: %s", policy.error);
        free(policy_error_logged);
        policy_error_logged = xstrdup(policy.error);
    }
    if (gen != active_gen) {
        active_gen = gen;
        active_seen_at = now;
    }
    count_rx();

    txn = ovsdb_idl_txn_create(idl);
    ovsdb_idl_txn_add_comment(txn, "ovs-psp-agent");

    if (target) {
        if (active_gen >= target) {
            char *msg = xasprintf("rotated to generation %lld", active_gen);
            VLOG_INFO("%s", msg);
            reply_rotate(true, msg);
            free(msg);
            n_rotations++;
            n_forced += target_forced;
            target = 0;
        } else if (!row->n_rotate_to || row->rotate_to[0] != target) {
            /* rotate_to was lost (ovsdb-server restarted) or changed. */
            target = 0;
            reply_rotate(false, "the rotation request was lost");
        } else if (smap_get(&row->status, "error")) {
            char *msg = xasprintf("ovs-vswitchd refused the rotation: %s",
                                  smap_get(&row->status, "error"));
            VLOG_WARN("%s", msg);
            reply_rotate(false, msg);
            free(msg);
            target = 0;
        } else if (!apply_warned && now - requested_at > APPLY_WARN_MSEC) {
            VLOG_WARN("ovs-vswitchd has not applied rotate_to %lld after "
                      "%d s: is it running?", target, APPLY_WARN_MSEC / 1000);
            apply_warned = true;
        }
    }

    if (rotate_requested && n_rekey && !rotate_force) {
        /* Receive SAs were marked since the request was accepted. */
        rotate_requested = false;
        reply_rotate(false, "receive SAs must re-key first");
    }

    if (target) {
        state = ST_ROTATING;
    } else {
        long long int since;
        const char *why = rotation_due(row, now, &since);

        if (!why) {
            state = ST_IDLE;
            due_since = 0;
            due_reason = NULL;
            wait_logged = false;
        } else {
            if (!due_since || !due_reason || strcmp(why, due_reason)) {
                due_since = since;
                due_reason = why;
            }
            if (rotate_force || !n_rekey) {
                rotate(row, why, n_rekey > 0);
                state = ST_ROTATING;
            } else if (policy.rekey_timeout >= 0
                       && now >= due_since + policy.rekey_timeout * 1000
                       && strcmp(why, "requested")) {
                rotate(row, "rekey-timeout", true);
                state = ST_ROTATING;
            } else {
                state = ST_WAITING_REKEY;
                if (!wait_logged) {
                    VLOG_INFO("rotation due (%s), waiting for %"PRIuSIZE
                              " receive SAs to re-key", why, n_rekey);
                    wait_logged = true;
                }
            }
        }
    }

    publish(row, target ? LLONG_MAX : interval_due(row));
    txn_finish();
}

static void
agent_wait(void)
{
    if (txn) {
        ovsdb_idl_txn_wait(txn);
        return;
    }
    if (state == ST_CONNECTING || state == ST_STANDBY
        || state == ST_NO_KEYS) {
        return;
    }

    /* Wake up when a deadline passes.  Deadlines are on the wall clock
     * (the database's times are), timers on the monotonic one. */
    long long int now = time_wall_msec();
    long long int when = LLONG_MAX;
    const struct ovsrec_psp *row = ovsrec_psp_first(idl);

    if (state == ST_IDLE && row) {
        when = interval_due(row);
    } else if (state == ST_WAITING_REKEY && policy.rekey_timeout >= 0) {
        when = due_since + policy.rekey_timeout * 1000;
    } else if (state == ST_ROTATING && !apply_warned) {
        when = requested_at + APPLY_WARN_MSEC + 1;
    }
    if (rotate_requested) {
        poll_immediate_wake();
    } else if (when != LLONG_MAX) {
        poll_timer_wait(MAX(when - now, 0));
    }
}

/* On exit: says in the database that no agent runs, so that nobody waits
 * for its rotations. */
static void
agent_stopped(void)
{
    const struct ovsrec_psp *row = ovsrec_psp_first(idl);

    if (!row || !ovsdb_idl_is_connected(idl) || !ovsdb_idl_has_lock(idl)) {
        return;
    }
    struct ovsdb_idl_txn *t = ovsdb_idl_txn_create(idl);
    status_set(row, "agent_state", "stopped");
    status_set(row, "agent_next_rotation", NULL);
    ovsdb_idl_txn_commit_block(t);
    ovsdb_idl_txn_destroy(t);
}

/* ovs-appctl commands. */

static void
agent_exit(struct unixctl_conn *conn, int argc OVS_UNUSED,
           const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    exiting = true;
    unixctl_command_reply(conn, NULL);
}

static void
agent_rotate(struct unixctl_conn *conn, int argc, const char *argv[],
             void *aux OVS_UNUSED)
{
    bool force = argc > 1 && !strcmp(argv[1], "--force");

    if (argc > 1 && !force) {
        unixctl_command_reply_error(conn, "usage: psp-agent/rotate "
                                    "[--force]");
        return;
    }
    if (rotate_conn || rotate_requested) {
        unixctl_command_reply_error(conn, "a rotation request is already "
                                    "in progress");
        return;
    }
    if (state == ST_CONNECTING || state == ST_STANDBY
        || state == ST_NO_KEYS) {
        char *msg = xasprintf("cannot rotate now (%s)", state_name(state));
        unixctl_command_reply_error(conn, msg);
        free(msg);
        return;
    }
    if (target) {
        unixctl_command_reply_error(conn, "a rotation is in progress");
        return;
    }
    if (n_rekey && !force) {
        char *msg = xasprintf("%"PRIuSIZE" receive SAs must still re-key "
                              "(psp-agent/rotate --force makes them stale)",
                              n_rekey);
        unixctl_command_reply_error(conn, msg);
        free(msg);
        return;
    }
    rotate_requested = true;
    rotate_force = force;
    rotate_conn = conn;
}

static void
put_time(struct ds *s, const char *name, long long int when,
         long long int now)
{
    long long int secs = (when - now) / 1000;

    ds_put_format(s, "%s: ", name);
    if (secs >= 0) {
        ds_put_format(s, "in %lld s", secs);
    } else {
        ds_put_format(s, "%lld s ago", -secs);
    }
    ds_put_char(s, '\n');
}

static void
agent_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
           const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    const struct ovsrec_psp *row = ovsrec_psp_first(idl);
    long long int now = time_wall_msec();
    struct ds s = DS_EMPTY_INITIALIZER;

    ds_put_format(&s, "state: %s\n", state_name(state));
    if (state != ST_CONNECTING && state != ST_STANDBY
        && state != ST_NO_KEYS && row) {
        ds_put_format(&s, "active generation: %lld\n", active_gen);
        if (target) {
            ds_put_format(&s, "rotating to: %lld\n", target);
        }
        ds_put_cstr(&s, "policy:");
        policy_format(&policy, &s);
        ds_put_char(&s, '\n');
        if (policy.error) {
            ds_put_format(&s, "policy error: %s\n", policy.error);
        }
        long long int next = interval_due(row);
        if (next != LLONG_MAX && !target) {
            put_time(&s, "next rotation", next, now);
        }
        if (due_since) {
            ds_put_format(&s, "due: %s\n", due_reason);
            if (policy.rekey_timeout >= 0) {
                put_time(&s, "forced rotation",
                         due_since + policy.rekey_timeout * 1000, now);
            }
        }
        ds_put_format(&s, "receive SAs: %"PRIuSIZE" (rekey %"PRIuSIZE
                      ", stale %"PRIuSIZE")\n", n_rx, n_rekey, n_stale);
    }
    ds_put_format(&s, "rotations: %llu (forced %llu)\n",
                  n_rotations, n_forced);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* Command line. */

static void
parse_options(int argc, char *argv[], char **unixctl_path, char **remote)
{
    enum {
        OPT_UNIXCTL = UCHAR_MAX + 1,
        VLOG_OPTION_ENUMS,
        DAEMON_OPTION_ENUMS,
        SSL_OPTION_ENUMS,
    };
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"unixctl", required_argument, NULL, OPT_UNIXCTL},
        DAEMON_LONG_OPTIONS,
        VLOG_LONG_OPTIONS,
        STREAM_SSL_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    char *short_options = ovs_cmdl_long_options_to_short_options(long_options);

    for (;;) {
        int c = getopt_long(argc, argv, short_options, long_options, NULL);
        if (c == -1) {
            break;
        }

        switch (c) {
        case 'h':
            usage();

        case 'V':
            ovs_print_version(0, 0);
            exit(EXIT_SUCCESS);

        case OPT_UNIXCTL:
            *unixctl_path = xstrdup(optarg);
            break;

        VLOG_OPTION_HANDLERS
        DAEMON_OPTION_HANDLERS
        STREAM_SSL_OPTION_HANDLERS

        case '?':
            exit(EXIT_FAILURE);

        default:
            abort();
        }
    }
    free(short_options);

    argc -= optind;
    argv += optind;
    if (argc > 1) {
        ovs_fatal(0, "at most one database remote may be given "
                  "(use --help for help)");
    }
    *remote = (argc
               ? xstrdup(argv[0])
               : xasprintf("unix:%s/db.sock", ovs_rundir()));
}

static void
usage(void)
{
    printf("%s: rotates the PSP master keys of Open vSwitch\n"
           "usage: %s [OPTIONS] [DATABASE]\n"
           "where DATABASE is a socket on which ovsdb-server is listening\n"
           "      (default: \"unix:%s/db.sock\").\n",
           program_name, program_name, ovs_rundir());
    stream_usage("DATABASE", true, false, true);
    daemon_usage();
    vlog_usage();
    printf("\nOther options:\n"
           "  --unixctl=SOCKET        override default control socket name\n"
           "  -h, --help              display this help message\n"
           "  -V, --version           display version information\n");
    exit(EXIT_SUCCESS);
}
