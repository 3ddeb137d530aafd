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

#ifndef PSP_FLOW_H
#define PSP_FLOW_H 1

/* OpenFlow match fields on the cleartext part of PSP packets that the
 * switch forwards without decapsulating them (transit hops, gateways, or a
 * receiving host before the tunnel pop): SPI, version, S/D/V flags, crypt
 * offset, virtualization cookie, and the inner L4 protocol and ports when
 * the crypt offset leaves them readable.
 *
 * The fields live in 'struct flow''s 'psp' member (struct flow_psp), which
 * miniflow_extract() fills for UDP packets to port 1000 whose PSP header
 * parses, and which is all zeros otherwise.  Its 'vis' byte, which no
 * OpenFlow field shows, says which parts are readable.  After psp_decrypt
 * (psp-actions.c), the packet's 'psp' is the header it arrived with, its
 * inner protocol and ports are its own L4 header's, and 'decrypted' (the
 * psp_decrypted field) is 1.  Matching any PSP
 * field also matches the 'vis' bits it needs (psp_mf_set()), so that a
 * field the crypt offset leaves encrypted, or a packet that is not PSP,
 * never matches a flow on that field, whatever value the flow asks for.
 *
 * lib/flow.c, lib/meta-flow.c, lib/match.c, lib/nx-match.c and
 * lib/odp-util.c call these (vswitchd-patches/0014). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ds;
struct flow;
struct flow_psp;
struct flow_wildcards;
struct match;
struct mf_field;
union mf_value;

#define CASE_MFF_PSP                            \
    case MFF_PSP_SPI:                           \
    case MFF_PSP_VER:                           \
    case MFF_PSP_FLAGS:                         \
    case MFF_PSP_CRYPT_OFF:                     \
    case MFF_PSP_VC:                            \
    case MFF_PSP_INNER_PROTO:                   \
    case MFF_PSP_INNER_TP_SRC:                  \
    case MFF_PSP_INNER_TP_DST:                  \
    case MFF_PSP_DECRYPTED

/* Fills 'psp', the three 64-bit words of a struct flow_psp, from
 * 'udp_payload' ('size' bytes, the UDP payload of a packet to the PSP port)
 * and returns true if it holds a well-formed PSP header; otherwise returns
 * false and leaves 'psp' zeroed. */
bool psp_flow_extract(const void *udp_payload, size_t size, uint64_t psp[3]);

/* Stores 'psp' into 'w' as the three 64-bit words it is in memory, built
 * without a round trip through memory. */
void psp_flow_pack(const struct flow_psp *psp, uint64_t w[3]);

/* meta-flow.c glue, for the MFF_PSP_* fields. */
bool psp_mf_is_all_wild(const struct mf_field *,
                        const struct flow_wildcards *);
bool psp_mf_is_value_valid(const struct mf_field *, const union mf_value *);
void psp_mf_get_value(const struct mf_field *, const struct flow *,
                      union mf_value *);
void psp_mf_set_flow_value(const struct mf_field *, const union mf_value *,
                           struct flow *);
void psp_mf_set(const struct mf_field *, const union mf_value *value,
                const union mf_value *mask, struct match *);

/* match.c: appends the PSP fields 'match' matches to 's', as
 * "name=value[/mask],". */
void psp_match_format(const struct match *, struct ds *s);

/* odp-util.c: formats OVS_KEY_ATTR_PSP, as "spi=...,ver=...", with the
 * fields 'mask' (if nonnull) does not wildcard, or all if 'verbose'. */
void psp_odp_format(struct ds *, const struct flow_psp *key,
                    const struct flow_psp *mask, bool verbose);

#endif /* psp-flow.h */
