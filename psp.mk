# Copyright (c) 2026 The ovs-psp authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at:
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

# ovs-psp's sources, built by Open vSwitch's automake.  This file is included
# from Open vSwitch's Makefile.am (vswitchd-patches/0001), where the ovs-psp
# tree is linked in as psp/; paths here are relative to the OVS tree.

AM_CPPFLAGS += -I $(srcdir)/psp/lib -I $(srcdir)/psp/ovs-psp

# libpsp: the protocol, with no Open vSwitch dependency.  A convenience
# library, linked into libopenvswitch with the OVS side of ovs-psp.
noinst_LTLIBRARIES += psp/lib/libpsp.la
psp_lib_libpsp_la_SOURCES = \
	psp/lib/psp-aead-openssl.c \
	psp/lib/psp-aead.h \
	psp/lib/psp-bytes.h \
	psp/lib/psp-crypto.c \
	psp/lib/psp-hdr.c \
	psp/lib/psp-iv-gen.c \
	psp/lib/psp-key.c \
	psp/lib/psp-mkeys.c \
	psp/lib/psp-private.h \
	psp/lib/psp-secure.c \
	psp/lib/psp-stats.c \
	psp/lib/psp.h
psp_lib_libpsp_la_LIBADD = $(SSL_LIBS) $(PSP_AEAD_IPSEC_MB_LO)

# The intel-ipsec-mb backend, compiled only with configure --with-ipsec-mb,
# which puts -DPSP_WITH_IPSEC_MB in Open vSwitch's CPPFLAGS.
EXTRA_psp_lib_libpsp_la_SOURCES = psp/lib/psp-aead-ipsec-mb.c
PSP_AEAD_IPSEC_MB_LO = $(if $(findstring PSP_WITH_IPSEC_MB,$(CPPFLAGS)),\
	psp/lib/psp-aead-ipsec-mb.lo)

# The OVS side: the PSP datapath (SA tables, push and pop), the "psp" tunnel
# port and its ovs-appctl commands.
lib_libopenvswitch_la_SOURCES += \
	psp/ovs-psp/netdev-psp.c \
	psp/ovs-psp/netdev-psp.h \
	psp/ovs-psp/psp-actions.c \
	psp/ovs-psp/psp-actions.h \
	psp/ovs-psp/psp-ovsdb.c \
	psp/ovs-psp/psp-ovsdb.h \
	psp/ovs-psp/psp-ovsdb-rx-sa.c \
	psp/ovs-psp/psp-ovsdb-rx-sa.h \
	psp/ovs-psp/psp-ovsdb-tx-sa.c \
	psp/ovs-psp/psp-ovsdb-tx-sa.h \
	psp/ovs-psp/psp-flow.c \
	psp/ovs-psp/psp-flow.h \
	psp/ovs-psp/psp-iv.c \
	psp/ovs-psp/psp-iv.h \
	psp/ovs-psp/psp-keyring.c \
	psp/ovs-psp/psp-keyring.h \
	psp/ovs-psp/psp-packet.c \
	psp/ovs-psp/psp-packet.h \
	psp/ovs-psp/psp-rx-sa.c \
	psp/ovs-psp/psp-sa-private.h \
	psp/ovs-psp/psp-sa.c \
	psp/ovs-psp/psp-sa.h \
	psp/ovs-psp/psp-transport.c \
	psp/ovs-psp/psp-transport.h \
	psp/ovs-psp/psp-tunnel.c \
	psp/ovs-psp/psp-tunnel.h \
	psp/ovs-psp/psp-tx-sa.c \
	psp/ovs-psp/psp-unixctl.c \
	psp/ovs-psp/psp-unixctl.h \
	psp/ovs-psp/psp-vsctl.c \
	psp/ovs-psp/psp-vsctl.h
lib_libopenvswitch_la_LIBADD += psp/lib/libpsp.la

