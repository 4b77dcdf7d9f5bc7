# kvmdump — build, test, benchmark, fuzz. Only the Swift toolchain is needed.
SHELL        = /bin/bash
SWIFT       ?= swift
PREFIX      ?= /usr/local
SECONDS     ?= 60
# Release builds link the Swift runtime statically: the installed binary runs on a host without Swift.
RELEASE      = $(SWIFT) build -c release --static-swift-stdlib
RELEASE_BIN  = $(shell $(RELEASE) --show-bin-path)

.PHONY: build release test test-debug test-asan fixtures bench bench-smoke fuzz fuzz-build fuzz-crashinfo fuzz-crashinfo-build fuzz-crashinfo-run fuzz-libs fuzz-thread-libs fuzz-threads fuzz-threads-build fuzz-export fuzz-export-build fuzz-decompress fuzz-decompress-build bench-decompress install check-static dist clean

build:
	$(SWIFT) build

release:
	$(RELEASE) --product kvmdump

# The test command: the whole suite, the suite again under AddressSanitizer, the concurrency tests
# under ThreadSanitizer, then a short fuzz run of the dump reader, CrashInfo and the gzip and zstd decoders
# (TEST_FUZZ_SECONDS each, default 30; longer campaigns: make fuzz SECONDS=N).
TEST_FUZZ_SECONDS ?= 30
test: test-debug test-asan test-tsan
	$(MAKE) fuzz SECONDS=$(TEST_FUZZ_SECONDS)

test-debug:
	$(SWIFT) build
	$(SWIFT) test
	$$($(SWIFT) build --show-bin-path)/kvmdump-bench --smoke > .build/bench-smoke.log 2>&1 \
		|| { tail -40 .build/bench-smoke.log; exit 1; }
	@echo "bench-smoke: ok"

# ld.gold prints a harmless "Cannot export local symbol '__asan_…'" warning per sanitizer symbol.
LD_NOISE = { grep -v "Cannot export local symbol '__\(asan\|tsan\)_" || true; }

# The AddressSanitizer pass is an optimised build (-O keeps Swift's bounds and overflow checks; -enable-testing
# for the @testable imports): the whole suite runs in about a minute instead of fifteen at -Onone, which the
# debug pass above already covers.
test-asan:
	set -o pipefail; LSAN_OPTIONS=suppressions=$(CURDIR)/Fuzz/lsan-suppressions.txt \
		$(SWIFT) test -c release -Xswiftc -enable-testing --sanitize=address --scratch-path .build-asan 2>&1 | $(LD_NOISE)

# Tests where many tasks share one dump.
TSAN_TESTS = manyTasksReadingOneDumpSeeTheSameBytes|manyTasksBuildingTheIndexSeeTheSameCounts|manyTasksTranslatingAFreshDumpSeeTheSameAnswers

test-tsan:
	set -o pipefail; $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter '$(TSAN_TESTS)' 2>&1 | $(LD_NOISE)

# Regenerate the golden dumps in Fixtures/ byte for byte.
fixtures:
	$(SWIFT) run mkvmcore --goldens Fixtures
	{ sed '/^## Listings/q' Fixtures/README.md; echo; echo '```'; $(SWIFT) run -q mkvmcore --describe-goldens; echo '```'; } > Fixtures/README.md.tmp && mv Fixtures/README.md.tmp Fixtures/README.md

# Full benchmark (dumps generated once into .bench-cache/); BENCH_ARGS="--runs 3" etc. are passed through.
bench:
	$(RELEASE) --product kvmdump
	$(RELEASE) --product kvmdump-bench
	$(RELEASE_BIN)/kvmdump-bench $(BENCH_ARGS)

# Seconds: tiny dumps in a temporary folder, every measurement path including baselines and child processes.
bench-smoke:
	$(RELEASE) --product kvmdump
	$(RELEASE) --product kvmdump-bench
	$(RELEASE_BIN)/kvmdump-bench --smoke

