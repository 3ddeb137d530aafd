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

/* What the transmit SAs (psp-tx-sa.c) and the master keys and receive SPI
 * bindings (psp-rx-sa.c) share: their lock and their initialization, and
 * the state that each thread of the packet path keeps (cipher contexts,
 * cache of SAs, counters), with the counters of all threads.  No SA, key
 * or binding is here. */

#include <config.h>

#include "psp-sa.h"

#include <string.h>

#include "openvswitch/list.h"
#include "ovs-thread.h"
#include "psp-sa-private.h"
#include "random.h"
#include "util.h"

struct ovs_mutex psp_dp_mutex = OVS_MUTEX_INITIALIZER;

static uint32_t entropy_secret;

static ovsthread_key_t thread_key;
static struct ovs_list threads OVS_GUARDED_BY(psp_dp_mutex);
static struct psp_stats exited_stats OVS_GUARDED_BY(psp_dp_mutex);

static void
psp_dp_thread_destroy(void *t_)
{
    struct psp_dp_thread *t = t_;

    ovs_mutex_lock(&psp_dp_mutex);
    ovs_list_remove(&t->list_node);
    psp_stats_add(&exited_stats, &t->stats);
    ovs_mutex_unlock(&psp_dp_mutex);
    psp_crypto_destroy(t->cc);
    free(t);
}

void
psp_dp_init(void)
{
    static struct ovsthread_once once = OVSTHREAD_ONCE_INITIALIZER;

    if (ovsthread_once_start(&once)) {
        psp_tx_sa_init();
        ovs_list_init(&threads);
        ovsthread_key_create(&thread_key, psp_dp_thread_destroy);
        psp_rx_sa_init();
        entropy_secret = random_uint32();
        ovsthread_once_done(&once);
    }
}

/* The calling thread's, found without a call on the per-packet path; the key
 * ('thread_key') is there for its destructor. */
DEFINE_STATIC_PER_THREAD_DATA(struct psp_dp_thread *, cur_thread, NULL);

struct psp_dp_thread *
psp_dp_thread_get(void)
{
    struct psp_dp_thread **tp = cur_thread_get();
    struct psp_dp_thread *t = *tp;

    if (OVS_UNLIKELY(!t)) {
        t = xzalloc(sizeof *t);
        t->cc = psp_crypto_create(4096);
        if (!t->cc) {
            ovs_abort(0, "PSP: cannot create cipher contexts");
        }
        ovs_mutex_lock(&psp_dp_mutex);
        ovs_list_push_back(&threads, &t->list_node);
        ovs_mutex_unlock(&psp_dp_mutex);
        ovsthread_setspecific(thread_key, t);
        *tp = t;
    }
    return t;
}

/* The calling thread's state, for a packet. */
struct psp_dp_thread *
psp_dp_packet_thread(void)
{
    psp_dp_init();
    return psp_dp_thread_get();
}

uint32_t
psp_sa_entropy_secret(void)
{
    return entropy_secret;
}

void
psp_dp_get_stats(struct psp_stats *stats)
{
    struct psp_dp_thread *t;

    psp_dp_init();
    memset(stats, 0, sizeof *stats);
    ovs_mutex_lock(&psp_dp_mutex);
    psp_stats_add(stats, &exited_stats);
    LIST_FOR_EACH (t, list_node, &threads) {
        psp_stats_add(stats, &t->stats);
    }
    ovs_mutex_unlock(&psp_dp_mutex);
    stats->key_rotations = psp_mkeys_rotations(psp_rx_mkeys());
}
