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

#ifndef FUZZ_PSP_DP_H
#define FUZZ_PSP_DP_H 1

/* The receiver of the datapath fuzz targets (fuzz-psp-dp-pop.c and
 * fuzz-psp-dp-decrypt.c): psp-dp with the spec's example master keys, as
 * the vectors have them (static keys: every SPI's key is derived), and the
 * receive SPI bindings below, each for one version, as psp-dp keeps them:
 *
 *   SPI          peer       association  version
 *   0x12345678   any        1            1
 *   0x9a345678   10.0.0.1   2            0
 *   0x00000100   any        3            0
 *   0x00000101   any        4            1
 *   0x80000102   any        5            2
 *   0x80000103   any        6            3
 *
 * The first two are the vectors' SPIs, from the vectors' source address,
 * so that some vectors pass the binding check and others fail it (another
 * version, an IPv6 source); the other four, one per version, are the SPIs
 * that FUZZ_F_BOUND_SPI puts in the packets the harness seals. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "fuzz-psp.h"

struct dp_packet;
struct flow;

/* Installs the keys and bindings, and silences logging. */
void fuzz_dp_init(struct fuzz_sealer *);

/* The association that psp-dp must give a packet with 'spi' and 'version'
 * from 'src' (IPv4 as v4-mapped), if a binding allows it, and if 'assoc' is
 * nonnull only if the binding's association is '*assoc'.  Returns false if
 * no binding allows it. */
bool fuzz_dp_bound(uint32_t spi, uint8_t version, const struct in6_addr *src,
                   const uint64_t *assoc, uint64_t *bound_assoc);

/* Receives the frame that fuzz input 'data' ('size' bytes) makes (see
 * fuzz_frame_build(), with 'sealer') as a port would: into a dp_packet with
 * 'headroom' bytes before it and no room after it, so that a read past its
 * end is caught, with the packet type its flags say and the metadata of
 * port 1.  Stores its flow, as miniflow_extract() extracts it, in 'flow',
 * and returns it; 'f' keeps the frame, for the caller to destroy.  Returns
 * NULL, with nothing to destroy, if the input makes no frame that a port
 * could receive. */
struct dp_packet *fuzz_dp_receive(const uint8_t *data, size_t size,
                                  struct fuzz_sealer *sealer,
                                  size_t headroom, struct fuzz_frame *f,
                                  struct flow *flow);

#endif /* fuzz-psp-dp.h */
