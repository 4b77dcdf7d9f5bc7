#include "include/bitcount.h"

#if defined(__x86_64__) && defined(__ELF__)
__attribute__((target_clones("popcnt", "default")))
#endif
uint64_t kvmdump_popcount_words(const uint64_t *words, size_t count, uint64_t extra) {
    uint64_t total = (uint64_t)__builtin_popcountll(extra);
    for (size_t i = 0; i < count; i++) {
        total += (uint64_t)__builtin_popcountll(words[i]);
    }
    return total;
}
