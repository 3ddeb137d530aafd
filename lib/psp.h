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

#ifndef PSP_H
#define PSP_H 1

/* libpsp: the PSP Security Protocol, with no Open vSwitch dependency.
 *
 * Everything here works in place on a packet buffer: the caller reserves
 * headroom for the PSP header and tailroom for the ICV, writes the header
 * with psp_hdr_write() and calls psp_seal(); on receive, psp_open() or
 * psp_rx() verify and decrypt the buffer where it lies.
 *
 * Threads: a "struct psp_crypto" belongs to one thread.  It owns that
 * thread's cipher contexts and a cache of key schedules (expanded AES keys),
 * so that neither the KDF nor AES key expansion runs per packet.  Master
 * keys ("struct psp_mkeys") and transmit keys ("struct psp_key") are shared
 * between threads and read without locks. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PSP_DEFAULT_UDP_PORT 1000
#define PSP_HDR_LEN 16          /* Base header: through the IV. */
#define PSP_VC_LEN 8            /* Virtualization cookie. */
#define PSP_ICV_LEN 16          /* AES-GCM tag. */
#define PSP_MAX_CRYPT_OFF 63    /* In 4-byte units. */
#define PSP_MASTER_KEY_LEN 32
#define PSP_MAX_KEY_LEN 32
#define PSP_SPI_SLOT_BIT 0x80000000u   /* Selects master key 0 or 1. */
#define PSP_SPI_LOW_MASK 0x7fffffffu   /* Never 0 in a valid SPI. */

/* IP protocol numbers used as PSP Next Header in tunnel mode. */
#define PSP_NH_IPV4 4
#define PSP_NH_IPV6 41

enum psp_version {
    PSP_V0 = 0,                 /* AES-GCM-128. */
    PSP_V1 = 1,                 /* AES-GCM-256. */
    PSP_V2 = 2,                 /* AES-GMAC-128: authentication only. */
    PSP_V3 = 3,                 /* AES-GMAC-256: authentication only. */
};
#define PSP_N_VERSIONS 4

bool psp_version_is_valid(unsigned int version);
bool psp_version_is_gmac(enum psp_version);
size_t psp_version_key_len(enum psp_version);
const char *psp_version_name(enum psp_version);

/* Every reason a packet can fail, each one its own counter.  psp_error_class()
 * maps each, with the direction of the packet, to the spec's counter that it
 * also counts in. */
enum psp_error {
    PSP_OK = 0,

    /* Receive, framing ("rx error packets"). */
    PSP_E_TRUNCATED,            /* Shorter than header + ICV. */
    PSP_E_HDR_EXT_LEN,          /* Hdr Ext Len 0, too small for the VC, or
                                 * past the end of the packet. */
    PSP_E_CRYPT_OFF,            /* Crypt offset past the payload. */
    PSP_E_NOT_PSP,              /* Not a PSP packet (not IP/UDP/port). */
    PSP_E_INNER,                /* Inner packet does not match Next Header,
                                 * or its IP length is inconsistent. */

    /* Receive, other ("rx bad packets"). */
    PSP_E_FIXED_BIT,            /* Bit 0 of byte 3 is not 1. */
    PSP_E_VERSION,              /* Reserved version (4-15). */
    PSP_E_SPI,                  /* SPI with low 31 bits all zero. */
    PSP_E_UNKNOWN_SPI,          /* SPI never allocated under that key. */
    PSP_E_GMAC_OFFSET,          /* GMAC version with a nonzero crypt
                                 * offset. */
    PSP_E_UNBOUND_SPI,          /* Authentic, but the SPI was not allocated
                                 * for this peer. */

    /* Receive, key generation gone ("stale"). */
    PSP_E_STALE,

    /* Receive, "rx authentication failures". */
    PSP_E_AUTH,

