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

/* The operator's view of PSP in ovs-vswitchd: "ovs-appctl psp/...", with
 * the parsing and formatting of addresses and keys that the database's
 * rows share (psp-unixctl.h). */

#include <config.h>

#include "psp-unixctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirs.h"
#include "netdev.h"
#include "netdev-provider.h"
#include "netdev-vport.h"
#include "openvswitch/dynamic-string.h"
#include "packets.h"
#include "smap.h"
#include "sset.h"
#include "svec.h"
#include "unixctl.h"
#include "util.h"

#include "psp-iv.h"
#include "psp-sa.h"
#include "psp.h"

static bool
parse_u64(const char *s, int base, uint64_t max, uint64_t *x)
{
    unsigned long long y;

    if (!s[0] || s[0] == '-' || !str_to_ullong(s, base, &y) || y > max) {
        return false;
    }
    *x = y;
    return true;
}

static bool
parse_version(const char *s, enum psp_version *version)
{
    uint64_t v;

    if (!parse_u64(s, 10, PSP_N_VERSIONS - 1, &v)) {
        return false;
    }
    *version = v;
    return true;
}

/* Parsing and formatting, for these commands and the database's rows. */

/* Parses 's' as an IPv4 or IPv6 address (IPv4 as v4-mapped), or "any" if
 * 'any_ok' (all-zeros). */
bool
psp_dp_parse_addr(const char *s, bool any_ok, struct in6_addr *addr)
{
    ovs_be32 ip4;

    if (any_ok && !strcmp(s, "any")) {
        memset(addr, 0, sizeof *addr);
        return true;
    } else if (ip_parse(s, &ip4)) {
        *addr = in6_addr_mapped_ipv4(ip4);
        return ip4 != 0;
    }
    return ipv6_parse(s, addr) && ipv6_addr_is_set(addr);
}

/* Parses 'hex', exactly 2 * 'n' hexadecimal digits, into 'out'. */
bool
psp_dp_parse_hex(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool ok;

        out[i] = hexits_value(hex + 2 * i, 2, &ok);
        if (!ok) {
            explicit_bzero(out, n);
            return false;
        }
    }
    return true;
}

void
psp_dp_put_hex(struct ds *s, const uint8_t *p, size_t n)
{
    /* 's' holds key material from now on: the buffers it leaves behind as
     * it grows are wiped (vswitchd-patches/0012). */
    ds_set_secret(s);
    for (size_t i = 0; i < n; i++) {
        ds_put_format(s, "%02"PRIx8, p[i]);
    }
}

void
psp_dp_ds_wipe(struct ds *s)
{
    if (s->string) {
        explicit_bzero(s->string, s->allocated);
    }
    ds_destroy(s);
}

/* Appends 'addr' to 's', "any" if it is all zeros. */
void
psp_dp_format_addr(struct ds *s, const struct in6_addr *addr)
{
    if (!ipv6_addr_is_set(addr)) {
        ds_put_cstr(s, "any");
    } else {
        ipv6_format_mapped(addr, s);
    }
}

/* The SAs and bindings, for psp/show. */

/* Appends the lines of 'lines', sorted, to 's', and clears 'lines'. */
static void
put_sorted(struct ds *s, struct svec *lines)
{
    const char *line;
    size_t i;

    svec_sort(lines);
    SVEC_FOR_EACH (i, line, lines) {
        ds_put_format(s, "%s\n", line);
    }
    svec_clear(lines);
}

/* psp_dp_tx_sa_walk() callback of psp_dp_format(): a line of 'lines_'
 * for each transmit SA. */
