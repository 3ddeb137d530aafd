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

/* ovs-psp-pcap: PSP encryption and decryption of pcap files, offline. */

#include <config.h>

#include <byteswap.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <stdio_ext.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command-line.h"
#include "csum.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/flow.h"
#include "packets.h"
#include "util.h"

#include "psp-bytes.h"
#include "psp.h"

#define EXIT_DROPPED 1
#define EXIT_USAGE 2

/* The most VLAN tags (802.1Q or 802.1ad) a frame may carry before its IP
 * header: as many as Open vSwitch's flow extraction parses, so that the
 * frames taken as IP here are those the datapath takes as IP.  Frames with
 * more are refused. */
#define MAX_VLAN_TAGS FLOW_MAX_VLAN_HEADERS

/* The output buffer: the largest frame that 'encrypt' or 'decrypt' can
 * write, Ethernet and MAX_VLAN_TAGS tags, then the largest IP packet (a
 * 40-byte IPv6 header and a 65,535-byte payload; 'encrypt' refuses a bigger
 * result as too big).  Every write is checked against it all the same. */
#define FRAME_MAX (ETH_HEADER_LEN + MAX_VLAN_TAGS * VLAN_HEADER_LEN \
                   + IPV6_HEADER_LEN + UINT16_MAX)

/* At most this many lines on stderr about single refused packets (see
 * packet_refused()), so that a large capture cannot flood the terminal; the
 * summary line counts every packet. */
#define MAX_PACKET_MESSAGES 10

enum psp_mode {
    MODE_NONE,
    MODE_TRANSPORT,
    MODE_TUNNEL,
};

struct options {
    const char *master_keys;
    bool have_spi;
    uint32_t spi;
    int version;                /* -1 if not given. */
    enum psp_mode mode;
    unsigned int crypt_off;
    bool has_vc;
    uint64_t vc;
    bool have_iv;
    uint64_t iv;
    bool sample;                /* S bit. */
    bool drop_after_sample;     /* D bit. */
};

/* Reasons 'encrypt' skips a packet; 'decrypt' uses enum psp_error. */
enum enc_error {
    ENC_OK,
    ENC_NOT_IP,
    ENC_VLAN_TAGS,
    ENC_TRUNCATED,
    ENC_IPV4_FRAG,
    ENC_IPV6_EXT,
    ENC_IP_IN_IP,
    ENC_CRYPT_OFF,
    ENC_TOO_BIG,
    ENC_NO_ROOM,
    ENC_CRYPTO,
    ENC_N_ERRORS
};

static const char *enc_error_names[ENC_N_ERRORS] = {
    [ENC_OK] = "ok",
    [ENC_NOT_IP] = "not-ip",
    [ENC_VLAN_TAGS] = "too-many-vlan-tags",
    [ENC_TRUNCATED] = "truncated",
    [ENC_IPV4_FRAG] = "ipv4-fragment",
    [ENC_IPV6_EXT] = "ipv6-extension-header",
    [ENC_IP_IN_IP] = "ip-in-ip",
    [ENC_CRYPT_OFF] = "crypt-offset-too-large",
    [ENC_TOO_BIG] = "too-big",
    [ENC_NO_ROOM] = "no-room",
    [ENC_CRYPTO] = "crypto-error",
};

/* Why 'decrypt' skips a packet: the reasons of enum psp_error, then this one,
 * which is about the frame around the PSP packet. */
enum dec_error {
    DEC_VLAN_TAGS = PSP_N_ERRORS,
    DEC_N_ERRORS
};

static const char *
dec_error_name(int error)
{
    return (error == DEC_VLAN_TAGS ? enc_error_names[ENC_VLAN_TAGS]
            : psp_error_name(error));
}

static void usage(void) OVS_NO_RETURN;

/* Prints "program: " and the message on stderr, then 'hint' if nonnull, and
 * exits with status 2 (usage or I/O error). */
static void OVS_PRINTF_FORMAT(2, 0) OVS_NO_RETURN
fail(const char *hint, const char *format, va_list args)
{
    fprintf(stderr, "%s: ", program_name);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    if (hint) {
        fprintf(stderr, "%s\n", hint);
    }
    exit(EXIT_USAGE);
}

static void OVS_PRINTF_FORMAT(1, 2) OVS_NO_RETURN
usage_error(const char *format, ...)
{
    char *hint = xasprintf("Try '%s --help' for more information.",
                           program_name);
    va_list args;

    va_start(args, format);
    fail(hint, format, args);
}

static void OVS_PRINTF_FORMAT(1, 2) OVS_NO_RETURN
io_error(const char *format, ...)
{
    va_list args;

    va_start(args, format);
    fail(NULL, format, args);
}

static void
usage(void)
{
    printf("%s: PSP encryption and decryption of pcap files\n"
           "usage:\n"
           "  %s encrypt --master-keys FILE --spi HEX --version 0..3\n"
           "                   --mode transport|tunnel [--crypt-offset N]\n"
           "                   [--vc HEX] [--iv N] [--sample "
           "[--drop-after-sample]]\n"
           "                   IN.pcap OUT.pcap\n"
           "  %s decrypt --master-keys FILE IN.pcap OUT.pcap\n"
           "  %s derive  --master-keys FILE --spi HEX --version 0..3\n"
           "\n"
           "FILE holds master key 0 then master key 1, 32 bytes each in hex.\n"
           "Exit status: 0 if every packet was processed, 1 if any was\n"
           "dropped, 2 on usage or I/O errors.\n"
           "\nOther options:\n"
           "  -h, --help                  display this help message\n"
           "  -V, --version               display version information\n",
           program_name, program_name, program_name, program_name);
    exit(EXIT_SUCCESS);
}

