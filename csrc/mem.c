/*
 * mem.c - zeroed arrays that are fully faulted in at creation, so no first-touch page fault
 * lands on the packet path (about 50 ns a packet on this VM kind); or, on request, left to
 * fault in as they are used (a big table that stays mostly empty: a replay's).  On Linux:
 * anonymous mmap aligned to 2 MiB, MADV_HUGEPAGE, then MADV_POPULATE_WRITE (or touching each
 * page) unless asked not to.
 */
#include "mem.h"

#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_ALIGN ((size_t)2 << 20)
#define CACHE_LINE 64

static void prefault(char *p, size_t size)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, size, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < size; off += (size_t)(page > 0 ? page : 4096))
        p[off] = 0;
}

void *pst_mem_alloc(size_t size)
{
    return pst_mem_alloc_opt(size, 1);
}

void *pst_mem_alloc_opt(size_t size, int fault_in)
{
    if (size == 0)
        size = 1;
    if (size < HUGE_ALIGN) {
        /* aligned to a cache line: the IPv4 table's buckets are lines */
        void *p;
        if (posix_memalign(&p, CACHE_LINE, size) != 0)
            return NULL;
        memset(p, 0, size);     /* zeroed either way; small, so faulted in either way */
        return p;
    }
    size = (size + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
    size_t span = size + HUGE_ALIGN;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)raw + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (p + size < raw + span)
        munmap(p + size, (size_t)(raw + span - (p + size)));
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    if (fault_in)
        prefault(p, size);
    return p;
}

void pst_mem_free(void *p, size_t size)
{
    if (p == NULL)
        return;
    if (size == 0)
        size = 1;
    if (size < HUGE_ALIGN) {
        free(p);
        return;
    }
    size = (size + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
    munmap(p, size);
}

#else /* portable fallback */

void *pst_mem_alloc(size_t size)
{
    char *p = calloc(1, size ? size : 1);
    return p;
}

void *pst_mem_alloc_opt(size_t size, int fault_in)
{
    (void)fault_in;
    return pst_mem_alloc(size);
}

void pst_mem_free(void *p, size_t size)
{
    (void)size;
    free(p);
}

#endif