static void
format_tx_sa(const struct in6_addr *remote, uint64_t assoc,
             const struct psp_dp_tx_info *info, uint64_t packets,
             uint64_t bytes, void *lines_)
{
    struct svec *lines = lines_;
    struct ds line = DS_EMPTY_INITIALIZER;

    ds_put_cstr(&line, "  remote=");
    psp_dp_format_addr(&line, remote);
    ds_put_format(&line, " assoc=%"PRIu64" spi=0x%08"PRIx32" version=%d "
                  "(%s) tx_packets=%"PRIu64" tx_bytes=%"PRIu64,
                  assoc, info->spi, info->version,
                  psp_version_name(info->version), packets, bytes);
    if (info->opts.sample) {
        ds_put_cstr(&line, (info->opts.drop_after_sample ? " sample,drop"
                            : " sample"));
    }
    if (info->stale) {
        ds_put_cstr(&line, " stale");
    }
    svec_add_nocopy(lines, ds_steal_cstr(&line));
}

/* psp_dp_rx_walk() callback of psp_dp_format(): a line of 'lines_' for
 * each receive SPI binding. */
static void
format_rx_binding(uint32_t spi, const struct in6_addr *peer, uint64_t assoc,
                  enum psp_version version, void *lines_)
{
    struct svec *lines = lines_;
    struct ds line = DS_EMPTY_INITIALIZER;

    ds_put_format(&line, "  spi=0x%08"PRIx32" peer=", spi);
    psp_dp_format_addr(&line, peer);
    ds_put_format(&line, " assoc=%"PRIu64" version=%d state=%s", assoc,
                  version, psp_spi_state_name(psp_dp_rx_spi_state(spi)));
    svec_add_nocopy(lines, ds_steal_cstr(&line));
}

void
psp_dp_format(struct ds *s, bool brief)
{
    struct svec lines = SVEC_EMPTY_INITIALIZER;

    ds_put_format(s, "master key generation %"PRIu64", %"PRIu32" SPIs "
                  "allocated in it, %"PRIu64" rotations\n",
                  psp_dp_active_generation(), psp_dp_spis_used(),
                  psp_dp_key_rotations());
    if (brief) {
        ds_put_format(s, "transmit SAs: %"PRIuSIZE"\n"
                      "receive SPIs: %"PRIuSIZE"\n",
                      psp_dp_tx_sa_count(), psp_dp_rx_count());
        return;
    }

    ds_put_cstr(s, "transmit SAs:\n");
    psp_dp_tx_sa_walk(format_tx_sa, &lines);
    put_sorted(s, &lines);

    ds_put_cstr(s, "receive SPIs:\n");
    psp_dp_rx_walk(format_rx_binding, &lines);
    put_sorted(s, &lines);

    svec_destroy(&lines);
}

/* psp/alloc-spi PEER ASSOC [VERSION] */
static void
psp_unixctl_alloc_spi(struct unixctl_conn *conn, int argc,
                      const char *argv[], void *aux OVS_UNUSED)
{
    enum psp_version version = PSP_V0;
    uint8_t key[PSP_MAX_KEY_LEN];
    struct in6_addr peer;
    uint64_t assoc;
    uint32_t spi;

    if (!psp_dp_parse_addr(argv[1], true, &peer)) {
        unixctl_command_reply_error(conn, "PEER must be an IPv4 or IPv6 "
                                    "address, or \"any\"");
        return;
    }
    if (!parse_u64(argv[2], 0, UINT64_MAX, &assoc)) {
        unixctl_command_reply_error(conn, "ASSOC must be a 64-bit number");
        return;
    }
    if (argc > 3 && !parse_version(argv[3], &version)) {
        unixctl_command_reply_error(conn, "VERSION must be 0, 1, 2 or 3");
        return;
    }

    int error = psp_dp_rx_spi_alloc(&peer, assoc, version, &spi, key);
    if (error) {
        unixctl_command_reply_error(conn, error == ENOSPC
                                    ? "no SPI left in this master key "
                                      "generation: rotate first"
                                    : "SPI allocation failed");
        return;
    }

    /* The key goes to the operator, for the peer: it is the reply, and is
     * neither logged nor kept. */
    struct ds s = DS_EMPTY_INITIALIZER;
    ds_put_format(&s, "spi=0x%08"PRIx32" version=%d key=", spi, version);
    psp_dp_put_hex(&s, key, psp_version_key_len(version));
    explicit_bzero(key, sizeof key);
    unixctl_command_reply(conn, ds_cstr(&s));
    psp_dp_ds_wipe(&s);
}

