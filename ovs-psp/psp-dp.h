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

#ifndef PSP_DP_H
#define PSP_DP_H 1

/* The PSP datapath of Open vSwitch's userspace datapath, whole, for the
 * files that have not yet moved to the header of the part they use:
 *
 *   psp-sa.h          master keys, transmit SAs, receive SPI bindings
 *   psp-tunnel.h      tunnel mode: the "psp" port's push and pop
 *   psp-transport.h   transport mode: the psp_encrypt and psp_decrypt
 *                     actions
 *   psp-packet.h      what both modes share on packets
 *   psp-unixctl.h     parsing and formatting of addresses, keys and SAs
 *
 * New code includes those instead. */

#include "psp-packet.h"
#include "psp-sa.h"
#include "psp-transport.h"
#include "psp-tunnel.h"
#include "psp-unixctl.h"

#endif /* psp-dp.h */
