/*
 * siphash.h - SipHash-1-3 (Aumasson & Bernstein), the keyed PRF CPython and Rust use against
 * hash flooding.  Header-only and always inlined: it sits inside the table's batch pipeline.
 * Byte order only changes hash values, never their quality, and values never leave a table.
 *
 * The table feeds whole 64-bit words (sip_compress) and builds the final block itself
 * (sip_finish: the top byte carries the message length, as the specification says), which
 * spares the byte shuffling of a byte-string interface.
 */
#ifndef WEBOSLB_SIPHASH_H
#define WEBOSLB_SIPHASH_H

#include <stdint.h>

#define SIP_INLINE static inline __attribute__((always_inline, unused))
#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

typedef struct {
    uint64_t v0, v1, v2, v3;
} sip_state;

SIP_INLINE void sip_round(sip_state *s)
{
    s->v0 += s->v1; s->v1 = SIP_ROTL(s->v1, 13); s->v1 ^= s->v0; s->v0 = SIP_ROTL(s->v0, 32);
    s->v2 += s->v3; s->v3 = SIP_ROTL(s->v3, 16); s->v3 ^= s->v2;
    s->v0 += s->v3; s->v3 = SIP_ROTL(s->v3, 21); s->v3 ^= s->v0;
    s->v2 += s->v1; s->v1 = SIP_ROTL(s->v1, 17); s->v1 ^= s->v2; s->v2 = SIP_ROTL(s->v2, 32);
}

SIP_INLINE sip_state sip_init(const uint64_t k[2])
{
    sip_state s = {k[0] ^ 0x736f6d6570736575ULL, k[1] ^ 0x646f72616e646f6dULL,
                   k[0] ^ 0x6c7967656e657261ULL, k[1] ^ 0x7465646279746573ULL};
    return s;
}

/* One message word, one compression round (the "1" of SipHash-1-3). */
SIP_INLINE void sip_compress(sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    s->v0 ^= m;
}

/* The final block b (length << 56 | trailing bytes), then three finalization rounds. */
SIP_INLINE uint64_t sip_finish(sip_state *s, uint64_t b)
{
    sip_compress(s, b);
    s->v2 ^= 0xff;
    sip_round(s);
    sip_round(s);
    sip_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

#endif
