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

AM_CPPFLAGS += -I $(srcdir)/psp/lib

# libpsp: the protocol, with no Open vSwitch dependency.
noinst_LTLIBRARIES += psp/lib/libpsp.la
psp_lib_libpsp_la_SOURCES = \
	psp/lib/psp.c \
	psp/lib/psp.h
psp_lib_libpsp_la_LIBADD = $(SSL_LIBS)

# ovs-psp-pcap: offline PSP encryption and decryption of pcap files.
bin_PROGRAMS += utilities/ovs-psp-pcap
utilities_ovs_psp_pcap_SOURCES = psp/utilities/ovs-psp-pcap.c
utilities_ovs_psp_pcap_LDADD = psp/lib/libpsp.la lib/libopenvswitch.la -lpcap
man_MANS += psp/utilities/ovs-psp-pcap.8

# Unit tests of libpsp, run through ovstest from psp/tests/*.at.
tests_ovstest_SOURCES += psp/tests/test-psp.c
tests_ovstest_LDADD += psp/lib/libpsp.la

# The benchmark (a program, not a test).
noinst_PROGRAMS += tests/ovs-psp-bench
tests_ovs_psp_bench_SOURCES = psp/tests/ovs-psp-bench.c
tests_ovs_psp_bench_LDADD = psp/lib/libpsp.la lib/libopenvswitch.la -lpcap

TESTSUITE_AT += \
	psp/tests/psp-testsuite.at \
	psp/tests/libpsp.at \
	psp/tests/ovs-psp-pcap.at

# What the psp tests need, without the rest of Open vSwitch (the sanitizer
# build uses this).  Building single programs skips BUILT_SOURCES, hence the
# explicit dependency.
psp-test-programs: $(BUILT_SOURCES)
	$(MAKE) $(AM_MAKEFLAGS) tests/ovstest utilities/ovs-psp-pcap \
	  tests/ovs-psp-bench tests/atlocal $(TESTSUITE)
.PHONY: psp-test-programs
