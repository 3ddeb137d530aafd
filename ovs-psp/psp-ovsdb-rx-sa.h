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

#ifndef PSP_OVSDB_RX_SA_H
#define PSP_OVSDB_RX_SA_H 1

/* The PSP_Rx_SA table (psp-ovsdb-rx-sa.c), for psp-ovsdb.c, whose IDL
 * replicates it.  psp_ovsdb_rx_sa_run() and psp_ovsdb_rx_sa_mark_states()
 * write into that IDL's transaction in flight. */

#include <stdbool.h>

struct ovsdb_idl;

/* Applies the rows of 'idl' to the datapath: all of them if 'all', else
 * those that changed since the IDL's changes were last cleared. */
void psp_ovsdb_rx_sa_run(struct ovsdb_idl *idl, bool all);

/* Brings each row's state up to date with the master keys, if 'all' or if
 * the keys changed since the last call. */
void psp_ovsdb_rx_sa_mark_states(struct ovsdb_idl *idl, bool all);

/* Overwrites, in the replica, the keys of the rows applied since the last
 * call, once the transaction that wrote them has gone out. */
void psp_ovsdb_rx_sa_wipe_keys(void);

/* Forgets every row applied.  The datapath keeps its bindings. */
void psp_ovsdb_rx_sa_destroy(void);

/* Defined in psp-ovsdb.c. */
void psp_ovsdb_wipe_replica_string(const char *);

#endif /* psp-ovsdb-rx-sa.h */
