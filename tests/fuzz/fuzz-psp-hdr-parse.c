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

/* Fuzz target: psp_hdr_parse(), the PSP header parse of libpsp, on a PSP
 * packet (a UDP payload: header through ICV), with every version, transport
 * and tunnel Next Headers, the VC, header extensions and crypt offsets.
 *
 * Besides what ASan and UBSan catch, it checks what the parse promises:
 * an accepted header has a valid version, fixed bit, SPI and Hdr Ext Len,
 * its payload and crypt offset lie within the packet, the VC is read only
 * where it is in clear, and psp_hdr_write() writes back the same bytes. */

#include "fuzz-psp.h"

#include <stdlib.h>
#include <string.h>

static uint64_t
get64(const uint8_t *p)
{
    uint64_t x = 0;

    for (int i = 0; i < 8; i++) {
        x = (x << 8) | p[i];
    }
    return x;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct psp_hdr_info h;
    enum psp_error error = psp_hdr_parse(data, size, &h);

    FUZZ_ASSERT(error < PSP_N_ERRORS && psp_error_name(error));
    if (error) {
        enum psp_error_class class = psp_error_class(error, PSP_DIR_RX);

        FUZZ_ASSERT(class == PSP_EC_RX_ERROR || class == PSP_EC_RX_BAD);
        FUZZ_ASSERT(error != PSP_E_TRUNCATED
                    || size < PSP_HDR_LEN + PSP_ICV_LEN);
        return 0;
    }

    /* What an accepted header must be. */
    FUZZ_ASSERT(size >= PSP_HDR_LEN + PSP_ICV_LEN);
    FUZZ_ASSERT(data[3] & 0x01);
    FUZZ_ASSERT(psp_version_is_valid(h.version));
    FUZZ_ASSERT(h.version == ((data[3] >> 2) & 0xf));
    FUZZ_ASSERT(h.spi & PSP_SPI_LOW_MASK);
    FUZZ_ASSERT(h.hdr_ext_len == data[1] && h.hdr_ext_len >= 1);
    FUZZ_ASSERT(h.has_vc == !!(data[3] & 0x02));
    FUZZ_ASSERT(!h.has_vc || h.hdr_ext_len >= 2);
    FUZZ_ASSERT(h.payload_ofs == 8 * ((size_t) h.hdr_ext_len + 1));
    FUZZ_ASSERT(h.payload_ofs + h.payload_len + PSP_ICV_LEN == size);
    FUZZ_ASSERT(h.crypt_off <= PSP_MAX_CRYPT_OFF);
    FUZZ_ASSERT(PSP_HDR_LEN + 4 * (size_t) h.crypt_off
                <= size - PSP_ICV_LEN);
    FUZZ_ASSERT(!psp_version_is_gmac(h.version) || !h.crypt_off);
    FUZZ_ASSERT(h.s == !!(data[3] & 0x80) && h.d == !!(data[3] & 0x40));

    /* The VC is read only where it is in clear: GMAC, or a crypt offset
     * that covers its 8 bytes. */
    bool vc_clear = h.has_vc && (psp_version_is_gmac(h.version)
                                 || h.crypt_off >= 2);
    FUZZ_ASSERT(h.vc_readable == vc_clear);
    FUZZ_ASSERT(!vc_clear || h.vc == get64(data + PSP_HDR_LEN));

    /* Written back, the header has the same bytes but for the reserved bits
     * (written as 0), the Hdr Ext Len of any extension, and a VC that was
     * not read. */
    uint8_t buf[PSP_HDR_LEN + PSP_VC_LEN];
    size_t hdr_len = psp_hdr_len(h.has_vc);
    psp_hdr_write(buf, &h);
    FUZZ_ASSERT(buf[0] == data[0]);
    FUZZ_ASSERT(buf[1] == (h.has_vc ? 2 : 1));
    FUZZ_ASSERT(buf[2] == (data[2] & 0x3f));
    FUZZ_ASSERT(!memcmp(buf + 3, data + 3, PSP_HDR_LEN - 3));
    FUZZ_ASSERT(!vc_clear || !memcmp(buf + PSP_HDR_LEN, data + PSP_HDR_LEN,
                                     hdr_len - PSP_HDR_LEN));

    /* And parses again to the same header, in a packet of the same size. */
    if (h.hdr_ext_len == buf[1]) {
        uint8_t *copy = malloc(size);
        struct psp_hdr_info h2;

        FUZZ_ASSERT(copy);
        memcpy(copy, data, size);
        memcpy(copy, buf, hdr_len);
        FUZZ_ASSERT(psp_hdr_parse(copy, size, &h2) == PSP_OK);
        FUZZ_ASSERT(h2.spi == h.spi && h2.iv == h.iv
                    && h2.version == h.version
                    && h2.crypt_off == h.crypt_off
                    && h2.payload_ofs == h.payload_ofs
                    && h2.payload_len == h.payload_len
                    && h2.vc_readable == h.vc_readable
                    && (!h.vc_readable || h2.vc == h.vc)
                    && h2.r_bits == 0);
        free(copy);
    }
    return 0;
}
