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

/* ovs-psp-bench: throughput of libpsp's seal and open, and of ovs-psp-pcap
 * as whole processes, each beside raw OpenSSL AES-GCM in the same run.  A
 * benchmark, not a test: it prints figures and checks nothing but that the
 * work was done right. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pcap/pcap.h>
#ifdef PSP_WITH_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

#include "classifier.h"
#include "csum.h"
#include "dp-packet.h"
#include "flow.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "versions.h"
#include "packets.h"
#include "random.h"
#include "util.h"

#include "psp-sa.h"
#include "psp-tunnel.h"
#include "psp.h"

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Raw AES-GCM as an application would call it: key schedule set once, a
 * 12-byte IV per call, 16 bytes of AAD (a PSP header's worth). */
struct raw_gcm {
    EVP_CIPHER_CTX *ctx;
    uint8_t iv[12];
    uint8_t aad[16];
    uint8_t tag[16];
};

static void
raw_init(struct raw_gcm *r, const uint8_t *key, int key_len)
{
    r->ctx = EVP_CIPHER_CTX_new();
    ovs_assert(EVP_CipherInit_ex(r->ctx, key_len == 32 ? EVP_aes_256_gcm()
                                 : EVP_aes_128_gcm(), NULL, key, NULL, 1));
    memset(r->iv, 0, sizeof r->iv);
    memset(r->aad, 0x11, sizeof r->aad);
}

static void
raw_seal(struct raw_gcm *r, uint8_t *buf, size_t len, uint64_t n)
{
    int outl;

    memcpy(r->iv + 4, &n, 8);
    ovs_assert(EVP_CipherInit_ex(r->ctx, NULL, NULL, NULL, r->iv, 1));
    ovs_assert(EVP_CipherUpdate(r->ctx, NULL, &outl, r->aad, 16));
    ovs_assert(EVP_CipherUpdate(r->ctx, buf, &outl, buf, len));
    ovs_assert(EVP_CipherFinal_ex(r->ctx, buf + len, &outl));
    ovs_assert(EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_GET_TAG, 16,
                                   buf + len));
}

static bool
raw_open(struct raw_gcm *r, uint8_t *buf, size_t len, uint64_t n)
{
    int outl;

    memcpy(r->iv + 4, &n, 8);
    ovs_assert(EVP_CipherInit_ex(r->ctx, NULL, NULL, NULL, r->iv, 0));
    ovs_assert(EVP_CipherUpdate(r->ctx, NULL, &outl, r->aad, 16));
    ovs_assert(EVP_CipherUpdate(r->ctx, buf, &outl, buf, len));
    ovs_assert(EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_AEAD_SET_TAG, 16,
                                   buf + len));
    return EVP_CipherFinal_ex(r->ctx, buf + len, &outl) > 0;
}

#define N_ROUNDS 5

/* Runs 'fn' on batches until 'seconds' have passed, 'N_ROUNDS' times, and
 * returns the best rate in bytes per second. */
struct bench_ctx {
    size_t size;
    uint8_t *buf;
    uint8_t *sealed;
    size_t sealed_len;
    struct raw_gcm raw;
    struct psp_crypto *cc;
    struct psp_key key;
    struct psp_mkeys *mk;
    struct psp_iv_gen iv;
    uint64_t n;
};

typedef void bench_fn(struct bench_ctx *);

static void
do_raw_seal(struct bench_ctx *b)
{
    raw_seal(&b->raw, b->buf + PSP_HDR_LEN, b->size, b->n++);
}

static void
do_psp_seal(struct bench_ctx *b)
{
    struct psp_hdr_info h = {
        .next_hdr = 17,
        .version = b->key.version,
        .spi = 0x12345678,
        .iv = psp_iv_gen_next(&b->iv),
    };

    psp_hdr_write(b->buf, &h);
    if (psp_seal(b->cc, &b->key, b->buf, PSP_HDR_LEN + b->size)) {
        ovs_fatal(0, "seal failed");
    }
}

/* Opens work in place, so both copy the sealed packet in first. */
static void
do_raw_open(struct bench_ctx *b)
{
    memcpy(b->buf, b->sealed, b->sealed_len);
    if (!raw_open(&b->raw, b->buf + PSP_HDR_LEN, b->size, 1)) {
        ovs_fatal(0, "raw open failed");
    }
}

static void
do_psp_rx(struct bench_ctx *b)
{
    memcpy(b->buf, b->sealed, b->sealed_len);
    if (psp_rx(b->cc, b->mk, b->buf, b->sealed_len, NULL)) {
        ovs_fatal(0, "psp_rx failed");
    }
}

static double
run_bench(bench_fn *fn, struct bench_ctx *b, double seconds)
{
    double best = 0;

    for (int round = 0; round < N_ROUNDS; round++) {
        uint64_t iters = 0;
        double start = now(), elapsed;

        do {
            for (int i = 0; i < 64; i++) {
                fn(b);
            }
            iters += 64;
            elapsed = now() - start;
        } while (elapsed < seconds);
        best = MAX(best, iters * b->size / elapsed);
    }
    return best;
}