    /* Transmit ("tx error packets"). */
    PSP_E_NO_SA,                /* No transmit SA. */
    PSP_E_NO_ROOM,              /* Not enough headroom or tailroom. */
    PSP_E_KEY_VERSION,          /* Key does not fit the header's version. */
    PSP_E_SA_STALE,             /* Transmit SA of a gone generation. */
    PSP_E_TX_INNER,             /* Not an IP packet, or shorter than its IP
                                 * header says. */
    PSP_E_TX_TOO_BIG,           /* Transport mode: longer than the MTU once
                                 * encrypted. */
    PSP_E_TX_UNSUPPORTED,       /* Transport mode: an IPv4 fragment, IPv6
                                 * extension headers, or no IP header. */
    PSP_E_TX_IV_LIMIT,          /* The IV is past those reserved: it might
                                 * repeat one used before a restart. */

    /* Either direction: the cipher library failed. */
    PSP_E_CRYPTO,

    PSP_N_ERRORS
};

const char *psp_error_name(enum psp_error);       /* e.g. "auth-failure" */

/* Which way a packet was going when it failed: some errors (a cipher
 * failure, a key that does not fit) happen either way, and count in the
 * spec's counter of their direction. */
enum psp_dir {
    PSP_DIR_RX,
    PSP_DIR_TX,
};

/* The spec's counters (PSP Architecture Specification, p.20), with the
 * stale-generation and key rotation counters that Linux adds, and one
 * counter per failure reason. */
struct psp_stats {
    uint64_t rx_packets;
    uint64_t rx_bytes;          /* From after the IV to end of payload. */
    uint64_t rx_auth_fail;
    uint64_t rx_error;          /* Length and framing. */
    uint64_t rx_bad;            /* Other: version, SPI, key. */
    uint64_t rx_stale;
    uint64_t rx_sample;         /* Authentic packets with the S bit. */
    uint64_t rx_sample_drop;    /* ...and the D bit. */
    uint64_t tx_packets;
    uint64_t tx_bytes;
    uint64_t tx_error;
    uint64_t key_rotations;
    uint64_t errors[PSP_N_ERRORS];      /* Indexed by enum psp_error. */
};

enum psp_error_class {
    PSP_EC_NONE,
    PSP_EC_RX_ERROR,
    PSP_EC_RX_BAD,
    PSP_EC_RX_STALE,
    PSP_EC_RX_AUTH,
    PSP_EC_TX_ERROR,
};

/* Every error of a packet being sent counts in "tx error packets"; an error
 * of a packet received counts in one of the receive counters, by its
 * kind. */
enum psp_error_class psp_error_class(enum psp_error, enum psp_dir);
void psp_stats_count_error(struct psp_stats *, enum psp_error, enum psp_dir);
void psp_stats_add(struct psp_stats *dst, const struct psp_stats *src);

/* Count one packet received or sent; 'psp_len' is the PSP packet's length
 * (UDP payload: header through ICV).  Bytes count, as the spec has it, from
 * the first byte after the IV to the end of the payload. */
void psp_stats_count_rx(struct psp_stats *, size_t psp_len);
void psp_stats_count_tx(struct psp_stats *, size_t psp_len);

/* Header. */

struct psp_hdr_info {
    uint8_t next_hdr;
    uint8_t version;            /* enum psp_version. */
    uint8_t crypt_off;          /* In 4-byte units, counted from after IV. */
    uint8_t hdr_ext_len;        /* As on the wire (filled by parse). */
    uint8_t r_bits;             /* Reserved bits of byte 2 (parse). */
    bool s;                     /* Sample. */
    bool d;                     /* Drop after sampling. */
    bool has_vc;
    uint32_t spi;               /* Host byte order. */
    uint64_t iv;                /* Host byte order. */
    uint64_t vc;                /* Host byte order; valid if 'has_vc'. */
    bool vc_readable;           /* Parse: VC lies in the cleartext region. */
    size_t payload_ofs;         /* Parse: 8 * (Hdr Ext Len + 1). */
    size_t payload_len;         /* Parse: bytes from payload_ofs to ICV. */
};

static inline size_t
psp_hdr_len(bool has_vc)
{
    return PSP_HDR_LEN + (has_vc ? PSP_VC_LEN : 0);
}

void psp_hdr_write(uint8_t *p, const struct psp_hdr_info *);
enum psp_error psp_hdr_parse(const uint8_t *p, size_t len,
                             struct psp_hdr_info *);

