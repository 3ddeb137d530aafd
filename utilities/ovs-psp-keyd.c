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

/* ovs-psp-keyd: exchanges PSP keys with the ovs-psp-keyd of each peer host
 * (keyd/keyd.h says how), so that configuring ports and certificates is
 * all an operator does. */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "keyd.h"

#include "command-line.h"
#include "daemon.h"
#include "dirs.h"
#include "fatal-signal.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "psp-vsctl.h"
#include "psp.h"
#include "random.h"
#include "smap.h"
#include "stream-ssl.h"
#include "stream.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"
#include "vswitch-idl.h"

VLOG_DEFINE_THIS_MODULE(psp_keyd);

static bool exiting;
static uint64_t instance;
static uint64_t serial;
static bool status_changed = true;

static int port = KEYD_DEFAULT_PORT;
static char *listen_name;       /* --listen, or NULL for pssl:PORT. */
static char *vswitchd_target;   /* --vswitchd. */

static void parse_options(int argc, char *argv[], char **unixctl_path,
                          char **remote);
OVS_NO_RETURN static void usage(void);

static unixctl_cb_func keyd_exit;
static unixctl_cb_func keyd_show;

uint64_t
keyd_instance(void)
{
    return instance;
}

uint64_t
keyd_next_serial(void)
{
    return ++serial;
}

void
keyd_status_changed(void)
{
    status_changed = true;
}

/* Listens for peers once this host's certificate is configured: TLS cannot
 * listen without one. */
static void
try_listen(const struct ovsdb_idl *idl, bool *listening)
{
    const struct ovsrec_open_vswitch *ovs = ovsrec_open_vswitch_first(idl);

    if (*listening || !ovs
        || !smap_get(&ovs->other_config, "private_key")
        || !smap_get(&ovs->other_config, "certificate")
        || !smap_get(&ovs->other_config, "ca_cert")) {
        return;
    }

    char *name = listen_name ? xstrdup(listen_name)
                             : xasprintf("pssl:%d", port);
    keyd_peer_listen(name);
    free(name);
    *listening = true;
}

/* ovs-vswitchd restarted: it lost the transmit SAs installed over its
 * control socket, so install them again. */
static void
reinstall_tx(void)
{
    struct keyd_peer *peer;
    int n = 0;

    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        struct keyd_assoc *a;

        HMAP_FOR_EACH (a, node, &peer->assocs) {
            char *error = NULL;

            if (!a->tx_key) {
                continue;
            }
            if (keyd_vswitchd_add_sa(peer, a, &error)) {
                keyd_peer_set_error(peer, "association %"PRIu64": %s",
                                    a->assoc, error);
                free(error);
            } else {
                n++;
            }
        }
    }
    if (n) {
        VLOG_INFO("installed %d transmit SAs again", n);
    }
}

/* Writes each PSP_Peer row's status. */
static void
write_status(struct ovsdb_idl *idl)
{
    const struct ovsrec_psp_peer *row;

    OVSREC_PSP_PEER_FOR_EACH (row, idl) {
        struct keyd_peer *peer = NULL, *p;

        HMAP_FOR_EACH (p, node, &keyd_peers) {
            if (uuid_equals(&p->peer_row, &row->header_.uuid)) {
                peer = p;
            }
        }

        struct smap status = SMAP_INITIALIZER(&status);
        smap_add(&status, "state", peer ? keyd_peer_state(peer) : "unused");
        if (peer && peer->last_error) {
            smap_add(&status, "error", peer->last_error);
        }
        if (!smap_equal(&status, &row->status)) {
            ovsrec_psp_peer_set_status(row, &status);
        }
        smap_destroy(&status);
    }
}

