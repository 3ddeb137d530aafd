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

#include "psp-vsctl.h"

#include <string.h>

#include "jsonrpc.h"
#include "process.h"
#include "svec.h"
#include "util.h"

/* The columns that hold key material (ovsdb-schema/psp.ovsschema). */
static const char *const secret_columns[] = { "sa_key", "master_keys" };

/* If 'arg' sets a secret column ("sa_key=...", "master_keys:0=...",
 * "master_keys={...}"), returns the offset of its value, else 0. */
static size_t
secret_value_offset(const char *arg)
{
    for (size_t i = 0; i < ARRAY_SIZE(secret_columns); i++) {
        const char *col = strstr(arg, secret_columns[i]);

        if (col) {
            const char *eq = strchr(col, '=');
            if (eq) {
                return eq + 1 - arg;
            }
        }
    }
    return 0;
}

void
psp_log_redact_keys(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(secret_columns); i++) {
        jsonrpc_log_redact(secret_columns[i]);
    }
}

char *
psp_vsctl_redacted_args(char **argv)
{
    struct svec args = SVEC_EMPTY_INITIALIZER;

    psp_log_redact_keys();

    for (char **p = argv; *p; p++) {
        size_t ofs = secret_value_offset(*p);

        if (ofs) {
            svec_add_nocopy(&args, xasprintf("%.*s<redacted>", (int) ofs,
                                             *p));
        } else {
            svec_add(&args, *p);
        }
    }
    svec_terminate(&args);
    char *s = process_escape_args(args.names);
    svec_destroy(&args);
    return s;
}