/* What the cleartext part of a PSP packet (the crypt offset region, or all
 * of it with AES-GMAC) shows of the inner packet, for telemetry on packets
 * that are not decrypted.  Nothing here is authenticated until the ICV is
 * checked: it is what the packet claims. */
struct psp_visible {
    uint8_t inner_ip;           /* Tunnel mode: 4 or 6; transport mode: 0. */
    bool has_proto;             /* 'proto' is readable. */
    uint8_t proto;              /* Inner L4 protocol (IPPROTO_*). */
    bool has_ports;             /* 'src_port' and 'dst_port' are readable. */
    uint16_t src_port;          /* Host byte order. */
    uint16_t dst_port;
};

/* Fills 'v' from 'p', a PSP packet (UDP payload) whose header
 * psp_hdr_parse() parsed into 'h' without error.  In transport mode the PSP
 * Next Header is the L4 protocol; in tunnel mode (Next Header 4 or 41) the
 * inner IP header must be readable for the protocol, and the L4 header's
 * first 4 bytes for the ports.  Ports are shown for TCP, UDP, UDP-Lite and
 * SCTP, never for a non-first IPv4 fragment, and for IPv6 only when no
 * extension header comes first (they are not walked). */
void psp_visible_parse(const uint8_t *p, const struct psp_hdr_info *h,
                       struct psp_visible *v);

/* Crypt offset, in 4-byte units, that leaves the inner L4 ports readable,
 * for a transport-mode packet or a tunnel-mode packet with inner IPv4
 * (20-byte header) or IPv6. */
unsigned int psp_ports_visible_offset(uint8_t next_hdr, bool has_vc);

/* Keys. */

struct psp_key {
    uint64_t id;                /* Unique in this process; 0 = none.  Keys
                                 * with the same id have the same bytes. */
    uint8_t version;            /* enum psp_version. */
    uint8_t len;                /* 16 or 32. */
    uint8_t bytes[PSP_MAX_KEY_LEN];
};

bool psp_key_init(struct psp_key *, enum psp_version,
                  const uint8_t *bytes, size_t len);

/* Wipes 'key', and its expanded key from every thread's cache
 * (psp_key_forget()). */
void psp_key_wipe(struct psp_key *);

/* Removes the expanded key of 'key' from the cache of every thread
 * ("struct psp_crypto"), wiping it.  Call it once no thread can use 'key'
 * any more (after an RCU grace period), and before 'key' is freed: a cache
 * keeps what it expanded until something else takes its place. */
void psp_key_forget(const struct psp_key *);

/* A keyed fingerprint of 'key''s bytes: SipHash-2-4 under a secret drawn
 * once per process, in key memory.  Equal keys have equal fingerprints
 * within a process, whatever their version (AES-GCM and AES-GMAC with the
 * same bytes are the same AES key); the fingerprint says nothing of the
 * key, and means nothing to another process. */
uint64_t psp_key_fingerprint(const struct psp_key *);

/* Derives the SA key for 'spi' and 'version' from 'master' (NIST SP 800-108
 * counter mode, AES-256-CMAC, computed by OpenSSL's KBKDF).  The label is
 * "Pv" + ASCII digit of the version + "\0": "Pv0\0" (v0) and "Pv1\0" (v1) as
 * the spec's examples require; "Pv2\0" (v2) and "Pv3\0" (v3) by the same
 * rule.  Writes psp_version_key_len(version) bytes to 'out'.  Returns false
 * if OpenSSL fails. */
bool psp_derive_key(const uint8_t master[PSP_MASTER_KEY_LEN], uint32_t spi,
                    enum psp_version, uint8_t *out);

/* IV generator: a 64-bit counter, shared by the threads that send with one
 * key (an atomic add per packet), so that one generator never gives an IV
 * twice.
 *
 * Where a generator starts, and how far it may go, is its user's choice:
 * psp_iv_gen_init() starts it at the wall clock in nanoseconds, as the spec
 * does, which is enough for a tool that runs once (ovs-psp-pcap) but not
 * for a daemon whose clock may go back between two runs with the same key;
 * ovs-vswitchd starts and bounds its generators so that no IV repeats
 * under one key, across restarts, whatever the clock does
 * (ovs-psp/psp-iv.h).
 *
 * A generator that must give no more IVs is retired: its counter jumps
 * past every IV that a limit allows, so that what is taken from it later
 * is refused, and what it gave is known exactly.
 *
 * Only the functions below may touch 'next', which they access atomically.
 * It is a plain integer here so that this header needs no <stdatomic.h>,
 * which clashes with Open vSwitch's own atomics (ovs-atomic.h) under
 * clang. */
