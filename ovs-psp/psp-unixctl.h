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

#ifndef PSP_UNIXCTL_H
#define PSP_UNIXCTL_H 1

/* Registers the psp/... ovs-appctl commands (ovs-vswitchd calls this from
 * bridge_init(), vswitchd-patches/0003):
 *
 *   psp/alloc-spi PEER KEY [VERSION]   allocate a receive SPI for packets
 *                                      from PEER ("any" for any) with tunnel
 *                                      key KEY; prints the SPI and the key
 *                                      to give the peer
 *   psp/add-sa REMOTE KEY SPI VERSION HEXKEY
 *                                      install (or re-key) the transmit SA
 *                                      to REMOTE for tunnel key KEY
 *   psp/del-sa REMOTE KEY              remove it
 *   psp/rotate                         rotate the master keys
 *   psp/show                           SAs, SPIs and counters (no keys) */
void psp_unixctl_register(void);

#endif /* psp-unixctl.h */