FUZZ_DIR = .fuzz
# Sanitizers of the fuzz build. For long local campaigns FUZZ_SAN=fuzzer (no ASan) runs about 3x as many
# inputs a second; Swift's own checks still trap on any out-of-bounds access outside MappedBytes.
FUZZ_SAN ?= fuzzer,address
# Small seeds and a dictionary keep libFuzzer fast and deep; ASan without allocation stacks or leak
# checks runs about twice as many inputs a second. Crashes land in $(FUZZ_DIR)/crash-*.
FUZZ_ENV   = ASAN_OPTIONS=malloc_context_size=0:detect_leaks=0
FUZZ_FLAGS = -dict=Fuzz/minidump.dict -max_len=131072 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
	-artifact_prefix=$(FUZZ_DIR)/crash-

# The product's libraries, built once as instrumented static libraries ($(FUZZ_LIB)/libNAME.a and
# NAME.swiftmodule, with -enable-testing so the harnesses reach internal API through @testable import)
# with the C shims; VMCoreBuilder (fixtures and seeds) uninstrumented. Every fuzz target links them as a
# program would. Modules in dependency order: a module's imports come before it.
FUZZ_LIB = $(FUZZ_DIR)/lib
FUZZ_CORE_MODULES   = MappedBytes MinidumpCore KernelImage CrashInfo
FUZZ_THREAD_MODULES = KernelThreads CoreExport
FUZZ_INCLUDES = -I Sources/CBitCount/include -I Sources/CMappingGuard/include -I $(FUZZ_LIB)
FUZZ_MODULE = swiftc -O -parse-as-library -enable-testing $(FUZZ_INCLUDES) -emit-library -static
FUZZ_LINK   = swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library $(FUZZ_INCLUDES)
FUZZ_SHIMS  = $(FUZZ_LIB)/bitcount.o $(FUZZ_LIB)/mapping_guard.o
FUZZ_CORE_LIBS = $(FUZZ_LIB)/libCrashInfo.a $(FUZZ_LIB)/libKernelImage.a $(FUZZ_LIB)/libMinidumpCore.a \
	$(FUZZ_LIB)/libMappedBytes.a $(FUZZ_SHIMS)
