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

/* The sessions between hosts and the protocol on them
 * (Documentation/topics/key-exchange.rst).
 *
 * Each host opens one session to each peer's ovs-psp-keyd and sends on it,
 * after a "hello", an "install" for each association: its receive SPI and
 * key, which the peer installs as its transmit SA and acknowledges.  On the
 * sessions it accepts, it does the same the other way.  Both ends of a
 * session are authenticated by TLS with certificates of one CA; the name
 * (common name) in the certificate says which peer it is, and so which
 * address its SAs may be installed for. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "keyd.h"

#include "socket-util.h"
#include "jsonrpc.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/json.h"
#include "openvswitch/list.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "psp.h"
#include "stream.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(keyd_peer);

/* A session that a peer opened to this host. */
struct keyd_conn {
    struct ovs_list node;       /* In 'conns'. */
    struct jsonrpc_session *session;
    bool named;                 /* TLS completed, with a peer name. */
    bool unknown;               /* Its name is no peer's: to be closed. */
    bool hello;                 /* Got a valid hello. */
    uint64_t instance;          /* The peer's, from its hello. */
};

/* Sessions accepted at most at once: past it, connections wait in the
 * listen queue. */
#define KEYD_MAX_INCOMING 1024

static struct pstream *listener;
static struct ovs_list conns = OVS_LIST_INITIALIZER(&conns);

unsigned long long int keyd_refused[KEYD_N_REFUSALS];

const char *
keyd_refusal_name(enum keyd_refusal r)
{
    switch (r) {
#define KEYD_REFUSAL(ENUM, NAME) case KEYD_R_##ENUM: return NAME;
        KEYD_REFUSALS
#undef KEYD_REFUSAL
    case KEYD_N_REFUSALS:
    default:
        OVS_NOT_REACHED();
    }
}

void
keyd_peer_set_error(struct keyd_peer *peer, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    char *error = xvasprintf(format, args);
    va_end(args);

    if (!peer->last_error || strcmp(peer->last_error, error)) {
        VLOG_WARN("peer %s: %s", peer->address, error);
        free(peer->last_error);
        peer->last_error = error;
        keyd_status_changed();
    } else {
        free(error);
    }
}

void
keyd_refuse(struct keyd_peer *peer, enum keyd_refusal r)
{
    keyd_refused[r]++;
    if (peer) {
        peer->refused[r]++;
    }
    keyd_status_changed();
}

const char *
keyd_peer_state(const struct keyd_peer *peer)
{
    struct keyd_assoc *a;

    if (!peer->hello_done) {
        return peer->refused[KEYD_R_WRONG_NAME] && !peer->name_ok
               ? "refused" : "connecting";
    }
    HMAP_FOR_EACH (a, node, &peer->assocs) {
        if (!a->rx_spi || a->rx_acked != a->rx_spi || !a->tx_spi) {
            return "partial";
        }
    }
    return "up";
}

void
keyd_peer_listen(const char *name)
{
    int error = jsonrpc_pstream_open(name, &listener, DSCP_DEFAULT);
    if (error) {
        ovs_fatal(error, "%s: could not listen", name);
    }
    VLOG_INFO("listening on %s", name);
}

/* Protocol messages. */

static struct json *
error_json(enum keyd_refusal r, const char *details)
{
    struct json *e = json_object_create();

    json_object_put_string(e, "error", keyd_refusal_name(r));
    if (details) {
        json_object_put_string(e, "details", details);
    }
    return e;
}

static const struct json *
member(const struct json *o, const char *name, enum json_type type)
{
    const struct json *m = shash_find_data(json_object(o), name);
    return m && m->type == type ? m : NULL;
}

/* Reads member 'name' of 'o', a non-negative integer at most 'max'. */
static bool
get_uint(const struct json *o, const char *name, uint64_t max,
         uint64_t *out)
{
    const struct json *m = member(o, name, JSON_INTEGER);

    if (!m || json_integer(m) < 0 || json_integer(m) > max) {
        return false;
    }
    *out = json_integer(m);
    return true;
}

