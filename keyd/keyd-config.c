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

/* Peers and identities from the database, as ovs-monitor-ipsec takes
 * them: each "psp" interface with a remote_ip is a peer for its
 * association (options:key), named by options:remote_name or pinned by
 * options:remote_cert; PSP_Peer rows add the peers that no interface
 * names; this host's certificate, private key and CA are other_config's
 * "certificate", "private_key" and "ca_cert" of Open_vSwitch. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keyd.h"

#include "dirs.h"
#include "jsonrpc.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "packets.h"
#include "psp.h"
#include "smap.h"
#include "stream-ssl.h"
#include "util.h"
#include "vswitch-idl.h"

VLOG_DEFINE_THIS_MODULE(keyd_config);

struct hmap keyd_peers = HMAP_INITIALIZER(&keyd_peers);

void
keyd_config_register(struct ovsdb_idl *idl)
{
    ovsdb_idl_add_table(idl, &ovsrec_table_open_vswitch);
    ovsdb_idl_add_column(idl, &ovsrec_open_vswitch_col_other_config);
    ovsdb_idl_add_table(idl, &ovsrec_table_interface);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_type);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_options);
    ovsdb_idl_add_table(idl, &ovsrec_table_psp_peer);
    ovsdb_idl_add_column(idl, &ovsrec_psp_peer_col_address);
    ovsdb_idl_add_column(idl, &ovsrec_psp_peer_col_associations);
    ovsdb_idl_add_column(idl, &ovsrec_psp_peer_col_psp_version);
    ovsdb_idl_add_column(idl, &ovsrec_psp_peer_col_remote_name);
    ovsdb_idl_add_column(idl, &ovsrec_psp_peer_col_remote_cert);
    ovsdb_idl_add_column(idl, &ovsrec_psp_peer_col_keyd_remote);
    ovsdb_idl_add_column(idl, &ovsrec_psp_peer_col_status);
    ovsdb_idl_omit_alert(idl, &ovsrec_psp_peer_col_status);
}

/* Parses 's' into '*addr', and its canonical form into '*canon'. */
static bool
parse_address(const char *s, struct in6_addr *addr, char **canon)
{
    ovs_be32 ip4;

    if (ip_parse(s, &ip4)) {
        in6_addr_set_mapped_ipv4(addr, ip4);
    } else if (!ipv6_parse(s, addr)) {
        return false;
    }

    struct ds ds = DS_EMPTY_INITIALIZER;
    ipv6_format_mapped(addr, &ds);
    *canon = ds_steal_cstr(&ds);
    return true;
}

struct keyd_peer *
keyd_peer_find(const char *address)
{
    struct keyd_peer *peer;

    HMAP_FOR_EACH_WITH_HASH (peer, node, hash_string(address, 0),
                             &keyd_peers) {
        if (!strcmp(peer->address, address)) {
            return peer;
        }
    }
    return NULL;
}

/* Returns the peer whose certificate name is 'name', and in '*n' how many
 * peers have it (more than one is a configuration that names one host at
 * two addresses, which is refused). */
struct keyd_peer *
keyd_peer_find_by_name(const char *name, int *n)
{
    struct keyd_peer *found = NULL, *peer;

    *n = 0;
    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        if (peer->name && !strcmp(peer->name, name)) {
            found = peer;
            ++*n;
        }
    }
    return found;
}

static uint32_t
assoc_hash(uint64_t assoc, int version)
{
    return hash_uint64(assoc ^ ((uint64_t) version << 62));
}

struct keyd_assoc *
keyd_assoc_find(const struct keyd_peer *peer, uint64_t assoc, int version)
{
    struct keyd_assoc *a;

    HMAP_FOR_EACH_WITH_HASH (a, node, assoc_hash(assoc, version),
                             &peer->assocs) {
        if (a->assoc == assoc && a->version == version) {
            return a;
        }
    }
    return NULL;
}

void
keyd_assoc_forget_tx(struct keyd_assoc *a)
{
    if (a->tx_key) {
        psp_secure_free(a->tx_key, KEYD_MAX_KEY_LEN);
        a->tx_key = NULL;
    }
    a->tx_key_len = 0;
    a->tx_spi = 0;
}

/* The common name in the certificate in 'file', or NULL. */
static char *
cert_file_name(const char *file)
{
    FILE *f = fopen(file, "r");
    char *name = NULL;

    if (!f) {
        return NULL;
    }
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (cert) {
        char cn[256];
        int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
                                          NID_commonName, cn, sizeof cn);
        if (n > 0 && n < sizeof cn) {
            name = xstrdup(cn);
        }
        X509_free(cert);
    }
    return name;
}

/* Adds association 'assoc' of 'version' for the peer at 'address' with
 * identity 'name' or 'cert', from 'what' (for logs). */
