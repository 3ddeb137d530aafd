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

/* Key memory: an allocator whose blocks are never in a core dump, locked in
 * RAM where RLIMIT_MEMLOCK allows and wiped when freed (psp_secure_zalloc()),
 * and the hooks that make OpenSSL take all its memory from it
 * (psp_openssl_mem_secure()), since its cipher contexts hold expanded keys.
 *
 * Not here: what the keys are or who holds them (psp-key.c, psp-mkeys.c,
 * psp-crypto.c). */

#include "psp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>

/* Secure memory for keys.  Each size class (every multiple of 16 bytes up to
 * 256, so that structures that hold a key waste little, then 512, ..., 4096
 * bytes) takes blocks from arenas mapped for it alone and flagged not to be
 * dumped, and keeps a free list threaded through its wiped free blocks.
 * Arenas are never unmapped: key memory's peak is its steady state.
 *
 * A class's arenas double in size, from 64 kB, up to 2 MB: an arena of 2 MB
 * is aligned to be one transparent huge page, so that a million transmit
 * SAs take 80 TLB entries rather than 40,000 (where the kernel has
 * transparent huge pages, even if only for madvise()). */
#define PSP_SECURE_N_FINE 16            /* 16, 32, ..., 256 bytes. */
#define PSP_SECURE_N_CLASSES (PSP_SECURE_N_FINE + 4)
#define PSP_SECURE_ARENA_MIN (64 * 1024)
#define PSP_SECURE_ARENA_MAX (2 * 1024 * 1024)

struct psp_secure_block {
    struct psp_secure_block *next;
};

static pthread_mutex_t secure_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct psp_secure_block *secure_free[PSP_SECURE_N_CLASSES];
static size_t secure_arena_size[PSP_SECURE_N_CLASSES]; /* The next one's. */

/* Every arena, for psp_secure_mem_contains(). */
struct psp_secure_arena {
    struct psp_secure_arena *next;
    uint8_t *base;
    size_t size;
};
static struct psp_secure_arena *secure_arenas;

static size_t
psp_secure_class_size(int class)
{
    return (class < PSP_SECURE_N_FINE
            ? (size_t) (class + 1) * 16
            : (size_t) 256 << (class - PSP_SECURE_N_FINE + 1));
}

static int
psp_secure_class(size_t size)
{
    int class = size <= 256 ? (size + 15) / 16 - 1 : PSP_SECURE_N_FINE;

    for (class = class < 0 ? 0 : class; class < PSP_SECURE_N_CLASSES;
         class++) {
        if (psp_secure_class_size(class) >= size) {
            return class;
        }
    }
    return -1;
}