/* The single object in 'params', or NULL. */
static const struct json *
params_object(const struct json *params)
{
    if (params && params->type == JSON_ARRAY && json_array(params)->n == 1
        && json_array(params)->elems[0]->type == JSON_OBJECT) {
        return json_array(params)->elems[0];
    }
    return NULL;
}

static void
send_error(struct jsonrpc_session *s, const struct jsonrpc_msg *request,
           struct keyd_peer *peer, enum keyd_refusal r, const char *details)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(10, 10);
    const char *name = jsonrpc_session_get_id(s);

    /* The details never hold key material. */
    VLOG_WARN_RL(&rl, "%s (%s): refused %s: %s%s%s",
                 jsonrpc_session_get_name(s), name ? name : "no name",
                 request->method, keyd_refusal_name(r),
                 details ? ": " : "", details ? details : "");
    keyd_refuse(peer, r);
    jsonrpc_session_send(s, jsonrpc_create_error(error_json(r, details),
                                                 request->id));
}

static void
handle_hello(struct keyd_conn *conn, const struct jsonrpc_msg *request,
             struct keyd_peer *peer)
{
    const struct json *p = params_object(request->params);
    const struct json *protocols = p ? member(p, "protocols", JSON_ARRAY)
                                     : NULL;
    uint64_t instance;

    if (!protocols || !get_uint(p, "instance", INT64_MAX, &instance)) {
        send_error(conn->session, request, peer, KEYD_R_MALFORMED,
                   "hello needs \"protocols\" and \"instance\"");
        return;
    }

    bool ok = false;
    for (size_t i = 0; i < json_array(protocols)->n; i++) {
        const struct json *v = json_array(protocols)->elems[i];
        if (v->type == JSON_INTEGER && json_integer(v) == KEYD_PROTOCOL) {
            ok = true;
        }
    }
    if (!ok) {
        send_error(conn->session, request, peer, KEYD_R_UNSUPPORTED,
                   "this host speaks protocol 1");
        return;
    }

    conn->hello = true;
    conn->instance = instance;
    if (peer->instance != instance) {
        /* A new instance of the peer's ovs-psp-keyd: its serials start
         * over. */
        peer->instance = instance;
        peer->serial = 0;
    }

    struct json *result = json_object_create();
    json_object_put(result, "protocol", json_integer_create(KEYD_PROTOCOL));
    jsonrpc_session_send(conn->session,
                         jsonrpc_create_reply(result, request->id));
}

/* Checks that 'request' may go on: a hello came first, on the session of
 * the peer's current instance, and its serial is past the last one. */
static bool
check_order(struct keyd_conn *conn, const struct jsonrpc_msg *request,
            struct keyd_peer *peer, const struct json *p, uint64_t *serial)
{
    if (!conn->hello) {
        send_error(conn->session, request, peer, KEYD_R_NO_HELLO, NULL);
        return false;
    }
    if (!get_uint(p, "serial", INT64_MAX, serial) || !*serial) {
        send_error(conn->session, request, peer, KEYD_R_MALFORMED,
                   "no serial");
        return false;
    }
    if (conn->instance != peer->instance || *serial <= peer->serial) {
        char *details = xasprintf("serial %"PRIu64" is not past %"PRIu64
                                  " of this instance", *serial,
                                  peer->serial);
        send_error(conn->session, request, peer, KEYD_R_REPLAYED,
                   conn->instance != peer->instance
                   ? "a session of an earlier instance" : details);
        free(details);
        return false;
    }
    return true;
}

static bool
parse_key(const char *hex, uint8_t *key, size_t len)
{
    if (strlen(hex) != 2 * len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        int hi = hexit_value(hex[2 * i]);
        int lo = hexit_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        key[i] = hi << 4 | lo;
    }
    return true;
}

