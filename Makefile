# kvmdump — build, test, benchmark, fuzz. Only the Swift toolchain is needed.
SWIFT       ?= swift
PREFIX      ?= /usr/local
SECONDS     ?= 60
RELEASE_BIN  = $(shell $(SWIFT) build -c release --show-bin-path)

.PHONY: build release test test-debug test-asan fixtures bench bench-smoke fuzz fuzz-build install clean

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

# The test command: the whole suite, then the suite again under AddressSanitizer, then a bounded fuzz run.
test: test-debug test-asan fuzz

test-debug:
	$(SWIFT) build
	$(SWIFT) test

test-asan:
	$(SWIFT) test --sanitize=address --scratch-path .build-asan

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
fuzz-build:
	mkdir -p $(FUZZ_DIR)/corpus
	swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name MinidumpFuzz \
		Sources/MinidumpCore/*.swift Fuzz/FuzzMinidump.swift -o $(FUZZ_DIR)/fuzz-minidump
	$(SWIFT) run mkvmcore --corrupt $(FUZZ_DIR)/corpus

fuzz: fuzz-build
	$(FUZZ_DIR)/fuzz-minidump -max_total_time=$(SECONDS) -rss_limit_mb=1024 -timeout=5 \
		-max_len=262144 $(FUZZ_DIR)/corpus

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(RELEASE_BIN)/kvmdump $(DESTDIR)$(PREFIX)/bin/kvmdump
	install -m 644 kvmdump.1 $(DESTDIR)$(PREFIX)/share/man/man1/kvmdump.1

clean:
	rm -rf .build .build-asan $(FUZZ_DIR)
