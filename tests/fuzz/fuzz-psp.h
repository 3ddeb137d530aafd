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

#ifndef FUZZ_PSP_H
#define FUZZ_PSP_H 1

/* What the ovs-psp fuzz targets (tests/fuzz/fuzz-*.c) share: libFuzzer's
 * entry points, the master keys, a sealer that makes a PSP packet authentic,
 * and a frame builder that turns a short input into an Ethernet frame with
 * consistent lengths, any number of VLAN tags, padding, and an authentic
 * PSP packet inside.
 *
 * Random bytes almost never carry a valid ICV, so a fuzzer alone would
 * never get past AES-GCM.  The targets therefore let the input ask the
 * harness to seal what it holds (with the key that the receiver derives
 * from the SPI), and to fix lengths and checksums that a fuzzer cannot
 * compute.  Each of these is a bit of the input, so the fuzzer explores
 * both the authentic and the raw packet.
 *
 * This file uses libpsp only, so that the libpsp targets link without
 * Open vSwitch. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "psp.h"

/* libFuzzer's entry points. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with 'msg' (a failed property of the code under test: libFuzzer
 * records the input as a crash). */
#define FUZZ_ASSERT(COND)                                               \
    ((COND) ? (void) 0 : fuzz_fail(__FILE__, __LINE__, #COND))
void fuzz_fail(const char *file, int line, const char *what)
    __attribute__((__noreturn__));

/* Whether FUZZ_VERBOSE is set in the environment: the datapath targets
 * then say on stderr what they expected of each input and what happened,
 * to check that their checks are not vacuous, and the pcap target shows
 * the program's command lines and messages. */
bool fuzz_verbose(void);

/* The spec's KDF example keys, which the vectors are encrypted under
 * (the keys/master_keys.cfg that tests/psp-make-vectors.py writes). */
extern const uint8_t fuzz_master_keys[2][PSP_MASTER_KEY_LEN];

/* Master keys with SPI tracking don't let a sealer guess the key; a sealer
 * uses the keys it is given. */
struct fuzz_sealer {
    const struct psp_mkeys *mk;         /* Null: 'fuzz_master_keys'. */
    struct psp_crypto *cc;
    const uint32_t *bound_spis;         /* For FUZZ_F_BOUND_SPI, by
                                         * version (0 to 3), or null. */
};
void fuzz_sealer_init(struct fuzz_sealer *, const struct psp_mkeys *);

/* Makes 'pkt', a PSP packet of 'len' bytes (header through ICV), authentic
 * for the receiver of its SPI: encrypts what its header says is encrypted
 * and writes the ICV, with the key that the SPI and version derive.
 * Returns false, changing nothing, if its header does not parse. */
bool fuzz_seal(struct fuzz_sealer *, uint8_t *pkt, size_t len);

/* The frame builder.
 *
 * An input is FUZZ_FRAME_CTL_LEN control bytes, then the frame:
 *
 *   byte 0   flags, FUZZ_F_* (the bits above them are the target's own)
 *   byte 1   VLAN tags to insert after the MAC addresses (802.1ad, then
 *            802.1Q)
 *   byte 2-3 with FUZZ_F_FIX_LEN: the IP packet's length (big-endian; 0:
 *            as the frame has it), to which the frame is cut or extended
 *            with zeros
 *   byte 4   with FUZZ_F_FIX_LEN: bytes of Ethernet padding after the IP
 *            packet
 *
 * With FUZZ_F_L3 the frame has no Ethernet header (an L3 packet, as after
 * a tunnel pop); its first 14 bytes still select the IP version, by the
 * Ethernet type in bytes 12-13, and are then dropped. */
#define FUZZ_FRAME_CTL_LEN 5
#define FUZZ_F_FIX_LEN 0x01     /* IPv4 total length or IPv6 payload
                                 * length, IPv4 header checksum, UDP length
                                 * and UDP checksum (if not 0) made right. */
#define FUZZ_F_SEAL 0x02        /* A PSP packet to UDP port 1000 sealed. */
#define FUZZ_F_L3 0x04          /* See above. */
#define FUZZ_F_BOUND_SPI 0x08   /* With FUZZ_F_SEAL, the SPI replaced by
                                 * the sealer's 'bound_spis' for the
                                 * packet's version (0 to 3), before it
                                 * is sealed. */
#define FUZZ_F_TARGET 0xf0      /* The target's own bits. */

struct fuzz_frame {
    uint8_t flags;              /* Byte 0. */
    uint8_t *data;              /* malloc()ed, exactly 'len' bytes. */
    size_t len;
    size_t l3;                  /* IP header offset, or SIZE_MAX. */
    bool ipv6;
    uint16_t eth_type;          /* After the VLAN tags. */

    /* If FUZZ_F_SEAL sealed a PSP packet: where it is in 'data', and its
     * plaintext (malloc()ed), as the sender had it. */
    bool sealed;
    size_t psp_ofs;
    size_t psp_len;
    uint8_t *plain;
};

/* Builds 'f' from the input 'data' of 'size' bytes.  Returns false if the
 * input is too short for the control bytes.  The caller frees 'f' with
 * fuzz_frame_destroy(). */
bool fuzz_frame_build(const uint8_t *data, size_t size,
                      struct fuzz_sealer *, struct fuzz_frame *f);
void fuzz_frame_destroy(struct fuzz_frame *);

/* The Internet checksum of 'n' bytes at 'p' added to 'sum' (not folded). */
uint32_t fuzz_csum_add(uint32_t sum, const uint8_t *p, size_t n);
uint16_t fuzz_csum_fold(uint32_t sum);

#endif /* fuzz-psp.h */
