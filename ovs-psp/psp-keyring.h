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

#ifndef PSP_KEYRING_H
#define PSP_KEYRING_H 1

/* The master-key state (struct psp_mkeys_state: both master keys and the
 * SPI allocation state) in a Linux kernel keyring, so that a restarted
 * ovs-vswitchd takes it back (PSP:key_store=keyring): a "user" key in the
 * user keyring of the process's user (root's, for ovs-vswitchd), readable
 * and writable only by its possessor and that user.  Kernel memory is
 * never swapped or written to disk, and a reboot loses it, as PSP wants.
 *
 * 'name' is the key's description: "ovs-psp:" and the UUID of the
 * database's Open_vSwitch row, so that two ovs-vswitchd on one host (each
 * with its database) never share a key.  Nothing here logs.  Each function
 * returns 0 or a positive errno value: ENOSYS or EPERM where the keyring
 * cannot be used (e.g. under seccomp), ENOKEY if there is no such key,
 * EINVAL if the key does not hold a master-key state. */

struct psp_mkeys_state;

/* The prefix of the keys' descriptions. */
#define PSP_KEYRING_PREFIX "ovs-psp:"

/* Writes 'st' to key 'name', creating it or replacing its contents. */
int psp_keyring_store(const char *name, const struct psp_mkeys_state *st);

/* Reads key 'name' into '*st' (all-zeros on failure; wipe it after use
 * with psp_mkeys_state_wipe()). */
int psp_keyring_load(const char *name, struct psp_mkeys_state *st);

/* Unlinks key 'name' from the keyring (the kernel then destroys it). */
int psp_keyring_remove(const char *name);

#endif /* psp-keyring.h */
