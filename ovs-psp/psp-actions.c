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

#include "psp-actions.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "dp-packet.h"
#include "flow.h"
#include "netlink.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-parse.h"
#include "openvswitch/ofpbuf.h"
#include "psp-flow.h"
#include "psp-packet.h"
#include "psp-transport.h"
#include "psp.h"
#include "unaligned.h"
#include "util.h"

/* What the pipeline sees of a decrypted packet (md->psp_rx, pushed into
 * struct flow's 'psp' by miniflow_extract()): the header's fields, and the
 * packet's own L4 protocol and ports. */
static void
set_rx_metadata(struct dp_packet *packet, const struct psp_dp_rx_info *info)
{
    struct flow_psp psp;

    memset(&psp, 0, sizeof psp);
    psp.spi = htonl(info->spi);
    psp.ver = info->version;
    psp.flags = info->hdr_flags;
    psp.crypt_off = info->crypt_off;
    psp.vis = FLOW_PSP_VIS_HDR;
    psp.decrypted = 1;
    if (info->hdr_flags & PSP_DP_HDR_V) {
        psp.vc = htonll(info->vc);
        psp.vis |= FLOW_PSP_VIS_VC;
    }

    /* psp_dp_decrypt() left a whole IP header, of no fragment, at the L3
     * offset. */
    uint8_t *ip = dp_packet_l3(packet);
    size_t size = (const uint8_t *) dp_packet_tail(packet) - ip;
    struct psp_ip h;
    psp_ip_parse(ip, size, &h);

    psp.inner_proto = h.proto;
    psp.vis |= FLOW_PSP_VIS_PROTO;
    if (psp_ip_has_ports(&h, size)) {
        memcpy(&psp.inner_tp_src, ip + h.hlen, 2);
        memcpy(&psp.inner_tp_dst, ip + h.hlen + 2, 2);
        psp.vis |= FLOW_PSP_VIS_PORTS;
    }
    psp_flow_pack(&psp, packet->md.psp_rx);
    packet->md.psp_rx_valid = true;
}

void
psp_dp_execute(struct dp_packet_batch *batch, const struct nlattr *a,
               bool steal)
{
    struct dp_packet *packet;
    size_t i, n = dp_packet_batch_size(batch);

    if (nl_attr_type(a) == OVS_ACTION_ATTR_PSP_ENCRYPT) {
        const struct psp_dp_encrypt_action *e = nl_attr_get(a);
        uint64_t assoc = get_32aligned_u64(&e->assoc);

        DP_PACKET_BATCH_REFILL_FOR_EACH (i, n, packet, batch) {
            if (!psp_dp_encrypt(packet, assoc, e->crypt_off, e->mtu)) {
                packet->md.psp_rx_valid = false;
                dp_packet_batch_refill(batch, packet, i);
            } else if (steal) {
                dp_packet_delete(packet);
            }
        }
    } else {
        const struct psp_dp_decrypt_action *d = nl_attr_get(a);
        uint64_t assoc = get_32aligned_u64(&d->assoc);
        const uint64_t *assocp = (d->flags & PSP_DP_DECRYPT_ASSOC
                                  ? &assoc : NULL);

        DP_PACKET_BATCH_REFILL_FOR_EACH (i, n, packet, batch) {
            struct psp_dp_rx_info info;

            if (!psp_dp_decrypt(packet, assocp, &info)) {
                set_rx_metadata(packet, &info);
                dp_packet_batch_refill(batch, packet, i);
            } else if (steal) {
                dp_packet_delete(packet);
            }
        }
    }
}

void
psp_odp_action_format(struct ds *s, const struct nlattr *a)
{
    if (nl_attr_type(a) == OVS_ACTION_ATTR_PSP_ENCRYPT) {
        const struct psp_dp_encrypt_action *e = nl_attr_get(a);

        ds_put_format(s, "psp_encrypt(assoc=%"PRIu64,
                      get_32aligned_u64(&e->assoc));
        if (e->crypt_off >= 0) {
            ds_put_format(s, ",crypt_off=%"PRId32, e->crypt_off);
        }
        if (e->mtu) {
            ds_put_format(s, ",mtu=%"PRIu32, e->mtu);
        }
        ds_put_char(s, ')');
    } else {
        const struct psp_dp_decrypt_action *d = nl_attr_get(a);

        ds_put_cstr(s, "psp_decrypt");
        if (d->flags & PSP_DP_DECRYPT_ASSOC) {
            ds_put_format(s, "(assoc=%"PRIu64")",
                          get_32aligned_u64(&d->assoc));
        }
    }
}

/* Parses a datapath action at 's'.  Returns the number of bytes parsed, 0
 * if 's' is not a PSP action, or -EINVAL. */