# ovs-psp-pcap: offline PSP encryption and decryption of pcap files.
bin_PROGRAMS += utilities/ovs-psp-pcap
utilities_ovs_psp_pcap_SOURCES = psp/utilities/ovs-psp-pcap.c
utilities_ovs_psp_pcap_LDADD = lib/libopenvswitch.la -lpcap
man_MANS += psp/utilities/ovs-psp-pcap.8

# ovs-psp-agent: the master key rotation agent, a daemon on the database.
bin_PROGRAMS += utilities/ovs-psp-agent
utilities_ovs_psp_agent_SOURCES = psp/utilities/ovs-psp-agent.c
utilities_ovs_psp_agent_LDADD = lib/libopenvswitch.la
man_MANS += psp/utilities/ovs-psp-agent.8

# ovs-psp-keyd: the key exchange between hosts, a daemon beside
# ovs-vswitchd.
bin_PROGRAMS += utilities/ovs-psp-keyd
utilities_ovs_psp_keyd_SOURCES = \
	psp/keyd/keyd-config.c \
	psp/keyd/keyd-peer.c \
	psp/keyd/keyd-rx.c \
	psp/keyd/keyd-vswitchd.c \
	psp/keyd/keyd.h \
	psp/utilities/ovs-psp-keyd.c
utilities_ovs_psp_keyd_CPPFLAGS = $(AM_CPPFLAGS) -I $(srcdir)/psp/keyd
utilities_ovs_psp_keyd_LDADD = lib/libopenvswitch.la $(SSL_LIBS)

# The psp/... ovs-appctl commands, a section of ovs-vswitchd(8)
# (vswitchd-patches/0003 includes it).
MAN_FRAGMENTS += psp/ovs-psp/psp-unixctl.man

# Unit tests, run through ovstest from psp/tests/*.at.
tests_ovstest_SOURCES += \
	psp/tests/test-psp.c \
	psp/tests/test-psp-dp.c \
	psp/tests/psp-test.h

# The benchmark (a program, not a test).
noinst_PROGRAMS += tests/ovs-psp-bench
tests_ovs_psp_bench_SOURCES = psp/tests/bench/ovs-psp-bench.c
tests_ovs_psp_bench_LDADD = lib/libopenvswitch.la -lpcap

# Fuzz targets (tests/fuzz/), built only on demand (make fuzz at the top,
# in a build configured with --enable-fuzz: clang, libFuzzer, ASan and
# UBSan).  The libpsp targets link libpsp alone.
PSP_FUZZ_TARGETS = \
	tests/fuzz/fuzz-psp-hdr-parse \
	tests/fuzz/fuzz-psp-rx \
	tests/fuzz/fuzz-psp-visible \
	tests/fuzz/fuzz-miniflow-extract \
	tests/fuzz/fuzz-psp-dp-pop \
	tests/fuzz/fuzz-psp-dp-decrypt \
	tests/fuzz/fuzz-psp-pcap-frame
EXTRA_PROGRAMS += $(PSP_FUZZ_TARGETS)
PSP_FUZZ_ENGINE = -fsanitize=fuzzer
PSP_FUZZ_COMMON = psp/tests/fuzz/fuzz-psp.c psp/tests/fuzz/fuzz-psp.h

tests_fuzz_fuzz_psp_hdr_parse_SOURCES = \
	psp/tests/fuzz/fuzz-psp-hdr-parse.c $(PSP_FUZZ_COMMON)
tests_fuzz_fuzz_psp_hdr_parse_LDADD = psp/lib/libpsp.la
tests_fuzz_fuzz_psp_hdr_parse_LDFLAGS = $(AM_LDFLAGS) $(PSP_FUZZ_ENGINE)

tests_fuzz_fuzz_psp_rx_SOURCES = \
	psp/tests/fuzz/fuzz-psp-rx.c $(PSP_FUZZ_COMMON)
tests_fuzz_fuzz_psp_rx_LDADD = psp/lib/libpsp.la
tests_fuzz_fuzz_psp_rx_LDFLAGS = $(AM_LDFLAGS) $(PSP_FUZZ_ENGINE)

tests_fuzz_fuzz_psp_visible_SOURCES = \
	psp/tests/fuzz/fuzz-psp-visible.c $(PSP_FUZZ_COMMON)
