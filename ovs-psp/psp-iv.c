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

#include "psp-iv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovs-thread.h"
#include "seq.h"
#include "socket-util.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(psp_iv);

/* How often the reserving thread looks at the clock, in ms, besides when
 * the packet path wakes it. */
#define PSP_IVS_CHECK_MSEC 60000

struct psp_ivs_private {
    /* 'mutex' is never held across a write of the state file, which can
     * take a while (two fsyncs): the RCU thread takes it to free SAs
     * (psp_ivs_retired()).  'write_mutex' keeps the writes in order and is
     * taken before 'mutex'. */
    struct ovs_mutex write_mutex;
    uint64_t written;               /* Mark in the file, under write_mutex. */

    struct ovs_mutex mutex;
    char *path OVS_GUARDED;         /* State file, or null. */
    uint64_t floor OVS_GUARDED;     /* No counter starts below. */
    uint64_t reserved OVS_GUARDED;  /* The mark in the state file. */
    bool failing OVS_GUARDED;       /* The last write failed. */
    atomic_int64_t clock_offset;    /* Tests: ns added to the clock. */
    struct seq *wake;               /* Wakes the reserving thread. */
    bool thread;                    /* It was started. */
};

static uint64_t
ivs_clock(const struct psp_ivs *ivs)
{
    struct timespec ts;
    int64_t offset;

    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_read_relaxed(&CONST_CAST(struct psp_ivs *, ivs)->p->clock_offset,
                        &offset);

    int64_t ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec + offset;
    return ns > 0 ? ns : 0;
}

/* Publishes 'soft' and 'hard' as the packet path's limits. */
static void
ivs_set_limits(struct psp_ivs *ivs, uint64_t soft, uint64_t hard)
{
    /* Hard first: no packet may see a soft limit past the hard one. */
    if (hard >= soft) {
        atomic_store_explicit(&ivs->hard_limit, hard, memory_order_release);
        atomic_store_explicit(&ivs->soft_limit, soft, memory_order_release);
    } else {
        atomic_store_explicit(&ivs->soft_limit, soft, memory_order_release);
        atomic_store_explicit(&ivs->hard_limit, hard, memory_order_release);
    }
}

struct psp_ivs *
psp_ivs_create(void)
{
    struct psp_ivs *ivs = xzalloc(sizeof *ivs);

    ivs->p = xzalloc(sizeof *ivs->p);
    ovs_mutex_init(&ivs->p->write_mutex);
    ovs_mutex_init(&ivs->p->mutex);
    atomic_init(&ivs->p->clock_offset, 0);
    ivs->p->wake = seq_create();

    /* Without a state file, nothing limits IVs but the end of their
     * space. */
    atomic_init(&ivs->soft_limit, PSP_IV_MAX);
    atomic_init(&ivs->hard_limit, PSP_IV_MAX);
    atomic_init(&ivs->wanted, 0);
    atomic_init(&ivs->asked, false);
    return ivs;
}

void
psp_ivs_destroy(struct psp_ivs *ivs)
{
    if (ivs) {
        ovs_assert(!ivs->p->thread);
        seq_destroy(ivs->p->wake);
        ovs_mutex_lock(&ivs->p->mutex);
        free(ivs->p->path);
        ovs_mutex_unlock(&ivs->p->mutex);
        ovs_mutex_destroy(&ivs->p->mutex);
        ovs_mutex_destroy(&ivs->p->write_mutex);
        free(ivs->p);
        free(ivs);
    }
}

/* Reads the mark from 'path' into '*mark'.  Returns 0, or ENOENT if there
 * is no file, or another errno value if it cannot be read or makes no
 * sense. */
static int
read_state(const char *path, uint64_t *mark)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    char line[128];
    bool found = false;
    struct stat st;

    *mark = 0;
    FILE *file = fopen(path, "r");
    if (!file) {
        return errno;
    }
    if (!fstat(fileno(file), &st) && (st.st_mode & (S_IWGRP | S_IWOTH))) {
        VLOG_WARN_RL(&rl, "%s: writable by others than its owner, who could "
                     "make PSP IVs repeat after a restart", path);
    }
    while (fgets(line, sizeof line, file)) {
        unsigned long long int x;
        int n = 0;

        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (sscanf(line, "iv_reserved=%llu%n", &x, &n) == 1
            && (line[n] == '\n' || !line[n]) && x <= PSP_IV_MAX) {
            *mark = MAX(*mark, x);
            found = true;
        } else {
            found = false;
            break;
        }
    }
    int error = ferror(file) ? EIO : found ? 0 : EINVAL;
    fclose(file);
    return error;
}

