#include "include/bitcount.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define KVMDUMP_NO_IFUNC 1 /* the loader runs ifunc resolvers before the sanitizer's runtime starts */
#endif
#endif

#if defined(__x86_64__) && defined(__ELF__) && !defined(KVMDUMP_NO_IFUNC)
__attribute__((target_clones("popcnt", "default")))
#endif
uint64_t kvmdump_popcount_words(const uint64_t *words, size_t count, uint64_t extra) {
    uint64_t total = (uint64_t)__builtin_popcountll(extra);
    for (size_t i = 0; i < count; i++) {
        total += (uint64_t)__builtin_popcountll(words[i]);
    }
    return total;
}