/* Reads the two master keys from 'file_name': 128 hex digits, key 0 first,
 * with any whitespace between them and '#' comments to end of line. */
static void
read_master_keys(const char *file_name,
                 uint8_t keys[2][PSP_MASTER_KEY_LEN])
{
    uint8_t *bytes = &keys[0][0];
    size_t n_nibbles = 0;
    bool comment = false;
    int c;

    FILE *file = fopen(file_name, "r");
    if (!file) {
        io_error("%s: cannot open master keys file (%s)",
                 file_name, ovs_strerror(errno));
    }
    memset(keys, 0, 2 * PSP_MASTER_KEY_LEN);
    while ((c = getc(file)) != EOF) {
        if (comment) {
            comment = c != '\n';
        } else if (c == '#') {
            comment = true;
        } else if (isxdigit(c)) {
            if (n_nibbles >= 4 * PSP_MASTER_KEY_LEN) {
                n_nibbles++;
                break;
            }
            int v = hexit_value(c);
            bytes[n_nibbles / 2] |= n_nibbles % 2 ? v : v << 4;
            n_nibbles++;
        } else if (!isspace(c)) {
            fclose(file);
            explicit_bzero(keys, 2 * PSP_MASTER_KEY_LEN);
            io_error("%s: invalid character '%c' in master keys file "
                     "(expected two 32-byte keys in hex)", file_name, c);
        }
    }
    bool read_error = ferror(file);
    fclose(file);
    if (read_error) {
        io_error("%s: read error", file_name);
    }
    if (n_nibbles != 4 * PSP_MASTER_KEY_LEN) {
        explicit_bzero(keys, 2 * PSP_MASTER_KEY_LEN);
        io_error("%s: expected two 32-byte master keys (128 hex digits), "
                 "found %s%"PRIuSIZE" hex digits", file_name,
                 n_nibbles > 4 * PSP_MASTER_KEY_LEN ? "more than " : "",
                 MIN(n_nibbles, 4 * PSP_MASTER_KEY_LEN));
    }
}

/* Parses 's', the argument of --'option', as a number in 'base' (16, or 0
 * for decimal, octal or 0x hex) no greater than 'max'. */
static uint64_t
parse_number(const char *option, const char *s, int base, uint64_t max)
{
    const char *what = base == 16 ? "hexadecimal number" : "number";
    char *end;

    errno = 0;
    unsigned long long x = strtoull(s, &end, base);
    if (s[0] == '-' || !s[0] || errno || *end || x > max) {
        if (base == 16) {
            usage_error("--%s: '%s' is not a %d-bit %s", option, s,
                        max == UINT64_MAX ? 64 : 32, what);
        }
        usage_error("--%s: '%s' is not a %s between 0 and %"PRIu64,
                    option, s, what, max);
    }
    return x;
}

