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

#ifndef PSP_OVSDB_TX_SA_H
#define PSP_OVSDB_TX_SA_H 1

/* The PSP_Tx_SA table's own database session (psp-ovsdb-tx-sa.c): a raw
 * JSON-RPC "monitor" whose updates are applied to the datapath's transmit
 * SAs and dropped, with the rows' status and statistics written back.
 * Only psp-ovsdb.c calls these, and only while ovs-vswitchd holds its
 * database lock. */

/* Opens the session to 'remote', ovs-vswitchd's database. */
void psp_ovsdb_tx_sa_open(const char *remote);

/* Runs the session: (re)starts the monitor, applies the updates received,
 * writes back status and statistics. */
void psp_ovsdb_tx_sa_run(void);
void psp_ovsdb_tx_sa_wait(void);

/* Closes the session.  The datapath keeps its SAs. */
void psp_ovsdb_tx_sa_close(void);

#endif /* psp-ovsdb-tx-sa.h */