struct psp_iv_gen {
    uint64_t next;
};

/* No limit is above PSP_IV_MAX; retired generators count on from
 * PSP_IV_RETIRED, or PSP_IV_STALE if retired as stale (2^40 takes apart). */
#define PSP_IV_MAX (UINT64_MAX - (UINT64_C(3) << 40))
#define PSP_IV_RETIRED (PSP_IV_MAX + (UINT64_C(1) << 40))
#define PSP_IV_STALE (PSP_IV_MAX + (UINT64_C(2) << 40))

void psp_iv_gen_init(struct psp_iv_gen *);
void psp_iv_gen_init_at(struct psp_iv_gen *, uint64_t first);
uint64_t psp_iv_gen_next(struct psp_iv_gen *);
uint64_t psp_iv_gen_peek(const struct psp_iv_gen *);

/* Why 'iv', taken from a generator, was refused: PSP_E_SA_STALE if the
 * generator was retired as stale, PSP_E_NO_SA if it was retired otherwise
 * (its SA is gone), or PSP_E_TX_IV_LIMIT. */
enum psp_error psp_iv_refused(uint64_t iv);
enum psp_error psp_iv_gen_refuse(struct psp_iv_gen *, uint64_t iv);

/* Takes the next IV of 'gen' into '*iv' and returns PSP_OK if it is below
 * 'limit' (at most PSP_IV_MAX).  Otherwise the IV must not be used, and
 * returns psp_iv_refused(*iv). */
static inline enum psp_error
psp_iv_gen_take(struct psp_iv_gen *gen, uint64_t limit, uint64_t *iv)
{
    *iv = __atomic_fetch_add(&gen->next, 1, __ATOMIC_RELAXED);
    return (__builtin_expect(*iv < limit, 1) ? PSP_OK
            : psp_iv_gen_refuse(gen, *iv));
}

/* Retires 'gen', as stale if 'stale', and returns the first IV it never
 * gave (every IV it gave is below), or 0 if it was retired already. */
uint64_t psp_iv_gen_retire(struct psp_iv_gen *, bool stale);

/* Whether 'gen' was retired as stale. */
bool psp_iv_gen_is_stale(const struct psp_iv_gen *);

/* Whether 'next', a generator's psp_iv_gen_peek(), is that of a retired
 * one (whose peek says nothing of the IVs it gave). */
static inline bool
psp_iv_is_retired(uint64_t next)
{
    return next >= PSP_IV_RETIRED;
}

/* Memory for key material: never in a core dump (MADV_DONTDUMP), locked
 * in RAM where RLIMIT_MEMLOCK allows, and wiped when freed.  Blocks come
 * from arenas of their own, rounded up to a multiple of 16 bytes up to 256,
 * then to a power of 2 (at most 4096).  psp_secure_zalloc() returns NULL
 * when out of memory. */
void *psp_secure_zalloc(size_t);
void psp_secure_free(void *, size_t);

/* For tests: whether key memory holds the 'n' bytes at 'p' anywhere, in a
 * block in use or free. */
bool psp_secure_mem_contains(const void *p, size_t n);

/* Makes OpenSSL take all its memory from memory that is never in a core
 * dump and wiped when freed: its cipher contexts hold expanded keys.  Must
 * be called before OpenSSL allocates anything (first thing in main());
 * returns false if it was too late.  psp_openssl_mem_is_secure() says
 * whether it was done. */
bool psp_openssl_mem_secure(void);
bool psp_openssl_mem_is_secure(void);

