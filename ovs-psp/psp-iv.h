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

#ifndef PSP_IV_H
#define PSP_IV_H 1

/* The IVs of a process's transmit SAs: where each SA's IV counter starts
 * and how far it may go, so that no GCM nonce (SPI and IV) repeats under
 * one key, across re-installs and restarts, whatever the wall clock does.
 *
 * Within one SA, an atomic counter never gives an IV twice (struct
 * psp_iv_gen), and psp-tx-sa.c never installs one key for two SAs at once.
 * What is left is a key installed again: re-applied from the database, or
 * in a restarted process.  An IV space ("struct psp_ivs") keeps:
 *
 *   - a floor: no counter starts below it.  It rises past the last IV of
 *     every counter that stops (an SA removed, replaced or stale), and, when
 *     the process starts, to the mark that the previous one left.
 *
 *   - a mark, kept in a state file: every IV this process gave is below
 *     it, so the next process starts its floor there.  An IV at or past the
 *     mark is refused (PSP_E_TX_IV_LIMIT), never used.  The mark moves
 *     ahead in blocks of PSP_IVS_BLOCK, written and synced to disk before
 *     the IVs it covers are given: by a thread of its own, woken when IVs
 *     reach the second half of a block, or every minute, so that the packet
 *     path does no I/O and reads two words.
 *
 * A new counter starts at the larger of the floor and the wall clock in
 * nanoseconds: the clock is only a hint that makes IVs read as times (and
 * keeps them apart if the state file is lost), never what uniqueness rests
 * on.  A clock stepped back starts new counters at the floor; a clock
 * stepped forward moves the mark ahead.
 *
 * The state file holds no secret (an IV is on the wire in every packet).
 * It is written 0600, as ovs-vswitchd's own: one who can lower or delete it
 * can make IVs repeat after the next restart. */

#include <stdbool.h>
#include <stdint.h>

#include "openvswitch/compiler.h"
#include "ovs-atomic.h"
#include "psp.h"

struct ds;

/* How far the mark moves ahead at a time: 10 minutes of a clock in ns. */
#define PSP_IVS_BLOCK (UINT64_C(600) * 1000 * 1000 * 1000)

struct psp_ivs {
    /* Read by the packet path. */
    atomic_uint64_t soft_limit;     /* IVs below: nothing to do. */
    atomic_uint64_t hard_limit;     /* IVs below: given, but more are
                                     * wanted; at or past: refused. */

    /* Written by the packet path past the soft limit. */
    atomic_uint64_t wanted;         /* Highest IV given past it. */
    atomic_bool asked;              /* The reserving thread was woken. */

    struct psp_ivs_private *p;      /* The rest. */
};

struct psp_ivs *psp_ivs_create(void);
void psp_ivs_destroy(struct psp_ivs *);

/* Keeps the mark of 'ivs' in the file 'path': takes the mark a previous
 * process left there as the floor, and reserves the first block, before it
 * returns.  Returns false if it could not write the file: then every IV is
 * refused until it can.  If 'thread', starts the thread that moves the mark
 * ahead; otherwise psp_ivs_run() must be called. */
bool psp_ivs_set_state_file(struct psp_ivs *, const char *path, bool thread);

/* The first IV of a new counter.  May write the state file, when the clock
 * has gone past what is reserved. */
uint64_t psp_ivs_start(struct psp_ivs *);

/* A counter stopped: 'next' is the first IV it never gave (0: nothing to
 * do). */
void psp_ivs_retired(struct psp_ivs *, uint64_t next);

/* Moves the mark ahead if IVs, or the clock, come near it.  Returns false
 * if that failed. */
bool psp_ivs_run(struct psp_ivs *);

/* For tests: moves the clock that 'ivs' reads by 'offset' ns from the wall
 * clock (negative: back). */
void psp_ivs_set_clock_offset(struct psp_ivs *, int64_t offset);

/* Appends the floor, the mark and where it is kept to 's'. */
void psp_ivs_format(struct psp_ivs *, struct ds *s);

enum psp_error psp_ivs_take__(struct psp_ivs *, enum psp_error,
                              uint64_t iv);

/* Takes the next IV of 'gen' into '*iv' and returns PSP_OK if it may be
 * used, or the reason it may not (see psp_iv_gen_take()). */
static inline enum psp_error
psp_ivs_take(struct psp_ivs *ivs, struct psp_iv_gen *gen, uint64_t *iv)
{
    uint64_t soft;

    atomic_read_relaxed(&ivs->soft_limit, &soft);
    enum psp_error error = psp_iv_gen_take(gen, soft, iv);
    return OVS_LIKELY(!error) ? PSP_OK : psp_ivs_take__(ivs, error, *iv);
}

#endif /* psp-iv.h */