static void
config_add(const char *address_s, uint64_t assoc, int version,
           const char *name, const char *cert, const char *remote,
           const struct uuid *peer_row, int port, const char *what)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    struct in6_addr addr;
    char *address;

    if (!parse_address(address_s, &addr, &address)) {
        VLOG_WARN_RL(&rl, "%s: \"%s\" is not an IP address", what,
                     address_s);
        return;
    }
    if (!name && !cert) {
        VLOG_WARN_RL(&rl, "%s: peer %s has neither remote_name nor "
                     "remote_cert: no keys are exchanged with it", what,
                     address);
        free(address);
        return;
    }

    struct keyd_peer *peer = keyd_peer_find(address);
    if (!peer) {
        peer = xzalloc(sizeof *peer);
        peer->address = address;
        peer->addr = addr;
        hmap_init(&peer->assocs);
        hmap_insert(&keyd_peers, &peer->node, hash_string(address, 0));
        VLOG_INFO("peer %s (%s)", address, what);
    } else {
        free(address);
    }

    char *cert_name = cert ? cert_file_name(cert) : NULL;
    if (cert && !cert_name) {
        keyd_peer_set_error(peer, "%s: cannot read a certificate name from "
                            "%s", what, cert);
    }
    const char *want = cert ? cert_name : name;
    if (!peer->seen) {
        peer->seen = true;
        if (!nullable_string_is_equal(peer->name, want)
            || !nullable_string_is_equal(peer->cert, cert)) {
            free(peer->name);
            free(peer->cert);
            peer->name = nullable_xstrdup(want);
            peer->cert = nullable_xstrdup(cert);
            if (peer->session) {
                jsonrpc_session_force_reconnect(peer->session);
            }
        }
        char *r = (remote ? xstrdup(remote)
                   : strchr(peer->address, ':')
                   ? xasprintf("ssl:[%s]:%d", peer->address, port)
                   : xasprintf("ssl:%s:%d", peer->address, port));
        if (!peer->remote || strcmp(peer->remote, r)) {
            free(peer->remote);
            peer->remote = r;
            if (peer->session) {
                jsonrpc_session_close(peer->session);
                peer->session = NULL;
            }
        } else {
            free(r);
        }
        peer->peer_row = peer_row ? *peer_row : UUID_ZERO;
    } else if (!nullable_string_is_equal(peer->name, want)) {
        keyd_peer_set_error(peer, "%s names the peer %s, another "
                            "configuration names it %s", what,
                            want ? want : "(none)",
                            peer->name ? peer->name : "(none)");
    }
    if (peer_row) {
        peer->peer_row = *peer_row;
    }
    free(cert_name);

    /* ovs-vswitchd has one transmit SA per address and association:
     * one version only. */
    for (int v = 0; v < 4; v++) {
        struct keyd_assoc *other = (v != version
                                    ? keyd_assoc_find(peer, assoc, v)
                                    : NULL);
        if (other && other->seen) {
            keyd_peer_set_error(peer, "%s: association %"PRIu64" is "
                                "configured with versions %d and %d; "
                                "keeping %d", what, assoc, v, version, v);
            return;
        }
    }

    struct keyd_assoc *a = keyd_assoc_find(peer, assoc, version);
    if (!a) {
        a = xzalloc(sizeof *a);
        a->assoc = assoc;
        a->version = version;
        hmap_insert(&peer->assocs, &a->node, assoc_hash(assoc, version));
    }
    a->seen = true;
}

static void
config_interfaces(struct ovsdb_idl *idl, int port)
{
    const struct ovsrec_interface *iface;

    OVSREC_INTERFACE_FOR_EACH (iface, idl) {
        if (strcmp(iface->type, "psp")) {
            continue;
        }

        const char *remote_ip = smap_get(&iface->options, "remote_ip");
        const char *key = smap_get_def(&iface->options, "key", "0");
        unsigned long long int assoc;
        int version = smap_get_int(&iface->options, "psp_version", 0);

        if (!remote_ip || !strcmp(remote_ip, "flow")
            || key[0] == '-' || !str_to_ullong(key, 0, &assoc)
            || assoc > INT64_MAX
            || !psp_version_is_valid(version)) {
            /* Names no single peer and association: PSP_Peer does. */
            continue;
        }
        char *what = xasprintf("interface %s", iface->name);
        config_add(remote_ip, assoc, version,
                   smap_get(&iface->options, "remote_name"),
                   smap_get(&iface->options, "remote_cert"), NULL, NULL,
                   port, what);
        free(what);
    }
}

static void
config_psp_peers(struct ovsdb_idl *idl, int port)
{
    const struct ovsrec_psp_peer *row;

    OVSREC_PSP_PEER_FOR_EACH (row, idl) {
        int version = row->n_psp_version ? *row->psp_version : 0;
        char *what = xasprintf("PSP_Peer "UUID_FMT,
                               UUID_ARGS(&row->header_.uuid));

        for (size_t i = 0; i < row->n_associations; i++) {
            config_add(row->address, row->associations[i], version,
                       row->remote_name, row->remote_cert, row->keyd_remote,
                       &row->header_.uuid, port, what);
        }
        free(what);
    }
}

