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

#include <config.h>

#include "netdev-psp.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>

#include "dp-packet.h"
#include "netdev-native-tnl.h"
#include "netdev-vport-private.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "psp-sa.h"
#include "psp-tunnel.h"
#include "psp.h"
#include "smap.h"
#include "tun-metadata.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(netdev_psp);

/* Options. */

/* Parses 'value' of option 'key' of port 'name' into 'cfg', if 'key' is a
 * PSP option, and returns true.  Sets '*errp' to 0, or to EINVAL for a bad
 * value, which it describes in 'errors'. */
bool
netdev_psp_parse_option(const char *name, const char *key, const char *value,
                        struct netdev_tunnel_config *cfg, struct ds *errors,
                        int *errp)
{
    unsigned long long int x;

    *errp = 0;
    if (!strcmp(key, "psp_version")) {
        if (str_to_ullong(value, 10, &x) && psp_version_is_valid(x)) {
            cfg->psp_has_version = true;
            cfg->psp_version = x;
        } else {
            ds_put_format(errors, "%s: invalid psp_version '%s' (must be "
                          "0, 1, 2 or 3)\n", name, value);
            *errp = EINVAL;
        }
    } else if (!strcmp(key, "crypt_offset")) {
        if (str_to_ullong(value, 10, &x) && x <= 63) {
            cfg->psp_crypt_off = x;
        } else {
            ds_put_format(errors, "%s: invalid crypt_offset '%s' (must be "
                          "0 to 63, in 4-byte units)\n", name, value);
            *errp = EINVAL;
        }
    } else if (!strcmp(key, "vc")) {
        cfg->psp_has_vc = cfg->psp_vc_flow = false;
        if (!strcmp(value, "none")) {
            /* No VC. */
        } else if (!strcmp(value, "flow")) {
            cfg->psp_vc_flow = true;
        } else if (value[0] != '-' && str_to_ullong(value, 0, &x)) {
            cfg->psp_has_vc = true;
            cfg->psp_vc = x;
        } else {
            ds_put_format(errors, "%s: invalid vc '%s' (must be 'none', "
                          "'flow' or a 64-bit number)\n", name, value);
            *errp = EINVAL;
        }
    } else {
        return false;
    }
    return true;
}

/* Checks the options of port 'name' together.  Returns 0, or EINVAL after
 * describing the problem in 'errors'. */
int
netdev_psp_check_config(const char *name,
                        const struct netdev_tunnel_config *cfg,
                        struct ds *errors)
{
    if (cfg->psp_has_version && psp_version_is_gmac(cfg->psp_version)
        && cfg->psp_crypt_off) {
        ds_put_format(errors, "%s: psp_version %d (%s) encrypts nothing and "
                      "takes no crypt_offset\n", name, cfg->psp_version,
                      psp_version_name(cfg->psp_version));
        return EINVAL;
    }
    if (cfg->payload_ethertype) {
        ds_put_format(errors, "%s: psp carries IPv4 and IPv6 only\n", name);
        return EINVAL;
    }
    return 0;
}

void
netdev_psp_get_config(const struct netdev_tunnel_config *cfg,
                      struct smap *args)
{
    if (cfg->psp_has_version) {
        smap_add_format(args, "psp_version", "%d", cfg->psp_version);
    }
    if (cfg->psp_crypt_off) {
        smap_add_format(args, "crypt_offset", "%d", cfg->psp_crypt_off);
    }
    if (cfg->psp_has_vc) {
        smap_add_format(args, "vc", "0x%"PRIx64, cfg->psp_vc);
    } else if (cfg->psp_vc_flow) {
        smap_add(args, "vc", "flow");
    }
}

/* The datapath. */

/* The SPI and VC of a received packet reach the OpenFlow pipeline as tunnel
 * metadata options, in Geneve's format, of a class from Geneve's range for
 * experimental use: map them to tun_metadata fields with "ovs-ofctl
 * add-tlv-map".  On transmit, "vc=flow" takes the VC from the same option
 * of the flow. */