/* psp/rx-key SPI: the key of a bound receive SPI, for ovs-psp-keyd, which
 * hands it to the peer without it passing through the database
 * (PSP_Rx_SA:publish_key=false).  SPI is decimal, as in PSP_Rx_SA:spi, or
 * hexadecimal with "0x". */
static void
psp_unixctl_rx_key(struct unixctl_conn *conn, int argc OVS_UNUSED,
                   const char *argv[], void *aux OVS_UNUSED)
{
    const char *arg = argv[1];
    uint8_t key[PSP_MAX_KEY_LEN];
    enum psp_version version;
    uint64_t spi;
    int base = 10;

    if (arg[0] == '0' && (arg[1] == 'x' || arg[1] == 'X')) {
        base = 16;
        arg += 2;
    }
    if (!isxdigit((unsigned char) arg[0])
        || !parse_u64(arg, base, UINT32_MAX, &spi) || !spi) {
        unixctl_command_reply_error(conn, "SPI must be a nonzero 32-bit "
                                    "number, decimal or 0x hexadecimal");
        return;
    }

    int error = psp_dp_rx_key(spi, key, &version);
    if (error) {
        char *msg = (error == ENOENT
                     ? xasprintf("SPI %"PRIu64" is not bound", spi)
                     : xstrdup("key derivation failed"));
        unixctl_command_reply_error(conn, msg);
        free(msg);
        explicit_bzero(key, sizeof key);
        return;
    }

    /* The reply is the key: neither logged nor kept. */
    struct ds s = DS_EMPTY_INITIALIZER;
    psp_dp_put_hex(&s, key, psp_version_key_len(version));
    explicit_bzero(key, sizeof key);
    unixctl_command_reply(conn, ds_cstr(&s));
    psp_dp_ds_wipe(&s);
}

/* psp/add-sa REMOTE ASSOC SPI VERSION HEXKEY */
static void
psp_unixctl_add_sa(struct unixctl_conn *conn, int argc OVS_UNUSED,
                   const char *argv[], void *aux OVS_UNUSED)
{
    uint8_t key[PSP_MAX_KEY_LEN];
    enum psp_version version;
    struct in6_addr remote;
    uint64_t assoc, spi;

    if (!psp_dp_parse_addr(argv[1], false, &remote)) {
        unixctl_command_reply_error(conn, "REMOTE must be an IPv4 or IPv6 "
                                    "address");
        return;
    }
    if (!parse_u64(argv[2], 0, UINT64_MAX, &assoc)) {
        unixctl_command_reply_error(conn, "ASSOC must be a 64-bit number");
        return;
    }
    if (!parse_u64(argv[3], 16, UINT32_MAX, &spi)
        || !(spi & PSP_SPI_LOW_MASK)) {
        unixctl_command_reply_error(conn, "SPI must be 32 bits of hex whose "
                                    "low 31 bits are not all 0");
        return;
    }
    if (!parse_version(argv[4], &version)) {
        unixctl_command_reply_error(conn, "VERSION must be 0, 1, 2 or 3");
        return;
    }

    size_t key_len = psp_version_key_len(version);
    const char *hex = argv[5];
    if (strlen(hex) != 2 * key_len) {
        unixctl_command_reply_error(conn, key_len == 16
                                    ? "version 0 and 2 keys are 16 bytes "
                                      "(32 hex digits)"
                                    : "version 1 and 3 keys are 32 bytes "
                                      "(64 hex digits)");
        return;
    }
    if (!psp_dp_parse_hex(hex, key, key_len)) {
        unixctl_command_reply_error(conn, "HEXKEY must be hexadecimal");
        return;
    }

    int error = psp_dp_tx_sa_set(&remote, assoc, spi, version, key, key_len);
    explicit_bzero(key, sizeof key);
    if (error) {
        unixctl_command_reply_error(conn, (error == EEXIST
                                           ? "HEXKEY is the key of another "
                                             "SA (one key for two SAs would "
                                             "repeat GCM nonces)"
                                           : "invalid SA"));
    } else {
        unixctl_command_reply(conn, NULL);
    }
}