static void
bench_sizes(int version, double seconds)
{
    static const size_t sizes[] = { 64, 512, 1400, 9000 };
    uint8_t master[2][PSP_MASTER_KEY_LEN];
    uint8_t key[PSP_MAX_KEY_LEN];
    size_t key_len = psp_version_key_len(version);
    uint32_t spi;

    printf("\nseal and open on one core, %s (payload bytes; best of %d):\n",
           psp_version_name(version), N_ROUNDS);
    printf("%7s %12s %12s %6s %12s %12s %6s\n", "payload", "raw seal",
           "psp seal", "ratio", "raw open", "psp rx", "ratio");

    ovs_assert(RAND_bytes(&master[0][0], sizeof master) == 1);
    struct bench_ctx b;
    memset(&b, 0, sizeof b);
    b.mk = psp_mkeys_create(NULL);
    ovs_assert(!psp_mkeys_alloc_spi(b.mk, version, &spi, key, NULL));
    ovs_assert(psp_key_init(&b.key, version, key, key_len));
    b.cc = psp_crypto_create(64);
    psp_iv_gen_init(&b.iv);
    raw_init(&b.raw, key, key_len);

    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        b.size = sizes[i];
        b.buf = xmalloc(b.size + 64);
        b.sealed = xmalloc(b.size + 64);
        memset(b.buf, 0x5a, b.size + 64);

        double raw_seal_rate = run_bench(do_raw_seal, &b, seconds);
        double psp_seal_rate = run_bench(do_psp_seal, &b, seconds);

        /* A packet sealed under the allocated SPI, for psp_rx. */
        struct psp_hdr_info h = {
            .next_hdr = 17, .version = version, .spi = spi, .iv = 1,
        };
        psp_hdr_write(b.sealed, &h);
        memset(b.sealed + PSP_HDR_LEN, 0x5a, b.size);
        ovs_assert(!psp_seal(b.cc, &b.key, b.sealed, PSP_HDR_LEN + b.size));
        b.sealed_len = PSP_HDR_LEN + b.size + PSP_ICV_LEN;
        double psp_rx_rate = run_bench(do_psp_rx, &b, seconds);

        /* Raw open of the same layout, sealed by raw AES-GCM. */
        memset(b.sealed + PSP_HDR_LEN, 0x5a, b.size);
        raw_seal(&b.raw, b.sealed + PSP_HDR_LEN, b.size, 1);
        double raw_open_rate = run_bench(do_raw_open, &b, seconds);

        printf("%7"PRIuSIZE" %7.0f MB/s %7.0f MB/s %6.3f %7.0f MB/s "
               "%7.0f MB/s %6.3f\n", b.size,
               raw_seal_rate / 1e6, psp_seal_rate / 1e6,
               psp_seal_rate / raw_seal_rate,
               raw_open_rate / 1e6, psp_rx_rate / 1e6,
               psp_rx_rate / raw_open_rate);
        free(b.buf);
        free(b.sealed);
    }
    uint64_t hits, misses;
    psp_crypto_cache_stats(b.cc, &hits, &misses);
    printf("receive key cache: %"PRIu64" hits, %"PRIu64" misses (KDF and "
           "key expansion run once per SPI, not per packet)\n",
           hits, misses);
    psp_crypto_destroy(b.cc);
    psp_mkeys_destroy(b.mk);
    psp_key_wipe(&b.key);
    EVP_CIPHER_CTX_free(b.raw.ctx);
}

/* Per-packet cost of the datapath's push and pop (ovs-psp/psp-tunnel.c) of a
 * 1400-byte inner IPv4 packet, beside raw AES-GCM over the same bytes. */
/* Writes into 'tmpl' the header that a psp port with tunnel key 7 would
 * push: Ethernet, IPv4 from 192.0.2.1 to 'dst', UDP to 1000, PSP.  Returns
 * its length. */
static size_t
build_template(uint8_t tmpl[128], ovs_be32 dst)
{
    memset(tmpl, 0, 128);
    tmpl[12] = 0x08;
    uint8_t *ip = tmpl + 14;
    ip[0] = 0x45;
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, "\xc0\x00\x02\x01", 4);
    memcpy(ip + 16, &dst, 4);
    ovs_be16 sum = csum(ip, 20);    /* As build_header leaves it. */
    memcpy(ip + 10, &sum, sizeof sum);
    ip[20 + 2] = 1000 >> 8;
    ip[20 + 3] = 1000 & 0xff;
    struct psp_port_cfg cfg = { .crypt_off = 0 };
    return 14 + 20 + 8 + psp_dp_build_header(tmpl + 42, &cfg, 7);
}