#define PSP_TNL_OPT_CLASS 0xfff0
#define PSP_TNL_OPT_SPI 1       /* 4 bytes. */
#define PSP_TNL_OPT_VC 2        /* 8 bytes. */
#define PSP_TNL_OPT_FLAGS 3     /* 4 bytes: 0x80 S, 0x40 D; only if set. */

static void
put_tnl_opt(struct flow_tnl *tnl, uint8_t type, const void *data,
            size_t len)
{
    struct geneve_opt *opt;

    opt = ALIGNED_CAST(struct geneve_opt *,
                       tnl->metadata.opts.u8 + tnl->metadata.present.len);
    opt->opt_class = htons(PSP_TNL_OPT_CLASS);
    opt->type = type;
    opt->r1 = opt->r2 = opt->r3 = 0;
    opt->length = len / 4;
    memcpy(opt + 1, data, len);
    tnl->metadata.present.len += sizeof *opt + len;
}

/* Finds the PSP option 'type' with 'len' bytes of data in the tunnel
 * metadata 'tnl' and copies its data to 'data'.  Returns false if there is
 * none. */
static bool
get_flow_opt(const struct flow_tnl *tnl, uint8_t type, void *data,
             size_t len)
{
    struct geneve_opt opts[TLV_TOT_OPT_SIZE / sizeof(struct geneve_opt)];
    bool crit;
    int opts_len = tun_metadata_to_geneve_header(tnl, opts, &crit);
    const uint8_t *p = (const uint8_t *) opts;

    for (int ofs = 0; ofs + (int) sizeof *opts <= opts_len; ) {
        const struct geneve_opt *opt = ALIGNED_CAST(const struct geneve_opt *,
                                                    p + ofs);
        size_t data_len = opt->length * 4;

        if (opt->opt_class == htons(PSP_TNL_OPT_CLASS)
            && opt->type == type && data_len == len) {
            memcpy(data, opt + 1, len);
            return true;
        }
        ofs += sizeof *opt + data_len;
    }
    return false;
}

int
netdev_psp_build_header(const struct netdev *netdev,
                        struct ovs_action_push_tnl *data,
                        const struct netdev_tnl_build_header_params *params)
{
    struct netdev_vport *dev = netdev_vport_cast(netdev);
    struct psp_port_cfg cfg;
    struct udp_header *udp;

    udp = netdev_tnl_ip_build_header(data, params, IPPROTO_UDP);

    ovs_mutex_lock(&dev->mutex);
    udp->udp_dst = dev->tnl_cfg.dst_port;
    cfg = (struct psp_port_cfg) {
        .has_version = dev->tnl_cfg.psp_has_version,
        .version = dev->tnl_cfg.psp_version,
        .crypt_off = dev->tnl_cfg.psp_crypt_off,
        .has_vc = dev->tnl_cfg.psp_has_vc,
        .vc = dev->tnl_cfg.psp_vc,
        /* Above 65535, no IP packet is too big: no limit. */
        .mtu = (params->egress_mtu > 0 && params->egress_mtu <= UINT16_MAX
                ? params->egress_mtu : 0),
    };
    bool vc_flow = dev->tnl_cfg.psp_vc_flow;
    ovs_mutex_unlock(&dev->mutex);

    if (vc_flow) {
        /* A flow without the option sends without a VC. */
        ovs_be64 vc = 0;

        cfg.has_vc = get_flow_opt(&params->flow->tunnel, PSP_TNL_OPT_VC,
                                  &vc, sizeof vc);
        cfg.vc = ntohll(vc);
    }

    /* The flow asks for the S and D bits with the option that carries them
     * on receive.  D means "sample, then drop", so it brings S. */
    ovs_be32 sd;
    if (get_flow_opt(&params->flow->tunnel, PSP_TNL_OPT_FLAGS,
                     &sd, sizeof sd)) {
        cfg.sd_bits = ntohl(sd) & (PSP_DP_HDR_S | PSP_DP_HDR_D);
        if (cfg.sd_bits & PSP_DP_HDR_D) {
            cfg.sd_bits |= PSP_DP_HDR_S;
        }
    }

    /* A nonzero checksum in the template asks push to compute one. */
    if (params->is_ipv6 || params->flow->tunnel.flags & FLOW_TNL_F_CSUM) {
        udp->udp_csum = htons(0xffff);
    }
    uint64_t assoc = ntohll(params->flow->tunnel.tun_id);
    data->header_len += sizeof *udp;
    data->header_len += psp_dp_build_header((uint8_t *) (udp + 1), &cfg,
                                            assoc);
    data->tnl_type = OVS_VPORT_TYPE_PSP;
    return 0;
}