/* psp/del-sa REMOTE ASSOC */
static void
psp_unixctl_del_sa(struct unixctl_conn *conn, int argc OVS_UNUSED,
                   const char *argv[], void *aux OVS_UNUSED)
{
    struct in6_addr remote;
    uint64_t assoc;

    if (!psp_dp_parse_addr(argv[1], false, &remote)
        || !parse_u64(argv[2], 0, UINT64_MAX, &assoc)) {
        unixctl_command_reply_error(conn, "usage: psp/del-sa REMOTE ASSOC");
    } else if (!psp_dp_tx_sa_del(&remote, assoc)) {
        unixctl_command_reply_error(conn, "no such SA");
    } else {
        unixctl_command_reply(conn, NULL);
    }
}

static void
psp_unixctl_rotate(struct unixctl_conn *conn, int argc OVS_UNUSED,
                   const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    if (psp_dp_rotate()) {
        unixctl_command_reply(conn, NULL);
    } else {
        unixctl_command_reply_error(conn, "rotation failed: no random key");
    }
}

/* Appends a line for each "psp" port, sorted by name, with its options. */
static void
format_ports(struct ds *s)
{
    struct svec lines = SVEC_EMPTY_INITIALIZER;
    struct ds line = DS_EMPTY_INITIALIZER;
    struct netdev **vports;
    size_t n_vports;

    vports = netdev_get_vports(&n_vports);
    for (size_t i = 0; i < n_vports; i++) {
        struct netdev *netdev = vports[i];

        char namebuf[NETDEV_VPORT_NAME_BUFSIZE];
        const char *dpif_port = netdev_vport_get_dpif_port(
            netdev, namebuf, sizeof namebuf);

        /* Not the datapath's own port (e.g. psp_sys_1000), which all
         * "psp" ports with that destination port share. */
        if (!strcmp(netdev_get_type(netdev), "psp")
            && strcmp(dpif_port, netdev_get_name(netdev))) {
            const struct netdev_tunnel_config *cfg;
            struct smap args = SMAP_INITIALIZER(&args);

            cfg = netdev_get_tunnel_config(netdev);
            ds_clear(&line);
            ds_put_format(&line, "  %s: dst_port=%d", netdev_get_name(netdev),
                          ntohs(cfg->dst_port));
            netdev_get_config(netdev, &args);
            smap_remove(&args, "dst_port");

            const struct smap_node **nodes = smap_sort(&args);
            for (size_t j = 0; j < smap_count(&args); j++) {
                ds_put_format(&line, " %s=%s", nodes[j]->key,
                              nodes[j]->value);
            }
            free(nodes);
            smap_destroy(&args);
            svec_add(&lines, ds_cstr(&line));
        }
        netdev_close(netdev);
    }
    free(vports);

    svec_sort(&lines);
    ds_put_cstr(s, "ports:\n");
    for (size_t i = 0; i < lines.n; i++) {
        ds_put_format(s, "%s\n", lines.names[i]);
    }
    svec_destroy(&lines);
    ds_destroy(&line);
}