/* Master keys: two slots, the SPI's top bit selects one.  Each rotation puts
 * a new generation in the slot that is not active, which becomes active; the
 * generation that was active becomes "previous" and keeps working, and the
 * one that was previous is gone: its SPIs are "stale".
 *
 * With SPI tracking (psp_mkeys_create), SPIs are allocated in order and never
 * reused under one key, and receive checks that an SPI was allocated by the
 * generation in its slot (else it is unknown or stale).  Without tracking
 * (psp_mkeys_create_static, for keys read from a file), every SPI is
 * accepted. */
enum psp_spi_state {
    PSP_SPI_ACTIVE,             /* Allocated by the active generation. */
    PSP_SPI_PREVIOUS,           /* By the previous generation. */
    PSP_SPI_STALE,              /* By a generation that is gone. */
    PSP_SPI_UNKNOWN,            /* Never allocated, or SPI 0. */
};
const char *psp_spi_state_name(enum psp_spi_state);

struct psp_mkey_gen;
struct psp_mkeys;

/* 'postpone', if nonnull, is called to free a replaced generation once no
 * reader can hold it (e.g. ovsrcu_postpone__); otherwise it is freed at
 * once, which is safe only with one thread. */
typedef void psp_postpone_fn(void (*fn)(void *), void *aux);
struct psp_mkeys *psp_mkeys_create(psp_postpone_fn *postpone);
struct psp_mkeys *psp_mkeys_create_static(
    const uint8_t key0[PSP_MASTER_KEY_LEN],
    const uint8_t key1[PSP_MASTER_KEY_LEN]);
void psp_mkeys_destroy(struct psp_mkeys *);

/* Rotates: 'new_key' (or fresh random bytes, if null) becomes the active
 * generation.  Returns false if random bytes could not be had. */
bool psp_mkeys_rotate(struct psp_mkeys *, const uint8_t *new_key);

/* Allocates a receive SPI in the active generation and derives its key for
 * 'version' into 'key' (psp_version_key_len(version) bytes).  Returns 0, or
 * ENOSPC when the generation's 2^31 - 1 SPIs are used (rotate first), or
 * EINVAL. */
int psp_mkeys_alloc_spi(struct psp_mkeys *, enum psp_version,
                        uint32_t *spi, uint8_t *key, uint64_t *gen);

enum psp_spi_state psp_mkeys_spi_state(const struct psp_mkeys *,
                                       uint32_t spi);
uint64_t psp_mkeys_active_gen(const struct psp_mkeys *);
uint64_t psp_mkeys_rotations(const struct psp_mkeys *);
uint32_t psp_mkeys_spis_used(const struct psp_mkeys *);

/* The whole master-key state, for a restarted process to take over: both
 * generations with their keys and SPI allocation.  Holds key material: wipe
 * it (psp_mkeys_state_wipe()) after use. */
struct psp_mkeys_slot_state {
    uint64_t gen;               /* Generation number, of this slot's parity. */
    uint8_t key[PSP_MASTER_KEY_LEN];
    uint32_t spi_first;         /* First SPI (low bits) of the generation. */
    uint32_t n_alloc;           /* SPIs it allocated. */
    bool older_allocated;
    bool wrapped;
    uint32_t next;              /* The slot's next SPI (low bits). */
    bool slot_wrapped;
};
struct psp_mkeys_state {
    uint64_t active;            /* Active generation number. */
    uint64_t rotations;
    struct psp_mkeys_slot_state slots[2];
};

void psp_mkeys_export(const struct psp_mkeys *, struct psp_mkeys_state *);

/* Creates master keys from 'state', with SPI tracking.  Returns NULL if
 * 'state' is inconsistent (a generation in the wrong slot, an active
 * generation that is neither, SPI counters out of range) or memory is
 * short. */
struct psp_mkeys *psp_mkeys_import(const struct psp_mkeys_state *,
                                   psp_postpone_fn *postpone);

/* Like psp_mkeys_create(), with fresh random keys, but numbering the
 * generations so that the active one is 'active' (at least 2): a process
 * that lost its keys starts past every generation it handed out SPIs from
 * before. */
struct psp_mkeys *psp_mkeys_create_at(psp_postpone_fn *postpone,
                                      uint64_t active);

void psp_mkeys_state_wipe(struct psp_mkeys_state *);

