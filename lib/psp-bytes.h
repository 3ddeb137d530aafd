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

#ifndef PSP_BYTES_H
#define PSP_BYTES_H 1

/* Reading and writing integers at any byte address: big-endian, as PSP
 * headers and the network have them, and one little-endian read (for
 * SipHash).  These work on unaligned bytes and need no Open vSwitch header,
 * so that libpsp and the tools that include only psp.h can share them.
 *
 * Not here: anything that knows what the bytes mean (psp-hdr.c). */

#include <stdint.h>

static inline void
psp_put_be16(uint8_t *p, uint16_t x)
{
    p[0] = x >> 8;
    p[1] = x;
}

static inline void
psp_put_be32(uint8_t *p, uint32_t x)
{
    p[0] = x >> 24;
    p[1] = x >> 16;
    p[2] = x >> 8;
    p[3] = x;
}

static inline void
psp_put_be64(uint8_t *p, uint64_t x)
{
    psp_put_be32(p, x >> 32);
    psp_put_be32(p + 4, x);
}

static inline uint16_t
psp_get_be16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

static inline uint32_t
psp_get_be32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}

static inline uint64_t
psp_get_be64(const uint8_t *p)
{
    return ((uint64_t) psp_get_be32(p) << 32) | psp_get_be32(p + 4);
}

static inline uint64_t
psp_get_le64(const uint8_t *p)
{
    uint64_t x = 0;

    for (int i = 7; i >= 0; i--) {
        x = (x << 8) | p[i];
    }
    return x;
}

#endif /* psp-bytes.h */