/* Writes 'mark' to 'path', durably: to a new file, synced, renamed over the
 * old one, and the directory synced.  Returns 0 or an errno value. */
static int
write_state(const char *path, uint64_t mark)
{
    char *tmp = xasprintf("%s.tmp", path);
    char *text = xasprintf("# ovs-vswitchd: every PSP IV it gave is below "
                           "this mark, and the next\n"
                           "# ovs-vswitchd starts there.  Not secret; do "
                           "not lower or delete it.\n"
                           "iv_reserved=%"PRIu64"\n", mark);
    size_t len = strlen(text);
    int error = 0;

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = errno;
        goto out;
    }
    if (write(fd, text, len) != len) {
        error = errno ? errno : EIO;
    } else if (fsync(fd)) {
        error = errno;
    }
    if (close(fd) && !error) {
        error = errno;
    }
    if (!error && rename(tmp, path)) {
        error = errno;
    }
    if (error) {
        unlink(tmp);
    } else {
        error = fsync_parent_dir(path);
    }

out:
    free(text);
    free(tmp);
    return error;
}

/* Moves the mark to a block past 'from', writing it first.  Returns false if
 * the state file could not be written. */
static bool
ivs_reserve(struct psp_ivs *ivs, uint64_t from)
    OVS_REQUIRES(ivs->p->mutex)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
    struct psp_ivs_private *p = ivs->p;
    uint64_t mark = (from < PSP_IV_MAX - PSP_IVS_BLOCK
                     ? from + PSP_IVS_BLOCK : PSP_IV_MAX);

    if (mark <= p->reserved) {
        return true;
    }

    /* Written without 'mutex'; the file's mark never goes back, whatever
     * order the writers come in. */
    char *path = xstrdup(p->path);
    ovs_mutex_unlock(&ivs->p->mutex);
    ovs_mutex_lock(&p->write_mutex);
    int error = mark > p->written ? write_state(path, mark) : 0;
    if (!error) {
        p->written = MAX(p->written, mark);
    }
    ovs_mutex_unlock(&p->write_mutex);
    free(path);
    ovs_mutex_lock(&ivs->p->mutex);

    if (mark <= p->reserved) {
        /* Another writer went further meanwhile. */
        return true;
    }
    if (error) {
        VLOG_ERR_RL(&rl, "%s: cannot keep the PSP IV mark (%s): transmit SAs "
                    "stop at IV %"PRIu64" rather than risk repeating one",
                    p->path, ovs_strerror(error), p->reserved);
        p->failing = true;
        return false;
    }
    if (p->failing) {
        VLOG_INFO("%s: PSP IV mark kept again", p->path);
        p->failing = false;
    }
    VLOG_DBG("%s: PSP IVs reserved up to %"PRIu64, p->path, mark);
    p->reserved = mark;
    ivs_set_limits(ivs, mark > PSP_IVS_BLOCK / 2 ? mark - PSP_IVS_BLOCK / 2
                                                : 0,
                   mark);
    return true;
}

/* Whether the mark must move: the clock, the floor, or IVs given are within
 * half a block of it. */
static bool
ivs_need(const struct psp_ivs *ivs, uint64_t *from)
    OVS_REQUIRES(ivs->p->mutex)
{
    uint64_t wanted;

    atomic_read_relaxed(&CONST_CAST(struct psp_ivs *, ivs)->wanted, &wanted);
    *from = MAX(MAX(ivs_clock(ivs), ivs->p->floor), wanted);
    return (ivs->p->path && ivs->p->reserved < PSP_IV_MAX
            && *from >= ivs->p->reserved - MIN(ivs->p->reserved,
                                               PSP_IVS_BLOCK / 2));
}

bool
psp_ivs_run(struct psp_ivs *ivs)
{
    bool ok = true;
    uint64_t from;

    ovs_mutex_lock(&ivs->p->mutex);
    atomic_store_relaxed(&ivs->asked, false);
    if (ivs_need(ivs, &from)) {
        ok = ivs_reserve(ivs, from);
    }
    ovs_mutex_unlock(&ivs->p->mutex);
    return ok;
}

