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

/* Fuzz target: psp_rx(), libpsp's stateless receive (header parse, SPI
 * state, key derivation and cache, ICV check, decryption in place), on a
 * PSP packet (a UDP payload).
 *
 * The input is 3 control bytes, then the packet:
 *
 *   byte 0    flags, below
 *   byte 1-2  with F_TAMPER: the bit to flip (big-endian, modulo the
 *             packet's bits)
 *
 * The receiver's master keys are either static (the spec's example keys,
 * which the vectors use: every SPI is accepted) or tracked (F_TRACKED: keys
 * of three generations, two rotations, so that SPIs are active, previous,
 * stale or unknown; the SPI field then picks one of them by its low byte).
 * With F_SEAL the harness first seals the packet as its sender would; then
 * psp_rx() must accept it exactly when its SPI's state allows, and give back
 * the bytes that were sealed.  With F_TAMPER one bit of the sealed packet
 * is flipped, and psp_rx() must refuse it.  A packet refused for its ICV
 * must have nothing decrypted left in it.  With F_TWO_STEPS the packet goes
 * through psp_rx_parse() then psp_rx_open(), as the datapath does, instead
 * of psp_rx(), with the same checks. */

#include "fuzz-psp.h"

#include <stdlib.h>
#include <string.h>

#define F_SEAL 0x01
#define F_TRACKED 0x02
#define F_TAMPER 0x04
#define F_TWO_STEPS 0x08
#define CTL_LEN 3

static struct psp_mkeys *static_mk, *tracked_mk;
static struct fuzz_sealer static_sealer, tracked_sealer;
static struct psp_crypto *cc;

/* SPIs of 'tracked_mk' in each state. */
#define N_SPIS 12
static uint32_t spis[N_SPIS];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t key[PSP_MAX_KEY_LEN];
    size_t n = 0;

    (void) argc;
    (void) argv;
    static_mk = psp_mkeys_create_static(fuzz_master_keys[0],
                                        fuzz_master_keys[1]);
    tracked_mk = psp_mkeys_create(NULL);
    cc = psp_crypto_create(256);
    FUZZ_ASSERT(static_mk && tracked_mk && cc);

    /* Three generations of three SPIs each: after two rotations, the
     * first's are stale, the second's previous, the third's active. */
    for (int gen = 0; gen < 3; gen++) {
        if (gen) {
            FUZZ_ASSERT(psp_mkeys_rotate(tracked_mk, NULL));
        }
        for (int i = 0; i < 3; i++) {
            FUZZ_ASSERT(!psp_mkeys_alloc_spi(tracked_mk, i % PSP_N_VERSIONS,
                                             &spis[n++], key, NULL));
        }
    }
    /* And the next SPI of each slot, never allocated, and SPI 0. */
    spis[n] = spis[n - 1] + 1;
    n++;
    spis[n] = spis[5] + 1;
    n++;
    spis[n++] = 0;
    FUZZ_ASSERT(n == N_SPIS);

    fuzz_sealer_init(&static_sealer, NULL);
    fuzz_sealer_init(&tracked_sealer, tracked_mk);
    return 0;
}

/* The length of the authenticated-only part of the packet 'h' (without
 * ICV). */
static size_t
aad_len(const struct psp_hdr_info *h, size_t len)
{
    return (psp_version_is_gmac(h->version) ? len - PSP_ICV_LEN
            : PSP_HDR_LEN + 4 * (size_t) h->crypt_off);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < CTL_LEN) {
        return 0;
    }

    uint8_t flags = data[0];
    size_t bit = (data[1] << 8) | data[2];
    size_t len = size - CTL_LEN;
    uint8_t *pkt = malloc(len ? len : 1);
    uint8_t *sealed = NULL;
    bool tracked = flags & F_TRACKED;
    struct psp_mkeys *mk = tracked ? tracked_mk : static_mk;

    FUZZ_ASSERT(pkt);
    memcpy(pkt, data + CTL_LEN, len);
    if (tracked && len >= 8) {
        uint32_t spi = spis[pkt[7] % N_SPIS];

        pkt[4] = spi >> 24;
        pkt[5] = spi >> 16;
        pkt[6] = spi >> 8;
        pkt[7] = spi;
    }

    struct psp_hdr_info h0;
    bool parsed = psp_hdr_parse(pkt, len, &h0) == PSP_OK;
    bool tampered = false;
    if (flags & F_SEAL && parsed) {
        sealed = malloc(len);
        FUZZ_ASSERT(sealed);
        memcpy(sealed, pkt, len);   /* The plaintext, for the check. */
        FUZZ_ASSERT(fuzz_seal(tracked ? &tracked_sealer : &static_sealer,
                              pkt, len));
        if (flags & F_TAMPER) {
            bit %= 8 * len;
            pkt[bit / 8] ^= 1 << (bit % 8);
            tampered = true;
        }
    }

    struct psp_hdr_info h;
    enum psp_error error;
    if (flags & F_TWO_STEPS) {
        error = psp_rx_parse(mk, pkt, len, &h);
        if (!error) {
            bool derived;

            error = psp_rx_open(cc, mk, pkt, len, &h, &derived);
        }
    } else {
        error = psp_rx(cc, mk, pkt, len, &h);
    }
    FUZZ_ASSERT(error < PSP_N_ERRORS);

    if (error == PSP_OK) {
        FUZZ_ASSERT(parsed && !tampered);
        FUZZ_ASSERT(h.spi == h0.spi && h.version == h0.version
                    && h.payload_ofs == h0.payload_ofs
                    && h.payload_len == h0.payload_len);
        FUZZ_ASSERT(!h.has_vc || h.vc_readable);
        if (h.has_vc) {
            uint64_t vc = 0;
            for (int i = 0; i < 8; i++) {
                vc = (vc << 8) | pkt[PSP_HDR_LEN + i];
            }
            FUZZ_ASSERT(h.vc == vc);
        }
        if (sealed) {
            /* What was sealed comes back, header to ICV. */
            FUZZ_ASSERT(!memcmp(pkt, sealed, len - PSP_ICV_LEN));
        }
        if (tracked) {
            enum psp_spi_state state = psp_mkeys_spi_state(mk, h.spi);
            FUZZ_ASSERT(state == PSP_SPI_ACTIVE
                        || state == PSP_SPI_PREVIOUS);
        }
    } else if (error == PSP_E_AUTH) {
        /* Nothing decrypted left behind. */
        for (size_t i = aad_len(&h, len); i < len - PSP_ICV_LEN; i++) {
            FUZZ_ASSERT(!pkt[i]);
        }
    }

    if (sealed && !tampered) {
        /* An authentic packet is refused only for its SPI. */
        enum psp_spi_state state = psp_mkeys_spi_state(mk, h0.spi);
        FUZZ_ASSERT(error == (state == PSP_SPI_STALE ? PSP_E_STALE
                              : state == PSP_SPI_UNKNOWN ? PSP_E_UNKNOWN_SPI
                              : PSP_OK));
    }
    free(sealed);
    free(pkt);
    return 0;
}