static void
parse_options(int argc, char *argv[], struct options *o)
{
    enum {
        OPT_MASTER_KEYS = UCHAR_MAX + 1,
        OPT_SPI,
        OPT_PSP_VERSION,
        OPT_MODE,
        OPT_CRYPT_OFFSET,
        OPT_VC,
        OPT_IV,
        OPT_SAMPLE,
        OPT_DROP_AFTER_SAMPLE,
    };
    static const struct option long_options[] = {
        {"master-keys", required_argument, NULL, OPT_MASTER_KEYS},
        {"spi", required_argument, NULL, OPT_SPI},
        {"version", optional_argument, NULL, OPT_PSP_VERSION},
        {"mode", required_argument, NULL, OPT_MODE},
        {"crypt-offset", required_argument, NULL, OPT_CRYPT_OFFSET},
        {"vc", required_argument, NULL, OPT_VC},
        {"iv", required_argument, NULL, OPT_IV},
        {"sample", no_argument, NULL, OPT_SAMPLE},
        {"drop-after-sample", no_argument, NULL, OPT_DROP_AFTER_SAMPLE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool have_crypt_off = false;

    memset(o, 0, sizeof *o);
    o->version = -1;
    for (;;) {
        int c = getopt_long(argc, argv, "hV", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_MASTER_KEYS:
            o->master_keys = optarg;
            break;
        case OPT_SPI:
            o->spi = parse_number("spi", optarg, 16, UINT32_MAX);
            if (!(o->spi & PSP_SPI_LOW_MASK)) {
                usage_error("--spi: %s is not a valid SPI (its low 31 bits "
                            "must not be 0)", optarg);
            }
            o->have_spi = true;
            break;
        case OPT_PSP_VERSION:
            /* "--version N" is the PSP version; a bare "--version" prints
             * the program's. */
            if (!optarg && optind < argc && argv[optind][0] != '-') {
                optarg = argv[optind++];
            }
            if (!optarg) {
                ovs_print_version(0, 0);
                exit(EXIT_SUCCESS);
            }
            o->version = parse_number("version", optarg, 0,
                                       PSP_N_VERSIONS - 1);
            break;
        case OPT_MODE:
            if (!strcmp(optarg, "transport")) {
                o->mode = MODE_TRANSPORT;
            } else if (!strcmp(optarg, "tunnel")) {
                o->mode = MODE_TUNNEL;
            } else {
                usage_error("--mode: '%s' is not transport or tunnel",
                            optarg);
            }
            break;
        case OPT_CRYPT_OFFSET:
            o->crypt_off = parse_number("crypt-offset", optarg, 0,
                                        PSP_MAX_CRYPT_OFF);
            have_crypt_off = true;
            break;
        case OPT_VC:
            o->vc = parse_number("vc", optarg, 16, UINT64_MAX);
            o->has_vc = true;
            break;
        case OPT_SAMPLE:
            o->sample = true;
            break;
        case OPT_DROP_AFTER_SAMPLE:
            o->drop_after_sample = true;
            break;
        case OPT_IV:
            o->iv = parse_number("iv", optarg, 0, UINT64_MAX);
            o->have_iv = true;
            break;
        case 'h':
            usage();
        case 'V':
            ovs_print_version(0, 0);
            exit(EXIT_SUCCESS);
        case '?':
            exit(EXIT_USAGE);
        default:
            OVS_NOT_REACHED();
        }
    }
    if (have_crypt_off && o->crypt_off && o->version >= 0
        && psp_version_is_gmac(o->version)) {
        usage_error("--crypt-offset: version %d (%s) authenticates without "
                    "encrypting and takes no crypt offset", o->version,
                    psp_version_name(o->version));
    }
}

static void
require(bool ok, const char *command, const char *what)
{
    if (!ok) {
        usage_error("%s needs %s", command, what);
    }
}

static void
check_args(int argc, char *argv[], int n, const char *command)
{
    if (argc - optind != n) {
        usage_error("%s takes %d non-option argument%s, %d given",
                    command, n, n == 1 ? "" : "s", argc - optind);
    }
    (void) argv;
}

/* A parsed Ethernet frame carrying IPv4 or IPv6. */
struct frame {
    size_t l3;                  /* Offset of the IP header. */
    bool ipv6;
    size_t ip_hlen;             /* IPv4 IHL * 4, or 40. */
    size_t ip_len;              /* Total IP length, from the IP header. */
    uint8_t proto;              /* IPv4 protocol or IPv6 next header. */
    bool fragment;
};

/* Parses 'data' (an Ethernet frame of 'len' bytes, with up to MAX_VLAN_TAGS
 * VLAN tags; ENC_VLAN_TAGS if it has more).  Reads no byte past 'len'.
 * Lengths come from the IP header, so Ethernet padding is not payload. */
static enum enc_error
parse_frame(const uint8_t *data, size_t len, struct frame *f)
{
    size_t ofs = ETH_HEADER_LEN;
    uint16_t type;

    memset(f, 0, sizeof *f);
    if (len < ETH_HEADER_LEN) {
        return ENC_NOT_IP;
    }
    type = (data[12] << 8) | data[13];
    for (int n_tags = 0;
         type == ETH_TYPE_VLAN_8021Q || type == ETH_TYPE_VLAN_8021AD;
         n_tags++) {
        if (n_tags >= MAX_VLAN_TAGS) {
            return ENC_VLAN_TAGS;
        }
        if (len < ofs + VLAN_HEADER_LEN) {
            return ENC_NOT_IP;
        }
        type = (data[ofs + 2] << 8) | data[ofs + 3];
        ofs += VLAN_HEADER_LEN;
    }
    f->l3 = ofs;

    const uint8_t *l3 = data + ofs;
    size_t avail = len - ofs;
    if (type == ETH_TYPE_IP) {
        if (avail < IP_HEADER_LEN || IP_VER(l3[0]) != 4) {
            return avail < IP_HEADER_LEN ? ENC_TRUNCATED : ENC_NOT_IP;
        }
        f->ip_hlen = IP_IHL(l3[0]) * 4;
        f->ip_len = (l3[2] << 8) | l3[3];
        if (f->ip_hlen < IP_HEADER_LEN || f->ip_len < f->ip_hlen) {
            return ENC_NOT_IP;
        }
        if (f->ip_len > avail) {
            return ENC_TRUNCATED;
        }
        f->proto = l3[9];
        f->fragment = ((l3[6] << 8) | l3[7]) & (IP_MORE_FRAGMENTS
                                                | IP_FRAG_OFF_MASK);
    } else if (type == ETH_TYPE_IPV6) {
        if (avail < IPV6_HEADER_LEN || l3[0] >> 4 != 6) {
            return avail < IPV6_HEADER_LEN ? ENC_TRUNCATED : ENC_NOT_IP;
        }
        f->ipv6 = true;
        f->ip_hlen = IPV6_HEADER_LEN;
        f->ip_len = IPV6_HEADER_LEN + ((l3[4] << 8) | l3[5]);
        if (f->ip_len > avail) {
            return ENC_TRUNCATED;
        }
        f->proto = l3[6];
    } else {
        return ENC_NOT_IP;
    }
    return ENC_OK;
}

/* Fixes the length and protocol of the IP header at 'ip' for an IP packet of
 * 'ip_len' bytes in all, and its checksum. */
static void
set_ip_len_proto(uint8_t *ip, bool ipv6, size_t ip_len, uint8_t proto)
{
    if (ipv6) {
        psp_put_be16(ip + 4, ip_len - IPV6_HEADER_LEN);
        ip[6] = proto;
    } else {
        ovs_be16 sum;

        psp_put_be16(ip + 2, ip_len);
        ip[9] = proto;
        psp_put_be16(ip + 10, 0);
        sum = csum(ip, IP_IHL(ip[0]) * 4);
        memcpy(ip + 10, &sum, sizeof sum);
    }
}

/* UDP source port for the outer header: a hash of the inner flow keyed by
 * 'basis', in the dynamic port range, for ECMP and RSS entropy. */
static uint16_t
entropy_port(const uint8_t *ip, const struct frame *f, uint32_t basis)
{
    size_t addr_ofs = f->ipv6 ? 8 : 12;
    size_t addr_len = f->ipv6 ? 32 : 8;
    uint32_t hash = hash_bytes(ip + addr_ofs, addr_len, basis);

    hash = hash_add(hash, f->proto);
    if (!f->fragment && f->ip_len >= f->ip_hlen + 4
        && (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP
            || f->proto == IPPROTO_SCTP)) {
        uint32_t ports;

        memcpy(&ports, ip + f->ip_hlen, 4);
        hash = hash_add(hash, ports);
    }
    hash = hash_finish(hash, 0);
    return 49152 | (hash & 0x3fff);
}

struct encryptor {
    const struct options *o;
    struct psp_crypto *cc;
    struct psp_key key;
    struct psp_iv_gen iv;
    uint32_t entropy_basis;
};

/* Encrypts the frame 'in' of 'len' bytes into 'out', a buffer of 'out_size'
 * bytes, setting '*out_len'.  Writes nothing if the result would not fit. */
static enum enc_error
encrypt_frame(struct encryptor *e, const uint8_t *in, size_t len,
              uint8_t *out, size_t out_size, size_t *out_len)
{
    const struct options *o = e->o;
    struct frame f;
    enum enc_error error = parse_frame(in, len, &f);

    if (error) {
        return error;
    }

    const uint8_t *ip = in + f.l3;
    bool tunnel = o->mode == MODE_TUNNEL;
    size_t hdr_len = psp_hdr_len(o->has_vc);
    size_t outer_hlen = (tunnel ? (f.ipv6 ? IPV6_HEADER_LEN : IP_HEADER_LEN)
                         : f.ip_hlen);
    const uint8_t *body = tunnel ? ip : ip + f.ip_hlen;
    size_t body_len = tunnel ? f.ip_len : f.ip_len - f.ip_hlen;
    size_t udp_len = UDP_HEADER_LEN + hdr_len + body_len + PSP_ICV_LEN;
    size_t new_ip_len = outer_hlen + udp_len;

    /* Transport mode keeps the packet's own IP header outside.  An IPv4
     * fragment's header would make the PSP packet a fragment, which PSP
     * receivers (the datapath, and 'decrypt' here) do not take; IPv6
     * extension headers would end up behind the PSP header, encrypted.
     * The datapath's psp_encrypt refuses both (transport_ip_parse() in
     * ovs-psp/psp-transport.c). */
    if (!tunnel && !f.ipv6 && f.fragment) {
        return ENC_IPV4_FRAG;
    }
    if (!tunnel && f.ipv6 && (f.proto == IPPROTO_HOPOPTS
                              || f.proto == IPPROTO_ROUTING
                              || f.proto == IPPROTO_FRAGMENT
                              || f.proto == IPPROTO_DSTOPTS
                              || f.proto == IPPROTO_AH
                              || f.proto == IPPROTO_ESP)) {
        return ENC_IPV6_EXT;
    }
    /* An IP-in-IP packet would carry Next Header 4 or 41, which a receiver
     * ('decrypt' here, and the datapath) reads as tunnel mode: transport
     * mode cannot say it.  The datapath's psp_encrypt refuses it too. */
    if (!tunnel && (f.proto == IPPROTO_IPIP || f.proto == IPPROTO_IPV6)) {
        return ENC_IP_IN_IP;
    }
    if (new_ip_len - (f.ipv6 ? IPV6_HEADER_LEN : 0) > UINT16_MAX) {
        return ENC_TOO_BIG;
    }
    if (4 * o->crypt_off > hdr_len - PSP_HDR_LEN + body_len) {
        return ENC_CRYPT_OFF;
    }

    /* Everything below writes within the first f.l3 + new_ip_len bytes of
     * 'out': the L2 header, the outer IP header, then UDP, the PSP header,
     * the payload and the ICV, which make up 'udp_len'. */
    if (f.l3 + new_ip_len > out_size) {
        return ENC_NO_ROOM;
    }

    /* Ethernet (and VLAN) header, then the outer IP header. */
    memcpy(out, in, f.l3);
    uint8_t *oip = out + f.l3;
    if (!tunnel) {
        memcpy(oip, ip, f.ip_hlen);
    } else if (f.ipv6) {
        memcpy(oip, ip, 4);                     /* Version, class, label. */
        oip[7] = 64;                            /* Hop limit. */
        memcpy(oip + 8, ip + 8, 32);            /* Addresses. */
    } else {
        memset(oip, 0, IP_HEADER_LEN);
        oip[0] = IP_IHL_VER(5, IP_VERSION);
        oip[1] = ip[1];                         /* TOS. */
        memcpy(oip + 4, ip + 4, 2);             /* Identification. */
        psp_put_be16(oip + 6, IP_DONT_FRAGMENT);
        oip[8] = 64;                            /* TTL. */
        memcpy(oip + 12, ip + 12, 8);           /* Addresses. */
    }
    set_ip_len_proto(oip, f.ipv6, new_ip_len, IPPROTO_UDP);

    /* UDP, with checksum 0 as PSP prescribes. */
    uint8_t *udp = oip + outer_hlen;
    psp_put_be16(udp, entropy_port(ip, &f, e->entropy_basis));
    psp_put_be16(udp + 2, PSP_DEFAULT_UDP_PORT);
    psp_put_be16(udp + 4, udp_len);
    psp_put_be16(udp + 6, 0);

    /* PSP header, payload, ICV. */
    uint8_t *psp = udp + UDP_HEADER_LEN;
    struct psp_hdr_info h = {
        .next_hdr = (tunnel ? (f.ipv6 ? PSP_NH_IPV6 : PSP_NH_IPV4)
                     : f.proto),
        .version = o->version,
        .crypt_off = o->crypt_off,
        .has_vc = o->has_vc,
        .vc = o->vc,
        .s = o->sample,
        .d = o->drop_after_sample,
        .spi = o->spi,
        .iv = psp_iv_gen_next(&e->iv),
    };
    psp_hdr_write(psp, &h);
    if (psp_seal_from(e->cc, &e->key, psp, hdr_len, body, body_len)) {
        return ENC_CRYPTO;
    }
    *out_len = f.l3 + new_ip_len;
    return ENC_OK;
}

/* Decrypts the frame 'in' of 'len' bytes into 'out', a buffer of 'out_size'
 * bytes, setting '*out_len'.  Returns PSP_OK, an enum psp_error or
 * DEC_VLAN_TAGS.  Writes nothing if the frame does not fit in 'out'. */
static int
decrypt_frame(struct psp_crypto *cc, const struct psp_mkeys *mk,
              const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
              size_t *out_len, size_t *psp_len)
{
    struct frame f;
    enum enc_error perr = parse_frame(in, len, &f);

    if (perr) {
        return (perr == ENC_VLAN_TAGS ? DEC_VLAN_TAGS
                : perr == ENC_TRUNCATED ? PSP_E_TRUNCATED
                : PSP_E_NOT_PSP);
    }
    if (f.proto != IPPROTO_UDP || f.fragment) {
        return PSP_E_NOT_PSP;
    }
    if (f.ip_len < f.ip_hlen + UDP_HEADER_LEN) {
        return PSP_E_TRUNCATED;
    }

    const uint8_t *udp = in + f.l3 + f.ip_hlen;
    if (((udp[2] << 8) | udp[3]) != PSP_DEFAULT_UDP_PORT) {
        return PSP_E_NOT_PSP;
    }
    size_t udp_len = (udp[4] << 8) | udp[5];
    if (udp_len != f.ip_len - f.ip_hlen) {
        return PSP_E_TRUNCATED;
    }

    /* Work on a copy, in place: what follows only moves bytes within the
     * first 'frame_len' bytes of 'out', towards its start, and shortens
     * the frame. */
    size_t frame_len = f.l3 + f.ip_len;
    if (frame_len > out_size) {
        return PSP_E_NO_ROOM;
    }
    memcpy(out, in, frame_len);
    uint8_t *psp = out + f.l3 + f.ip_hlen + UDP_HEADER_LEN;
    struct psp_hdr_info h;
    *psp_len = udp_len - UDP_HEADER_LEN;
    enum psp_error error = psp_rx(cc, mk, psp, *psp_len, &h);
    if (error) {
        return error;
    }

    uint8_t *payload = psp + h.payload_ofs;
    size_t plen = h.payload_len;
    if (h.next_hdr == PSP_NH_IPV4 || h.next_hdr == PSP_NH_IPV6) {
        /* Tunnel mode: the inner IP packet, whole. */
        bool v6 = h.next_hdr == PSP_NH_IPV6;
        size_t min = v6 ? IPV6_HEADER_LEN : IP_HEADER_LEN;
        if (plen < min || payload[0] >> 4 != (v6 ? 6 : 4)) {
            return PSP_E_INNER;
        }
        size_t inner_len = (v6
                            ? IPV6_HEADER_LEN + ((payload[4] << 8)
                                                 | payload[5])
                            : (payload[2] << 8) | payload[3]);
        if (inner_len != plen
            || (!v6 && (IP_IHL(payload[0]) < 5
                        || IP_IHL(payload[0]) * 4 > inner_len))) {
            return PSP_E_INNER;
        }
        psp_put_be16(out + f.l3 - 2, v6 ? ETH_TYPE_IPV6 : ETH_TYPE_IP);
        memmove(out + f.l3, payload, plen);
        *out_len = f.l3 + plen;
    } else {
        /* Transport mode: the original IP header, restored. */
        uint8_t *ip = out + f.l3;
        memmove(ip + f.ip_hlen, payload, plen);
        set_ip_len_proto(ip, f.ipv6, f.ip_hlen + plen, h.next_hdr);
        *out_len = f.l3 + f.ip_hlen + plen;
    }
    return PSP_OK;
}

struct pcap_io {
    pcap_t *in;
    pcap_t *dead;
    pcap_dumper_t *out;
    const char *in_name;
    const char *out_name;
    char *in_buf;
    char *out_buf;
    void *in_map;
    size_t in_map_size;
};

/* stdio buffers for the captures: large, so that 100,000 packets cost a few
 * hundred system calls rather than tens of thousands. */
#define PCAP_IO_BUFSIZE (1024 * 1024)

static FILE *
pcap_io_fopen(const char *name, const char *mode, char **bufp)
{
    FILE *file = fopen(name, mode);

    if (file) {
        *bufp = xmalloc(PCAP_IO_BUFSIZE);
        setvbuf(file, *bufp, _IOFBF, PCAP_IO_BUFSIZE);
        __fsetlocking(file, FSETLOCKING_BYCALLER);     /* One thread. */
    }
    return file;
}

/* OVS's own pcap writer (e.g. netdev-dummy's tx_pcap) puts a snapshot length
 * of 1518 in the file header but writes longer frames whole, and libpcap
 * would cut them to 1518 bytes.  Raises the snapshot length in a mapped
 * file's header (a private copy) so that every frame is read whole. */
static void
pcap_raise_snaplen(uint8_t *map, size_t size)
{
    const uint32_t max_snaplen = 262144;
    uint32_t magic, snaplen;

    if (size < 24) {
        return;
    }
    memcpy(&magic, map, sizeof magic);
    bool swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
    if (!swapped && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
        return;
    }
    memcpy(&snaplen, map + 16, sizeof snaplen);
    if ((swapped ? bswap_32(snaplen) : snaplen) < max_snaplen) {
        snaplen = swapped ? bswap_32(max_snaplen) : max_snaplen;
        memcpy(map + 16, &snaplen, sizeof snaplen);
    }
}

/* Opens 'name' for libpcap to read.  A regular file is mapped into memory
 * and read through a memory stream, which saves a copy and the read system
 * calls; anything else (a pipe, say) is read through stdio. */
static FILE *
pcap_io_map(struct pcap_io *io, const char *name)
{
    struct stat st;
    FILE *file = NULL;
    int fd = open(name, O_RDONLY);

    if (fd < 0) {
        io_error("%s: cannot read capture (%s)", name, ovs_strerror(errno));
    }
    if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *map = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            madvise(map, st.st_size, MADV_SEQUENTIAL);
            pcap_raise_snaplen(map, st.st_size);
            file = fmemopen(map, st.st_size, "rb");
            if (file) {
                __fsetlocking(file, FSETLOCKING_BYCALLER);
                io->in_map = map;
                io->in_map_size = st.st_size;
            } else {
                munmap(map, st.st_size);
            }
        }
    }
    if (!file) {
        file = fdopen(fd, "rb");
        if (!file) {
            io_error("%s: cannot read capture (%s)", name,
                     ovs_strerror(errno));
        }
        io->in_buf = xmalloc(PCAP_IO_BUFSIZE);
        setvbuf(file, io->in_buf, _IOFBF, PCAP_IO_BUFSIZE);
        __fsetlocking(file, FSETLOCKING_BYCALLER);
    } else {
        close(fd);
    }
    return file;
}