/* The CA certificates to trust: ca_cert, and the pinned certificates of
 * peers configured with remote_cert.  With pinned certificates, they go
 * together into a root-only file in the run directory, since stream-ssl
 * takes one CA file. */
static void
config_ca(const char *ca_cert)
{
    static char *written;       /* Contents of the bundle last written. */
    struct ds bundle = DS_EMPTY_INITIALIZER;
    struct keyd_peer *peer;
    bool pinned = false;

    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        if (peer->cert) {
            pinned = true;
        }
    }

    char *file;
    if (!pinned) {
        file = nullable_xstrdup(ca_cert);
    } else {
        const char *files[2] = { ca_cert, NULL };
        HMAP_FOR_EACH (peer, node, &keyd_peers) {
            files[1] = peer->cert;
            for (int i = 0; i < 2; i++) {
                FILE *f = files[i] ? fopen(files[i], "r") : NULL;
                if (f) {
                    char buf[4096];
                    size_t n;
                    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
                        ds_put_buffer(&bundle, buf, n);
                    }
                    ds_put_char(&bundle, '\n');
                    fclose(f);
                }
            }
            files[0] = NULL;
        }
        file = xasprintf("%s/ovs-psp-keyd.ca-bundle.pem", ovs_rundir());
    }
    if (pinned && (!written || strcmp(ds_cstr(&bundle), written))) {
        free(written);
        written = xstrdup(ds_cstr(&bundle));

        char *tmp = xasprintf("%s.tmp", file);
        mode_t old = umask(077);
        FILE *f = fopen(tmp, "w");
        umask(old);
        if (f) {
            fwrite(bundle.string, 1, bundle.length, f);
            fclose(f);
            if (rename(tmp, file)) {
                VLOG_WARN("%s: rename failed (%s)", file,
                          ovs_strerror(errno));
            }
        }
        free(tmp);
    }
    ds_destroy(&bundle);

    if (file) {
        /* stream-ssl loads the file again if its name or its modification
         * time changed: a CA rotated in place, or a pinned certificate
         * added or removed, takes effect for the next sessions. */
        stream_ssl_set_ca_cert_file(file, false);
    }
    free(file);
}

void
keyd_peer_destroy(struct keyd_peer *peer)
{
    struct keyd_assoc *a;

    HMAP_FOR_EACH_POP (a, node, &peer->assocs) {
        keyd_assoc_forget_tx(a);
        free(a);
    }
    hmap_destroy(&peer->assocs);
    if (peer->session) {
        jsonrpc_session_close(peer->session);
    }
    hmap_remove(&keyd_peers, &peer->node);
    free(peer->address);
    free(peer->name);
    free(peer->cert);
    free(peer->remote);
    free(peer->last_error);
    free(peer);
}

/* An association that is no longer configured: its transmit SA goes from
 * ovs-vswitchd, and the peer is told to remove the SA it has for this
 * host. */
static void
assoc_removed(struct keyd_peer *peer, struct keyd_assoc *a)
{
    char *error = NULL;

    VLOG_INFO("peer %s association %"PRIu64" version %d: removed",
              peer->address, a->assoc, a->version);
    if (a->tx_spi && keyd_vswitchd_del_sa(peer, a->assoc, &error)) {
        VLOG_WARN("peer %s association %"PRIu64": %s", peer->address,
                  a->assoc, error);
        free(error);
    }
    keyd_peer_send_remove(peer, a);
    keyd_assoc_forget_tx(a);
    hmap_remove(&peer->assocs, &a->node);
    free(a);
}

void
keyd_config_run(struct ovsdb_idl *idl, int port)
{
    const struct ovsrec_open_vswitch *ovs = ovsrec_open_vswitch_first(idl);
    struct keyd_peer *peer;

    if (!ovs) {
        return;
    }

    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        struct keyd_assoc *a;

        peer->seen = false;
        HMAP_FOR_EACH (a, node, &peer->assocs) {
            a->seen = false;
        }
    }

    config_interfaces(idl, port);
    config_psp_peers(idl, port);

    HMAP_FOR_EACH_SAFE (peer, node, &keyd_peers) {
        struct keyd_assoc *a;

        HMAP_FOR_EACH_SAFE (a, node, &peer->assocs) {
            if (!a->seen || !peer->seen) {
                assoc_removed(peer, a);
            }
        }
        if (!peer->seen) {
            VLOG_INFO("peer %s: removed", peer->address);
            keyd_peer_destroy(peer);
        }
    }

    const char *private_key = smap_get(&ovs->other_config, "private_key");
    const char *certificate = smap_get(&ovs->other_config, "certificate");
    const char *ca_cert = smap_get(&ovs->other_config, "ca_cert");
    if (private_key && certificate) {
        stream_ssl_set_key_and_cert(private_key, certificate);
    }
    config_ca(ca_cert);
}