static void
handle_install(struct keyd_conn *conn, const struct jsonrpc_msg *request,
               struct keyd_peer *peer)
{
    const struct json *p = params_object(request->params);
    uint64_t assoc, version, spi, serial;
    const struct json *key_json;

    if (!p) {
        send_error(conn->session, request, peer, KEYD_R_MALFORMED,
                   "params must be one object");
        return;
    }
    if (!check_order(conn, request, peer, p, &serial)) {
        return;
    }
    key_json = member(p, "sa_key", JSON_STRING);
    if (!get_uint(p, "association", INT64_MAX, &assoc)
        || !get_uint(p, "version", 3, &version)
        || !get_uint(p, "spi", UINT32_MAX, &spi)
        || !(spi & 0x7fffffff) || !key_json) {
        send_error(conn->session, request, peer, KEYD_R_MALFORMED,
                   "install needs association, version (0-3), spi (not "
                   "0) and sa_key");
        return;
    }

    struct keyd_assoc *a = keyd_assoc_find(peer, assoc, version);
    if (!a) {
        char *details = xasprintf("no association %"PRIu64" version %"
                                  PRIu64" with %s", assoc, version,
                                  peer->address);
        send_error(conn->session, request, peer, KEYD_R_UNKNOWN_ASSOC,
                   details);
        free(details);
        return;
    }

    size_t len = psp_version_key_len(version);
    uint8_t *key = psp_secure_zalloc(KEYD_MAX_KEY_LEN);
    if (!parse_key(json_string(key_json), key, len)) {
        psp_secure_free(key, KEYD_MAX_KEY_LEN);
        send_error(conn->session, request, peer, KEYD_R_MALFORMED,
                   "sa_key must be 32 or 64 hex digits, as the version "
                   "says");
        return;
    }
    peer->serial = serial;

    /* Install, keeping what was there if ovs-vswitchd refuses. */
    uint8_t *old_key = a->tx_key;
    uint32_t old_spi = a->tx_spi;
    size_t old_len = a->tx_key_len;
    char *error = NULL;

    a->tx_key = key;
    a->tx_key_len = len;
    a->tx_spi = spi;
    if (keyd_vswitchd_add_sa(peer, a, &error)) {
        send_error(conn->session, request, peer, KEYD_R_INSTALL_FAILED,
                   error);
        free(error);
        psp_secure_free(key, KEYD_MAX_KEY_LEN);
        a->tx_key = old_key;
        a->tx_key_len = old_len;
        a->tx_spi = old_spi;
        return;
    }
    if (old_key) {
        psp_secure_free(old_key, KEYD_MAX_KEY_LEN);
    }
    if (old_spi != spi) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(60, 60);
        VLOG_INFO_RL(&rl, "peer %s association %"PRIu64" version %"PRIu64": "
                  "transmit SPI %#"PRIx32" installed", peer->address, assoc,
                  version, (uint32_t) spi);
    }
    a->tx_installed = time_msec();
    peer->installed++;
    keyd_status_changed();

    struct json *result = json_object_create();
    json_object_put(result, "association", json_integer_create(assoc));
    json_object_put(result, "version", json_integer_create(version));
    json_object_put(result, "spi", json_integer_create(spi));
    jsonrpc_session_send(conn->session,
                         jsonrpc_create_reply(result, request->id));
}

static void
handle_remove(struct keyd_conn *conn, const struct jsonrpc_msg *request,
              struct keyd_peer *peer)
{
    const struct json *p = params_object(request->params);
    uint64_t assoc, version, serial;
    char *error = NULL;

    if (!p) {
        send_error(conn->session, request, peer, KEYD_R_MALFORMED,
                   "params must be one object");
        return;
    }
    if (!check_order(conn, request, peer, p, &serial)) {
        return;
    }
    if (!get_uint(p, "association", INT64_MAX, &assoc)
        || !get_uint(p, "version", 3, &version)) {
        send_error(conn->session, request, peer, KEYD_R_MALFORMED,
                   "remove needs association and version");
        return;
    }
    peer->serial = serial;

