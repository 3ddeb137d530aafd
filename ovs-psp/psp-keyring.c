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

#include <config.h>

#include "psp-keyring.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/keyctl.h>
#include <sys/syscall.h>
#endif

#include "openvswitch/compiler.h"
#include "psp-bytes.h"
#include "psp.h"

/* The kernel's key management, through raw system calls (no libkeyutils).
 * The master-key state is one "user" key whose payload is:
 *
 *     magic "OVSPSPM1"                            8 bytes
 *     active generation, rotations                8 bytes each
 *     for slot 0, then slot 1:
 *         generation                              8 bytes
 *         master key                              PSP_MASTER_KEY_LEN bytes
 *         spi_first, n_alloc, next                4 bytes each
 *         flags: older_allocated 1, wrapped 2,    1 byte
 *                slot_wrapped 4
 *
 * integers big-endian.  Every buffer that holds it is wiped. */

#define MAGIC "OVSPSPM1"
#define MAGIC_LEN 8
#define SLOT_LEN (8 + PSP_MASTER_KEY_LEN + 3 * 4 + 1)
#define PAYLOAD_LEN (MAGIC_LEN + 2 * 8 + 2 * SLOT_LEN)

/* The key's permissions: view, read, write, search and setattr for its
 * possessor and its user; nothing for group and other (not even view).
 * (<keyutils.h>'s KEY_POS_* and KEY_USR_*, which <linux/keyctl.h> lacks.) */
#define PERM_BITS 0x2f                  /* View, read, write, search,
                                         * setattr; not link. */
#define KEY_PERM ((PERM_BITS << 24) | (PERM_BITS << 16))

#if defined(__linux__) && defined(SYS_add_key) && defined(SYS_keyctl)
static void
encode(const struct psp_mkeys_state *st, uint8_t *p)
{
    memcpy(p, MAGIC, MAGIC_LEN);
    p += MAGIC_LEN;
    psp_put_be64(p, st->active);
    psp_put_be64(p + 8, st->rotations);
    p += 16;
    for (int i = 0; i < 2; i++) {
        const struct psp_mkeys_slot_state *ss = &st->slots[i];

        psp_put_be64(p, ss->gen);
        p += 8;
        memcpy(p, ss->key, PSP_MASTER_KEY_LEN);
        p += PSP_MASTER_KEY_LEN;
        psp_put_be32(p, ss->spi_first);
        psp_put_be32(p + 4, ss->n_alloc);
        psp_put_be32(p + 8, ss->next);
        p[12] = (ss->older_allocated | ss->wrapped << 1
                 | ss->slot_wrapped << 2);
        p += 13;
    }
}

static bool
decode(const uint8_t *p, struct psp_mkeys_state *st)
{
    if (memcmp(p, MAGIC, MAGIC_LEN)) {
        return false;
    }
    p += MAGIC_LEN;
    st->active = psp_get_be64(p);
    st->rotations = psp_get_be64(p + 8);
    p += 16;
    for (int i = 0; i < 2; i++) {
        struct psp_mkeys_slot_state *ss = &st->slots[i];

        ss->gen = psp_get_be64(p);
        p += 8;
        memcpy(ss->key, p, PSP_MASTER_KEY_LEN);
        p += PSP_MASTER_KEY_LEN;
        ss->spi_first = psp_get_be32(p);
        ss->n_alloc = psp_get_be32(p + 4);
        ss->next = psp_get_be32(p + 8);
        if (p[12] & ~7) {
            return false;
        }
        ss->older_allocated = p[12] & 1;
        ss->wrapped = (p[12] >> 1) & 1;
        ss->slot_wrapped = (p[12] >> 2) & 1;
        p += 13;
    }
    return true;
}

/* The serial number of key 'name' in the user keyring, or -1 with errno
 * set. */
static long
find_key(const char *name)
{
    return syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user",
                   name, 0);
}

/* Makes the keys of the user keyring possessed by this process, as
 * setting a key's permissions requires, by linking the user keyring into
 * the process's session keyring.  A process whose session keyring is the
 * user's default one possesses them already; one that runs with a
 * private session keyring (a systemd service, by default) does not. */
static void
possess_user_keyring(void)
{
    static bool done;

    if (!done) {
        syscall(SYS_keyctl, KEYCTL_LINK, KEY_SPEC_USER_KEYRING,
                KEY_SPEC_SESSION_KEYRING);
        done = true;
    }
}

int
psp_keyring_store(const char *name, const struct psp_mkeys_state *st)
{
    uint8_t payload[PAYLOAD_LEN];
    long serial;
    int error = 0;

    possess_user_keyring();

    /* add_key() replaces the payload of the user keyring's key of that
     * type and description, if there is one.  Its permissions are set
     * every time, lest someone created it first with wider ones. */
    encode(st, payload);
    serial = syscall(SYS_add_key, "user", name, payload, sizeof payload,
                     KEY_SPEC_USER_KEYRING);
    if (serial < 0) {
        error = errno;
    } else if (syscall(SYS_keyctl, KEYCTL_SETPERM, serial, KEY_PERM) < 0) {
        /* A key that others may read must not hold the keys. */
        error = errno;
        syscall(SYS_keyctl, KEYCTL_UNLINK, serial, KEY_SPEC_USER_KEYRING);
    }
    explicit_bzero(payload, sizeof payload);
    return error;
}

int
psp_keyring_load(const char *name, struct psp_mkeys_state *st)
{
    uint8_t payload[PAYLOAD_LEN + 1];
    int error = 0;

    memset(st, 0, sizeof *st);
    long serial = find_key(name);
    if (serial < 0) {
        return errno;
    }

    /* KEYCTL_READ returns the payload's size, whatever it copied: a size
     * that is not the expected one is some other key. */
    long n = syscall(SYS_keyctl, KEYCTL_READ, serial, payload,
                     sizeof payload);
    if (n < 0) {
        error = errno;
    } else if (n != PAYLOAD_LEN || !decode(payload, st)) {
        error = EINVAL;
    }
    explicit_bzero(payload, sizeof payload);
    if (error) {
        psp_mkeys_state_wipe(st);
    }
    return error;
}

int
psp_keyring_remove(const char *name)
{
    long serial = find_key(name);

    if (serial < 0
        || syscall(SYS_keyctl, KEYCTL_UNLINK, serial,
                   KEY_SPEC_USER_KEYRING) < 0) {
        return errno;
    }
    return 0;
}
#else  /* No kernel keyring. */
int
psp_keyring_store(const char *name OVS_UNUSED,
                  const struct psp_mkeys_state *st OVS_UNUSED)
{
    return ENOSYS;
}

int
psp_keyring_load(const char *name OVS_UNUSED, struct psp_mkeys_state *st)
{
    memset(st, 0, sizeof *st);
    return ENOSYS;
}

int
psp_keyring_remove(const char *name OVS_UNUSED)
{
    return ENOSYS;
}
#endif