tests_fuzz_fuzz_psp_visible_LDADD = lib/libopenvswitch.la
tests_fuzz_fuzz_psp_visible_LDFLAGS = $(AM_LDFLAGS) $(PSP_FUZZ_ENGINE)

tests_fuzz_fuzz_miniflow_extract_SOURCES = \
	psp/tests/fuzz/fuzz-miniflow-extract.c $(PSP_FUZZ_COMMON) \
	psp/tests/fuzz/fuzz-psp-dp.c psp/tests/fuzz/fuzz-psp-dp.h
tests_fuzz_fuzz_miniflow_extract_LDADD = lib/libopenvswitch.la
tests_fuzz_fuzz_miniflow_extract_LDFLAGS = $(AM_LDFLAGS) $(PSP_FUZZ_ENGINE)

tests_fuzz_fuzz_psp_dp_pop_SOURCES = \
	psp/tests/fuzz/fuzz-psp-dp-pop.c $(PSP_FUZZ_COMMON) \
	psp/tests/fuzz/fuzz-psp-dp.c psp/tests/fuzz/fuzz-psp-dp.h
tests_fuzz_fuzz_psp_dp_pop_LDADD = lib/libopenvswitch.la
tests_fuzz_fuzz_psp_dp_pop_LDFLAGS = $(AM_LDFLAGS) $(PSP_FUZZ_ENGINE)

tests_fuzz_fuzz_psp_dp_decrypt_SOURCES = \
	psp/tests/fuzz/fuzz-psp-dp-decrypt.c $(PSP_FUZZ_COMMON) \
	psp/tests/fuzz/fuzz-psp-dp.c psp/tests/fuzz/fuzz-psp-dp.h
tests_fuzz_fuzz_psp_dp_decrypt_LDADD = lib/libopenvswitch.la
tests_fuzz_fuzz_psp_dp_decrypt_LDFLAGS = $(AM_LDFLAGS) $(PSP_FUZZ_ENGINE)

# ovs-psp-pcap itself, its main() renamed (fuzz-psp-pcap-frame.c includes
# psp/utilities/ovs-psp-pcap.c).
tests_fuzz_fuzz_psp_pcap_frame_SOURCES = \
	psp/tests/fuzz/fuzz-psp-pcap-frame.c $(PSP_FUZZ_COMMON)
tests_fuzz_fuzz_psp_pcap_frame_LDADD = lib/libopenvswitch.la -lpcap
tests_fuzz_fuzz_psp_pcap_frame_LDFLAGS = $(AM_LDFLAGS) $(PSP_FUZZ_ENGINE)

# Builds the fuzz targets (and what they need of BUILT_SOURCES, which
# building single programs skips), not the rest of Open vSwitch.
psp-fuzz-targets: $(BUILT_SOURCES)
	$(MAKE) $(AM_MAKEFLAGS) $(PSP_FUZZ_TARGETS)
.PHONY: psp-fuzz-targets

TESTSUITE_AT += \
	psp/tests/psp-testsuite.at \
	psp/tests/libpsp.at \
	psp/tests/ovs-psp-pcap.at \
	psp/tests/psp-dp.at \
	psp/tests/psp-appctl.at \
	psp/tests/psp-transport.at \
	psp/tests/psp-tunnel.at \
	psp/tests/psp-ovsdb.at \
	psp/tests/psp-agent.at \
	psp/tests/psp-key-store.at \
	psp/tests/psp-keys.at \
	psp/tests/psp-telemetry.at

# The programs, atlocal and testsuite that the psp tests use (check-psp-only
# in the top-level Makefile).  Building single programs skips BUILT_SOURCES,
# hence the explicit dependency.
psp-test-programs: $(BUILT_SOURCES)
	$(MAKE) $(AM_MAKEFLAGS) tests/ovstest utilities/ovs-psp-pcap \
	  utilities/ovs-psp-agent utilities/ovs-psp-keyd tests/ovs-psp-bench tests/atlocal $(TESTSUITE)
.PHONY: psp-test-programs
