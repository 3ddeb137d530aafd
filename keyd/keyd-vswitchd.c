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

/* The local channel to ovs-vswitchd: its unixctl socket, which only root
 * may connect to.  Receive keys are read with "psp/rx-key" and transmit SAs
 * installed with "psp/add-sa" and removed with "psp/del-sa", so that no key
 * passes through the database. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "keyd.h"

#include "daemon.h"
#include "hash.h"
#include "dirs.h"
#include "jsonrpc.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "psp.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(keyd_vswitchd);

static char *target;            /* As given: a name or a socket path. */
static struct jsonrpc *client;
static uint64_t seen_id;        /* ovs-vswitchd last seen, or 0. */
static bool reconnected;        /* A command had to connect again. */
static long long int next_check;

void
keyd_vswitchd_init(const char *target_)
{
    free(target);
    target = xstrdup(target_);
}

/* The socket of 'target': itself if it is a path, else the one of the
 * daemon whose pidfile is in the run directory (as ovs-appctl finds it).
 * Stores in '*idp' what tells this ovs-vswitchd from a restarted one (0 if
 * there is none): its pid, or for a socket named by its path, which a
 * restarted ovs-vswitchd makes anew, the socket's inode and change time
 * (an inode number alone may be reused at once). */
static char *
socket_path(uint64_t *idp)
{
    *idp = 0;
    if (target[0] == '/') {
        struct stat st;
        if (stat(target, &st)) {
            return NULL;
        }
        *idp = hash_3words(st.st_ino, st.st_ctim.tv_sec,
                           st.st_ctim.tv_nsec) | 1;
        return xstrdup(target);
    }

    char *pidfile = xasprintf("%s/%s.pid", ovs_rundir(), target);
    pid_t pid = read_pidfile(pidfile);
    free(pidfile);
    if (pid <= 0) {
        return NULL;
    }
    *idp = pid;
    return xasprintf("%s/%s.%ld.ctl", ovs_rundir(), target, (long int) pid);
}

static void
disconnect(void)
{
    if (client) {
        jsonrpc_close(client);
        client = NULL;
    }
}

static int
connect_vswitchd(void)
{
    uint64_t id;
    char *path = socket_path(&id);

    if (!path) {
        return ENOENT;
    }
    disconnect();
    int error = unixctl_client_create(path, &client);
    free(path);
    return error;
}

/* Returns true if ovs-vswitchd has (re)started since the last call: its
 * transmit SAs must then be installed again.  Checks once a second, and
 * whenever a command found the connection broken. */
bool
keyd_vswitchd_run(void)
{
    long long int now = time_msec();
    uint64_t id;

    if (now < next_check && !reconnected) {
        return false;
    }
    next_check = now + 1000;

    char *path = socket_path(&id);
    free(path);
    if (id && (id != seen_id || reconnected)) {
        bool restarted = seen_id != 0;
        if (!connect_vswitchd()) {
            VLOG_INFO("%s ovs-vswitchd (%s %"PRIu64")",
                      restarted ? "reconnected to restarted" : "connected to",
                      target[0] == '/' ? "socket" : "pid", id);
            seen_id = id;
            reconnected = false;
            return true;
        }
    }
    return false;
}

/* Runs 'cmd' with 'argv' in ovs-vswitchd.  Returns 0 and '*resultp', or an
 * errno value and '*errorp' (unless null).  Tries to reconnect once. */
static int
transact(const char *cmd, int argc, char *argv[], char **resultp,
         char **errorp)
{
    char *result = NULL, *err = NULL;
    int error = 0;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (!client) {
            error = connect_vswitchd();
            if (error) {
                break;
            }
        }
        error = unixctl_client_transact(client, cmd, argc, argv,
                                        &result, &err);
        if (!error) {
            break;
        }
        /* ovs-vswitchd went away, perhaps to restart: once it is back,
         * keyd_vswitchd_run() has the transmit SAs installed again. */
        disconnect();
        reconnected = true;
    }
    if (error) {
        if (errorp) {
            *errorp = xasprintf("cannot reach ovs-vswitchd: %s",
                                ovs_strerror(error));
        }
        return error;
    }
    if (err) {
        size_t n = strlen(err);
        while (n && err[n - 1] == '\n') {
            err[--n] = '\0';
        }
        if (errorp) {
            *errorp = err;
        } else {
            free(err);
        }
        if (result) {
            explicit_bzero(result, strlen(result));
            free(result);
        }
        return EINVAL;
    }
    *resultp = result ? result : xstrdup("");
    return 0;
}

static bool
parse_hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexit_value(s[2 * i]);
        int lo = hi < 0 ? -1 : hexit_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = hi << 4 | lo;
    }
    return true;
}

/* Reads the key of receive SPI 'spi', of 'version', into 'key' (at least
 * KEYD_MAX_KEY_LEN bytes) and its length into '*key_len'. */
int
keyd_vswitchd_rx_key(uint32_t spi, int version, uint8_t *key,
                     size_t *key_len, char **errorp)
{
    char spi_s[16];
    char *argv[] = { spi_s };
    char *result;

    snprintf(spi_s, sizeof spi_s, "%"PRIu32, spi);
    int error = transact("psp/rx-key", 1, argv, &result, errorp);
    if (error) {
        return error;
    }

    size_t len = psp_version_key_len(version);
    size_t n = strcspn(result, "\n");
    if (n != 2 * len || !parse_hex(result, key, len)) {
        if (errorp) {
            *errorp = xstrdup("ovs-vswitchd replied no key of the "
                              "right length");
        }
        error = EPROTO;
    } else {
        *key_len = len;
    }
    explicit_bzero(result, strlen(result));
    free(result);
    return error;
}

int
keyd_vswitchd_add_sa(const struct keyd_peer *peer,
                     const struct keyd_assoc *a, char **errorp)
{
    char assoc_s[24], spi_s[16], version_s[4];
    char hex[2 * KEYD_MAX_KEY_LEN + 1];
    char *argv[] = { peer->address, assoc_s, spi_s, version_s, hex };
    char *result;

    snprintf(assoc_s, sizeof assoc_s, "%"PRIu64, a->assoc);
    snprintf(spi_s, sizeof spi_s, "%"PRIx32, a->tx_spi);
    snprintf(version_s, sizeof version_s, "%d", a->version);
    for (size_t i = 0; i < a->tx_key_len; i++) {
        snprintf(&hex[2 * i], 3, "%02x", a->tx_key[i]);
    }
    int error = transact("psp/add-sa", 5, argv, &result, errorp);
    explicit_bzero(hex, sizeof hex);
    if (!error) {
        free(result);
    }
    return error;
}

int
keyd_vswitchd_del_sa(const struct keyd_peer *peer, uint64_t assoc,
                     char **errorp)
{
    char assoc_s[24];
    char *argv[] = { peer->address, assoc_s };
    char *result;

    snprintf(assoc_s, sizeof assoc_s, "%"PRIu64, assoc);
    int error = transact("psp/del-sa", 2, argv, &result, errorp);
    if (!error) {
        free(result);
    }
    return error;
}