/* Derives the key of 'spi' under the generation in its slot, whatever the
 * SPI's state.  Returns false if OpenSSL fails. */
bool psp_mkeys_derive(const struct psp_mkeys *, uint32_t spi,
                      enum psp_version, uint8_t *key);

/* Per-thread cipher state. */
struct psp_crypto *psp_crypto_create(unsigned int cache_entries);
void psp_crypto_destroy(struct psp_crypto *);

/* The AES-GCM implementation libpsp was built with (OpenSSL, or
 * intel-ipsec-mb with configure --with-ipsec-mb), with its version. */
const char *psp_crypto_impl(void);

/* Seals in place.  'pkt' points to a PSP header written by psp_hdr_write()
 * and 'len' counts the header (with VC) and the payload; psp_seal() writes
 * the ICV at pkt + len, so PSP_ICV_LEN bytes must be writable there.  The
 * header decides the algorithm and crypt offset; 'key' must fit its
 * version. */
enum psp_error psp_seal(struct psp_crypto *, const struct psp_key *,
                        uint8_t *pkt, size_t len);

/* Like psp_seal(), but the payload ('payload_len' bytes) is read from
 * 'payload' and written, sealed, to pkt + hdr_len, where 'hdr_len' is the
 * header's length (with VC): one pass instead of a copy and a seal.
 * 'payload' must either be pkt + hdr_len (in place) or not overlap the
 * packet. */
enum psp_error psp_seal_from(struct psp_crypto *, const struct psp_key *,
                             uint8_t *pkt, size_t hdr_len,
                             const uint8_t *payload, size_t payload_len);

/* Verifies and decrypts in place a PSP packet of 'len' bytes (the UDP
 * payload: header through ICV) with 'key'.  The ICV is always verified, also
 * when nothing is encrypted.  On success fills 'info' (if nonnull) with the
 * header, including the VC, and the payload position. */
enum psp_error psp_open(struct psp_crypto *, const struct psp_key *,
                        uint8_t *pkt, size_t len, struct psp_hdr_info *info);

/* Receives statelessly: parses and validates the header, checks the SPI
 * against 'mk', derives the key (cached per thread with its key schedule),
 * verifies and decrypts in place.  psp_rx() is psp_rx_parse() then
 * psp_rx_open(). */
enum psp_error psp_rx(struct psp_crypto *, const struct psp_mkeys *,
                      uint8_t *pkt, size_t len, struct psp_hdr_info *info);

/* psp_rx() in two steps, so that a caller can check the SPI against what it
 * handed out (the peer it gave the SPI to, the version) before any key work
 * is done for the packet.
 *
 * psp_rx_parse() parses and validates the header into 'info' and checks the
 * SPI against 'mk' (PSP_E_UNKNOWN_SPI, PSP_E_STALE).  It derives no key,
 * allocates nothing and takes no lock.
 *
 * psp_rx_open() then opens the packet that psp_rx_parse() parsed into
 * 'info' (the same 'pkt' and 'len'): it checks the SPI against 'mk' again
 * (the keys may have rotated in between), takes the key from the thread's
 * cache or, on a miss, derives it, then verifies and decrypts in place.  A
 * derivation costs the KDF and, inside OpenSSL, memory allocation (and so
 * the key allocator's lock): '*derived', if nonnull, says whether there was
 * one. */
enum psp_error psp_rx_parse(const struct psp_mkeys *, const uint8_t *pkt,
                            size_t len, struct psp_hdr_info *info);
enum psp_error psp_rx_open(struct psp_crypto *, const struct psp_mkeys *,
                           uint8_t *pkt, size_t len,
                           struct psp_hdr_info *info, bool *derived);

/* Cache statistics, for tests and benchmarks. */
void psp_crypto_cache_stats(const struct psp_crypto *,
                            uint64_t *hits, uint64_t *misses);

/* For tests: the next 'n' keys loaded into a cache, by any thread, fail as
 * if the cipher library had failed (PSP_E_CRYPTO). */
void psp_crypto_test_fail_loads(unsigned int n);

#ifdef __cplusplus
}
#endif

#endif /* psp.h */