/* Fills 'inner' with an IPv4/UDP packet of 'len' bytes. */
static void
build_inner(uint8_t *inner, size_t len)
{
    memset(inner, 0x5a, len);
    inner[0] = 0x45;
    inner[2] = len >> 8;
    inner[3] = len & 0xff;
    inner[9] = 17;
}

/* Times 'iters' pushes of a copy of 'inner' to the remotes in 'draws' (in
 * network byte order, written into the template 'tmpl'), best of 'rounds'
 * runs of at least 'seconds'.  Returns ns per packet. */
static double
time_pushes(struct dp_packet *p, const uint8_t *inner, size_t inner_len,
            uint8_t *tmpl, size_t tlen, const uint32_t *draws,
            size_t n_draws, int rounds, double seconds)
{
    double best = 1e9;

    for (int r = 0; r < rounds; r++) {
        uint64_t iters = 0;
        double elapsed, start = now();

        do {
            for (int i = 0; i < 64; i++) {
                memcpy(tmpl + 14 + 16, &draws[(iters + i) % n_draws], 4);
                dp_packet_clear(p);
                dp_packet_reserve(p, 128);
                dp_packet_put(p, inner, inner_len);
                enum psp_error e = psp_dp_push(p, tmpl, tlen, false);
                if (e) {
                    ovs_fatal(0, "push failed (%s)", psp_error_name(e));
                }
            }
            iters += 64;
            elapsed = now() - start;
        } while (elapsed < seconds);
        best = MIN(best, elapsed / iters * 1e9);
    }
    return best;
}

static void
bench_datapath(double seconds)
{
    enum { INNER = 1400, ROUNDS = 5 };
    struct in6_addr local = in6_addr_mapped_ipv4(htonl(0xc0000201));
    struct in6_addr remote = in6_addr_mapped_ipv4(htonl(0xc0000202));
    uint8_t key[PSP_MAX_KEY_LEN], tmpl[128];
    uint32_t spi;

    ovs_assert(!psp_dp_rx_spi_alloc(&local, 7, PSP_V0, &spi, key));
    ovs_assert(!psp_dp_tx_sa_set(&remote, 7, spi, PSP_V0, key, 16));

    /* Template: to 192.0.2.2, an address of this process, so that it pops
     * what it pushes. */
    size_t tlen = build_template(tmpl, htonl(0xc0000202));
    uint8_t inner[INNER];
    build_inner(inner, INNER);
    struct dp_packet *p = dp_packet_new_with_headroom(INNER + 64, 128);

    /* Push. */
    uint32_t dst = htonl(0xc0000202);
    double push_best = time_pushes(p, inner, INNER, tmpl, tlen, &dst, 1,
                                   ROUNDS, seconds);

    /* Pop of one sealed packet, copied in each time. */
    size_t sealed_len = dp_packet_size(p);
    uint8_t *sealed = xmemdup(dp_packet_data(p), sealed_len);
    double pop_best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double start = now(), elapsed;
        uint64_t iters = 0;
        do {
            for (int i = 0; i < 64; i++) {
                struct flow_tnl tnl;
                uint64_t vc;
                uint32_t rx_spi;

                dp_packet_clear(p);
                dp_packet_reserve(p, 128);
                dp_packet_put(p, sealed, sealed_len);
                p->l3_ofs = 14;
                p->l4_ofs = 34;
                memset(&tnl, 0, sizeof tnl);
                if (psp_dp_pop(p, &tnl, &rx_spi, &vc, NULL)) {
                    ovs_fatal(0, "pop failed");
                }
            }
            iters += 64;
            elapsed = now() - start;
        } while (elapsed < seconds);
        pop_best = MIN(pop_best, elapsed / iters * 1e9);
    }

    /* Raw AES-GCM over the same 1400 bytes (seal; open with a copy in, as
     * pop has). */
    struct raw_gcm raw;
    raw_init(&raw, key, 16);
    uint8_t *buf = xmalloc(INNER + 64), *sbuf = xmalloc(INNER + 64);
    memset(sbuf, 0x5a, INNER + 64);
    raw_seal(&raw, sbuf, INNER, 1);
    double raw_seal_best = 1e9, raw_open_best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double start = now(), elapsed;
        uint64_t iters = 0;
        do {
            for (int i = 0; i < 64; i++) {
                memcpy(buf, inner, INNER);
                raw_seal(&raw, buf, INNER, iters + i);
            }
            iters += 64;
            elapsed = now() - start;
        } while (elapsed < seconds);
        raw_seal_best = MIN(raw_seal_best, elapsed / iters * 1e9);

        start = now();
        iters = 0;
        do {
            for (int i = 0; i < 64; i++) {
                memcpy(buf, sbuf, INNER + 16);
                ovs_assert(raw_open(&raw, buf, INNER, 1));
            }
            iters += 64;
            elapsed = now() - start;
        } while (elapsed < seconds);
        raw_open_best = MIN(raw_open_best, elapsed / iters * 1e9);
    }

    printf("\ndatapath push and pop (ovs-psp/psp-tunnel.c), %d-byte inner "
           "IPv4, AES-GCM-128, one core, best of %d:\n", INNER, ROUNDS);
    printf("%-40s %8s %8s %6s\n", "", "ns/pkt", "raw", "ratio");
    printf("%-40s %8.0f %8.0f %6.3f\n", "push (SA lookup, headers, seal)",
           push_best, raw_seal_best, raw_seal_best / push_best);
    printf("%-40s %8.0f %8.0f %6.3f\n",
           "pop (checks, cached key, open, strip)", pop_best, raw_open_best, raw_open_best / pop_best);

    dp_packet_delete(p);
    free(buf);
    free(sbuf);
    free(sealed);
    EVP_CIPHER_CTX_free(raw.ctx);
}