static void
pcap_io_open(struct pcap_io *io, const char *in_name, const char *out_name)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    FILE *in, *out;

    memset(io, 0, sizeof *io);
    io->in_name = in_name;
    io->out_name = out_name;
    in = pcap_io_map(io, in_name);
    io->in = pcap_fopen_offline_with_tstamp_precision(
        in, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!io->in) {
        io_error("%s: cannot read capture (%s)", in_name, errbuf);
    }
    if (pcap_datalink(io->in) != DLT_EN10MB) {
        io_error("%s: not an Ethernet capture (link type %d)", in_name,
                 pcap_datalink(io->in));
    }
    /* The snapshot length covers the largest frame written, or readers
     * (tcpdump, libpcap) would cut longer frames to it. */
    io->dead = pcap_open_dead_with_tstamp_precision(
        DLT_EN10MB, FRAME_MAX, PCAP_TSTAMP_PRECISION_NANO);
    out = pcap_io_fopen(out_name, "wb", &io->out_buf);
    if (!out) {
        io_error("%s: cannot write capture (%s)", out_name,
                 ovs_strerror(errno));
    }
    io->out = io->dead ? pcap_dump_fopen(io->dead, out) : NULL;
    if (!io->out) {
        io_error("%s: cannot write capture (%s)", out_name,
                 io->dead ? pcap_geterr(io->dead) : "out of memory");
    }
}

