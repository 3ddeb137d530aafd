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

#ifndef KEYD_H
#define KEYD_H 1

/* ovs-psp-keyd: the PSP key exchange between hosts.
 *
 * For each peer and association (and version), each side allocates a
 * receive SPI (a PSP_Rx_SA row with publish_key=false, whose key it reads
 * from ovs-vswitchd over the root-only control socket) and sends SPI and
 * key, over JSON-RPC on mutual TLS, to the peer's ovs-psp-keyd, which
 * installs them as its transmit SA (ovs-appctl psp/add-sa, on the same
 * socket) and acknowledges.  The protocol is in
 * Documentation/topics/key-exchange.rst.
 *
 * The parts: keyd-config.c (peers from the database), keyd-rx.c (the
 * receive rows), keyd-peer.c (the TLS sessions and the protocol),
 * keyd-vswitchd.c (the local channel), utilities/ovs-psp-keyd.c (the
 * daemon, its commands and status). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "openvswitch/hmap.h"
#include "openvswitch/list.h"
#include "openvswitch/uuid.h"

struct jsonrpc_session;
struct ovsdb_idl;
struct ovsdb_idl_txn;
struct ds;

/* The protocol version this daemon speaks. */
#define KEYD_PROTOCOL 1

/* Default TCP port, the number of PSP's UDP port; below 1024, so that only
 * root may listen on it. */
#define KEYD_DEFAULT_PORT 1000

/* Longest PSP key: 32 bytes (versions 1 and 3). */
#define KEYD_MAX_KEY_LEN 32

/* Why a message was refused: the error names of the protocol, counted per
 * peer and in all. */
#define KEYD_REFUSALS                                               \
    KEYD_REFUSAL(MALFORMED, "malformed")                            \
    KEYD_REFUSAL(UNKNOWN_PEER, "unknown-peer")                      \
    KEYD_REFUSAL(NOT_AUTHORIZED, "not-authorized")                  \
    KEYD_REFUSAL(UNKNOWN_ASSOC, "unknown-association")              \
    KEYD_REFUSAL(REPLAYED, "replayed")                              \
    KEYD_REFUSAL(UNSUPPORTED, "unsupported-protocol")               \
    KEYD_REFUSAL(NO_HELLO, "no-hello")                              \
    KEYD_REFUSAL(INSTALL_FAILED, "install-failed")                  \
    KEYD_REFUSAL(WRONG_NAME, "wrong-name")                          \
    KEYD_REFUSAL(TLS_FAILED, "tls-failed")

enum keyd_refusal {
#define KEYD_REFUSAL(ENUM, NAME) KEYD_R_##ENUM,
    KEYD_REFUSALS
#undef KEYD_REFUSAL
    KEYD_N_REFUSALS
};

const char *keyd_refusal_name(enum keyd_refusal);

/* One association with a peer, for one version. */
struct keyd_assoc {
    struct hmap_node node;      /* In keyd_peer's 'assocs'. */
    uint64_t assoc;
    int version;
    bool seen;                  /* Still configured (keyd-config.c). */

    /* Receive: this host's SPI for the peer. */
    struct uuid rx_row;         /* Its PSP_Rx_SA row, or all-zeros. */
    uint32_t rx_spi;            /* The row's SPI, 0 if none yet. */
    uint32_t rx_old_spi;        /* The row's old_spi, 0 if none. */
    bool rx_rekeying;           /* Asked for a new SPI (cleared spi). */
    uint32_t rx_sent;           /* SPI sent on the current session, 0 if
                                 * not sent yet. */
    uint32_t rx_acked;          /* SPI the peer acknowledged, 0 if none. */

    /* Transmit: the peer's SPI for this host, installed in ovs-vswitchd. */
    uint32_t tx_spi;            /* 0 if none. */
    uint8_t *tx_key;            /* psp_secure_zalloc()'d, or NULL. */
    size_t tx_key_len;
    long long int tx_installed; /* When, msec, for the benchmark. */
};

/* A peer host. */
struct keyd_peer {
    struct hmap_node node;      /* In 'keyd_peers', by address. */
    char *address;              /* Canonical IP address. */
    struct in6_addr addr;
    char *name;                 /* Name its certificate must carry. */
    char *cert;                 /* Pinned certificate file, or NULL. */
    char *remote;               /* "ssl:IP:PORT" of its ovs-psp-keyd. */
    struct uuid peer_row;       /* PSP_Peer row, or all-zeros. */
    bool seen;                  /* Still configured (keyd-config.c). */
    struct hmap assocs;         /* Of struct keyd_assoc. */

    /* The session this host opened: it sends this host's SPIs on it. */
    struct jsonrpc_session *session;
    unsigned int seqno;         /* Session seqno that the state is for. */
    bool hello_sent, hello_done, name_ok;

    /* The peer's instance (from its hello), and the last serial of it that
     * was accepted: messages of another instance, or not past it, are
     * replays. */
    uint64_t instance;
    uint64_t serial;

    char *last_error;
    unsigned long long int refused[KEYD_N_REFUSALS];
    unsigned long long int installed, sent, acked, removed;
};

extern struct hmap keyd_peers;
extern unsigned long long int keyd_refused[KEYD_N_REFUSALS];

struct keyd_peer *keyd_peer_find(const char *address);
struct keyd_peer *keyd_peer_find_by_name(const char *name, int *n);
struct keyd_assoc *keyd_assoc_find(const struct keyd_peer *, uint64_t assoc,
                                   int version);
void keyd_peer_set_error(struct keyd_peer *, const char *format, ...)
    OVS_PRINTF_FORMAT(2, 3);
void keyd_refuse(struct keyd_peer *, enum keyd_refusal);
const char *keyd_peer_state(const struct keyd_peer *);

/* keyd-config.c */
void keyd_config_register(struct ovsdb_idl *);
void keyd_config_run(struct ovsdb_idl *, int port);
void keyd_peer_destroy(struct keyd_peer *);
void keyd_assoc_forget_tx(struct keyd_assoc *);

/* keyd-rx.c */
void keyd_rx_register(struct ovsdb_idl *);
void keyd_rx_run(struct ovsdb_idl *, struct ovsdb_idl_txn *);

/* keyd-peer.c */
void keyd_peer_listen(const char *pstream_name);
void keyd_peer_run(void);
void keyd_peer_wait(void);
void keyd_peer_close_all(void);
void keyd_peer_send_remove(struct keyd_peer *, const struct keyd_assoc *);
size_t keyd_peer_n_incoming(void);

/* keyd-vswitchd.c */
void keyd_vswitchd_init(const char *target);
bool keyd_vswitchd_run(void);
int keyd_vswitchd_rx_key(uint32_t spi, int version, uint8_t *key,
                         size_t *key_len, char **errorp);
int keyd_vswitchd_add_sa(const struct keyd_peer *, const struct keyd_assoc *,
                         char **errorp);
int keyd_vswitchd_del_sa(const struct keyd_peer *, uint64_t assoc,
                         char **errorp);

/* ovs-psp-keyd.c */
uint64_t keyd_instance(void);
uint64_t keyd_next_serial(void);
void keyd_status_changed(void);

#endif /* keyd.h */
