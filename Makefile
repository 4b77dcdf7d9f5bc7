# kvmdump — build, test, benchmark, fuzz. Only the Swift toolchain is needed.
SHELL        = /bin/bash
SWIFT       ?= swift
PREFIX      ?= /usr/local
SECONDS     ?= 60
# Release builds link the Swift runtime statically: the installed binary runs on a host without Swift.
RELEASE      = $(SWIFT) build -c release --static-swift-stdlib
RELEASE_BIN  = $(shell $(RELEASE) --show-bin-path)

.PHONY: build release test test-debug test-asan fixtures bench bench-smoke fuzz fuzz-build fuzz-crashinfo fuzz-crashinfo-build fuzz-crashinfo-run fuzz-libs fuzz-threads fuzz-threads-build fuzz-export fuzz-export-build fuzz-decompress fuzz-decompress-build bench-decompress install check-static dist clean

build:
	$(SWIFT) build

release:
	$(RELEASE) --product kvmdump

# The test command: the whole suite, the suite again under AddressSanitizer, the concurrency tests
# under ThreadSanitizer, then a bounded fuzz run (SECONDS, default 60).
test: test-debug test-asan test-tsan fuzz

test-debug:
	$(SWIFT) build
	$(SWIFT) test
	$$($(SWIFT) build --show-bin-path)/kvmdump-bench --smoke > .build/bench-smoke.log 2>&1 \
		|| { tail -40 .build/bench-smoke.log; exit 1; }
	@echo "bench-smoke: ok"

# ld.gold prints a harmless "Cannot export local symbol '__asan_…'" warning per sanitizer symbol.
LD_NOISE = { grep -v "Cannot export local symbol '__\(asan\|tsan\)_" || true; }

test-asan:
	set -o pipefail; LSAN_OPTIONS=suppressions=$(CURDIR)/Fuzz/lsan-suppressions.txt \
		$(SWIFT) test --sanitize=address --scratch-path .build-asan 2>&1 | $(LD_NOISE)

