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

#ifndef PSP_TRANSPORT_H
#define PSP_TRANSPORT_H 1

/* Transport mode of the PSP datapath: the psp_encrypt and psp_decrypt
 * datapath actions (ovs-psp/psp-actions.c).  Tunnel mode is in
 * psp-tunnel.h, the SAs and keys in psp-sa.h.
 *
 * psp_dp_encrypt() encrypts 'packet', whose L3 offset is that of an IPv4
 * (options kept) or IPv6 header, in place: UDP (to port 1000) and a PSP
 * header go between the IP header and what followed it, the ICV at the
 * end, and the IP length, protocol and IPv4 checksum are fixed.  The SA is
 * that of the IP destination and 'assoc'.  'crypt_off' is the crypt offset
 * (the SA's, or 0, if negative).  Fails with PSP_E_TX_TOO_BIG if 'mtu' is
 * nonzero and the encrypted IP packet would be longer, and with
 * PSP_E_TX_UNSUPPORTED for IPv4 fragments and IPv6 extension headers
 * (which would have to stay outside the encryption).  On error the packet
 * must be dropped.
 *
 * psp_dp_decrypt() verifies and decrypts a transport-mode PSP packet to
 * this host in place, back to the IP packet it was (lengths from the IP
 * header), and fills 'info'.  The SPI must be bound to the packet's source
 * address (or to any) and, if 'assoc' is nonnull, to that association, or
 * the packet fails with PSP_E_UNBOUND_SPI.  On error the packet must be
 * dropped. */

#include <stdint.h>

#include "psp-packet.h"
#include "psp.h"

struct dp_packet;

/* What psp_dp_decrypt() found in a packet's PSP header. */
struct psp_dp_rx_info {
    uint32_t spi;
    uint8_t version;
    uint8_t crypt_off;
    uint8_t hdr_flags;          /* PSP_DP_HDR_*. */
    uint64_t vc;                /* 0 if none. */
    uint64_t assoc;             /* The SPI's association. */
};
enum psp_error psp_dp_encrypt(struct dp_packet *, uint64_t assoc,
                              int crypt_off, unsigned int mtu);
enum psp_error psp_dp_decrypt(struct dp_packet *, const uint64_t *assoc,
                              struct psp_dp_rx_info *);

#endif /* psp-transport.h */