int
netdev_psp_push_header(const struct netdev *netdev OVS_UNUSED,
                       struct dp_packet *packet,
                       const struct ovs_action_push_tnl *data)
{
    const uint8_t *header = (const uint8_t *) data->header;
    const struct eth_header *eth = (const struct eth_header *) data->header;
    size_t csum_ofs = (ETH_HEADER_LEN
                       + (eth->eth_type == htons(ETH_TYPE_IPV6)
                          ? IPV6_HEADER_LEN : IP_HEADER_LEN)
                       + offsetof(struct udp_header, udp_csum));
    ovs_be16 csum;

    /* A nonzero checksum in the template asks for one. */
    memcpy(&csum, header + csum_ofs, sizeof csum);
    enum psp_error error = psp_dp_push(packet, data->header,
                                       data->header_len, csum != 0);
    return (!error ? 0
            : error == PSP_E_NO_SA ? ENOENT
            : error == PSP_E_NO_ROOM ? ENOBUFS
            : EINVAL);
}

struct dp_packet *
netdev_psp_pop_header(struct dp_packet *packet)
{
    struct pkt_metadata *md = &packet->md;
    uint32_t spi;
    uint64_t vc;

    ovs_assert(packet->l3_ofs > 0);
    ovs_assert(packet->l4_ofs > 0);

    uint8_t flags;

    pkt_metadata_init_tnl(md);
    if (psp_dp_pop(packet, &md->tunnel, &spi, &vc, &flags)) {
        dp_packet_delete(packet);
        return NULL;
    }

    ovs_be32 spi_be = htonl(spi);
    put_tnl_opt(&md->tunnel, PSP_TNL_OPT_SPI, &spi_be, sizeof spi_be);
    if (flags & PSP_DP_HDR_V) {
        ovs_be64 vc_be = htonll(vc);
        put_tnl_opt(&md->tunnel, PSP_TNL_OPT_VC, &vc_be, sizeof vc_be);
    }
    if (flags & (PSP_DP_HDR_S | PSP_DP_HDR_D)) {
        ovs_be32 sd = htonl(flags & (PSP_DP_HDR_S | PSP_DP_HDR_D));
        put_tnl_opt(&md->tunnel, PSP_TNL_OPT_FLAGS, &sd, sizeof sd);
    }
    md->tunnel.flags |= FLOW_TNL_F_UDPIF;
    return packet;
}

/* The device's PSP counters, which all its "psp" ports share: a packet
 * that fails is dropped before it can be told which port it was for. */
int
netdev_psp_get_custom_stats(const struct netdev *netdev OVS_UNUSED,
                            struct netdev_custom_stats *custom)
{
    struct psp_stats s;

    psp_dp_get_stats(&s);

    const struct {
        const char *name;
        uint64_t value;
    } counters[] = {
        { "psp_rx_packets", s.rx_packets },
        { "psp_rx_bytes", s.rx_bytes },
        { "psp_rx_auth_fail", s.rx_auth_fail },
        { "psp_rx_error", s.rx_error },
        { "psp_rx_bad", s.rx_bad },
        { "psp_rx_stale", s.rx_stale },
        { "psp_rx_sample", s.rx_sample },
        { "psp_rx_sample_drop", s.rx_sample_drop },
        { "psp_rx_unbound_spi", s.errors[PSP_E_UNBOUND_SPI] },
        { "psp_tx_packets", s.tx_packets },
        { "psp_tx_bytes", s.tx_bytes },
        { "psp_tx_error", s.tx_error },
        { "psp_tx_no_sa", s.errors[PSP_E_NO_SA] },
        { "psp_key_rotations", s.key_rotations },
    };