    struct keyd_assoc *a = keyd_assoc_find(peer, assoc, version);
    if (a && a->tx_spi) {
        if (keyd_vswitchd_del_sa(peer, assoc, &error)) {
            keyd_peer_set_error(peer, "removing association %"PRIu64": %s",
                                assoc, error);
            free(error);
        }
        keyd_assoc_forget_tx(a);
        peer->removed++;
        keyd_status_changed();
        VLOG_INFO("peer %s association %"PRIu64": transmit SA removed at "
                  "the peer's request", peer->address, assoc);
    }
    jsonrpc_session_send(conn->session,
                         jsonrpc_create_reply(json_object_create(),
                                              request->id));
}

static void
conn_handle(struct keyd_conn *conn, const struct jsonrpc_msg *msg)
{
    if (msg->type != JSONRPC_REQUEST) {
        return;
    }

    /* The name in the peer's certificate, which TLS verified against the
     * CA, says which peer this is. */
    const char *name = jsonrpc_session_get_id(conn->session);
    int n = 0;
    struct keyd_peer *peer = name ? keyd_peer_find_by_name(name, &n) : NULL;
    if (!peer || n != 1) {
        char *details = xasprintf("no peer is configured with name %s%s",
                                  name ? name : "(none)",
                                  n > 1 ? " alone" : "");
        send_error(conn->session, msg, NULL, KEYD_R_UNKNOWN_PEER, details);
        free(details);
        conn->unknown = true;       /* Closed once the reply is sent. */
        return;
    }

    if (!strcmp(msg->method, "hello")) {
        handle_hello(conn, msg, peer);
    } else if (!strcmp(msg->method, "install")) {
        handle_install(conn, msg, peer);
    } else if (!strcmp(msg->method, "remove")) {
        handle_remove(conn, msg, peer);
    } else {
        send_error(conn->session, msg, peer, KEYD_R_MALFORMED,
                   "unknown method");
    }
}

static void
conns_run(void)
{
    struct keyd_conn *conn;

    if (listener && ovs_list_size(&conns) < KEYD_MAX_INCOMING) {
        for (int i = 0; i < 50; i++) {
            struct stream *stream;
            int error = pstream_accept(listener, &stream);
            if (error) {
                if (error != EAGAIN) {
                    static struct vlog_rate_limit rl
                        = VLOG_RATE_LIMIT_INIT(1, 5);
                    VLOG_WARN_RL(&rl, "accept failed: %s",
                                 ovs_strerror(error));
                }
                break;
            }
            conn = xzalloc(sizeof *conn);
            conn->session = jsonrpc_session_open_unreliably(
                jsonrpc_open(stream), DSCP_DEFAULT);
            /* A peer that does not read its replies is dropped, not
             * buffered for. */
            jsonrpc_session_set_backlog_threshold(conn->session, 1000,
                                                  1024 * 1024);
            ovs_list_push_back(&conns, &conn->node);
        }
    }

    LIST_FOR_EACH_SAFE (conn, node, &conns) {
        jsonrpc_session_run(conn->session);
        if (jsonrpc_session_get_id(conn->session)) {
            conn->named = true;
        }
        for (int i = 0; i < 50 && jsonrpc_session_is_alive(conn->session);
             i++) {
            struct jsonrpc_msg *msg = jsonrpc_session_recv(conn->session);
            if (!msg) {
                break;
            }
            conn->named = true;     /* Only TLS with a name gets here. */
            conn_handle(conn, msg);
            jsonrpc_msg_destroy(msg);
        }
        if (conn->unknown && conn->session
            && !jsonrpc_session_get_backlog(conn->session)) {
            jsonrpc_session_close(conn->session);
            ovs_list_remove(&conn->node);
            free(conn);
            continue;
        }
        if (!jsonrpc_session_is_alive(conn->session)) {
            if (!conn->named) {
                /* The TLS handshake did not complete: no certificate, one
                 * from another CA, or not TLS at all.  stream-ssl logged
                 * why. */
                keyd_refuse(NULL, KEYD_R_TLS_FAILED);
            }
            jsonrpc_session_close(conn->session);
            ovs_list_remove(&conn->node);
            free(conn);
        }
    }
}

