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

/* ovs-vsctl records its command line in the log and, as the transaction's
 * comment, in the database file, which keeps it for good.  A command that
 * sets a PSP key (columns "sa_key" and "master_keys") must not leave the key
 * there.  Returns the command line 'argv' escaped as process_escape_args()
 * does, with the value of every such column replaced by "<redacted>".  The
 * caller frees it. */
char *psp_vsctl_redacted_args(char **argv);

/* Keeps the values of the PSP key columns out of this process's debug log
 * of JSON-RPC messages (jsonrpc_log_redact(), vswitchd-patches/0019):
 * ovs-vswitchd and ovs-vsctl call it before they connect to the
 * database.  (psp_vsctl_redacted_args() calls it.) */
void psp_log_redact_keys(void);

#endif /* psp-vsctl.h */