static void
psp_unixctl_show(struct unixctl_conn *conn, int argc, const char *argv[],
                 void *aux OVS_UNUSED)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    struct psp_stats st;
    bool brief = argc > 1 && !strcmp(argv[1], "--brief");

    if (argc > 1 && !brief) {
        unixctl_command_reply_error(conn, "usage: psp/show [--brief]");
        return;
    }
    psp_dp_format(&s, brief);
    psp_dp_get_stats(&st);
    ds_put_format(&s, "counters:\n"
                  "  rx_packets=%"PRIu64" rx_bytes=%"PRIu64
                  " rx_auth_fail=%"PRIu64" rx_error=%"PRIu64
                  " rx_bad=%"PRIu64" rx_stale=%"PRIu64"\n"
                  "  tx_packets=%"PRIu64" tx_bytes=%"PRIu64
                  " tx_error=%"PRIu64" key_rotations=%"PRIu64"\n",
                  st.rx_packets, st.rx_bytes, st.rx_auth_fail, st.rx_error,
                  st.rx_bad, st.rx_stale, st.tx_packets, st.tx_bytes,
                  st.tx_error, st.key_rotations);
    for (int i = 1; i < PSP_N_ERRORS; i++) {
        if (st.errors[i]) {
            ds_put_format(&s, "  drops %s=%"PRIu64"\n", psp_error_name(i),
                          st.errors[i]);
        }
    }
    format_ports(&s);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* psp/test-set-master-keys HEXKEY0 HEXKEY1 (tests only) */
static void
psp_unixctl_test_set_master_keys(struct unixctl_conn *conn,
                                 int argc OVS_UNUSED, const char *argv[],
                                 void *aux OVS_UNUSED)
{
    uint8_t keys[2][PSP_MASTER_KEY_LEN];

    if (!psp_dp_parse_hex(argv[1], keys[0], PSP_MASTER_KEY_LEN)
        || !psp_dp_parse_hex(argv[2], keys[1], PSP_MASTER_KEY_LEN)) {
        unixctl_command_reply_error(conn, "master keys are 32 bytes "
                                    "(64 hex digits) each");
    } else if (!psp_dp_test_set_master_keys(keys[0], keys[1])) {
        unixctl_command_reply_error(conn, "could not install master keys");
    } else {
        unixctl_command_reply(conn, NULL);
    }
    explicit_bzero(keys, sizeof keys);
}

/* psp/test-bind-spi SPI PEER ASSOC VERSION (tests only) */
static void
psp_unixctl_test_bind_spi(struct unixctl_conn *conn, int argc OVS_UNUSED,
                          const char *argv[], void *aux OVS_UNUSED)
{
    enum psp_version version;
    struct in6_addr peer;
    uint64_t spi, assoc;

    if (!parse_u64(argv[1], 16, UINT32_MAX, &spi)
        || !(spi & PSP_SPI_LOW_MASK)
        || !psp_dp_parse_addr(argv[2], true, &peer)
        || !parse_u64(argv[3], 0, UINT64_MAX, &assoc)
        || !parse_version(argv[4], &version)) {
        unixctl_command_reply_error(conn, "usage: psp/test-bind-spi "
                                    "SPI PEER ASSOC VERSION");
        return;
    }
    if (psp_dp_test_bind_spi(spi, &peer, assoc, version)) {
        unixctl_command_reply_error(conn, "SPI bound by a PSP_Rx_SA row");
        return;
    }
    unixctl_command_reply(conn, NULL);
}

static void
psp_unixctl_test_set_iv(struct unixctl_conn *conn, int argc OVS_UNUSED,
                        const char *argv[], void *aux OVS_UNUSED)
{
    struct in6_addr remote;
    uint64_t assoc, iv;

    if (!psp_dp_parse_addr(argv[1], false, &remote)
        || !parse_u64(argv[2], 0, UINT64_MAX, &assoc)
        || !parse_u64(argv[3], 0, UINT64_MAX, &iv)) {
        unixctl_command_reply_error(conn, "usage: psp/test-set-iv "
                                    "REMOTE ASSOC IV");
        return;
    }
    if (!psp_dp_test_set_iv(&remote, assoc, iv)) {
        unixctl_command_reply_error(conn, "no such SA");
        return;
    }
    unixctl_command_reply(conn, NULL);
}

/* psp/test-iv-clock [SECONDS] (tests only): moves the clock that starts
 * transmit SAs' IVs by SECONDS from the wall clock, and shows where IVs
 * stand. */