int
main(int argc, char *argv[])
{
    struct ovsdb_idl_txn *txn = NULL;
    struct unixctl_server *unixctl;
    char *unixctl_path = NULL;
    char *remote = NULL;
    unsigned int idl_seqno = 0;
    long long int next_config = 0;
    long long int next_txn = 0;
    bool listening = false;

    /* OpenSSL's memory (TLS secrets, received records) never in a core
     * dump, and wiped when freed: before anything makes OpenSSL allocate. */
    psp_openssl_mem_secure();

    ovs_cmdl_proctitle_init(argc, argv);
    set_program_name(argv[0]);
    service_start(&argc, &argv);
    parse_options(argc, argv, &unixctl_path, &remote);
    fatal_ignore_sigpipe();

    /* Key columns and "sa_key" members stay out of the debug log of
     * JSON-RPC, and the buffers that held them are wiped. */
    psp_log_redact_keys();

    /* TLS 1.2 (the latest that Open vSwitch 3.1's stream-ssl enables), and
     * only ciphers with forward secrecy: a certificate's private key stolen
     * later must not open the keys sent before. */
    stream_ssl_set_protocols("TLSv1.2");
    stream_ssl_set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20");

    daemonize_start(false);

    int retval = unixctl_server_create(unixctl_path, &unixctl);
    if (retval) {
        exit(EXIT_FAILURE);
    }
    unixctl_command_register("exit", "", 0, 0, keyd_exit, NULL);
    unixctl_command_register("keyd/show", "", 0, 0, keyd_show, NULL);

    daemonize_complete();

    random_init();
    instance = random_uint64() & INT64_MAX;
    keyd_vswitchd_init(vswitchd_target ? vswitchd_target : "ovs-vswitchd");

    struct ovsdb_idl *idl = ovsdb_idl_create(remote, &ovsrec_idl_class,
                                             false, true);
    ovsdb_idl_set_lock(idl, "ovs_psp_keyd");
    keyd_config_register(idl);
    keyd_rx_register(idl);
    VLOG_INFO("connecting to %s", remote);

    while (!exiting) {
        ovsdb_idl_run(idl);
        unixctl_server_run(unixctl);

        /* The configuration when it changes, and every few seconds for
         * certificate files changed in place. */
        if (ovsdb_idl_get_seqno(idl) != idl_seqno
            || time_msec() >= next_config) {
            idl_seqno = ovsdb_idl_get_seqno(idl);
            next_config = time_msec() + 5000;
            keyd_config_run(idl, port);
        }

        /* Only the daemon that holds the lock talks to peers: a second one
         * (say, during a restart) would make each peer see two instances
         * and refuse one as replayed. */
        bool active = ovsdb_idl_has_lock(idl);
        if (active) {
            try_listen(idl, &listening);
            if (keyd_vswitchd_run()) {
                reinstall_tx();
            }
            keyd_peer_run();
        }

        if (txn) {
            enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(txn);
            if (status != TXN_INCOMPLETE) {
                if (status != TXN_SUCCESS && status != TXN_UNCHANGED) {
                    static struct vlog_rate_limit rl
                        = VLOG_RATE_LIMIT_INIT(1, 5);
                    VLOG_WARN_RL(&rl, "database transaction: %s",
                                 ovsdb_idl_txn_status_to_string(status));
                    /* Status to write again; wait before trying again. */
                    status_changed = true;
                    next_txn = time_msec() + 1000;
                }
                ovsdb_idl_txn_destroy(txn);
                txn = NULL;
            }
        }
        if (!txn && active && ovsdb_idl_get_seqno(idl)
            && time_msec() >= next_txn) {
            txn = ovsdb_idl_txn_create(idl);
            ovsdb_idl_txn_add_comment(txn, "ovs-psp-keyd");
            keyd_rx_run(idl, txn);
            if (status_changed) {
                write_status(idl);
                status_changed = false;
            }
            enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(txn);
            if (status != TXN_INCOMPLETE) {
                if (status != TXN_SUCCESS && status != TXN_UNCHANGED) {
                    status_changed = true;
                    next_txn = time_msec() + 1000;
                }
                ovsdb_idl_txn_destroy(txn);
                txn = NULL;
            }
        }

        ovsdb_idl_wait(idl);
        unixctl_server_wait(unixctl);
        if (active) {
            keyd_peer_wait();
        }
        if (next_txn > time_msec()) {
            poll_timer_wait_until(next_txn);
        }
        if (txn) {
            ovsdb_idl_txn_wait(txn);
        }
        poll_timer_wait(1000);
        if (exiting) {
            poll_immediate_wake();
        }
        poll_block();
    }

    if (txn) {
        ovsdb_idl_txn_destroy(txn);
    }
    keyd_peer_close_all();
    struct keyd_peer *peer;
    HMAP_FOR_EACH_SAFE (peer, node, &keyd_peers) {
        keyd_peer_destroy(peer);
    }
    ovsdb_idl_destroy(idl);
    unixctl_server_destroy(unixctl);
    free(unixctl_path);
    free(remote);
    service_stop();
    return 0;
}

/* Commands. */

static void
keyd_exit(struct unixctl_conn *conn, int argc OVS_UNUSED,
          const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    exiting = true;
    unixctl_command_reply(conn, NULL);
}