/* Writes 'n' Ethernet/IPv4/UDP frames of 'frame_len' bytes to 'name'. */
static void
write_frames(const char *name, int n, size_t frame_len)
{
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = pcap_dump_open(dead, name);
    uint8_t *f = xzalloc(frame_len);
    size_t ip_len = frame_len - 14;

    if (!d) {
        ovs_fatal(0, "%s: %s", name, pcap_geterr(dead));
    }
    memcpy(f, "\x00\x11\x22\x33\x44\x55\x00\x66\x77\x88\x99\xaa\x08\x00",
           14);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[2] = ip_len >> 8;
    ip[3] = ip_len;
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    uint8_t *udp = ip + 20;
    udp[0] = 0x2b;
    udp[1] = 0x67;
    udp[2] = 0x56;
    udp[3] = 0xce;
    udp[4] = (ip_len - 20) >> 8;
    udp[5] = ip_len - 20;
    for (size_t i = 42; i < frame_len; i++) {
        f[i] = i;
    }
    for (int i = 0; i < n; i++) {
        struct pcap_pkthdr h = { .caplen = frame_len, .len = frame_len };
        h.ts.tv_sec = i;
        pcap_dump((u_char *) d, &h, f);
    }
    pcap_dump_close(d);
    pcap_close(dead);
    free(f);
}

/* Runs 'argv', which writes 'output', and returns its wall-clock time (best
 * of 'rounds'). */
static double
time_process(char *const argv[], int rounds, const char *output)
{
    double best = 1e9;

    for (int r = 0; r < rounds; r++) {
        /* A fresh output file each time: truncating the last run's costs
         * the kernel more than writing does. */
        unlink(output);
        sync();

        double start = now();
        pid_t pid = fork();
        if (pid < 0) {
            ovs_fatal(errno, "fork");
        } else if (!pid) {
            if (!freopen("/dev/null", "w", stderr)) {
                _exit(126);
            }
            execv(argv[0], argv);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)
            || WEXITSTATUS(status)) {
            ovs_fatal(0, "%s %s failed", argv[0], argv[1]);
        }
        best = MIN(best, now() - start);
    }
    return best;
}

static void
bench_pcap_tool(const char *tool, int n_packets)
{
    enum { FRAME = 1434 };
    char dir[] = "/tmp/ovs-psp-bench.XXXXXX";
    char keys[64], clear[64], enc[64], dec[64];

    if (!mkdtemp(dir)) {
        ovs_fatal(errno, "mkdtemp");
    }
    snprintf(keys, sizeof keys, "%s/keys.cfg", dir);
    snprintf(clear, sizeof clear, "%s/clear.pcap", dir);
    snprintf(enc, sizeof enc, "%s/enc.pcap", dir);
    snprintf(dec, sizeof dec, "%s/dec.pcap", dir);

    /* Random master keys for this run only. */
    uint8_t mkey[2 * PSP_MASTER_KEY_LEN];
    ovs_assert(RAND_bytes(mkey, sizeof mkey) == 1);
    FILE *kf = fopen(keys, "w");
    for (size_t i = 0; i < sizeof mkey; i++) {
        fprintf(kf, "%02x%s", mkey[i], i % 32 == 31 ? "\n" : " ");
    }
    fclose(kf);

    write_frames(clear, n_packets, FRAME);

    /* Raw AES-GCM over the same bytes: each frame's IP packet. */
    uint8_t key[16];
    ovs_assert(RAND_bytes(key, sizeof key) == 1);
    struct raw_gcm raw;
    raw_init(&raw, key, 16);
    uint8_t *buf = xmalloc(FRAME + 64);
    memset(buf, 0x5a, FRAME + 64);
    double raw_best = 1e9;
    for (int r = 0; r < 5; r++) {
        double start = now();
        for (int i = 0; i < n_packets; i++) {
            raw_seal(&raw, buf, FRAME - 14, i);
        }
        raw_best = MIN(raw_best, now() - start);
    }
    EVP_CIPHER_CTX_free(raw.ctx);
    free(buf);

    char *enc_argv[] = {
        CONST_CAST(char *, tool), "encrypt", "--master-keys", keys,
        "--spi", "12345678", "--version", "0", "--mode", "tunnel",
        clear, enc, NULL,
    };
    char *dec_argv[] = {
        CONST_CAST(char *, tool), "decrypt", "--master-keys", keys,
        enc, dec, NULL,
    };
    double enc_time = time_process(enc_argv, 5, enc);
    double dec_time = time_process(dec_argv, 5, dec);
    double mb = (double) n_packets * (FRAME - 14) / 1e6;

    printf("\novs-psp-pcap, %d packets of %d bytes (AES-GCM-128, tunnel), "
           "whole processes, best of 5:\n", n_packets, FRAME);
    printf("%-28s %9s %10s %6s\n", "", "seconds", "MB/s", "ratio");
    printf("%-28s %9.3f %10.0f %6.3f\n", "raw AES-GCM (in process)",
           raw_best, mb / raw_best, 1.0);
    printf("%-28s %9.3f %10.0f %6.3f\n", "ovs-psp-pcap encrypt",
           enc_time, mb / enc_time, raw_best / enc_time);
    printf("%-28s %9.3f %10.0f %6.3f\n", "ovs-psp-pcap decrypt",
           dec_time, mb / dec_time, raw_best / dec_time);

    unlink(keys);
    unlink(clear);
    unlink(enc);
    unlink(dec);
    rmdir(dir);
    explicit_bzero(mkey, sizeof mkey);
}