# Tests where many tasks share one dump.
TSAN_TESTS = manyTasksReadingOneDumpSeeTheSameBytes

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
fuzz-build:
	mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds
	clang -O2 -fsanitize=$(subst fuzzer,fuzzer-no-link,$(FUZZ_SAN)) -c Sources/CBitCount/bitcount.c -o $(FUZZ_DIR)/bitcount.o
	clang -O2 -fsanitize=$(subst fuzzer,fuzzer-no-link,$(FUZZ_SAN)) -c Sources/CMappingGuard/mapping_guard.c -o $(FUZZ_DIR)/mapping_guard.o
	swiftc -O -sanitize=$(FUZZ_SAN) -parse-as-library -module-name MappedBytes -I Sources/CBitCount/include \
		-I Sources/CMappingGuard/include \
		-emit-module -emit-module-path $(FUZZ_DIR)/MappedBytes.swiftmodule -emit-library -static \
		Sources/MappedBytes/*.swift -o $(FUZZ_DIR)/libMappedBytes.a
	swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library -module-name MinidumpFuzz \
		-I Sources/CBitCount/include -I Sources/CMappingGuard/include -I $(FUZZ_DIR) $(FUZZ_DIR)/libMappedBytes.a \
		$(FUZZ_DIR)/bitcount.o $(FUZZ_DIR)/mapping_guard.o \
		Sources/MinidumpCore/*.swift Fuzz/FuzzMinidump.swift -o $(FUZZ_DIR)/fuzz-minidump
	swiftc -Onone -parse-as-library -module-name FuzzSeeds \
		Sources/VMCoreBuilder/*.swift Fuzz/MakeSeeds.swift -o $(FUZZ_DIR)/make-seeds
	$(FUZZ_DIR)/make-seeds $(FUZZ_DIR)/seeds
	$(MAKE) fuzz-crashinfo-build

# The CrashInfo target (Fuzz/FuzzCrashInfo.swift): msgbuf lines, info.N, symbol expressions and kernel ELF
# images. MinidumpCore, KernelImage and CrashInfo are instrumented modules; VMCoreBuilder (the fixture dump
# and the seeds) is not.
CI_DIR = $(FUZZ_DIR)/crashinfo
CI_LIB = swiftc -O -sanitize=$(FUZZ_SAN) -parse-as-library -I Sources/CBitCount/include -I Sources/CMappingGuard/include -I $(FUZZ_DIR) -I $(CI_DIR) \
	-emit-library -static
fuzz-crashinfo-build:
	mkdir -p $(CI_DIR)/corpus $(CI_DIR)/seeds
	$(CI_LIB) -module-name MinidumpCore -emit-module -emit-module-path $(CI_DIR)/MinidumpCore.swiftmodule \
		Sources/MinidumpCore/*.swift -o $(CI_DIR)/libMinidumpCore.a
	$(CI_LIB) -module-name KernelImage -emit-module -emit-module-path $(CI_DIR)/KernelImage.swiftmodule \
		Sources/KernelImage/*.swift -o $(CI_DIR)/libKernelImage.a
	$(CI_LIB) -enable-testing -module-name CrashInfo -emit-module -emit-module-path $(CI_DIR)/CrashInfo.swiftmodule \
		Sources/CrashInfo/*.swift -o $(CI_DIR)/libCrashInfo.a
	swiftc -O -parse-as-library -module-name VMCoreBuilder -emit-module -emit-module-path $(CI_DIR)/VMCoreBuilder.swiftmodule \
		-emit-library -static Sources/VMCoreBuilder/*.swift -o $(CI_DIR)/libVMCoreBuilder.a
	swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library -module-name CrashInfoFuzz \
		-I Sources/CBitCount/include -I Sources/CMappingGuard/include -I $(FUZZ_DIR) -I $(CI_DIR) Fuzz/FuzzCrashInfo.swift \
		$(CI_DIR)/libCrashInfo.a $(CI_DIR)/libKernelImage.a $(CI_DIR)/libMinidumpCore.a $(CI_DIR)/libVMCoreBuilder.a \
		$(FUZZ_DIR)/libMappedBytes.a $(FUZZ_DIR)/bitcount.o $(FUZZ_DIR)/mapping_guard.o -o $(FUZZ_DIR)/fuzz-crashinfo
	swiftc -Onone -parse-as-library -module-name CrashInfoSeeds \
		Sources/VMCoreBuilder/*.swift Fuzz/MakeCrashInfoSeeds.swift -o $(CI_DIR)/make-seeds
	$(CI_DIR)/make-seeds $(CI_DIR)/seeds

# Quiet unless something is found: then the end of libFuzzer's log, and a non-zero exit. Both targets
# run SECONDS each: the dump reader, then CrashInfo (fuzz-crashinfo alone: make fuzz-crashinfo).
fuzz: fuzz-build
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz-minidump $(FUZZ_FLAGS) -max_total_time=$(SECONDS) \
		$(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds > $(FUZZ_DIR)/fuzz.log 2>&1 \
		|| { grep -v '^#[0-9]' $(FUZZ_DIR)/fuzz.log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_DIR)/fuzz.log
	$(MAKE) fuzz-crashinfo-run

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

# The product's libraries as instrumented static libraries (with the C shims), for the fuzz targets that
# link them as a program would: $(FUZZ_LIB)/libNAME.a and NAME.swiftmodule.
FUZZ_LIB = $(FUZZ_DIR)/lib
FUZZ_LIB_MODULES = MappedBytes MinidumpCore KernelImage KernelThreads CoreExport
FUZZ_INCLUDES = -I Sources/CBitCount/include -I Sources/CMappingGuard/include -I $(FUZZ_LIB)
fuzz-libs:
	mkdir -p $(FUZZ_LIB)
	for c in CBitCount/bitcount CMappingGuard/mapping_guard; do \
		clang -O2 -fsanitize=$(subst fuzzer,fuzzer-no-link,$(FUZZ_SAN)) -c Sources/$$c.c -o $(FUZZ_LIB)/$$(basename $$c).o || exit 1; \
	done
	for m in $(FUZZ_LIB_MODULES); do \
		swiftc -O -sanitize=$(FUZZ_SAN) -parse-as-library -module-name $$m $(FUZZ_INCLUDES) \
			-emit-module -emit-module-path $(FUZZ_LIB)/$$m.swiftmodule -emit-library -static \
			Sources/$$m/*.swift -o $(FUZZ_LIB)/lib$$m.a || exit 1; \
	done

# The thread and stack walkers: patches to the golden vmcore.2 (seeds: the generator's corruptions).
fuzz-threads-build: fuzz-libs
	mkdir -p $(FUZZ_DIR)/threads-corpus $(FUZZ_DIR)/threads-seeds
	swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library -module-name ThreadsFuzz $(FUZZ_INCLUDES) Fuzz/FuzzThreads.swift \
		$(FUZZ_LIB)/libKernelThreads.a $(FUZZ_LIB)/libKernelImage.a $(FUZZ_LIB)/libMinidumpCore.a $(FUZZ_LIB)/libMappedBytes.a \
		$(FUZZ_LIB)/bitcount.o $(FUZZ_LIB)/mapping_guard.o -o $(FUZZ_DIR)/fuzz-threads
	swiftc -Onone -parse-as-library -module-name ThreadSeeds \
		Sources/VMCoreBuilder/*.swift Fuzz/MakeThreadSeeds.swift -o $(FUZZ_DIR)/make-thread-seeds
	$(FUZZ_DIR)/make-thread-seeds $(FUZZ_DIR)/threads-seeds

fuzz-threads: fuzz-threads-build
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz-threads -max_len=4096 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/crash-threads- -max_total_time=$(SECONDS) \
		$(FUZZ_DIR)/threads-corpus $(FUZZ_DIR)/threads-seeds > $(FUZZ_DIR)/fuzz-threads.log 2>&1 \
		|| { grep -v '^#[0-9]' $(FUZZ_DIR)/fuzz-threads.log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_DIR)/fuzz-threads.log

# kvmdump export: arbitrary dumps exported as ELF cores to /dev/null (seeds: the reader's, from fuzz-build).
fuzz-export-build: fuzz-build fuzz-libs
	mkdir -p $(FUZZ_DIR)/export-corpus
	swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library -module-name ExportFuzz $(FUZZ_INCLUDES) Fuzz/FuzzExport.swift \
		$(FUZZ_LIB)/libCoreExport.a $(FUZZ_LIB)/libMinidumpCore.a $(FUZZ_LIB)/libMappedBytes.a \
		$(FUZZ_LIB)/bitcount.o $(FUZZ_LIB)/mapping_guard.o -o $(FUZZ_DIR)/fuzz-export

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
	for l in 1 6 9; do gzip -$$l -c $(DZ_DIR)/seed.raw > $(DZ_DIR)/seeds/vmcore.$$l.gz; done
	for l in 1 6 19; do zstd -q -$$l -c < $(DZ_DIR)/seed.raw > $(DZ_DIR)/seeds/vmcore.$$l.zst; done
	zstd -q -6 --long -T0 -c < $(DZ_DIR)/seed.raw > $(DZ_DIR)/seeds/vmcore.long.zst
	zstd -q -3 --no-check -c < Fixtures/vmcore.msgbuf40 | head -c 20000 > $(DZ_DIR)/seeds/msgbuf.zst
	printf 'hello hello hello hello\n' | gzip -c > $(DZ_DIR)/seeds/hello.gz
	printf 'hello hello hello hello\n' | zstd -q -c > $(DZ_DIR)/seeds/hello.zst

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