static void
put_counters(struct ds *s, const unsigned long long int *refused)
{
    bool any = false;

    for (int r = 0; r < KEYD_N_REFUSALS; r++) {
        if (refused[r]) {
            ds_put_format(s, "%s%s=%llu", any ? " " : "",
                          keyd_refusal_name(r), refused[r]);
            any = true;
        }
    }
    if (!any) {
        ds_put_cstr(s, "none");
    }
}

static int
compare_peers(const void *a_, const void *b_)
{
    const struct keyd_peer *const *a = a_;
    const struct keyd_peer *const *b = b_;

    return strcmp((*a)->address, (*b)->address);
}

static void
keyd_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
          const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    size_t n = hmap_count(&keyd_peers), i = 0;
    struct keyd_peer **peers = xmalloc((n + 1) * sizeof *peers);
    struct keyd_peer *peer;

    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        peers[i++] = peer;
    }
    qsort(peers, n, sizeof *peers, compare_peers);

    ds_put_format(&s, "protocol %d, %"PRIuSIZE" peers, %"PRIuSIZE
                  " incoming sessions\nrefused: ", KEYD_PROTOCOL, n,
                  keyd_peer_n_incoming());
    put_counters(&s, keyd_refused);
    ds_put_char(&s, '\n');

    for (i = 0; i < n; i++) {
        struct keyd_assoc *a;

        peer = peers[i];
        ds_put_format(&s, "peer %s: %s\n  name %s%s%s, remote %s\n",
                      peer->address, keyd_peer_state(peer),
                      peer->name ? peer->name : "(none)",
                      peer->cert ? ", pinned certificate " : "",
                      peer->cert ? peer->cert : "", peer->remote);
        ds_put_format(&s, "  sent %llu, acknowledged %llu, installed %llu, "
                      "removed %llu, refused ", peer->sent, peer->acked,
                      peer->installed, peer->removed);
        put_counters(&s, peer->refused);
        ds_put_char(&s, '\n');
        if (peer->last_error) {
            ds_put_format(&s, "  last error: %s\n", peer->last_error);
        }
        HMAP_FOR_EACH (a, node, &peer->assocs) {
            ds_put_format(&s, "  assoc %"PRIu64" version %d: rx spi %#"
                          PRIx32" (%s), tx spi %#"PRIx32"\n", a->assoc,
                          a->version, a->rx_spi,
                          !a->rx_spi ? "allocating"
                          : a->rx_acked == a->rx_spi ? "installed by peer"
                          : "not acknowledged", a->tx_spi);
        }
    }
    free(peers);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* Command line. */

static void
parse_options(int argc, char *argv[], char **unixctl_path, char **remote)
{
    enum {
        OPT_UNIXCTL = UCHAR_MAX + 1,
        OPT_PORT,
        OPT_LISTEN,
        OPT_VSWITCHD,
        VLOG_OPTION_ENUMS,
        DAEMON_OPTION_ENUMS,
    };
    static const struct option long_options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"unixctl", required_argument, NULL, OPT_UNIXCTL},
        {"port", required_argument, NULL, OPT_PORT},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"vswitchd", required_argument, NULL, OPT_VSWITCHD},
        DAEMON_LONG_OPTIONS,
        VLOG_LONG_OPTIONS,
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

        case OPT_PORT:
            if (!str_to_int(optarg, 10, &port) || port <= 0
                || port > 65535) {
                ovs_fatal(0, "--port: \"%s\" is not a TCP port", optarg);
            }
            break;

        case OPT_LISTEN:
            listen_name = xstrdup(optarg);
            break;

        case OPT_VSWITCHD:
            vswitchd_target = xstrdup(optarg);
            break;

        VLOG_OPTION_HANDLERS
        DAEMON_OPTION_HANDLERS

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
    printf("%s: exchanges PSP keys with the peers of Open vSwitch\n"
           "usage: %s [OPTIONS] [DATABASE]\n"
           "where DATABASE is a socket on which ovsdb-server is listening\n"
           "      (default: \"unix:%s/db.sock\").\n",
           program_name, program_name, ovs_rundir());
    daemon_usage();
    vlog_usage();
    printf("\nOther options:\n"
           "  --port=PORT             TCP port of ovs-psp-keyd, here and on "
           "peers (default: %d)\n"
           "  --listen=PSTREAM        listen on PSTREAM (default: "
           "pssl:PORT)\n"
           "  --vswitchd=TARGET       ovs-vswitchd's name or control socket "
           "(default: ovs-vswitchd)\n"
           "  --unixctl=SOCKET        override default control socket name\n"
           "  -h, --help              display this help message\n"
           "  -V, --version           display version information\n",
           KEYD_DEFAULT_PORT);
    exit(EXIT_SUCCESS);
}