/* Resident memory of this process, in bytes. */
static size_t
rss_bytes(void)
{
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2) {
        ovs_fatal(0, "cannot read /proc/self/statm");
    }
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* The best of 'rounds' of looking up the SAs of remotes 'addrs' (IPv4,
 * association 7), each for 'seconds', in ns per lookup. */
static double
time_lookups(const uint32_t *addrs, size_t n_addrs, int rounds,
             double seconds)
{
    double best = 1e9;

    for (int r = 0; r < rounds; r++) {
        uint64_t iters = 0, found = 0;
        double start = now(), elapsed;

        do {
            for (int i = 0; i < 64; i++) {
                struct in6_addr remote = in6_addr_mapped_ipv4(
                    addrs[(iters + i) % n_addrs]);
                found += psp_dp_tx_sa_lookup(&remote, 7);
            }
            iters += 64;
            elapsed = now() - start;
        } while (elapsed < seconds);
        ovs_assert(found == iters);
        best = MIN(best, elapsed / iters * 1e9);
    }
    return best;
}

/* Transmit SAs at scale, for growing numbers of SAs:
 *   - the lookup alone (psp_dp_tx_sa_lookup(): hash, the thread's cache of
 *     SAs, else the cmap) of 1,000 SAs spread over the table (a working
 *     set, as traffic has), and of SAs drawn at random among all (each
 *     lookup then misses the caches and the TLB);
 *   - the push of a 64-byte inner packet (where the lookup weighs most) to
 *     the same 1,000 SAs, whose cipher contexts stay in the per-thread
 *     cache;
 *   - the push to SAs drawn at random among all, where nearly every packet
 *     also expands its SA's key (the cache holds 4,096 contexts);
 *   - the time to add the SAs and the memory they take. */
