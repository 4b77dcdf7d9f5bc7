#ifndef KVMDUMP_BITCOUNT_H
#define KVMDUMP_BITCOUNT_H

#include <stddef.h>
#include <stdint.h>

/// Number of set bits in `count` consecutive 64-bit words at `words`, plus those in `extra`
/// (a partial word the caller has already masked).
///
/// On x86-64 ELF hosts the function is built twice (with and without the POPCNT instruction)
/// and the dynamic loader picks the one the CPU supports, because Swift's `nonzeroBitCount`
/// compiles to a 12-instruction software sequence on the default x86-64 target.
uint64_t kvmdump_popcount_words(const uint64_t *words, size_t count, uint64_t extra);

/// A hint that the cache line holding `address` will be read soon (no effect on results, never faults).
/// Static inline so Swift inlines it into the caller's loop.
static inline void kvmdump_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