static void
psp_unixctl_test_iv_clock(struct unixctl_conn *conn, int argc,
                          const char *argv[], void *aux OVS_UNUSED)
{
    struct psp_ivs *ivs = psp_dp_ivs();
    long long int seconds;

    if (argc > 1) {
        if (!str_to_llong(argv[1], 10, &seconds)
            || seconds < -1000000000LL || seconds > 1000000000LL) {
            unixctl_command_reply_error(conn, "usage: psp/test-iv-clock "
                                        "[SECONDS]");
            return;
        }
        psp_ivs_set_clock_offset(ivs, seconds * 1000000000LL);
        psp_ivs_run(ivs);
    }

    struct ds s = DS_EMPTY_INITIALIZER;
    psp_ivs_format(ivs, &s);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* Whether ovs-vswitchd runs with --enable-dummy, as in the testsuite. */
static bool
dummy_enabled(void)
{
    struct sset types = SSET_INITIALIZER(&types);

    netdev_enumerate_types(&types);
    bool enabled = sset_contains(&types, "dummy");
    sset_destroy(&types);
    return enabled;
}

void
psp_unixctl_register(void)
{
    psp_dp_init();

    /* ovs-vswitchd: transmit SAs' IVs must not repeat across restarts, so
     * their mark is kept beside the database (ovs-psp/psp-iv.h). */
    char *iv_state = xasprintf("%s/psp-iv-state", ovs_dbdir());
    psp_dp_set_iv_state_file(iv_state);
    free(iv_state);

    unixctl_command_register("psp/alloc-spi", "PEER ASSOC [VERSION]", 2, 3,
                             psp_unixctl_alloc_spi, NULL);
    unixctl_command_register("psp/add-sa",
                             "REMOTE ASSOC SPI VERSION HEXKEY", 5, 5,
                             psp_unixctl_add_sa, NULL);
    unixctl_command_register("psp/rx-key", "SPI", 1, 1, psp_unixctl_rx_key,
                             NULL);

    /* Keys in the arguments or the reply: never in the log
     * (vswitchd-patches/0004). */
    unixctl_command_set_secret("psp/alloc-spi");
    unixctl_command_set_secret("psp/add-sa");
    unixctl_command_set_secret("psp/rx-key");
    unixctl_command_register("psp/del-sa", "REMOTE ASSOC", 2, 2,
                             psp_unixctl_del_sa, NULL);
    unixctl_command_register("psp/rotate", "", 0, 0,
                             psp_unixctl_rotate, NULL);
    unixctl_command_register("psp/show", "[--brief]", 0, 1, psp_unixctl_show,
                             NULL);

    /* Commands that only the testsuite may have: with them, the reference
     * vectors, encrypted under published master keys, can be received. */
    if (dummy_enabled()) {
        unixctl_command_register("psp/test-set-master-keys",
                                 "HEXKEY0 HEXKEY1", 2, 2,
                                 psp_unixctl_test_set_master_keys, NULL);
        unixctl_command_set_secret("psp/test-set-master-keys");
        unixctl_command_register("psp/test-bind-spi",
                                 "SPI PEER ASSOC VERSION", 4, 4,
                                 psp_unixctl_test_bind_spi, NULL);
        unixctl_command_register("psp/test-set-iv", "REMOTE ASSOC IV", 3, 3,
                                 psp_unixctl_test_set_iv, NULL);
        unixctl_command_register("psp/test-iv-clock", "[SECONDS]", 0, 1,
                                 psp_unixctl_test_iv_clock, NULL);

        /* The same from the start, before SAs come from the database: a
         * restart with the clock back. */
        const char *clock = getenv("OVS_PSP_TEST_IV_CLOCK");
        long long int seconds;
        if (clock && str_to_llong(clock, 10, &seconds)) {
            psp_ivs_set_clock_offset(psp_dp_ivs(), seconds * 1000000000LL);
        }
    }
}