size_t
keyd_peer_n_incoming(void)
{
    return ovs_list_size(&conns);
}

/* The session this host opened. */

static void
session_send(struct keyd_peer *peer, const char *method, struct json *p)
{
    jsonrpc_session_send(peer->session,
                         jsonrpc_create_request(method,
                                                json_array_create_1(p),
                                                NULL));
}

static void
send_install(struct keyd_peer *peer, struct keyd_assoc *a)
{
    uint8_t key[KEYD_MAX_KEY_LEN];
    size_t len;
    char *error = NULL;

    if (keyd_vswitchd_rx_key(a->rx_spi, a->version, key, &len, &error)) {
        keyd_peer_set_error(peer, "association %"PRIu64": key of SPI %"
                            PRIu32": %s", a->assoc, a->rx_spi, error);
        free(error);
        return;
    }

    char hex[2 * KEYD_MAX_KEY_LEN + 1];
    for (size_t i = 0; i < len; i++) {
        snprintf(&hex[2 * i], 3, "%02x", key[i]);
    }
    explicit_bzero(key, sizeof key);

    struct json *p = json_object_create();
    json_object_put(p, "association", json_integer_create(a->assoc));
    json_object_put(p, "version", json_integer_create(a->version));
    json_object_put(p, "spi", json_integer_create(a->rx_spi));
    json_object_put_string(p, "sa_key", hex);
    json_object_put(p, "serial", json_integer_create(keyd_next_serial()));
    json_set_secret(p);
    explicit_bzero(hex, sizeof hex);
    session_send(peer, "install", p);

    a->rx_sent = a->rx_spi;
    peer->sent++;
}

void
keyd_peer_send_remove(struct keyd_peer *peer, const struct keyd_assoc *a)
{
    if (!peer->session || !peer->hello_done
        || !jsonrpc_session_is_connected(peer->session)) {
        return;
    }

    struct json *p = json_object_create();
    json_object_put(p, "association", json_integer_create(a->assoc));
    json_object_put(p, "version", json_integer_create(a->version));
    json_object_put(p, "serial", json_integer_create(keyd_next_serial()));
    session_send(peer, "remove", p);
}

static void
session_reply(struct keyd_peer *peer, const struct jsonrpc_msg *msg)
{
    const struct json *r = msg->result;

    if (msg->type == JSONRPC_ERROR) {
        const struct json *e = msg->error;
        const struct json *name = (e && e->type == JSON_OBJECT
                                   ? member(e, "error", JSON_STRING) : NULL);
        const struct json *details = (e && e->type == JSON_OBJECT
                                      ? member(e, "details", JSON_STRING)
                                      : NULL);
        keyd_peer_set_error(peer, "the peer refused: %s%s%s",
                            name ? json_string(name) : "(no reason)",
                            details ? ": " : "",
                            details ? json_string(details) : "");
        /* The refused hello or install is not sent again on this session
         * (hello_sent, rx_sent): start a new one, after the session's
         * backoff, so that a peer that did not know this host yet (it was
         * configured later) or that failed to install gets them again. */
        jsonrpc_session_force_reconnect(peer->session);
        return;
    }
    if (msg->type != JSONRPC_REPLY || !r || r->type != JSON_OBJECT) {
        return;
    }

    uint64_t protocol, assoc, version, spi;
    if (get_uint(r, "protocol", INT64_MAX, &protocol)) {
        if (protocol == KEYD_PROTOCOL) {
            peer->hello_done = true;
            keyd_status_changed();
        } else {
            keyd_peer_set_error(peer, "the peer chose protocol %"PRIu64,
                                protocol);
            jsonrpc_session_force_reconnect(peer->session);
        }
    } else if (get_uint(r, "association", INT64_MAX, &assoc)
               && get_uint(r, "version", 3, &version)
               && get_uint(r, "spi", UINT32_MAX, &spi)) {
        struct keyd_assoc *a = keyd_assoc_find(peer, assoc, version);
        if (a && a->rx_spi == spi && a->rx_acked != spi) {
            a->rx_acked = spi;
            peer->acked++;
            keyd_status_changed();
            VLOG_INFO("peer %s association %"PRIu64" version %"PRIu64": "
                      "receive SPI %#"PRIx32" installed by the peer",
                      peer->address, assoc, version, (uint32_t) spi);
        }
    }
}