/* Maps 'size' bytes, aligned to a huge page if it is one. */
static uint8_t *
psp_secure_map(size_t size)
{
    int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;

    if (size < PSP_SECURE_ARENA_MAX) {
        uint8_t *p = mmap(NULL, size, prot, flags, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }

    uint8_t *p = mmap(NULL, 2 * size, prot, flags, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    uint8_t *aligned = (uint8_t *) (((uintptr_t) p + size - 1)
                                    & ~(uintptr_t) (size - 1));
    if (aligned > p) {
        munmap(p, aligned - p);
    }
    if (p + 2 * size > aligned + size) {
        munmap(aligned + size, p + 2 * size - (aligned + size));
    }
#ifdef MADV_HUGEPAGE
    (void) madvise(aligned, size, MADV_HUGEPAGE);
#endif
    return aligned;
}

static bool
psp_secure_grow(int class)
{
    size_t block = psp_secure_class_size(class);
    size_t size = (secure_arena_size[class] ? secure_arena_size[class]
                   : PSP_SECURE_ARENA_MIN);
    uint8_t *arena = psp_secure_map(size);

    if (!arena) {
        return false;
    }
    /* A core dump must not hold keys.  Locking keeps them out of swap where
     * RLIMIT_MEMLOCK allows; without it they are still never dumped. */
    if (madvise(arena, size, MADV_DONTDUMP)) {
        munmap(arena, size);
        return false;
    }
    (void) mlock(arena, size);
    secure_arena_size[class] = (size < PSP_SECURE_ARENA_MAX ? 2 * size
                                : PSP_SECURE_ARENA_MAX);

    struct psp_secure_arena *a = malloc(sizeof *a);
    if (a) {
        a->base = arena;
        a->size = size;
        a->next = secure_arenas;
        secure_arenas = a;
    }

    for (size_t ofs = size; ofs >= block; ofs -= block) {
        struct psp_secure_block *b = (void *) (arena + ofs - block);
        b->next = secure_free[class];
        secure_free[class] = b;
    }
    return true;
}

void *
psp_secure_zalloc(size_t size)
{
    int class = psp_secure_class(size ? size : 1);
    void *p = NULL;

    if (class < 0) {
        return NULL;
    }
    pthread_mutex_lock(&secure_mutex);
    if (secure_free[class] || psp_secure_grow(class)) {
        struct psp_secure_block *b = secure_free[class];
        secure_free[class] = b->next;
        p = b;
    }
    pthread_mutex_unlock(&secure_mutex);

    if (p) {
        memset(p, 0, psp_secure_class_size(class));
    }
    return p;
}

void
psp_secure_free(void *p, size_t size)
{
    int class = psp_secure_class(size ? size : 1);

    if (!p || class < 0) {
        return;
    }
    OPENSSL_cleanse(p, psp_secure_class_size(class));

    struct psp_secure_block *b = p;
    pthread_mutex_lock(&secure_mutex);
    b->next = secure_free[class];
    secure_free[class] = b;
    pthread_mutex_unlock(&secure_mutex);
}

/* Whether the 'size' bytes at 'hay' hold the 'n' bytes at 'needle'. */
static bool
mem_contains(const uint8_t *hay, size_t size, const uint8_t *needle,
             size_t n)
{
    if (!n) {
        return true;
    }
    for (size_t i = 0; i + n <= size; ) {
        const uint8_t *q = memchr(hay + i, needle[0], size - n + 1 - i);

        if (!q) {
            break;
        }
        if (!memcmp(q, needle, n)) {
            return true;
        }
        i = q - hay + 1;
    }
    return false;
}

bool
psp_secure_mem_contains(const void *p, size_t n)
{
    bool found = false;

    pthread_mutex_lock(&secure_mutex);
    for (const struct psp_secure_arena *a = secure_arenas; a && !found;
         a = a->next) {
        found = mem_contains(a->base, a->size, p, n);
    }
    pthread_mutex_unlock(&secure_mutex);
    return found;
}

/* OpenSSL's memory.  Each block starts with its size, for free() and
 * realloc(); blocks up to 4 kB come from the secure size classes, larger
 * ones (rare: TLS buffers) are mappings of their own. */
#define PSP_OSSL_HDR 16                 /* Keeps blocks 16-byte aligned. */
#define PSP_UNUSED __attribute__((__unused__))

static bool ossl_mem_secure;

static void *
psp_ossl_malloc(size_t n, const char *file PSP_UNUSED,
                int line PSP_UNUSED)
{
    size_t total = n + PSP_OSSL_HDR;
    uint8_t *p;

    if (total < n) {
        return NULL;
    }
    if (total <= psp_secure_class_size(PSP_SECURE_N_CLASSES - 1)) {
        p = psp_secure_zalloc(total);
    } else {
        p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            p = NULL;
        } else if (madvise(p, total, MADV_DONTDUMP)) {
            munmap(p, total);
            p = NULL;
        }
    }
    if (!p) {
        return NULL;
    }
    memcpy(p, &total, sizeof total);
    return p + PSP_OSSL_HDR;
}

static void
psp_ossl_free(void *p_, const char *file PSP_UNUSED,
              int line PSP_UNUSED)
{
    uint8_t *p = p_;
    size_t total;

    if (!p) {
        return;
    }
    p -= PSP_OSSL_HDR;
    memcpy(&total, p, sizeof total);
    if (total <= psp_secure_class_size(PSP_SECURE_N_CLASSES - 1)) {
        psp_secure_free(p, total);
    } else {
        explicit_bzero(p, total);
        munmap(p, total);
    }
}

static void *
psp_ossl_realloc(void *p_, size_t n, const char *file, int line)
{
    uint8_t *p = p_;

    if (!p) {
        return psp_ossl_malloc(n, file, line);
    }
    if (!n) {
        psp_ossl_free(p, file, line);
        return NULL;
    }

    size_t total;
    memcpy(&total, p - PSP_OSSL_HDR, sizeof total);
    uint8_t *q = psp_ossl_malloc(n, file, line);
    if (q) {
        size_t old = total - PSP_OSSL_HDR;
        memcpy(q, p, old < n ? old : n);
        psp_ossl_free(p, file, line);
    }
    return q;
}

bool
psp_openssl_mem_secure(void)
{
    if (!ossl_mem_secure) {
        ossl_mem_secure = CRYPTO_set_mem_functions(psp_ossl_malloc,
                                                   psp_ossl_realloc,
                                                   psp_ossl_free);
    }
    return ossl_mem_secure;
}

bool
psp_openssl_mem_is_secure(void)
{
    return ossl_mem_secure;
}