# $(1): modules to build instrumented, in order.
fuzz-modules = for m in $(1); do \
		$(FUZZ_MODULE) -sanitize=$(FUZZ_SAN) -module-name $$m -emit-module -emit-module-path $(FUZZ_LIB)/$$m.swiftmodule \
			Sources/$$m/*.swift -o $(FUZZ_LIB)/lib$$m.a || exit 1; \
	done
# $(1): the seed maker's source, $(2): its output folder.
make-seeds = swiftc -Onone -parse-as-library -I $(FUZZ_LIB) $(1) $(FUZZ_LIB)/libVMCoreBuilder.a -o $(FUZZ_LIB)/seed-maker \
	&& $(FUZZ_LIB)/seed-maker $(2)

fuzz-libs:
	mkdir -p $(FUZZ_LIB)
	for c in CBitCount/bitcount CMappingGuard/mapping_guard; do \
		clang -O2 -fsanitize=$(subst fuzzer,fuzzer-no-link,$(FUZZ_SAN)) -c Sources/$$c.c -o $(FUZZ_LIB)/$$(basename $$c).o || exit 1; \
	done
	$(call fuzz-modules,$(FUZZ_CORE_MODULES))
	$(FUZZ_MODULE) -module-name VMCoreBuilder -emit-module -emit-module-path $(FUZZ_LIB)/VMCoreBuilder.swiftmodule \
		Sources/VMCoreBuilder/*.swift -o $(FUZZ_LIB)/libVMCoreBuilder.a

fuzz-thread-libs: fuzz-libs
	$(call fuzz-modules,$(FUZZ_THREAD_MODULES))

# The dump reader (Fuzz/FuzzMinidump.swift) and the CrashInfo target (Fuzz/FuzzCrashInfo.swift: msgbuf
# lines, info.N, symbol expressions and kernel ELF images, tried against the fixture dump).
CI_DIR = $(FUZZ_DIR)/crashinfo
fuzz-build: fuzz-libs
	mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds $(CI_DIR)/corpus $(CI_DIR)/seeds
	$(FUZZ_LINK) -module-name MinidumpFuzz Fuzz/FuzzMinidump.swift $(FUZZ_CORE_LIBS) -o $(FUZZ_DIR)/fuzz-minidump
	$(FUZZ_LINK) -module-name CrashInfoFuzz Fuzz/FuzzCrashInfo.swift $(FUZZ_CORE_LIBS) $(FUZZ_LIB)/libVMCoreBuilder.a \
		-o $(FUZZ_DIR)/fuzz-crashinfo
	$(call make-seeds,Fuzz/MakeSeeds.swift,$(FUZZ_DIR)/seeds)
	$(call make-seeds,Fuzz/MakeCrashInfoSeeds.swift,$(CI_DIR)/seeds)
fuzz-crashinfo-build: fuzz-build

# Quiet unless something is found: then the end of libFuzzer's log, and a non-zero exit. Both targets
# run SECONDS each: the dump reader, then CrashInfo (fuzz-crashinfo alone: make fuzz-crashinfo).
fuzz: fuzz-build
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz-minidump $(FUZZ_FLAGS) -max_total_time=$(SECONDS) \
		$(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds > $(FUZZ_DIR)/fuzz.log 2>&1 \
		|| { grep -v '^#[0-9]' $(FUZZ_DIR)/fuzz.log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_DIR)/fuzz.log
	$(MAKE) fuzz-crashinfo-run
	$(MAKE) fuzz-decompress SECONDS=$(SECONDS)

CI_FLAGS = -dict=Fuzz/crashinfo.dict -max_len=65536 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
	-artifact_prefix=$(CI_DIR)/crash-
fuzz-crashinfo: fuzz-build fuzz-crashinfo-run
fuzz-crashinfo-run:
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz-crashinfo $(CI_FLAGS) -max_total_time=$(SECONDS) \
		$(CI_DIR)/corpus $(CI_DIR)/seeds > $(CI_DIR)/fuzz.log 2>&1 \
		|| { grep -v '^#[0-9]' $(CI_DIR)/fuzz.log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(CI_DIR)/fuzz.log

# The binary must not need the toolchain's runtime: no libswift* among its libraries, no RUNPATH into
# the toolchain, and it runs with an empty environment.
STATIC_CHECK = ldd $(1) | grep -q 'libswift' && { echo "$(1) links the Swift runtime dynamically:"; ldd $(1); exit 1; }; \
	readelf -d $(1) | grep -E 'R(UN)?PATH' | grep -v '\[\$$ORIGIN\]' && { echo "$(1) has a RUNPATH outside \$$ORIGIN"; exit 1; }; \
	env -i $(1) --version > /dev/null || { echo "$(1) does not run with an empty environment"; exit 1; }; \
	echo "$(1): Swift runtime linked statically (ldd shows no libswiftCore)"

check-static: release
	@$(call STATIC_CHECK,$(RELEASE_BIN)/kvmdump)

# The thread and stack walkers: patches to the golden vmcore.2 (seeds: the generator's corruptions).
fuzz-threads-build: fuzz-thread-libs
	mkdir -p $(FUZZ_DIR)/threads-corpus $(FUZZ_DIR)/threads-seeds
	$(FUZZ_LINK) -module-name ThreadsFuzz Fuzz/FuzzThreads.swift $(FUZZ_LIB)/libKernelThreads.a $(FUZZ_CORE_LIBS) \
		-o $(FUZZ_DIR)/fuzz-threads
	$(call make-seeds,Fuzz/MakeThreadSeeds.swift,$(FUZZ_DIR)/threads-seeds)

# THREADS_ARCH=arm64|riscv|i386 patches that architecture's thread fixture (Fixtures/vmcore.ARCH.threads with
# kernel.ARCH.threads) instead of the amd64 vmcore.2, with a corpus, log and artifacts of its own.
TH_SUFFIX = $(if $(THREADS_ARCH),-$(THREADS_ARCH))
TH_FILES  = $(if $(THREADS_ARCH),KVMDUMP_FUZZ_DUMP=Fixtures/vmcore.$(THREADS_ARCH).threads \
	KVMDUMP_FUZZ_KERNEL=Fixtures/kernel.$(THREADS_ARCH).threads)
fuzz-threads: fuzz-threads-build
	mkdir -p $(FUZZ_DIR)/threads-corpus$(TH_SUFFIX)
	$(FUZZ_ENV) $(TH_FILES) $(FUZZ_DIR)/fuzz-threads -max_len=4096 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/crash-threads$(TH_SUFFIX)- -max_total_time=$(SECONDS) \
		$(FUZZ_DIR)/threads-corpus$(TH_SUFFIX) $(FUZZ_DIR)/threads-seeds > $(FUZZ_DIR)/fuzz-threads$(TH_SUFFIX).log 2>&1 \
		|| { grep -v '^#[0-9]' $(FUZZ_DIR)/fuzz-threads$(TH_SUFFIX).log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_DIR)/fuzz-threads$(TH_SUFFIX).log

# kvmdump export: arbitrary dumps exported as ELF cores to /dev/null (seeds: the reader's, from fuzz-build).
fuzz-export-build: fuzz-build fuzz-thread-libs
	mkdir -p $(FUZZ_DIR)/export-corpus
	$(FUZZ_LINK) -module-name ExportFuzz Fuzz/FuzzExport.swift $(FUZZ_LIB)/libCoreExport.a $(FUZZ_CORE_LIBS) \
		-o $(FUZZ_DIR)/fuzz-export

fuzz-export: fuzz-export-build
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz-export $(FUZZ_FLAGS) -artifact_prefix=$(FUZZ_DIR)/crash-export- -max_total_time=$(SECONDS) \
		$(FUZZ_DIR)/export-corpus $(FUZZ_DIR)/seeds > $(FUZZ_DIR)/fuzz-export.log 2>&1 \
		|| { grep -v '^#[0-9]' $(FUZZ_DIR)/fuzz-export.log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_DIR)/fuzz-export.log

# The decoders (Fuzz/FuzzDecompress.swift, compiled with Sources/Decompress as one module): gzip, zstd and
# raw deflate by magic. Seeds are small files compressed by the system gzip and zstd. Not part of `make test`.
# DZ_ONLY=zstd or DZ_ONLY=gzip builds a target that sends every input to that one decoder (gzip: raw
# deflate when the input has no gzip magic), with its own binary, corpus and log: one campaign per decoder.
# DZ_RUNS=N stops after N executions (or SECONDS, whichever comes first).
DZ_DIR  = $(FUZZ_DIR)/decompress
DZ_ONLY ?=
DZ_RUNS ?=
DZ_NAME = fuzz-decompress$(if $(DZ_ONLY),-$(DZ_ONLY))
DZ_DEF  = $(if $(filter zstd,$(DZ_ONLY)),-D FUZZ_ZSTD)$(if $(filter gzip,$(DZ_ONLY)),-D FUZZ_GZIP)
fuzz-decompress-build:
	mkdir -p $(DZ_DIR)/corpus$(if $(DZ_ONLY),-$(DZ_ONLY)) $(DZ_DIR)/seeds
	swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library -module-name DecompressFuzz $(DZ_DEF) \
		Sources/Decompress/*.swift Fuzz/FuzzDecompress.swift -o $(DZ_DIR)/$(DZ_NAME)
	head -c 12000 Fixtures/vmcore.0 > $(DZ_DIR)/seed.raw
	cp Fixtures/vmcore.0.gz Fixtures/vmcore.0.zst Fixtures/vmcore.0.cut.zst $(DZ_DIR)/seeds/
	if command -v gzip >/dev/null; then \
		for l in 1 6 9; do gzip -$$l -c $(DZ_DIR)/seed.raw > $(DZ_DIR)/seeds/vmcore.$$l.gz; done; \
		printf 'hello hello hello hello\n' | gzip -c > $(DZ_DIR)/seeds/hello.gz; \
	else echo "warning: no gzip: the decoder fuzz starts from the committed Fixtures/vmcore.0.gz only"; fi
	if command -v zstd >/dev/null; then \
		for l in 1 6 19; do zstd -q -$$l -c < $(DZ_DIR)/seed.raw > $(DZ_DIR)/seeds/vmcore.$$l.zst; done; \
		zstd -q -6 --long -T0 -c < $(DZ_DIR)/seed.raw > $(DZ_DIR)/seeds/vmcore.long.zst; \
		zstd -q -3 --no-check -c < Fixtures/vmcore.msgbuf40 | head -c 20000 > $(DZ_DIR)/seeds/msgbuf.zst; \
		printf 'hello hello hello hello\n' | zstd -q -c > $(DZ_DIR)/seeds/hello.zst; \
	else echo "warning: no zstd: the decoder fuzz starts from the committed Fixtures/vmcore.0*.zst only"; fi

fuzz-decompress: fuzz-decompress-build
	$(FUZZ_ENV) $(DZ_DIR)/$(DZ_NAME) -max_len=65536 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix=$(DZ_DIR)/crash$(if $(DZ_ONLY),-$(DZ_ONLY))- -max_total_time=$(SECONDS) $(if $(DZ_RUNS),-runs=$(DZ_RUNS)) \
		$(DZ_DIR)/corpus$(if $(DZ_ONLY),-$(DZ_ONLY)) $(DZ_DIR)/seeds > $(DZ_DIR)/$(DZ_NAME).log 2>&1 \
		|| { grep -v '^#[0-9]' $(DZ_DIR)/$(DZ_NAME).log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(DZ_DIR)/$(DZ_NAME).log

# Decoder throughput on a 200 MB dump-like file, beside gzip -dc and zstd -dc on the same files (level 6,
# the kernel's default; and zstd -6 --long -T0: a 128 MiB window, multi-threaded compression). Each line
# gives wall and CPU (user + system) seconds, best of BD_RUNS: on a shared machine compare the CPU figures.
# Files are cached in .bench-decompress/.
BD_DIR  = .bench-decompress
BD_RUNS ?= 3
BD_TIME = /usr/bin/time -f "%C: %e s wall, %U + %S s CPU"
bench-decompress:
	$(RELEASE) --product decompress-bench
	mkdir -p $(BD_DIR)
	test -s $(BD_DIR)/dump || $(RELEASE_BIN)/decompress-bench --generate $(BD_DIR)/dump 200
	test -s $(BD_DIR)/dump.gz || gzip -6 -c $(BD_DIR)/dump > $(BD_DIR)/dump.gz
	test -s $(BD_DIR)/dump.zst || zstd -q -6 -c < $(BD_DIR)/dump > $(BD_DIR)/dump.zst
	test -s $(BD_DIR)/dump.long.zst || zstd -q -6 --long -T0 -c < $(BD_DIR)/dump > $(BD_DIR)/dump.long.zst
	@for t in $$(seq $(BD_RUNS)); do $(BD_TIME) gzip -dc $(BD_DIR)/dump.gz > /dev/null; done
	$(RELEASE_BIN)/decompress-bench gzip $(BD_DIR)/dump.gz $(BD_RUNS)
	@for t in $$(seq $(BD_RUNS)); do $(BD_TIME) zstd -q -dc $(BD_DIR)/dump.zst > /dev/null; done
	$(RELEASE_BIN)/decompress-bench zstd $(BD_DIR)/dump.zst $(BD_RUNS)
	@for t in $$(seq $(BD_RUNS)); do $(BD_TIME) zstd -q -dc --long=27 $(BD_DIR)/dump.long.zst > /dev/null; done
	$(RELEASE_BIN)/decompress-bench zstd $(BD_DIR)/dump.long.zst $(BD_RUNS)

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(RELEASE_BIN)/kvmdump $(DESTDIR)$(PREFIX)/bin/kvmdump
	install -m 644 kvmdump.1 $(DESTDIR)$(PREFIX)/share/man/man1/kvmdump.1
	@$(call STATIC_CHECK,$(DESTDIR)$(PREFIX)/bin/kvmdump)

# A tarball of the installed tree (bin/kvmdump, share/man/man1/kvmdump.1) for a triage host.
DIST_DIR = .build/dist
dist:
	rm -rf $(DIST_DIR)/root
	$(MAKE) install DESTDIR=$(CURDIR)/$(DIST_DIR)/root PREFIX=/usr/local
	tar -C $(DIST_DIR)/root/usr/local -czf $(DIST_DIR)/kvmdump-$$($(RELEASE_BIN)/kvmdump --version | cut -d' ' -f2)-$$(uname -s | tr A-Z a-z)-$$(uname -m).tar.gz bin share
	@ls -l $(DIST_DIR)/*.tar.gz

clean:
	rm -rf .build .build-asan .build-tsan $(FUZZ_DIR) $(BD_DIR)