static void
session_run(struct keyd_peer *peer)
{
    if (!peer->session) {
        peer->session = jsonrpc_session_open(peer->remote, true);
        jsonrpc_session_set_max_backoff(peer->session, 4000);
        peer->seqno = 0;
    }
    jsonrpc_session_run(peer->session);

    unsigned int seqno = jsonrpc_session_get_seqno(peer->session);
    if (seqno != peer->seqno) {
        /* Connected or disconnected: start over. */
        struct keyd_assoc *a;

        peer->seqno = seqno;
        peer->hello_sent = peer->hello_done = false;
        HMAP_FOR_EACH (a, node, &peer->assocs) {
            a->rx_sent = 0;
        }
        keyd_status_changed();
    }
    if (!jsonrpc_session_is_connected(peer->session)) {
        return;
    }

    if (!peer->hello_sent) {
        const char *name = jsonrpc_session_get_id(peer->session);
        if (!name || !peer->name || strcmp(name, peer->name)) {
            keyd_refuse(peer, KEYD_R_WRONG_NAME);
            keyd_peer_set_error(peer, "%s presented certificate name %s, "
                                "not %s", peer->remote,
                                name ? name : "(none)",
                                peer->name ? peer->name : "(none)");
            peer->name_ok = false;
            jsonrpc_session_force_reconnect(peer->session);
            return;
        }
        peer->name_ok = true;

        struct json *p = json_object_create();
        json_object_put(p, "protocols",
                        json_array_create_1(
                            json_integer_create(KEYD_PROTOCOL)));
        json_object_put(p, "instance", json_integer_create(keyd_instance()));
        session_send(peer, "hello", p);
        peer->hello_sent = true;
    }

    for (int i = 0; i < 50; i++) {
        struct jsonrpc_msg *msg = jsonrpc_session_recv(peer->session);
        if (!msg) {
            break;
        }
        session_reply(peer, msg);
        jsonrpc_msg_destroy(msg);
    }

    if (peer->hello_done) {
        struct keyd_assoc *a;

        HMAP_FOR_EACH (a, node, &peer->assocs) {
            if (a->rx_spi && a->rx_sent != a->rx_spi
                && jsonrpc_session_get_backlog(peer->session) < 65536) {
                send_install(peer, a);
            }
        }
    }
}

void
keyd_peer_run(void)
{
    struct keyd_peer *peer;

    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        session_run(peer);
    }
    conns_run();
}

void
keyd_peer_wait(void)
{
    struct keyd_peer *peer;
    struct keyd_conn *conn;

    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        if (peer->session) {
            jsonrpc_session_wait(peer->session);
            jsonrpc_session_recv_wait(peer->session);
        }
    }
    LIST_FOR_EACH (conn, node, &conns) {
        jsonrpc_session_wait(conn->session);
        jsonrpc_session_recv_wait(conn->session);
    }
    if (listener) {
        pstream_wait(listener);
    }
}

void
keyd_peer_close_all(void)
{
    struct keyd_conn *conn;

    LIST_FOR_EACH_POP (conn, node, &conns) {
        jsonrpc_session_close(conn->session);
        free(conn);
    }
    if (listener) {
        pstream_close(listener);
        listener = NULL;
    }
}