static void
bench_sa_scale(double seconds, size_t max_sas)
{
    enum { INNER = 64, ROUNDS = 5, N_DRAWS = 1 << 16, HOT = 1000 };
    static const size_t sizes[] = { 1000, 100000, 1000000, 10000000 };
    uint8_t key[16], tmpl[128];
    double base[4] = { 0, 0, 0, 0 };
    size_t n_sas = 0;

    memset(key, 0x42, sizeof key);
    size_t tlen = build_template(tmpl, htonl(0x0a000001));
    uint8_t inner[INNER];
    build_inner(inner, INNER);
    struct dp_packet *p = dp_packet_new_with_headroom(INNER + 64, 128);
    uint32_t *draws = xmalloc(N_DRAWS * sizeof *draws);
    uint32_t *hot = xmalloc(HOT * sizeof *hot);

    printf("\ntransmit SAs at scale (ovs-psp/psp-tx-sa.c), AES-GCM-128, one "
           "core, best of %d;\nns per lookup or per push of a %d-byte inner "
           "packet, to 1,000 hot SAs or any SA;\nratios to 1,000 SAs:\n",
           ROUNDS, INNER);
    printf("%9s %11s %5s %11s %5s %9s %5s %9s %5s %6s %8s\n", "SAs",
           "lookup(hot)", "", "lookup(any)", "", "push(hot)", "",
           "push(any)", "", "add s", "bytes/SA");
    size_t rss0 = rss_bytes();
    for (size_t si = 0; si < ARRAY_SIZE(sizes) && sizes[si] <= max_sas;
         si++) {
        size_t n = sizes[si];

        /* Remotes 10.0.0.1, 10.0.0.2, ...: one SA each, association 7. */
        double start = now();
        for (; n_sas < n; n_sas++) {
            struct in6_addr remote
                = in6_addr_mapped_ipv4(htonl(0x0a000001 + n_sas));
            /* A key of its own: one key for two SAs is refused. */
            memcpy(key, &n_sas, sizeof n_sas);
            if (psp_dp_tx_sa_set(&remote, 7, n_sas + 1, PSP_V0, key, 16)) {
                ovs_fatal(0, "cannot add SA %"PRIuSIZE, n_sas);
            }
        }
        double add_time = now() - start;
        ovs_assert(psp_dp_tx_sa_count() == n);
        size_t per_sa = (rss_bytes() - rss0) / n;

        for (size_t i = 0; i < N_DRAWS; i++) {
            draws[i] = htonl(0x0a000001 + random_range(n));
        }
        for (size_t i = 0; i < HOT; i++) {
            hot[i] = htonl(0x0a000001 + (uint64_t) i * n / HOT);
        }

        double t[4] = {
            time_lookups(hot, HOT, ROUNDS, seconds),
            time_lookups(draws, N_DRAWS, ROUNDS, seconds),
            time_pushes(p, inner, INNER, tmpl, tlen, hot, HOT, ROUNDS,
                        seconds),
            time_pushes(p, inner, INNER, tmpl, tlen, draws, N_DRAWS, ROUNDS,
                        seconds),
        };
        char ratio[4][16];
        for (int i = 0; i < 4; i++) {
            if (!base[i]) {
                base[i] = t[i];
            }
            snprintf(ratio[i], sizeof ratio[i], "%.2f", t[i] / base[i]);
        }
        printf("%9"PRIuSIZE" %11.0f %5s %11.0f %5s %9.0f %5s %9.0f %5s "
               "%6.2f %8"PRIuSIZE"\n", n, t[0], ratio[0], t[1], ratio[1],
               t[2], ratio[2], t[3], ratio[3], add_time, per_sa);
    }
    free(hot);
    free(draws);
    dp_packet_delete(p);
}

/* Telemetry: the cost of the PSP match fields to classification.  Times
 * miniflow_extract() (what a PMD thread does per packet) and flow
 * extraction plus a classifier lookup, for a UDP packet that is not PSP and
 * for a PSP packet whose inner ports are readable, first with flows that
 * mention no PSP field, then with flows on PSP fields added.  Returns
 * nothing; prints a table. */
struct cls_bench {
    struct classifier cls;
    struct cls_rule rules[8];
    size_t n_rules;
};

static void
cls_bench_add(struct cls_bench *cb, const struct match *m, int priority)
{
    ovs_assert(cb->n_rules < ARRAY_SIZE(cb->rules));
    struct cls_rule *rule = &cb->rules[cb->n_rules++];
    cls_rule_init(rule, m, priority);
    classifier_insert(&cb->cls, rule, OVS_VERSION_MIN, NULL, 0);
}

static void
match_udp_dst(struct match *m, uint16_t port)
{
    match_init_catchall(m);
    match_set_dl_type(m, htons(ETH_TYPE_IP));
    match_set_nw_proto(m, IPPROTO_UDP);
    if (port) {
        match_set_tp_dst(m, htons(port));
    }
}

static void
match_set_psp(struct match *m, enum mf_field_id id, uint64_t value)
{
    const struct mf_field *mf = mf_from_id(id);
    union mf_value v;

    memset(&v, 0, sizeof v);
    for (int i = mf->n_bytes - 1; i >= 0; i--, value >>= 8) {
        v.b[i] = value;
    }
    mf_set_value(mf, &v, m, NULL);
}

/* ns per packet of extraction alone ('cls' null) or with a lookup. */
static double
time_classify(const uint8_t *pkt, size_t len, struct classifier *cls,
              double seconds)
{
    struct dp_packet *p = dp_packet_new(len);
    struct {
        struct miniflow mf;
        uint64_t buf[FLOW_U64S];
    } m;
    double best = 1e9;
    uint64_t hits = 0;

    dp_packet_put(p, pkt, len);
    for (int r = 0; r < 5; r++) {
        double start = now(), elapsed;
        uint64_t iters = 0;
        do {
            for (int i = 0; i < 64; i++) {
                pkt_metadata_init(&p->md, u32_to_odp(1));
                if (cls) {
                    struct flow flow;
                    struct flow_wildcards wc;

                    flow_extract(p, &flow);
                    flow_wildcards_init_catchall(&wc);
                    hits += classifier_lookup(cls, OVS_VERSION_MAX, &flow,
                                              &wc) != NULL;
                } else {
                    miniflow_extract(p, &m.mf);
                    hits += m.mf.map.bits[1] != 0;
                }
            }
            iters += 64;
            elapsed = now() - start;
        } while (elapsed < seconds);
        best = MIN(best, elapsed / iters * 1e9);
    }
    ovs_assert(hits);
    dp_packet_delete(p);
    return best;
}

