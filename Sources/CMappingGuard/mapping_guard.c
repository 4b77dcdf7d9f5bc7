#define _GNU_SOURCE
#include "include/mapping_guard.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

struct guard_slot {
    _Atomic(uintptr_t) base;    /* 0 = free */
    _Atomic(uintptr_t) length;
    uint64_t faults;            /* read and written with __atomic builtins */
};

static uint64_t never_faults = 0;

static struct guard_slot slots[KVMDUMP_GUARD_SLOTS];
static struct sigaction previous_action;
static uintptr_t page_size = 4096;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed = 0;
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;

/* Only async-signal-safe work: atomic loads, mmap (a system call), sigaction. */
static void on_sigbus(int sig, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < KVMDUMP_GUARD_SLOTS; i++) {
        uintptr_t base = atomic_load(&slots[i].base);
        if (base == 0) continue;
        uintptr_t length = atomic_load(&slots[i].length);
        if (address - base >= length) continue;
        uintptr_t page = address & ~(page_size - 1);
        uintptr_t end = (base + length + page_size - 1) & ~(page_size - 1);
        void *replaced = mmap((void *)page, end - page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (replaced != MAP_FAILED) {
            __atomic_fetch_add(&slots[i].faults, 1, __ATOMIC_SEQ_CST);
            return; /* the faulting load runs again and reads zeros */
        }
        break;
    }
    /* Not a guarded mapping: hand the signal to whoever had it before. */
    if ((previous_action.sa_flags & SA_SIGINFO) && previous_action.sa_sigaction != NULL) {
        previous_action.sa_sigaction(sig, info, context);
        return;
    }
    if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN
        && previous_action.sa_handler != NULL) {
        previous_action.sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the fault repeats and ends the process as before. */
    signal(SIGBUS, SIG_DFL);
}

static void install(void) {
    long size = sysconf(_SC_PAGESIZE);
    if (size > 0) page_size = (uintptr_t)size;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    installed = sigaction(SIGBUS, &action, &previous_action) == 0;
}

int kvmdump_guard_register(const void *base, size_t length) {
    if (base == NULL || length == 0) return -1;
    pthread_once(&install_once, install);
    if (!installed) return -1;
    int found = -1;
    pthread_mutex_lock(&slot_lock);
    for (int i = 0; i < KVMDUMP_GUARD_SLOTS; i++) {
        if (atomic_load(&slots[i].base) == 0) {
            __atomic_store_n(&slots[i].faults, 0, __ATOMIC_SEQ_CST);
            atomic_store(&slots[i].length, (uintptr_t)length);
            atomic_store(&slots[i].base, (uintptr_t)base);
            found = i;
            break;
        }
    }
    pthread_mutex_unlock(&slot_lock);
    return found;
}

void kvmdump_guard_unregister(int slot) {
    if (slot < 0 || slot >= KVMDUMP_GUARD_SLOTS) return;
    pthread_mutex_lock(&slot_lock);
    atomic_store(&slots[slot].base, 0);
    atomic_store(&slots[slot].length, 0);
    pthread_mutex_unlock(&slot_lock);
}

uint64_t kvmdump_guard_faults(int slot) {
    if (slot < 0 || slot >= KVMDUMP_GUARD_SLOTS) return 0;
    return __atomic_load_n(&slots[slot].faults, __ATOMIC_SEQ_CST);
}

const void *kvmdump_guard_counter(int slot) {
    if (slot < 0 || slot >= KVMDUMP_GUARD_SLOTS) return &never_faults;
    return &slots[slot].faults;
}
