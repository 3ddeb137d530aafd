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

#ifndef NETDEV_PSP_H
#define NETDEV_PSP_H 1

/* The "psp" tunnel port of the userspace datapath: what lib/netdev-vport.c
 * and lib/odp-util.c call for it.
 *
 * A "psp" port is an L3 tunnel, like "gtpu": it carries the IP packet of a
 * frame (its Ethernet header is dropped on transmit; on receive the packet
 * comes out as a packet_type=IPv4/IPv6 packet, to which a legacy L3 port
 * adds an Ethernet header with the usual OVS rules).  The tunnel key
 * (tun_id) is the PSP association: on transmit, it selects the SA together
 * with the remote address; on receive, it is the association the SPI was
 * allocated for. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_packet;
struct ds;
struct netdev;
struct netdev_custom_stats;
struct netdev_tnl_build_header_params;
struct netdev_tunnel_config;
struct ovs_action_push_tnl;
struct smap;

#define PSP_DEFAULT_DST_PORT 1000

/* Options (set_tunnel_config(), get_tunnel_config()). */
bool netdev_psp_parse_option(const char *name, const char *key,
                             const char *value,
                             struct netdev_tunnel_config *,
                             struct ds *errors, int *errp);
int netdev_psp_check_config(const char *name,
                            const struct netdev_tunnel_config *,
                            struct ds *errors);
void netdev_psp_get_config(const struct netdev_tunnel_config *,
                           struct smap *args);

/* The netdev_class functions of "psp" ports. */
int netdev_psp_build_header(const struct netdev *,
                            struct ovs_action_push_tnl *,
                            const struct netdev_tnl_build_header_params *);
int netdev_psp_push_header(const struct netdev *, struct dp_packet *,
                           const struct ovs_action_push_tnl *);
struct dp_packet *netdev_psp_pop_header(struct dp_packet *);
int netdev_psp_get_custom_stats(const struct netdev *,
                                struct netdev_custom_stats *);

/* "psp(...)" in tnl_push() actions, for odp-util: the PSP header template
 * 'psp' of 'len' bytes, without any key (templates hold none).  The parser
 * writes the template to 'psp', which has room for PSP_HDR_LEN +
 * PSP_VC_LEN bytes, and returns the number of characters it used and the
 * template's length in '*lenp', or -1. */
void netdev_psp_format_header(struct ds *, const uint8_t *psp, size_t len);
int netdev_psp_parse_header(const char *s, uint8_t *psp, size_t *lenp);

#endif /* netdev-psp.h */