static void
bench_classify(double seconds)
{
    enum { INNER = 1400 };
    struct in6_addr local = in6_addr_mapped_ipv4(htonl(0xc0000201));
    struct in6_addr remote = in6_addr_mapped_ipv4(htonl(0xc0000202));
    uint8_t key[PSP_MAX_KEY_LEN], tmpl[128], inner[INNER];
    uint32_t spi;

    /* A PSP packet, as pushed, with crypt offset 6 (the inner IPv4 and UDP
     * ports in clear; nothing here checks the ICV). */
    ovs_assert(!psp_dp_rx_spi_alloc(&local, 8, PSP_V0, &spi, key));
    ovs_assert(!psp_dp_tx_sa_set(&remote, 8, spi, PSP_V0, key, 16));
    size_t tlen = build_template(tmpl, htonl(0xc0000202));
    build_inner(inner, INNER);
    inner[22] = 443 >> 8;       /* Inner UDP destination port 443. */
    inner[23] = 443 & 0xff;
    struct dp_packet *p = dp_packet_new_with_headroom(INNER + 64, 128);
    dp_packet_put(p, inner, INNER);
    ovs_assert(!psp_dp_push(p, tmpl, tlen, false));
    size_t len = dp_packet_size(p);
    uint8_t *psp_pkt = xmemdup(dp_packet_data(p), len);
    psp_pkt[14 + 20 + 8 + 2] = 6;
    dp_packet_delete(p);

    /* The same frame to UDP port 4789 instead: not PSP. */
    uint8_t *udp_pkt = xmemdup(psp_pkt, len);
    udp_pkt[14 + 20 + 2] = 4789 >> 8;
    udp_pkt[14 + 20 + 3] = 4789 & 0xff;

    struct cls_bench plain, with_psp;
    struct match m;
    struct cls_bench *cbs[] = { &plain, &with_psp };
    for (int i = 0; i < 2; i++) {
        classifier_init(&cbs[i]->cls, NULL);
        cbs[i]->n_rules = 0;
        match_init_catchall(&m);
        cls_bench_add(cbs[i], &m, 0);
        match_udp_dst(&m, 0);
        cls_bench_add(cbs[i], &m, 10);
        match_udp_dst(&m, PSP_DEFAULT_UDP_PORT);
        cls_bench_add(cbs[i], &m, 100);
    }
    match_udp_dst(&m, PSP_DEFAULT_UDP_PORT);
    match_set_psp(&m, MFF_PSP_INNER_TP_DST, 443);
    cls_bench_add(&with_psp, &m, 200);
    match_udp_dst(&m, PSP_DEFAULT_UDP_PORT);
    match_set_psp(&m, MFF_PSP_SPI, 0x12345);
    cls_bench_add(&with_psp, &m, 300);

    double ex_udp = time_classify(udp_pkt, len, NULL, seconds);
    double ex_psp = time_classify(psp_pkt, len, NULL, seconds);
    double pl_udp = time_classify(udp_pkt, len, &plain.cls, seconds);
    double pl_psp = time_classify(psp_pkt, len, &plain.cls, seconds);
    double wp_udp = time_classify(udp_pkt, len, &with_psp.cls, seconds);
    double wp_psp = time_classify(psp_pkt, len, &with_psp.cls, seconds);

    printf("\nclassification (lib/flow.c, lib/classifier.c), one core, "
           "best of 5, ns/pkt:\n");
    printf("%-44s %10s %10s %6s\n", "", "UDP 4789", "PSP", "ratio");
    printf("%-44s %10.1f %10.1f %6.2f\n", "miniflow_extract()",
           ex_udp, ex_psp, ex_psp / ex_udp);
    printf("%-44s %10.1f %10.1f %6.2f\n",
           "extract + lookup, flows without PSP fields", pl_udp, pl_psp,
           pl_psp / pl_udp);
    printf("%-44s %10.1f %10.1f %6.2f\n",
           "extract + lookup, flows on PSP fields too", wp_udp, wp_psp,
           wp_psp / wp_udp);

    for (int i = 0; i < 2; i++) {
        classifier_defer(&cbs[i]->cls);
        for (size_t j = 0; j < cbs[i]->n_rules; j++) {
            classifier_remove_assert(&cbs[i]->cls, &cbs[i]->rules[j]);
        }
    }
    free(psp_pkt);
    free(udp_pkt);
}

/* Raw AES-GCM-128 for bench_raw(): OpenSSL's EVP, and intel-ipsec-mb's
 * one-shot API when libpsp is built with it. */
struct raw_any {
    struct raw_gcm evp;
#ifdef PSP_WITH_IPSEC_MB
    IMB_MGR *mgr;
    struct gcm_key_data *kd;
#endif
};

