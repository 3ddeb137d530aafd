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

#ifndef PSP_ACTIONS_H
#define PSP_ACTIONS_H 1

/* Transport mode as actions: "psp_encrypt" and "psp_decrypt".
 *
 * In OpenFlow (lib/ofp-actions.c, vswitchd-patches/0017):
 *
 *   psp_encrypt(assoc=ASSOC[,crypt_off=N][,mtu=N])
 *   psp_decrypt[(assoc=ASSOC][,table=N])]
 *
 * and in the userspace datapath (OVS_ACTION_ATTR_PSP_ENCRYPT and
 * OVS_ACTION_ATTR_PSP_DECRYPT, vswitchd-patches/0016), with the same
 * arguments but "table", which becomes a recirculation.  Neither carries a
 * key: the SA is found at packet time by IP destination and association
 * (psp_dp_encrypt()), and receive keys are derived from the SPI.  The
 * helpers here keep the OVS side of each to a few lines. */

#include <stdbool.h>
#include <stdint.h>
#include "openvswitch/compiler.h"
#include "openvswitch/types.h"

struct dp_packet_batch;
struct ds;
struct nlattr;
struct ofpact_psp;
struct ofpbuf;

/* OVS_ACTION_ATTR_PSP_ENCRYPT's argument. */
struct psp_dp_encrypt_action {
    ovs_32aligned_u64 assoc;
    int32_t crypt_off;          /* -1: the SA's, else 0. */
    uint32_t mtu;               /* 0: no limit. */
};

/* OVS_ACTION_ATTR_PSP_DECRYPT's argument. */
struct psp_dp_decrypt_action {
    ovs_32aligned_u64 assoc;    /* Only with PSP_DP_DECRYPT_ASSOC. */
    uint32_t flags;
    uint32_t pad;
};
#define PSP_DP_DECRYPT_ASSOC 0x1 /* The SPI must belong to 'assoc'. */

/* The datapath actions (lib/odp-execute.c, lib/odp-util.c). */
void psp_dp_execute(struct dp_packet_batch *, const struct nlattr *,
                    bool steal);
void psp_odp_action_format(struct ds *, const struct nlattr *);
int psp_odp_action_parse(const char *s, struct ofpbuf *actions);

/* The OpenFlow actions (lib/ofp-actions.c). */
char *psp_ofpact_parse(char *arg, struct ofpact_psp *)
    OVS_WARN_UNUSED_RESULT;
void psp_ofpact_format(const struct ofpact_psp *, struct ds *);

#endif /* psp-actions.h */
