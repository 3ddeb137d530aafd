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

/* Fuzz target: ovs-psp-pcap's frame parsing, encryption and decryption, run
 * the way a user runs it: the program itself, its main() renamed, on a
 * capture file that holds the frame that fuzz_frame_build() built.  Going
 * through the command line keeps the target independent of the program's
 * internal functions, and keeps its static output buffers, whose overflow
 * ASan catches, as they are.
 *
 * The input is 2 option bytes, then what fuzz_frame_build() takes:
 *
 *   byte 0  bits 0-1 the PSP version, bit 2 tunnel mode (else transport),
 *           bit 3 a VC, bit 4 --sample, bit 5 --drop-after-sample, bit 6
 *           SPI 0x9a345678 (else 0x12345678)
 *   byte 1  the crypt offset (modulo 64; 0 for the GMAC versions)
 *
 * Each input runs "decrypt" on the frame (an authentic one if the harness
 * sealed it), then "encrypt" with those options, then "decrypt" on what
 * "encrypt" wrote, which must give the frame back (as far as its IP length
 * goes; in transport mode the IPv4 header checksum is recomputed).
 *
 * The program's messages go to /dev/null, unless FUZZ_VERBOSE is set in
 * the environment (to see why a finding failed): then the command lines
 * and the messages go to stderr. */

int ovs_psp_pcap_main(int argc, char *argv[]);
#define main ovs_psp_pcap_main
#include "../../utilities/ovs-psp-pcap.c"
#undef main

#include "fuzz-psp.h"

#define OPT_VERSION 0x03
#define OPT_TUNNEL 0x04
#define OPT_VC 0x08
#define OPT_SAMPLE 0x10
#define OPT_DROP 0x20
#define OPT_SPI1 0x40

static struct fuzz_sealer sealer;
static FILE *devnull;

/* The capture files and the master keys, in memory. */
struct mem_file {
    int fd;
    char name[32];
};
static struct mem_file keys_file, in_file, out_file, rt_file;

static void
mem_file_init(struct mem_file *f, const char *what)
{
    f->fd = memfd_create(what, 0);
    FUZZ_ASSERT(f->fd >= 0);
    snprintf(f->name, sizeof f->name, "/proc/self/fd/%d", f->fd);
}

static void
mem_file_write(struct mem_file *f, const void *data, size_t len)
{
    FUZZ_ASSERT(!ftruncate(f->fd, 0));
    FUZZ_ASSERT(pwrite(f->fd, data, len, 0) == len);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct ds keys = DS_EMPTY_INITIALIZER;

    (void) argc;
    (void) argv;
    mem_file_init(&keys_file, "master-keys");
    mem_file_init(&in_file, "in.pcap");
    mem_file_init(&out_file, "out.pcap");
    mem_file_init(&rt_file, "rt.pcap");
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < PSP_MASTER_KEY_LEN; j++) {
            ds_put_format(&keys, "%02x", fuzz_master_keys[i][j]);
        }
        ds_put_char(&keys, '\n');
    }
    mem_file_write(&keys_file, keys.string, keys.length);
    ds_destroy(&keys);

    devnull = fopen("/dev/null", "w");
    FUZZ_ASSERT(devnull);
    fuzz_sealer_init(&sealer, NULL);
    return 0;
}

/* Runs ovs-psp-pcap with the null-terminated 'args' and returns its exit
 * status.  Its messages go to /dev/null; sanitizer reports still go to
 * file descriptor 2. */
static int
run(const char *args[])
{
    char *argv[24];
    int argc = 0;

    argv[argc++] = CONST_CAST(char *, "ovs-psp-pcap");
    while (*args) {
        FUZZ_ASSERT(argc < ARRAY_SIZE(argv) - 1);
        argv[argc++] = CONST_CAST(char *, *args++);
    }
    argv[argc] = NULL;

    FILE *save = stderr;
    if (!fuzz_verbose()) {
        stderr = devnull;
    } else {
        for (int i = 0; i < argc; i++) {
            fprintf(stderr, "%s%s", argv[i], i < argc - 1 ? " " : "\n");
        }
    }
    optind = 0;                 /* getopt_long() starts afresh. */
    int status = ovs_psp_pcap_main(argc, argv);
    stderr = save;
    return status;
}

/* Writes a capture holding one Ethernet frame, 'len' bytes at 'frame', in
 * the classic pcap format with a snapshot length of 65535 (as Open vSwitch
 * writes them; ovs-psp-pcap raises it). */
static void
write_capture(struct mem_file *f, const uint8_t *frame, size_t len)
{
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t zone;
        uint32_t sigfigs, snaplen, linktype;
        uint32_t sec, usec, caplen, len;
    } hdr = { 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1, 1, 0, len, len };
    BUILD_ASSERT(sizeof hdr == 24 + 16);
    uint8_t *buf = xmalloc(sizeof hdr + len);

    memcpy(buf, &hdr, sizeof hdr);
    memcpy(buf + sizeof hdr, frame, len);
    mem_file_write(f, buf, sizeof hdr + len);
    free(buf);
}

/* Reads the capture that ovs-psp-pcap wrote to 'f' and returns its number of
 * frames, with the first in '*frame' (malloc()ed) and '*len'. */
