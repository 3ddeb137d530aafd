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

#ifndef PSP_TEST_H
#define PSP_TEST_H 1

/* Checks for the ovs-psp unit tests: a failed check prints where and what,
 * counts in 'n_failures' (defined in test-psp.c), and the test
 * goes on; the program exits 1 at the end if any failed. */

#include <stdio.h>

#include "psp.h"

extern int n_failures;

#define CHECK(COND)                                                     \
    do {                                                                \
        if (!(COND)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #COND);                                   \
            n_failures++;                                               \
        }                                                               \
    } while (0)

#define CHECK_ERR(EXPR, EXPECTED)                                       \
    do {                                                                \
        enum psp_error err_ = (EXPR);                                   \
        enum psp_error exp_ = (EXPECTED);                               \
        if (err_ != exp_) {                                             \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n",     \
                    __FILE__, __LINE__, #EXPR, psp_error_name(err_),    \
                    psp_error_name(exp_));                              \
            n_failures++;                                               \
        }                                                               \
    } while (0)

#endif /* psp-test.h */
