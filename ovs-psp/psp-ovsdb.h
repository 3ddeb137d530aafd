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

#ifndef PSP_OVSDB_H
#define PSP_OVSDB_H 1

/* ovs-vswitchd's side of the PSP tables of the Open_vSwitch database
 * (ovsdb-schema/psp.ovsschema), on a database connection of its own so that
 * its transactions never wait on the bridge's, and so that the bridge's IDL
 * does not replicate the (possibly millions of) SA rows.
 *
 *   - PSP: keeps the master keys and their SPI allocation state where
 *     'key_store' says (the kernel keyring, psp-keyring.h, by default; or
 *     the ephemeral master_keys column), publishes their state, takes them
 *     back when ovs-vswitchd restarts, and rotates when 'rotate_to' asks for
 *     the next generation.
 *
 *   - PSP_Rx_SA: allocates the SPI and key of each new row (writing the key
 *     into the row unless 'publish_key' is false: then only ovs-appctl
 *     psp/rx-key gives it), binds SPIs to their peer and association, and
 *     marks each row's state as the master keys rotate.
 *
 *   - PSP_Tx_SA: installs, re-keys and removes transmit SAs, one changed row
 *     at a time, and writes back their status and statistics.  It keeps no
 *     replica of the rows: each update goes to the datapath and is dropped
 *     (a third connection, a raw "monitor").
 *
 * All of it runs only while the bridge's IDL holds ovs-vswitchd's database
 * lock ("ovs_vswitchd"): a second ovs-vswitchd started against the same
 * database leaves the PSP tables alone, as it leaves the bridges, until the
 * first one goes away.
 *
 * psp-ovsdb.c holds the connections, the main loop and the PSP row,
 * psp-ovsdb-rx-sa.c the PSP_Rx_SA rows and psp-ovsdb-tx-sa.c the PSP_Tx_SA
 * monitor. */

struct ovsdb_idl;

/* Sets up the connections to 'remote' (ovs-vswitchd's database), made once
 * 'bridge_idl' holds the lock, and stops 'bridge_idl' from replicating the
 * PSP tables (bridge_init()). */
void psp_ovsdb_init(struct ovsdb_idl *bridge_idl, const char *remote);

void psp_ovsdb_run(void);
void psp_ovsdb_wait(void);
void psp_ovsdb_destroy(void);

#endif /* psp-ovsdb.h */
