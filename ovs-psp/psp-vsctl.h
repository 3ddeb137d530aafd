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

#ifndef PSP_VSCTL_H
#define PSP_VSCTL_H 1

/* The PSP columns that hold key material (ovsdb-schema/psp.ovsschema):
 * "master_keys" of table PSP and "sa_key" of PSP_Rx_SA and PSP_Tx_SA.  This
 * is the one list of them.  psp_log_redact_keys() registers each as a
 * secret column (lib/ovsdb-secret.h, vswitchd-patches/0010), and so the
 * values of these columns are:
 *
 *   - left out of the command line that ovs-vsctl logs and records, as the
 *     transaction's comment, in the database file (0010);
 *
 *   - wiped from the memory that the process's JSON-RPC connections leave
 *     behind (0012);
 *
 *   - shown as "<redacted>" in the debug log of JSON-RPC messages (0019).
 *
 * ovs-vswitchd and ovs-vsctl call it before they connect to the database.
 * Calling it again does nothing more. */
void psp_log_redact_keys(void);

#endif /* psp-vsctl.h */
