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

/* Errors and counters: the name of each reason a packet fails, which of the
 * spec's counters it counts in, and the counting of packets, bytes and
 * errors into a "struct psp_stats".
 *
 * Not here: where the counters live and who adds them up (the callers, for
 * example ovs-psp/psp-sa.c and ovs-psp/psp-packet.c). */

#include "psp.h"

const char *
psp_error_name(enum psp_error error)
{
    switch (error) {
    case PSP_OK: return "ok";
    case PSP_E_TRUNCATED: return "truncated";
    case PSP_E_HDR_EXT_LEN: return "bad-hdr-ext-len";
    case PSP_E_CRYPT_OFF: return "bad-crypt-offset";
    case PSP_E_NOT_PSP: return "not-psp";
    case PSP_E_INNER: return "bad-inner-packet";
    case PSP_E_FIXED_BIT: return "bad-fixed-bit";
    case PSP_E_VERSION: return "bad-version";
    case PSP_E_SPI: return "bad-spi";
    case PSP_E_UNKNOWN_SPI: return "unknown-spi";
    case PSP_E_GMAC_OFFSET: return "gmac-crypt-offset";
    case PSP_E_UNBOUND_SPI: return "unbound-spi";
    case PSP_E_STALE: return "stale-key";
    case PSP_E_AUTH: return "auth-failure";
    case PSP_E_NO_SA: return "no-sa";
    case PSP_E_NO_ROOM: return "no-room";
    case PSP_E_KEY_VERSION: return "key-version-mismatch";
    case PSP_E_SA_STALE: return "stale-sa";
    case PSP_E_TX_INNER: return "tx-bad-inner-packet";
    case PSP_E_TX_TOO_BIG: return "tx-too-big";
    case PSP_E_TX_UNSUPPORTED: return "tx-unsupported";
    case PSP_E_TX_IV_LIMIT: return "tx-iv-not-reserved";
    case PSP_E_CRYPTO: return "crypto-error";
    case PSP_N_ERRORS: break;
    }
    return "unknown-error";
}

enum psp_error_class
psp_error_class(enum psp_error error, enum psp_dir dir)
{
    if (error == PSP_OK || error >= PSP_N_ERRORS) {
        return PSP_EC_NONE;
    }
    if (dir == PSP_DIR_TX) {
        /* The spec has one transmit error counter: whatever went wrong, the
         * packet was not sent. */
        return PSP_EC_TX_ERROR;
    }

    switch (error) {
    case PSP_E_TRUNCATED:
    case PSP_E_HDR_EXT_LEN:
    case PSP_E_CRYPT_OFF:
    case PSP_E_NOT_PSP:
    case PSP_E_INNER:
        return PSP_EC_RX_ERROR;
    case PSP_E_STALE:
        return PSP_EC_RX_STALE;
    case PSP_E_AUTH:
        return PSP_EC_RX_AUTH;
    case PSP_E_FIXED_BIT:
    case PSP_E_VERSION:
    case PSP_E_SPI:
    case PSP_E_UNKNOWN_SPI:
    case PSP_E_GMAC_OFFSET:
    case PSP_E_UNBOUND_SPI:
    case PSP_E_KEY_VERSION:
    case PSP_E_CRYPTO:
    case PSP_E_NO_SA:
    case PSP_E_NO_ROOM:
    case PSP_E_SA_STALE:
    case PSP_E_TX_INNER:
    case PSP_E_TX_TOO_BIG:
    case PSP_E_TX_UNSUPPORTED:
    case PSP_E_TX_IV_LIMIT:
    case PSP_OK:
    case PSP_N_ERRORS:
        /* Other: "rx bad packets" (a key that does not fit, the cipher
         * library failing).  The transmit-only reasons never happen on
         * receive. */
        break;
    }
    return PSP_EC_RX_BAD;
}

void
psp_stats_count_error(struct psp_stats *stats, enum psp_error error,
                      enum psp_dir dir)
{
    if (error <= PSP_OK || error >= PSP_N_ERRORS) {
        return;
    }
    stats->errors[error]++;
    switch (psp_error_class(error, dir)) {
    case PSP_EC_NONE:
        break;
    case PSP_EC_RX_ERROR:
        stats->rx_error++;
        break;
    case PSP_EC_RX_BAD:
        stats->rx_bad++;
        break;
    case PSP_EC_RX_STALE:
        stats->rx_stale++;
        break;
    case PSP_EC_RX_AUTH:
        stats->rx_auth_fail++;
        break;
    case PSP_EC_TX_ERROR:
        stats->tx_error++;
        break;
    }
}

static uint64_t
psp_counted_bytes(size_t psp_len)
{
    return (psp_len > PSP_HDR_LEN + PSP_ICV_LEN
            ? psp_len - PSP_HDR_LEN - PSP_ICV_LEN : 0);
}

void
psp_stats_count_rx(struct psp_stats *stats, size_t psp_len)
{
    stats->rx_packets++;
    stats->rx_bytes += psp_counted_bytes(psp_len);
}

void
psp_stats_count_tx(struct psp_stats *stats, size_t psp_len)
{
    stats->tx_packets++;
    stats->tx_bytes += psp_counted_bytes(psp_len);
}

void
psp_stats_add(struct psp_stats *dst, const struct psp_stats *src)
{
    dst->rx_packets += src->rx_packets;
    dst->rx_bytes += src->rx_bytes;
    dst->rx_auth_fail += src->rx_auth_fail;
    dst->rx_error += src->rx_error;
    dst->rx_bad += src->rx_bad;
    dst->rx_stale += src->rx_stale;
    dst->rx_sample += src->rx_sample;
    dst->rx_sample_drop += src->rx_sample_drop;
    dst->tx_packets += src->tx_packets;
    dst->tx_bytes += src->tx_bytes;
    dst->tx_error += src->tx_error;
    dst->key_rotations += src->key_rotations;
    for (int i = 0; i < PSP_N_ERRORS; i++) {
        dst->errors[i] += src->errors[i];
    }
}