static void *
ivs_thread_main(void *ivs_)
{
    struct psp_ivs *ivs = ivs_;

    for (;;) {
        uint64_t seq = seq_read(ivs->p->wake);

        psp_ivs_run(ivs);
        seq_wait(ivs->p->wake, seq);
        poll_timer_wait(PSP_IVS_CHECK_MSEC);
        poll_block();
    }
    return NULL;
}

bool
psp_ivs_set_state_file(struct psp_ivs *ivs, const char *path, bool thread)
{
    struct psp_ivs_private *p = ivs->p;
    uint64_t mark;

    /* A new file: what was written to another says nothing of it. */
    ovs_mutex_lock(&p->write_mutex);
    p->written = 0;
    ovs_mutex_unlock(&p->write_mutex);

    ovs_mutex_lock(&ivs->p->mutex);
    int error = read_state(path, &mark);
    uint64_t now = ivs_clock(ivs);
    if (error == ENOENT) {
        /* The first run on this host, or a lost file: nothing to say at
         * start-up, when this goes to the console too. */
        VLOG_DBG("%s: no PSP IV mark: IVs start from the clock", path);
    } else if (error) {
        VLOG_WARN("%s: cannot read the PSP IV mark (%s): IVs start from the "
                  "clock", path, ovs_strerror(error));
    } else {
        VLOG_INFO("%s: PSP IVs start past %"PRIu64", the mark of the "
                  "previous run%s", path, mark,
                  now < mark ? " (the clock is behind it)" : "");
    }
    p->floor = MAX(p->floor, mark);
    free(p->path);
    p->path = xstrdup(path);

    /* Until the first block is written, nothing may be given: IVs below the
     * mark read may have been used. */
    p->reserved = p->floor;
    ivs_set_limits(ivs, p->floor, p->floor);
    bool ok = ivs_reserve(ivs, MAX(now, p->floor));
    ovs_mutex_unlock(&ivs->p->mutex);

    if (thread && !p->thread) {
        p->thread = true;
        ovs_thread_create("psp_iv", ivs_thread_main, ivs);
    }
    return ok;
}

uint64_t
psp_ivs_start(struct psp_ivs *ivs)
{
    uint64_t from;

    ovs_mutex_lock(&ivs->p->mutex);
    uint64_t start = MAX(ivs->p->floor, ivs_clock(ivs));
    if (ivs_need(ivs, &from)) {
        ivs_reserve(ivs, MAX(from, start));
    }
    ovs_mutex_unlock(&ivs->p->mutex);
    return MIN(start, PSP_IV_MAX);
}

void
psp_ivs_retired(struct psp_ivs *ivs, uint64_t next)
{
    ovs_mutex_lock(&ivs->p->mutex);
    ivs->p->floor = MAX(ivs->p->floor, MIN(next, PSP_IV_MAX));
    ovs_mutex_unlock(&ivs->p->mutex);
}

void
psp_ivs_set_clock_offset(struct psp_ivs *ivs, int64_t offset)
{
    atomic_store_relaxed(&ivs->p->clock_offset, offset);
}

void
psp_ivs_format(struct psp_ivs *ivs, struct ds *s)
{
    ovs_mutex_lock(&ivs->p->mutex);
    ds_put_format(s, "floor=%"PRIu64, ivs->p->floor);
    if (ivs->p->path) {
        ds_put_format(s, " reserved=%"PRIu64" file=%s%s", ivs->p->reserved,
                      ivs->p->path, ivs->p->failing ? " (failing)" : "");
    }
    ovs_mutex_unlock(&ivs->p->mutex);
}

enum psp_error
psp_ivs_take__(struct psp_ivs *ivs, enum psp_error error, uint64_t iv)
{
    uint64_t hard, wanted;

    if (error != PSP_E_TX_IV_LIMIT) {
        return error;
    }

    /* Past the soft limit: more IVs are wanted. */
    atomic_read_relaxed(&ivs->wanted, &wanted);
    while (iv > wanted
           && !atomic_compare_exchange_weak_explicit(&ivs->wanted, &wanted,
                                                     iv, memory_order_relaxed,
                                                     memory_order_relaxed)) {
        continue;
    }
    bool asked;
    atomic_read_relaxed(&ivs->asked, &asked);
    if (!asked && !atomic_exchange_explicit(&ivs->asked, true,
                                            memory_order_relaxed)) {
        seq_change(ivs->p->wake);
    }

    atomic_read_explicit(&ivs->hard_limit, &hard, memory_order_acquire);
    return iv < hard ? PSP_OK : PSP_E_TX_IV_LIMIT;
}
