/*
 * keyhash.h - the keyed hashes the C tables share (internal: not part of the cdef).
 *
 * Keys off the wire are attacker-controlled, so every table hashes under its own random seed:
 * SipHash-1-3 over the key's zero-padded 64-bit words (siphash.h), or, where the CPU has
 * AES-NI, AES rounds under round keys derived from the same seed (aeshash.h).  Both take the
 * key width as a parameter so that callers passing a constant get unrolled code; `meta`
 * carries what else identifies a key (its length, a service number) into the final block.
 */
#ifndef WEBOSLB_KEYHASH_H
#define WEBOSLB_KEYHASH_H

#include <stdint.h>
#include <string.h>

#include "aeshash.h"
#include "siphash.h"

#define KH_INLINE static inline __attribute__((always_inline, unused))

/* Bytes off.. of the key as a little-endian word, zero past len (never reads past len). */
KH_INLINE uint64_t kh_word(const uint8_t *key, uint32_t len, uint32_t off)
{
    uint64_t w = 0;
    if (off + 8 <= len) {
        memcpy(&w, key + off, 8);
    } else {
        for (uint32_t i = off; i < len; i++)
            w |= (uint64_t)key[i] << (8 * (i - off));
    }
    return w;
}

/* SipHash-1-3 of the key padded to kw bytes, then a final block of meta_len bytes of meta. */
KH_INLINE uint64_t kh_sip(const uint64_t seed[2], const uint8_t *key, uint32_t len, uint32_t kw,
                          uint64_t meta, uint32_t meta_len)
{
    sip_state s = sip_init(seed);
    for (uint32_t off = 0; off < kw; off += 8)
        sip_compress(&s, kh_word(key, len, off));
    return sip_finish(&s, meta | (uint64_t)(((kw + 7) & ~7u) + meta_len) << 56);
}

/* Whether this build and this CPU can run the AES hash. */
KH_INLINE int kh_aes_available(void)
{
#if PST_HAVE_AES
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") != 0;
#else
    return 0;
#endif
}

#if PST_HAVE_AES
/* The AES hash of the key padded to kw bytes (at most AES_MAX_BLOCKS blocks), then meta. */
KH_INLINE uint64_t kh_aes(const aes_keys *k, const uint8_t *key, uint32_t len, uint32_t kw,
                          uint64_t meta)
{
    __m128i acc = _mm_setzero_si128();
    for (uint32_t off = 0; off < kw; off += 16) {
        uint64_t lo, hi = off + 8 < kw ? kh_word(key, len, off + 8) : 0;
        if (kw == 4) {
            uint32_t ip;
            memcpy(&ip, key, 4);
            lo = ip;
        } else {
            lo = kh_word(key, len, off);
        }
        acc = _mm_xor_si128(acc, aes_block(k, lo, hi, off / 16));
    }
    return aes_finish(k, acc, meta);
}

/* The AES round keys: SipHash of a counter under the seed, so one seed decides every hash. */
KH_INLINE void kh_aes_derive(aes_keys *k, const uint64_t seed[2])
{
    uint64_t w[2 * (AES_MAX_BLOCKS + 4)];
    for (uint64_t i = 0; i < (uint64_t)(sizeof w / sizeof w[0]); i++) {
        sip_state s = sip_init(seed);
        w[i] = sip_finish(&s, i | 8ULL << 56);
    }
    memcpy(k, w, sizeof *k);
}
#endif

#endif
