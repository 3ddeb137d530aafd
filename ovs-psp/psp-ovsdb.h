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

/* ovs-vswitchd's reading of the PSP tables of the Open_vSwitch database
 * (ovsdb-schema/psp.ovsschema).  Transmit SAs are applied incrementally:
 * only the rows that changed since the last run, through the IDL's change
 * tracking. */

struct ovsdb_idl;

/* Asks 'idl' to track changes to the PSP tables (bridge_init()). */
void psp_ovsdb_init(struct ovsdb_idl *idl);

/* Applies the changes to the PSP tables since the last call
 * (bridge_run(), after ovsdb_idl_run()). */
void psp_ovsdb_run(struct ovsdb_idl *idl);

#endif /* psp-ovsdb.h */
