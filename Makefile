# kvmdump — build, test, benchmark, fuzz. Only the Swift toolchain is needed.
SHELL        = /bin/bash
SWIFT       ?= swift
PREFIX      ?= /usr/local
SECONDS     ?= 60
RELEASE_BIN  = $(shell $(SWIFT) build -c release --show-bin-path)

.PHONY: build release test test-debug test-asan fixtures bench bench-smoke fuzz fuzz-build fuzz-threads fuzz-threads-build fuzz-export fuzz-export-build install clean

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

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
	$(SWIFT) build -c release --product kvmdump
	$(SWIFT) build -c release --product kvmdump-bench
	$(RELEASE_BIN)/kvmdump-bench $(BENCH_ARGS)

# Seconds: tiny dumps in a temporary folder, every measurement path including baselines and child processes.
bench-smoke:
	$(SWIFT) build -c release --product kvmdump
	$(SWIFT) build -c release --product kvmdump-bench
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
	swiftc -O -sanitize=$(FUZZ_SAN) -parse-as-library -module-name MappedBytes -I Sources/CBitCount/include \
		-emit-module -emit-module-path $(FUZZ_DIR)/MappedBytes.swiftmodule -emit-library -static \
		Sources/MappedBytes/*.swift -o $(FUZZ_DIR)/libMappedBytes.a
	swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library -module-name MinidumpFuzz \
		-I Sources/CBitCount/include -I $(FUZZ_DIR) $(FUZZ_DIR)/libMappedBytes.a $(FUZZ_DIR)/bitcount.o \
		Sources/MinidumpCore/*.swift Fuzz/FuzzMinidump.swift -o $(FUZZ_DIR)/fuzz-minidump
	swiftc -Onone -parse-as-library -module-name FuzzSeeds \
		Sources/VMCoreBuilder/*.swift Fuzz/MakeSeeds.swift -o $(FUZZ_DIR)/make-seeds
	$(FUZZ_DIR)/make-seeds $(FUZZ_DIR)/seeds

# Quiet unless something is found: then the end of libFuzzer's log, and a non-zero exit.
fuzz: fuzz-build
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz-minidump $(FUZZ_FLAGS) -max_total_time=$(SECONDS) \
		$(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds > $(FUZZ_DIR)/fuzz.log 2>&1 \
		|| { grep -v '^#[0-9]' $(FUZZ_DIR)/fuzz.log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_DIR)/fuzz.log

# The thread and stack walkers: patches to the golden vmcore.2 (seeds: the generator's corruptions).
fuzz-threads-build:
	mkdir -p $(FUZZ_DIR)/threads-corpus $(FUZZ_DIR)/threads-seeds $(FUZZ_DIR)/threads-lib
	clang -O2 -fsanitize=$(subst fuzzer,fuzzer-no-link,$(FUZZ_SAN)) -c Sources/CBitCount/bitcount.c -o $(FUZZ_DIR)/threads-lib/bitcount.o
	for m in MappedBytes MinidumpCore KernelImage KernelThreads; do \
		swiftc -O -sanitize=$(FUZZ_SAN) -parse-as-library -module-name $$m -I Sources/CBitCount/include -I $(FUZZ_DIR)/threads-lib \
			-emit-module -emit-module-path $(FUZZ_DIR)/threads-lib/$$m.swiftmodule -emit-library -static \
			Sources/$$m/*.swift -o $(FUZZ_DIR)/threads-lib/lib$$m.a || exit 1; \
	done
	swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library -module-name ThreadsFuzz \
		-I Sources/CBitCount/include -I $(FUZZ_DIR)/threads-lib Fuzz/FuzzThreads.swift \
		$(FUZZ_DIR)/threads-lib/libKernelThreads.a $(FUZZ_DIR)/threads-lib/libKernelImage.a \
		$(FUZZ_DIR)/threads-lib/libMinidumpCore.a $(FUZZ_DIR)/threads-lib/libMappedBytes.a \
		$(FUZZ_DIR)/threads-lib/bitcount.o -o $(FUZZ_DIR)/fuzz-threads
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
fuzz-export-build: fuzz-build
	mkdir -p $(FUZZ_DIR)/export-corpus $(FUZZ_DIR)/export-lib
	clang -O2 -fsanitize=$(subst fuzzer,fuzzer-no-link,$(FUZZ_SAN)) -c Sources/CBitCount/bitcount.c -o $(FUZZ_DIR)/export-lib/bitcount.o
	for m in MappedBytes MinidumpCore CoreExport; do \
		swiftc -O -sanitize=$(FUZZ_SAN) -parse-as-library -module-name $$m -I Sources/CBitCount/include -I $(FUZZ_DIR)/export-lib \
			-emit-module -emit-module-path $(FUZZ_DIR)/export-lib/$$m.swiftmodule -emit-library -static \
			Sources/$$m/*.swift -o $(FUZZ_DIR)/export-lib/lib$$m.a || exit 1; \
	done
	swiftc -O -sanitize=$(FUZZ_SAN) -use-ld=lld -parse-as-library -module-name ExportFuzz \
		-I Sources/CBitCount/include -I $(FUZZ_DIR)/export-lib Fuzz/FuzzExport.swift \
		$(FUZZ_DIR)/export-lib/libCoreExport.a $(FUZZ_DIR)/export-lib/libMinidumpCore.a \
		$(FUZZ_DIR)/export-lib/libMappedBytes.a $(FUZZ_DIR)/export-lib/bitcount.o -o $(FUZZ_DIR)/fuzz-export

fuzz-export: fuzz-export-build
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz-export $(FUZZ_FLAGS) -artifact_prefix=$(FUZZ_DIR)/crash-export- -max_total_time=$(SECONDS) \
		$(FUZZ_DIR)/export-corpus $(FUZZ_DIR)/seeds > $(FUZZ_DIR)/fuzz-export.log 2>&1 \
		|| { grep -v '^#[0-9]' $(FUZZ_DIR)/fuzz-export.log | tail -60; exit 1; }
	grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_DIR)/fuzz-export.log

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(RELEASE_BIN)/kvmdump $(DESTDIR)$(PREFIX)/bin/kvmdump
	install -m 644 kvmdump.1 $(DESTDIR)$(PREFIX)/share/man/man1/kvmdump.1

clean:
	rm -rf .build .build-asan .build-tsan $(FUZZ_DIR)
