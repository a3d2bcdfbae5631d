/*
 * siphash.h - SipHash-1-3 (Aumasson & Bernstein), the keyed PRF CPython and Rust use against
 * hash flooding.  Header-only so the table's lookup pipeline can inline it.
 * Byte order only changes the hash value, never its quality, and values never leave a table.
 */
#ifndef WEBOSLB_SIPHASH_H
#define WEBOSLB_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3)                                                          \
    do {                                                                                   \
        v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32);                  \
        v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;                                         \
        v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;                                         \
        v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32);                  \
    } while (0)

static inline uint64_t sip_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* SipHash-1-3 of data[0..len) under key k[2]. */
static inline uint64_t siphash13(const uint64_t k[2], const uint8_t *data, size_t len)
{
    uint64_t v0 = k[0] ^ 0x736f6d6570736575ULL, v1 = k[1] ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k[0] ^ 0x6c7967656e657261ULL, v3 = k[1] ^ 0x7465646279746573ULL;
    const uint8_t *end = data + (len & ~(size_t)7);
    uint64_t m, b = (uint64_t)len << 56;

    for (; data != end; data += 8) {
        m = sip_load64(data);
        v3 ^= m;
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    switch (len & 7) {
    case 7: b |= (uint64_t)data[6] << 48; /* fall through */
    case 6: b |= (uint64_t)data[5] << 40; /* fall through */
    case 5: b |= (uint64_t)data[4] << 32; /* fall through */
    case 4: b |= (uint64_t)data[3] << 24; /* fall through */
    case 3: b |= (uint64_t)data[2] << 16; /* fall through */
    case 2: b |= (uint64_t)data[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)data[0]; break;
    case 0: break;
    }
    v3 ^= b;
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

#endif
