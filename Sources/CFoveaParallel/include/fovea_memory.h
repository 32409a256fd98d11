// The C library's allocator policy, where Swift cannot reach it (mallopt is not in Glibc's
// Swift module).
#ifndef FOVEA_MEMORY_H
#define FOVEA_MEMORY_H

#if defined(__linux__)
#include <malloc.h>
#endif

/// glibc: blocks of `bytes` or more are mapped from the system and unmapped when freed, at a
/// fixed threshold (glibc's default raises it to each freed mapped block's size, up to 32 MB,
/// and keeps freed blocks below it in its heap). Returns 1 when set, 0 elsewhere.
static inline int fovea_map_blocks_from(int bytes) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

#endif