/* Reads the next packet: 1 on success, 0 at the end. */
static int
pcap_io_next(struct pcap_io *io, struct pcap_pkthdr **hdr,
             const u_char **data)
{
    int retval = pcap_next_ex(io->in, hdr, data);

    if (retval == 1) {
        return 1;
    } else if (retval == PCAP_ERROR_BREAK) {
        return 0;
    }
    io_error("%s: read error (%s)", io->in_name, pcap_geterr(io->in));
}

static void
pcap_io_close(struct pcap_io *io)
{
    FILE *file = pcap_dump_file(io->out);

    if (pcap_dump_flush(io->out) || ferror(file)) {
        io_error("%s: write error (%s)", io->out_name, ovs_strerror(errno));
    }
    pcap_dump_close(io->out);
    pcap_close(io->dead);
    pcap_close(io->in);
    free(io->in_buf);
    free(io->out_buf);
    if (io->in_map) {
        munmap(io->in_map, io->in_map_size);
    }
}

/* Says on stderr that packet 'n' (the first is 1) was refused for 'reason',
 * its counter's name, and why, in 'format'.  For refusals that come from a
 * limit of this program or of PSP transport mode rather than from a bad
 * packet, so that the packet can be found.  At most MAX_PACKET_MESSAGES
 * lines, then one line that says that more were refused. */
