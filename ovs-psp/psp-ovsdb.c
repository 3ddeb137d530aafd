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

#include <string.h>

#include "openvswitch/hmap.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "packets.h"
#include "psp-dp.h"
#include "psp.h"
#include "util.h"
#include "uuid.h"
#include "vswitch-idl.h"

VLOG_DEFINE_THIS_MODULE(psp_ovsdb);

/* A PSP_Tx_SA row applied to the datapath, by row UUID: what to remove when
 * the row goes or names another SA. */
struct applied_tx_sa {
    struct hmap_node node;      /* In 'applied_tx_sas', by hash of uuid. */
    struct uuid uuid;
    struct in6_addr remote;
    uint64_t assoc;
};

static struct hmap applied_tx_sas = HMAP_INITIALIZER(&applied_tx_sas);

void
psp_ovsdb_init(struct ovsdb_idl *idl)
{
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_tx_sa_col_remote);
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_tx_sa_col_association);
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_tx_sa_col_spi);
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_tx_sa_col_version);
    ovsdb_idl_track_add_column(idl, &ovsrec_psp_tx_sa_col_sa_key);
}

static struct applied_tx_sa *
applied_tx_sa_find(const struct uuid *uuid)
{
    struct applied_tx_sa *a;

    HMAP_FOR_EACH_WITH_HASH (a, node, uuid_hash(uuid), &applied_tx_sas) {
        if (uuid_equals(&a->uuid, uuid)) {
            return a;
        }
    }
    return NULL;
}

/* Installs the SA of 'row' in the datapath.  Returns false, after logging
 * why (never the key), if the row cannot be applied. */
static bool
tx_sa_apply(const struct ovsrec_psp_tx_sa *row, struct in6_addr *remote)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    uint8_t key[PSP_MAX_KEY_LEN];
    size_t key_len = psp_version_key_len(row->version);
    bool ok = false;

    if (!psp_dp_parse_addr(row->remote, false, remote)) {
        VLOG_WARN_RL(&rl, "PSP_Tx_SA "UUID_FMT": bad remote %s",
                     UUID_ARGS(&row->header_.uuid), row->remote);
    } else if (!row->sa_key) {
        VLOG_WARN_RL(&rl, "PSP_Tx_SA "UUID_FMT": no sa_key",
                     UUID_ARGS(&row->header_.uuid));
    } else if (!psp_dp_parse_hex(row->sa_key, key, key_len)) {
        VLOG_WARN_RL(&rl, "PSP_Tx_SA "UUID_FMT": sa_key must be %"PRIuSIZE
                     " bytes in hexadecimal for version %"PRId64,
                     UUID_ARGS(&row->header_.uuid), key_len, row->version);
    } else if (psp_dp_tx_sa_set(remote, row->association, row->spi,
                                row->version, key, key_len)) {
        VLOG_WARN_RL(&rl, "PSP_Tx_SA "UUID_FMT": invalid SA",
                     UUID_ARGS(&row->header_.uuid));
    } else {
        ok = true;
    }
    explicit_bzero(key, sizeof key);
    return ok;
}

void
psp_ovsdb_run(struct ovsdb_idl *idl)
{
    const struct ovsrec_psp_tx_sa *row;

    OVSREC_PSP_TX_SA_FOR_EACH_TRACKED (row, idl) {
        struct applied_tx_sa *old = applied_tx_sa_find(&row->header_.uuid);
        struct in6_addr remote;
        bool applied = (!ovsrec_psp_tx_sa_is_deleted(row)
                        && tx_sa_apply(row, &remote));

        /* The new SA is in place before the old one goes, so that a re-key
         * of the same remote and association replaces it with no gap. */
        if (old && !(applied && old->assoc == (uint64_t) row->association
                     && ipv6_addr_equals(&old->remote, &remote))) {
            psp_dp_tx_sa_del(&old->remote, old->assoc);
        }
        if (applied) {
            if (!old) {
                old = xmalloc(sizeof *old);
                old->uuid = row->header_.uuid;
                hmap_insert(&applied_tx_sas, &old->node,
                            uuid_hash(&old->uuid));
            }
            old->remote = remote;
            old->assoc = row->association;
        } else if (old) {
            hmap_remove(&applied_tx_sas, &old->node);
            free(old);
        }
    }
    ovsdb_idl_track_clear(idl);
}
