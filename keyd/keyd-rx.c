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

/* The receive side: one PSP_Rx_SA row per peer, association and version,
 * created with publish_key=false and external_ids:ovs-psp-keyd=true, so
 * that ovs-vswitchd allocates its SPI and keeps the key to itself.  When a
 * master key rotation marks a row "rekey" (or a missed one "stale"), the
 * row is re-keyed at once (its spi cleared: ovs-vswitchd allocates a new
 * one, and the old one keeps working as old_spi); once the peer has
 * acknowledged the new SPI, old_spi is cleared.  Rows of peers and
 * associations that are no longer configured are deleted. */

#include <config.h>

#include <inttypes.h>
#include <string.h>

#include "keyd.h"

#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "packets.h"
#include "smap.h"
#include "util.h"
#include "vswitch-idl.h"

VLOG_DEFINE_THIS_MODULE(keyd_rx);

#define OWNER_KEY "ovs-psp-keyd"

void
keyd_rx_register(struct ovsdb_idl *idl)
{
    ovsdb_idl_add_table(idl, &ovsrec_table_psp_rx_sa);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_peer);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_association);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_version);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_spi);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_old_spi);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_publish_key);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_status);
    ovsdb_idl_add_column(idl, &ovsrec_psp_rx_sa_col_external_ids);
}

static struct keyd_assoc *
row_assoc(const struct ovsrec_psp_rx_sa *row)
{
    struct in6_addr addr;
    ovs_be32 ip4;

    if (ip_parse(row->peer, &ip4)) {
        in6_addr_set_mapped_ipv4(&addr, ip4);
    } else if (!ipv6_parse(row->peer, &addr)) {
        return NULL;
    }

    struct ds canon = DS_EMPTY_INITIALIZER;
    ipv6_format_mapped(&addr, &canon);
    struct keyd_peer *peer = keyd_peer_find(ds_cstr(&canon));
    ds_destroy(&canon);

    return peer ? keyd_assoc_find(peer, row->association, row->version)
                : NULL;
}

/* Brings 'a' up to date with its row 'row'. */
static void
rx_row_update(struct keyd_assoc *a, const struct ovsrec_psp_rx_sa *row)
{
    uint32_t spi = row->n_spi ? *row->spi : 0;
    const char *state = smap_get_def(&row->status, "state", "");
    bool marked = !strcmp(state, "rekey") || !strcmp(state, "stale");

    if (spi != a->rx_spi) {
        /* A new SPI (possibly with the number of an older one, with
         * another key) is unknown to the peer until it acknowledges it. */
        a->rx_spi = spi;
        a->rx_sent = 0;
        a->rx_acked = 0;
        keyd_status_changed();
    }
    a->rx_old_spi = row->n_old_spi ? *row->old_spi : 0;

    if (spi && marked) {
        /* A rotation made this SPI's generation the previous one (or a
         * missed one, or a reboot, made it stale): re-key now, long before
         * the next rotation.  A peer that is down gets the new SPI when it
         * comes back. */
        VLOG_INFO("%s association %"PRIu64": re-keying SPI %"PRIu32
                  " (%s)", row->peer, a->assoc, spi, state);
        ovsrec_psp_rx_sa_set_spi(row, NULL, 0);
    } else if (spi && spi == a->rx_acked && a->rx_old_spi) {
        /* The peer sends with the new SPI: the old one may go. */
        ovsrec_psp_rx_sa_set_old_spi(row, NULL, 0);
    }
}

void
keyd_rx_run(struct ovsdb_idl *idl, struct ovsdb_idl_txn *txn)
{
    const struct ovsrec_psp_rx_sa *row;
    struct keyd_peer *peer;

    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        struct keyd_assoc *a;

        HMAP_FOR_EACH (a, node, &peer->assocs) {
            a->seen = false;        /* Reused: "has a row". */
        }
    }

    OVSREC_PSP_RX_SA_FOR_EACH (row, idl) {
        if (!smap_get_bool(&row->external_ids, OWNER_KEY, false)) {
            continue;
        }

        struct keyd_assoc *a = row_assoc(row);
        if (!a || a->seen) {
            /* Not configured any more, or a second row for it. */
            VLOG_INFO("deleting PSP_Rx_SA "UUID_FMT" (peer %s association "
                      "%"PRId64"): no longer configured",
                      UUID_ARGS(&row->header_.uuid), row->peer,
                      row->association);
            ovsrec_psp_rx_sa_delete(row);
            continue;
        }
        a->seen = true;
        a->rx_row = row->header_.uuid;
        rx_row_update(a, row);
    }

    HMAP_FOR_EACH (peer, node, &keyd_peers) {
        struct keyd_assoc *a;

        HMAP_FOR_EACH (a, node, &peer->assocs) {
            if (a->seen) {
                continue;
            }
            a->seen = true;
            a->rx_row = UUID_ZERO;
            if (a->rx_spi) {
                a->rx_spi = a->rx_old_spi = a->rx_sent = 0;
                keyd_status_changed();
            }

            struct ovsrec_psp_rx_sa *new = ovsrec_psp_rx_sa_insert(txn);
            bool no = false;
            struct smap ids = SMAP_INITIALIZER(&ids);

            ovsrec_psp_rx_sa_set_peer(new, peer->address);
            ovsrec_psp_rx_sa_set_association(new, a->assoc);
            ovsrec_psp_rx_sa_set_version(new, a->version);
            ovsrec_psp_rx_sa_set_publish_key(new, &no, 1);
            smap_add(&ids, OWNER_KEY, "true");
            ovsrec_psp_rx_sa_set_external_ids(new, &ids);
            smap_destroy(&ids);
        }
    }
}
