#ifndef KVMDUMP_MAPPING_GUARD_H
#define KVMDUMP_MAPPING_GUARD_H

#include <stddef.h>
#include <stdint.h>

/// Guards read-only file mappings against SIGBUS, which the kernel sends when a mapped page lies
/// past the end of a file that shrank after it was mapped (a dump still being written, a copy being
/// replaced, an NFS file cut short).
///
/// A registered mapping that faults is not fatal: the SIGBUS handler replaces the mapping from the
/// faulting page to its end with zero-filled anonymous memory (the read that faulted resumes and
/// sees zeros) and counts the fault. Readers check the count after each operation and report the
/// shrunk file as an error instead of using what they read. Faults outside registered mappings
/// go to the handler that was installed before (or the default action: the process dies as it
/// would have).

/// Number of mappings that can be guarded at once; registration past it returns -1 (the mapping is
/// then unguarded, as before).
#define KVMDUMP_GUARD_SLOTS 256

/// Installs the SIGBUS handler (once per process) and registers `[base, base + length)`.
/// Returns the slot (>= 0), or -1 if every slot is taken or the handler cannot be installed.
int kvmdump_guard_register(const void *base, size_t length);

/// Forgets slot `slot` (before the mapping is unmapped). Ignores -1.
void kvmdump_guard_unregister(int slot);

/// Faults handled in slot `slot` since it was registered (0 for -1).
uint64_t kvmdump_guard_faults(int slot);

/// The fault counter of slot `slot`, for `kvmdump_guard_read` (a counter that stays 0 for -1).
const void *kvmdump_guard_counter(int slot);

/// The value of a counter from `kvmdump_guard_counter`: inlined into the caller, one load after a
/// compiler barrier, so it is not moved before the reads it checks (the handler runs on the
/// faulting thread, at the faulting load, so no hardware fence is needed).
static inline uint64_t kvmdump_guard_read(const void *counter) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n((const uint64_t *)counter, __ATOMIC_RELAXED);
}

#endif