static void
raw_any_op(struct raw_any *r, int impl, bool seal, uint8_t *buf,
           size_t size, uint64_t n)
{
    if (impl == 0) {
        if (seal) {
            raw_seal(&r->evp, buf + PSP_HDR_LEN, size, n);
        } else {
            raw_open(&r->evp, buf + PSP_HDR_LEN, size, n);
        }
        return;
    }
#ifdef PSP_WITH_IPSEC_MB
    struct gcm_context_data cd;
    uint8_t iv[12] = { 0 }, tag[16];

    memcpy(iv + 4, &n, 8);
    if (seal) {
        IMB_AES128_GCM_ENC(r->mgr, r->kd, &cd, buf + PSP_HDR_LEN,
                           buf + PSP_HDR_LEN, size, iv, buf, PSP_HDR_LEN,
                           buf + PSP_HDR_LEN + size, 16);
    } else {
        IMB_AES128_GCM_DEC(r->mgr, r->kd, &cd, buf + PSP_HDR_LEN,
                           buf + PSP_HDR_LEN, size, iv, buf, PSP_HDR_LEN,
                           tag, 16);
        if (!memcmp(tag, buf + PSP_HDR_LEN + size, 16)) {
            buf[0]++;
        }
    }
#endif
}

/* Raw AES-GCM-128 on one core, for each payload size in 'sizes' (16 bytes
 * of AAD, as a PSP header): prints "openssl SIZE SEAL_NS OPEN_NS", the best
 * time per packet over N_ROUNDS, and the same for "ipsec-mb" if libpsp is
 * built with it.  Open decrypts and checks the tag in place; it costs the
 * same whether the tag matches or not, so it runs on the same buffer over
 * and over with no copy. */
static void
bench_raw(char *sizes[], int n_sizes, double seconds)
{
    static const char *names[] = { "openssl", "ipsec-mb" };
    int n_impls = 1;
    uint8_t key[16];
    struct raw_any raw;

    ovs_assert(RAND_bytes(key, sizeof key) == 1);
    raw_init(&raw.evp, key, sizeof key);
#ifdef PSP_WITH_IPSEC_MB
    raw.mgr = alloc_mb_mgr(0);
    ovs_assert(raw.mgr);
    init_mb_mgr_auto(raw.mgr, NULL);
    raw.kd = xmalloc_cacheline(sizeof *raw.kd);
    IMB_AES128_GCM_PRE(raw.mgr, key, raw.kd);
    n_impls = 2;
#endif
    for (int impl = 0; impl < n_impls; impl++) {
        for (int i = 0; i < n_sizes; i++) {
            size_t size = strtoul(sizes[i], NULL, 10);
            uint8_t *buf = xzalloc(size + 64);
            double best[2] = { 1e9, 1e9 };

            for (int op = 0; op < 2; op++) {
                for (int round = 0; round < N_ROUNDS; round++) {
                    uint64_t iters = 0;
                    double start = now(), elapsed;

                    do {
                        for (int j = 0; j < 64; j++) {
                            raw_any_op(&raw, impl, op == 0, buf, size, j);
                        }
                        iters += 64;
                        elapsed = now() - start;
                    } while (elapsed < seconds);
                    best[op] = MIN(best[op], elapsed / iters * 1e9);
                }
            }
            printf("%s %"PRIuSIZE" %.1f %.1f\n", names[impl], size,
                   best[0], best[1]);
            free(buf);
        }
    }
    EVP_CIPHER_CTX_free(raw.evp.ctx);
#ifdef PSP_WITH_IPSEC_MB
    free_cacheline(raw.kd);
    free_mb_mgr(raw.mgr);
#endif
}

int
main(int argc, char *argv[])
{
    const char *tool = argc > 1 ? argv[1] : "utilities/ovs-psp-pcap";
    double seconds = argc > 2 ? atof(argv[2]) : 0.2;
    int n_packets = argc > 3 ? atoi(argv[3]) : 100000;

    set_program_name(argv[0]);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: %s [OVS-PSP-PCAP [SECONDS [PACKETS]]]\n"
               "       %s --sas [MAX_SAS]\n"
               "       %s --raw SIZE...\n"
               "Benchmarks libpsp seal/open and ovs-psp-pcap against raw "
               "OpenSSL AES-GCM,\nor (--sas) the transmit SA lookup at 1, "
               "1K, 100K, 1M... SAs,\nor (--raw) raw AES-GCM-128 seal and "
               "open of SIZE-byte payloads, in ns per packet.\n",
               program_name, program_name, program_name);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--raw")) {
        bench_raw(argv + 2, argc - 2, 0.2);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--sas")) {
        bench_sa_scale(0.2, argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000);
        return 0;
    }
    printf("ovs-psp benchmark (libpsp AES-GCM: %s; raw AES-GCM: %s)\n",
           psp_crypto_impl(), OpenSSL_version(OPENSSL_VERSION));
    bench_sizes(PSP_V0, seconds);
    bench_sizes(PSP_V1, seconds);
    bench_datapath(seconds);
    bench_classify(seconds);
    if (access(tool, X_OK)) {
        ovs_fatal(errno, "%s", tool);
    }
    bench_pcap_tool(tool, n_packets);
    return 0;
}
