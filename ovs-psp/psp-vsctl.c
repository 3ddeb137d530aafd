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

#include "ovsdb-secret.h"
#include "util.h"

static const struct {
    const char *table;
    const char *column;
} secret_columns[] = {
    { "PSP", "master_keys" },
    { "PSP_Rx_SA", "sa_key" },
    { "PSP_Tx_SA", "sa_key" },
};

void
psp_log_redact_keys(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(secret_columns); i++) {
        ovsdb_secret_column_register(secret_columns[i].table,
                                     secret_columns[i].column);
    }
}