static void OVS_PRINTF_FORMAT(4, 5)
packet_refused(const char *command, uint64_t n, const char *reason,
               const char *format, ...)
{
    static unsigned int n_messages;
    va_list args;

    if (n_messages >= MAX_PACKET_MESSAGES) {
        if (n_messages == MAX_PACKET_MESSAGES) {
            fprintf(stderr, "%s: %s: more packets refused, counted below\n",
                    program_name, command);
            n_messages++;
        }
        return;
    }
    n_messages++;
    fprintf(stderr, "%s: %s: packet %"PRIu64" refused (%s): ",
            program_name, command, n, reason);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
}

/* Reports packet 'n', which 'encrypt' refused for 'error', if that is a
 * refusal worth a line of its own. */
static void
encrypt_refused(uint64_t n, enum enc_error error)
{
    const char *name = enc_error_names[error];

    if (error == ENC_VLAN_TAGS) {
        packet_refused("encrypt", n, name, "more than %d VLAN tags",
                       MAX_VLAN_TAGS);
    } else if (error == ENC_NO_ROOM) {
        packet_refused("encrypt", n, name, "the encrypted frame would not "
                       "fit in %d bytes", FRAME_MAX);
    } else if (error == ENC_IPV4_FRAG) {
        packet_refused("encrypt", n, name, "transport mode does not "
                       "encrypt IPv4 fragments");
    } else if (error == ENC_IPV6_EXT) {
        packet_refused("encrypt", n, name, "transport mode does not "
                       "encrypt IPv6 packets with extension headers");
    } else if (error == ENC_IP_IN_IP) {
        packet_refused("encrypt", n, name, "transport mode does not "
                       "encrypt IP in IP (Next Header 4 or 41 means tunnel "
                       "mode)");
    }
}

