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

/* The psp/... ovs-appctl commands, and the parsing and formatting of
 * addresses, hexadecimal keys and the SAs that they and the database's
 * rows (ovs-psp/psp-ovsdb*.c) share.  The SAs themselves are in psp-sa.h. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ds;

/* Registers the psp/... ovs-appctl commands (ovs-vswitchd calls this from
 * bridge_init(), vswitchd-patches/0003):
 *
 *   psp/alloc-spi PEER ASSOC [VERSION]
 *                                      allocate a receive SPI for packets
 *                                      from PEER ("any" for any) on
 *                                      association ASSOC; prints the SPI and
 *                                      the key to give the peer
 *   psp/add-sa REMOTE ASSOC SPI VERSION HEXKEY
 *                                      install (or re-key) the transmit SA
 *                                      to REMOTE on association ASSOC
 *   psp/rx-key SPI                     the key of bound receive SPI SPI
 *                                      (for ovs-psp-keyd)
 *   psp/del-sa REMOTE ASSOC            remove it
 *   psp/rotate                         rotate the master keys
 *   psp/show                           SAs, SPIs and counters (no keys)
 *
 * ovs-vswitchd(8) documents them (psp-unixctl.man). */
void psp_unixctl_register(void);

/* Parses 's' as an IPv4 address (v4-mapped) or IPv6 address, or as "any"
 * (all-zeros) if 'any_ok'. */
bool psp_dp_parse_addr(const char *s, bool any_ok, struct in6_addr *);

/* Appends 'addr' to 's' as psp_dp_parse_addr() reads it, "any" if it is
 * all zeros. */
void psp_dp_format_addr(struct ds *s, const struct in6_addr *addr);

/* Parses 'hex', exactly 2 * 'n' hexadecimal digits, into 'out'. */
bool psp_dp_parse_hex(const char *hex, uint8_t *out, size_t n);

/* Appends the 'n' bytes at 'p' to 's' as 2 * 'n' hexadecimal digits (unlike
 * ds_put_hex(), with leading zeros and no "0x"), e.g. a key. */
void psp_dp_put_hex(struct ds *s, const uint8_t *p, size_t n);

/* Wipes and destroys 's', which held key material. */
void psp_dp_ds_wipe(struct ds *s);

/* Formats the SAs and bindings, without keys (psp/show). */
void psp_dp_format(struct ds *, bool brief);

#endif /* psp-unixctl.h */
