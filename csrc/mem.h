/* mem.h - big zeroed, pre-faulted arrays (huge pages where the kernel offers them). */
#ifndef WEBOSLB_MEM_H
#define WEBOSLB_MEM_H

#include <stddef.h>

void *pst_mem_alloc(size_t size);
void pst_mem_free(void *p, size_t size);

#endif