/* Reports packet 'n', which 'decrypt' refused for 'error' (an enum psp_error
 * or enum dec_error), if that is a refusal worth a line of its own. */
static void
decrypt_refused(uint64_t n, int error)
{
    const char *name = dec_error_name(error);

    if (error == DEC_VLAN_TAGS) {
        packet_refused("decrypt", n, name, "more than %d VLAN tags",
                       MAX_VLAN_TAGS);
    } else if (error == PSP_E_NO_ROOM) {
        packet_refused("decrypt", n, name, "the frame does not fit in %d "
                       "bytes", FRAME_MAX);
    }
}

static void
print_summary(const char *command, const char *verb, uint64_t n, uint64_t ok,
              const uint64_t *drops, const char **names, int n_names)
{
    struct ds s = DS_EMPTY_INITIALIZER;

    ds_put_format(&s, "%s: %s: %"PRIu64" packets, %"PRIu64" %s, "
                  "%"PRIu64" dropped", program_name, command, n, ok, verb,
                  n - ok);
    bool first = true;
    for (int i = 1; i < n_names; i++) {
        if (drops[i]) {
            ds_put_format(&s, "%s%s %"PRIu64, first ? " (" : ", ",
                          names[i], drops[i]);
            first = false;
        }
    }
    if (!first) {
        ds_put_char(&s, ')');
    }
    fprintf(stderr, "%s\n", ds_cstr(&s));
    ds_destroy(&s);
}

static int
do_encrypt(const struct options *o, uint8_t keys[2][PSP_MASTER_KEY_LEN],
           const char *in_name, const char *out_name)
{
    static uint8_t out[FRAME_MAX];
    uint64_t drops[ENC_N_ERRORS] = { 0 };
    uint64_t n = 0, ok = 0;
    struct encryptor e = { .o = o };
    uint8_t key[PSP_MAX_KEY_LEN];
    struct pcap_io io;
    size_t key_len = psp_version_key_len(o->version);

    if (!psp_derive_key(keys[o->spi >> 31], o->spi, o->version, key)
        || !psp_key_init(&e.key, o->version, key, key_len)) {
        io_error("key derivation failed");
    }
    e.entropy_basis = hash_bytes(key, key_len, 0);
    explicit_bzero(key, sizeof key);
    e.cc = psp_crypto_create(1);
    if (!e.cc) {
        io_error("cannot initialize AES-GCM");
    }
    if (o->have_iv) {
        psp_iv_gen_init_at(&e.iv, o->iv);
    } else {
        psp_iv_gen_init(&e.iv);
    }

    pcap_io_open(&io, in_name, out_name);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    while (pcap_io_next(&io, &hdr, &data)) {
        enum enc_error error = ENC_TRUNCATED;
        size_t out_len = 0;

        n++;
        if (hdr->caplen == hdr->len) {
            error = encrypt_frame(&e, data, hdr->caplen, out, sizeof out,
                                  &out_len);
        }
        if (error) {
            drops[error]++;
            encrypt_refused(n, error);
            continue;
        }
        struct pcap_pkthdr ohdr = *hdr;
        ohdr.caplen = ohdr.len = out_len;
        pcap_dump((u_char *) io.out, &ohdr, out);
        ok++;
    }
    pcap_io_close(&io);
    psp_crypto_destroy(e.cc);
    psp_key_wipe(&e.key);

    print_summary("encrypt", "encrypted", n, ok, drops, enc_error_names,
                  ENC_N_ERRORS);
    return ok == n ? EXIT_SUCCESS : EXIT_DROPPED;
}

