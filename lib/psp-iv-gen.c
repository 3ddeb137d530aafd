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

/* IV generators: the 64-bit counters that give each packet sent with a key
 * its IV, and their retirement.
 *
 * Not here: where a generator starts and how far it may go in ovs-vswitchd,
 * across restarts (ovs-psp/psp-iv.c, the IV state file). */

#include "psp.h"

#include <time.h>

/* 'gen->next' is a plain uint64_t (see psp.h), so these use the compiler's
 * __atomic builtins, which GCC and clang both have, rather than C11 atomic
 * types. */

void
psp_iv_gen_init_at(struct psp_iv_gen *gen, uint64_t first)
{
    __atomic_store_n(&gen->next, first, __ATOMIC_RELAXED);
}

void
psp_iv_gen_init(struct psp_iv_gen *gen)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
    psp_iv_gen_init_at(gen, ns ? ns : 1);
}

uint64_t
psp_iv_gen_next(struct psp_iv_gen *gen)
{
    return __atomic_fetch_add(&gen->next, 1, __ATOMIC_RELAXED);
}

/* Returns the IV that psp_iv_gen_next() would return now. */
uint64_t
psp_iv_gen_peek(const struct psp_iv_gen *gen)
{
    return __atomic_load_n(&gen->next, __ATOMIC_RELAXED);
}

enum psp_error
psp_iv_refused(uint64_t iv)
{
    return (iv >= PSP_IV_STALE ? PSP_E_SA_STALE
            : iv >= PSP_IV_RETIRED ? PSP_E_NO_SA
            : PSP_E_TX_IV_LIMIT);
}

/* The slow path of psp_iv_gen_take(): 'iv', just taken from 'gen', is
 * refused.  A retired generator still counts every take, and a stale SA
 * that stays installed is taken from for every packet of its flows: once
 * half of its 2^40 values are used up, its counter goes back to where it
 * was retired, so that it never wraps around to IVs that a limit allows
 * (or into the other retired range). */
enum psp_error
psp_iv_gen_refuse(struct psp_iv_gen *gen, uint64_t iv)
{
    enum psp_error error = psp_iv_refused(iv);

    if (error != PSP_E_TX_IV_LIMIT) {
        uint64_t base = (error == PSP_E_SA_STALE ? PSP_IV_STALE
                         : PSP_IV_RETIRED);
        if (iv - base >= UINT64_C(1) << 39) {
            /* Every value from 'base' on is refused alike, so a take that
             * runs between the fetch-add and this store loses nothing. */
            __atomic_store_n(&gen->next, base, __ATOMIC_RELAXED);
        }
    }
    return error;
}

bool
psp_iv_gen_is_stale(const struct psp_iv_gen *gen)
{
    return psp_iv_refused(psp_iv_gen_peek(gen)) == PSP_E_SA_STALE;
}

uint64_t
psp_iv_gen_retire(struct psp_iv_gen *gen, bool stale)
{
    /* An exchange, not a load and a store: a thread may take an IV between
     * the two, and the value returned must count it. */
    uint64_t next = __atomic_exchange_n(&gen->next,
                                        stale ? PSP_IV_STALE : PSP_IV_RETIRED,
                                        __ATOMIC_ACQ_REL);
    if (psp_iv_is_retired(next)) {
        /* Retired before: keep what it was retired as. */
        __atomic_store_n(&gen->next, next, __ATOMIC_RELEASE);
        return 0;
    }
    return next;
}