    custom->size = ARRAY_SIZE(counters);
    custom->counters = xcalloc(custom->size, sizeof *custom->counters);
    for (size_t i = 0; i < ARRAY_SIZE(counters); i++) {
        ovs_strlcpy(custom->counters[i].name, counters[i].name,
                    NETDEV_CUSTOM_STATS_NAME_SIZE);
        custom->counters[i].value = counters[i].value;
    }
    return 0;
}

/* tnl_push() actions. */

void
netdev_psp_format_header(struct ds *ds, const uint8_t *psp, size_t len)
{
    unsigned int version = (psp[3] >> 2) & 0xf;
    bool has_vc = (psp[3] & 0x02) && len >= PSP_HDR_LEN + PSP_VC_LEN;

    ds_put_cstr(ds, "psp(version=");
    if (version == PSP_DP_VERSION_ANY) {
        ds_put_cstr(ds, "any");
    } else {
        ds_put_format(ds, "%u", version);
    }
    ds_put_format(ds, ",crypt_offset=%u", psp[2] & 0x3f);
    if (has_vc) {
        ovs_be64 vc;

        memcpy(&vc, psp + PSP_HDR_LEN, sizeof vc);
        ds_put_format(ds, ",vc=0x%"PRIx64, ntohll(vc));
    }
    if (psp[3] & (PSP_DP_HDR_S | PSP_DP_HDR_D)) {
        ds_put_format(ds, ",flags=0x%02x",
                      psp[3] & (PSP_DP_HDR_S | PSP_DP_HDR_D));
    }
    ds_put_format(ds, ",assoc=0x%"PRIx64, psp_dp_header_assoc(psp));

    ovs_be32 mtu;
    memcpy(&mtu, psp + 4, sizeof mtu);
    if (mtu) {
        ds_put_format(ds, ",mtu=%"PRIu32, ntohl(mtu));
    }
    ds_put_char(ds, ')');
}

int
netdev_psp_parse_header(const char *s, uint8_t *psp, size_t *lenp)
{
    struct psp_port_cfg cfg;
    uint64_t vc, assoc;
    unsigned int x;
    int n = 0;

    memset(&cfg, 0, sizeof cfg);
    if (!ovs_scan_len(s, &n, "psp(version=")) {
        return -1;
    }
    if (ovs_scan_len(s, &n, "%u", &x)) {
        if (!psp_version_is_valid(x)) {
            return -1;
        }
        cfg.has_version = true;
        cfg.version = x;
    } else if (!ovs_scan_len(s, &n, "any")) {
        return -1;
    }
    if (!ovs_scan_len(s, &n, ",crypt_offset=%u", &x) || x > 63) {
        return -1;
    }
    cfg.crypt_off = x;
    if (ovs_scan_len(s, &n, ",vc=0x%"SCNx64, &vc)) {
        cfg.has_vc = true;
        cfg.vc = vc;
    }
    if (ovs_scan_len(s, &n, ",flags=0x%x", &x)) {
        if (!x || x & ~(PSP_DP_HDR_S | PSP_DP_HDR_D)) {
            return -1;
        }
        cfg.sd_bits = x;
    }
    if (!ovs_scan_len(s, &n, ",assoc=0x%"SCNx64, &assoc)) {
        return -1;
    }
    if (ovs_scan_len(s, &n, ",mtu=%u", &x)) {
        if (!x || x > UINT16_MAX) {
            return -1;
        }
        cfg.mtu = x;
    }
    if (!ovs_scan_len(s, &n, ")")) {
        return -1;
    }
    *lenp = psp_dp_build_header(psp, &cfg, assoc);
    return n;
}