static int
do_decrypt(uint8_t keys[2][PSP_MASTER_KEY_LEN], const char *in_name,
           const char *out_name)
{
    static uint8_t out[FRAME_MAX];
    static const char *names[DEC_N_ERRORS];
    uint64_t drops[DEC_N_ERRORS] = { 0 };
    struct psp_stats stats;
    uint64_t n = 0;
    struct pcap_io io;

    memset(&stats, 0, sizeof stats);

    struct psp_mkeys *mk = psp_mkeys_create_static(keys[0], keys[1]);
    struct psp_crypto *cc = psp_crypto_create(64);
    if (!mk || !cc) {
        io_error("cannot initialize AES-GCM");
    }

    pcap_io_open(&io, in_name, out_name);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    while (pcap_io_next(&io, &hdr, &data)) {
        int error = PSP_E_TRUNCATED;
        size_t out_len = 0, psp_len = 0;

        n++;
        if (hdr->caplen == hdr->len) {
            error = decrypt_frame(cc, mk, data, hdr->caplen, out, sizeof out,
                                  &out_len, &psp_len);
        }
        if (error) {
            drops[error]++;
            decrypt_refused(n, error);
            continue;
        }
        struct pcap_pkthdr ohdr = *hdr;
        ohdr.caplen = ohdr.len = out_len;
        pcap_dump((u_char *) io.out, &ohdr, out);
        psp_stats_count_rx(&stats, psp_len);
    }
    pcap_io_close(&io);
    psp_crypto_destroy(cc);
    psp_mkeys_destroy(mk);

    for (int i = 0; i < DEC_N_ERRORS; i++) {
        names[i] = dec_error_name(i);
    }
    print_summary("decrypt", "decrypted", n, stats.rx_packets, drops,
                  names, DEC_N_ERRORS);
    return stats.rx_packets == n ? EXIT_SUCCESS : EXIT_DROPPED;
}

static int
do_derive(const struct options *o, uint8_t keys[2][PSP_MASTER_KEY_LEN])
{
    uint8_t key[PSP_MAX_KEY_LEN];
    size_t key_len = psp_version_key_len(o->version);

    if (!psp_derive_key(keys[o->spi >> 31], o->spi, o->version, key)) {
        io_error("key derivation failed");
    }
    for (size_t i = 0; i < key_len; i++) {
        printf("%02x", key[i]);
    }
    putchar('\n');
    explicit_bzero(key, sizeof key);
    return EXIT_SUCCESS;
}

int
main(int argc, char *argv[])
{
    uint8_t keys[2][PSP_MASTER_KEY_LEN];
    struct options o;
    int retval;

    set_program_name(argv[0]);
    if (argc < 2) {
        usage_error("missing command (encrypt, decrypt or derive)");
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage();
    }
    if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
        ovs_print_version(0, 0);
        exit(EXIT_SUCCESS);
    }
    const char *command = argv[1];
    parse_options(argc - 1, argv + 1, &o);
    argc--;
    argv++;

    if (!strcmp(command, "encrypt")) {
        require(o.master_keys, command, "--master-keys");
        require(o.have_spi, command, "--spi");
        require(o.version >= 0, command, "--version");
        require(o.mode != MODE_NONE, command, "--mode");
        if (o.drop_after_sample && !o.sample) {
            usage_error("--drop-after-sample requires --sample");
        }
        check_args(argc, argv, 2, command);
        read_master_keys(o.master_keys, keys);
        retval = do_encrypt(&o, keys, argv[optind], argv[optind + 1]);
    } else if (!strcmp(command, "decrypt")) {
        require(o.master_keys, command, "--master-keys");
        if (o.have_spi || o.version >= 0 || o.mode || o.has_vc || o.have_iv
            || o.crypt_off || o.sample || o.drop_after_sample) {
            usage_error("decrypt takes only --master-keys: the SPI, version, "
                        "mode and offsets come from each packet");
        }
        check_args(argc, argv, 2, command);
        read_master_keys(o.master_keys, keys);
        retval = do_decrypt(keys, argv[optind], argv[optind + 1]);
    } else if (!strcmp(command, "derive")) {
        require(o.master_keys, command, "--master-keys");
        require(o.have_spi, command, "--spi");
        require(o.version >= 0, command, "--version");
        check_args(argc, argv, 0, command);
        read_master_keys(o.master_keys, keys);
        retval = do_derive(&o, keys);
    } else {
        usage_error("unknown command '%s' (expected encrypt, decrypt or "
                    "derive)", command);
    }
    explicit_bzero(keys, sizeof keys);
    return retval;
}
