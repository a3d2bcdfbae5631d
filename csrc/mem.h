/* mem.h - big zeroed, pre-faulted arrays (huge pages where the kernel offers them). */
#ifndef WEBOSLB_MEM_H
#define WEBOSLB_MEM_H

#include <stddef.h>

void *pst_mem_alloc(size_t size);
/* The same; prefault 0: pages are left to fault in when first touched (zeroed either way). */
void *pst_mem_alloc_opt(size_t size, int prefault);
void pst_mem_free(void *p, size_t size);

#endif