int
psp_odp_action_parse(const char *s, struct ofpbuf *actions)
{
    uint64_t assoc;
    int n = 0;

    if (ovs_scan(s, "psp_encrypt(assoc=%"SCNu64"%n", &assoc, &n)) {
        struct psp_dp_encrypt_action e = { .crypt_off = -1 };
        int off, len;

        put_32aligned_u64(&e.assoc, assoc);
        for (;;) {
            unsigned int mtu;

            len = 0;
            if (ovs_scan(s + n, ",crypt_off=%i%n", &off, &len)) {
                if (off < 0 || off > PSP_MAX_CRYPT_OFF) {
                    return -EINVAL;
                }
                e.crypt_off = off;
            } else if (ovs_scan(s + n, ",mtu=%u%n", &mtu, &len)) {
                if (mtu > UINT16_MAX) {
                    return -EINVAL;
                }
                e.mtu = mtu;
            } else {
                break;
            }
            n += len;
        }
        if (s[n] != ')') {
            return -EINVAL;
        }
        nl_msg_put_unspec(actions, OVS_ACTION_ATTR_PSP_ENCRYPT, &e, sizeof e);
        return n + 1;
    }
    if (!strncmp(s, "psp_decrypt", 11)) {
        struct psp_dp_decrypt_action d = { .flags = 0 };

        n = 11;
        if (s[n] == '(') {
            int len = 0;

            if (!ovs_scan(s + n, "(assoc=%"SCNu64")%n", &assoc, &len)) {
                return -EINVAL;
            }
            put_32aligned_u64(&d.assoc, assoc);
            d.flags = PSP_DP_DECRYPT_ASSOC;
            n += len;
        }
        nl_msg_put_unspec(actions, OVS_ACTION_ATTR_PSP_DECRYPT, &d, sizeof d);
        return n;
    }
    return 0;
}

char * OVS_WARN_UNUSED_RESULT
psp_ofpact_parse(char *arg, struct ofpact_psp *psp)
{
    bool encrypt = psp->ofpact.type == OFPACT_PSP_ENCRYPT;
    char *key, *value;

    psp->crypt_off = -1;
    psp->table = UINT8_MAX;
    while (ofputil_parse_key_value(&arg, &key, &value)) {
        char *error = NULL;

        if (!strcmp(key, "assoc")) {
            error = str_to_u64(value, &psp->assoc);
            psp->has_assoc = true;
        } else if (!strcmp(key, "key")) {
            /* "key" was this argument's name before it was "assoc": say
             * so, rather than take a word that means a secret. */
            error = xasprintf("%s: the association is assoc=N, not key=N",
                              encrypt ? "psp_encrypt" : "psp_decrypt");
        } else if (encrypt && !strcmp(key, "crypt_off")) {
            uint8_t off;

            error = str_to_u8(value, key, &off);
            if (!error && off > PSP_MAX_CRYPT_OFF) {
                error = xasprintf("%s: crypt_off must be at most %d", value,
                                  PSP_MAX_CRYPT_OFF);
            }
            psp->crypt_off = off;
        } else if (encrypt && !strcmp(key, "mtu")) {
            error = str_to_u16(value, key, &psp->mtu);
            if (!error && psp->mtu < 68) {
                error = xasprintf("%s: mtu must be at least 68", value);
            }
        } else if (!encrypt && !strcmp(key, "table")) {
            error = str_to_u8(value, key, &psp->table);
            if (!error && psp->table == UINT8_MAX) {
                error = xstrdup("table=255 is not a table");
            }
        } else {
            error = xasprintf("invalid argument '%s' in %s", key,
                              encrypt ? "psp_encrypt" : "psp_decrypt");
        }
        if (error) {
            return error;
        }
    }
    if (encrypt && !psp->has_assoc) {
        return xstrdup("psp_encrypt needs assoc=ASSOCIATION");
    }
    return NULL;
}

void
psp_ofpact_format(const struct ofpact_psp *psp, struct ds *s)
{
    bool encrypt = psp->ofpact.type == OFPACT_PSP_ENCRYPT;
    bool first = true;

    ds_put_cstr(s, encrypt ? "psp_encrypt" : "psp_decrypt");
    if (psp->has_assoc) {
        ds_put_format(s, "(assoc=%"PRIu64, psp->assoc);
        first = false;
    }
    if (psp->crypt_off >= 0) {
        ds_put_format(s, "%scrypt_off=%d", first ? "(" : ",", psp->crypt_off);
        first = false;
    }
    if (psp->mtu) {
        ds_put_format(s, "%smtu=%"PRIu16, first ? "(" : ",", psp->mtu);
        first = false;
    }
    if (psp->table != UINT8_MAX) {
        ds_put_format(s, "%stable=%"PRIu8, first ? "(" : ",", psp->table);
        first = false;
    }
    if (!first) {
        ds_put_char(s, ')');
    }
}
