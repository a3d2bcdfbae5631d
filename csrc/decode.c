/*
 * decode.c - the batch entry point of the frame decoder (the per-frame work is fr_decode1 in
 * decode_inl.h).
 */
#include "decode.h"

#include "decode_inl.h"

/* A macro, not a static function: gcc 12 drops calls to a function whose body is only a
 * prefetch (it sees no side effect). */
#define PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)

enum { AHEAD = 8 };     /* frames between the prefetch of a frame's headers and its decode */

int fr_decode_many(const uint8_t *buf, size_t buflen, const uint64_t *off,
                   const uint32_t *caplen, uint32_t n, int link, struct fr_pkt *out)
{
    static const uint8_t empty[1];
    if (n == 0)
        return 0;
    if (!off || !caplen || !out || (!buf && buflen))
        return FR_EINVAL;
    if (!buf)
        buf = empty;
    for (uint32_t i = 0; i < n; i++)
        if (off[i] > buflen || caplen[i] > buflen - off[i])
            return FR_ERANGE;
    for (uint32_t i = 0; i < n; i++) {
        if (i + AHEAD < n)
            PREFETCH(buf + off[i + AHEAD]);
        fr_decode1(buf + off[i], caplen[i], link, &out[i]);
    }
    return 0;
}