static size_t
read_capture(struct mem_file *f, uint8_t **frame, size_t *len)
{
    struct stat st;
    size_t n = 0;

    *frame = NULL;
    *len = 0;
    FUZZ_ASSERT(!fstat(f->fd, &st));
    uint8_t *buf = xmalloc(st.st_size + 1);
    FUZZ_ASSERT(pread(f->fd, buf, st.st_size, 0) == st.st_size);
    FUZZ_ASSERT(st.st_size >= 24);
    for (size_t ofs = 24; ofs < st.st_size; n++) {
        uint32_t caplen;

        FUZZ_ASSERT(ofs + 16 <= st.st_size);
        memcpy(&caplen, buf + ofs + 8, 4);
        FUZZ_ASSERT(ofs + 16 + caplen <= st.st_size);
        if (!n) {
            *frame = xmemdup(buf + ofs + 16, caplen);
            *len = caplen;
        }
        ofs += 16 + caplen;
    }
    free(buf);
    return n;
}

/* The offset of the IP header of the Ethernet frame 'f', after any VLAN
 * tags, as the program finds it (the frame builder's own f->l3 is that of
 * the frame before FUZZ_F_L3 stripped its Ethernet header: here every
 * frame is read as Ethernet).  Sets '*ipv6'.  Only for a frame that the
 * program encrypted, so it has an IP header. */
static size_t
frame_l3(const struct fuzz_frame *f, bool *ipv6)
{
    const uint8_t *p = f->data;
    size_t ofs = ETH_HEADER_LEN;
    uint16_t type;

    FUZZ_ASSERT(f->len >= ETH_HEADER_LEN);
    type = (p[12] << 8) | p[13];
    while (type == ETH_TYPE_VLAN_8021Q || type == ETH_TYPE_VLAN_8021AD) {
        FUZZ_ASSERT(f->len >= ofs + VLAN_HEADER_LEN);
        type = (p[ofs + 2] << 8) | p[ofs + 3];
        ofs += VLAN_HEADER_LEN;
    }
    FUZZ_ASSERT(type == ETH_TYPE_IP || type == ETH_TYPE_IPV6);
    *ipv6 = type == ETH_TYPE_IPV6;
    return ofs;
}

/* Checks that 'out' is the frame 'f' as far as its IP length goes, but for
 * the IPv4 header checksum if 'transport'. */
static void
check_round_trip(const struct fuzz_frame *f, bool transport,
                 const uint8_t *out, size_t out_len)
{
    bool ipv6;
    size_t l3 = frame_l3(f, &ipv6);
    const uint8_t *ip = f->data + l3;
    size_t ip_len = (ipv6 ? IPV6_HEADER_LEN + ((ip[4] << 8) | ip[5])
                     : (ip[2] << 8) | ip[3]);

    FUZZ_ASSERT(out_len == l3 + ip_len);
    for (size_t i = 0; i < out_len; i++) {
        FUZZ_ASSERT(out[i] == f->data[i]
                    || (transport && !ipv6
                        && (i == l3 + 10 || i == l3 + 11)));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_frame f;
    uint8_t *out;
    size_t out_len;

    if (size < 2 || !fuzz_frame_build(data + 2, size - 2, &sealer, &f)) {
        return 0;
    }
    write_capture(&in_file, f.data, f.len);

    /* A frame from the wire, decrypted. */
    int status = run((const char *[]) {
        "decrypt", "--master-keys", keys_file.name,
        in_file.name, out_file.name, NULL });
    FUZZ_ASSERT(status == 0 || status == 1);
    FUZZ_ASSERT(read_capture(&out_file, &out, &out_len) == !status);
    free(out);

    /* The frame encrypted... */
    uint8_t opts = data[0];
    int version = opts & OPT_VERSION;
    bool tunnel = opts & OPT_TUNNEL;
    char version_arg[32], crypt_off_arg[32];
    snprintf(version_arg, sizeof version_arg, "--version=%d", version);
    snprintf(crypt_off_arg, sizeof crypt_off_arg, "--crypt-offset=%d",
             psp_version_is_gmac(version) ? 0 : data[1] & 63);
    const char *args[24] = {
        "encrypt", "--master-keys", keys_file.name,
        "--spi", opts & OPT_SPI1 ? "9a345678" : "12345678",
        version_arg, "--mode", tunnel ? "tunnel" : "transport",
        crypt_off_arg, "--iv", "1",
    };
    size_t n = 11;
    if (opts & OPT_VC) {
        args[n++] = "--vc=1234";
    }
    if (opts & OPT_SAMPLE) {
        args[n++] = "--sample";
        if (opts & OPT_DROP) {
            args[n++] = "--drop-after-sample";
        }
    }
    args[n++] = in_file.name;
    args[n++] = out_file.name;
    args[n] = NULL;
    status = run(args);
    FUZZ_ASSERT(status == 0 || status == 1);
    FUZZ_ASSERT(read_capture(&out_file, &out, &out_len) == !status);
    free(out);

    /* ...and decrypted back. */
    if (!status) {
        status = run((const char *[]) {
            "decrypt", "--master-keys", keys_file.name,
            out_file.name, rt_file.name, NULL });
        FUZZ_ASSERT(status == 0);
        FUZZ_ASSERT(read_capture(&rt_file, &out, &out_len) == 1);
        check_round_trip(&f, !tunnel, out, out_len);
        free(out);
    }
    fuzz_frame_destroy(&f);
    return 0;
}
