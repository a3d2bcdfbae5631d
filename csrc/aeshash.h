/*
 * aeshash.h - a keyed hash from AES-NI rounds (x86-64), the approach of Go's runtime map hash
 * and Rust's aHash against hash flooding, at a few instructions a key where SipHash-1-3 costs
 * some seventy.  Each 16-byte key block is whitened with its own secret key and put through
 * two AES rounds; the blocks are XORed together with the metadata, and two more rounds
 * finish.  AES rounds are bijective, so keys that differ in one block never collide before
 * the finish, and a collision across blocks needs a 2-round AES differential under secret
 * keys.  All eight round keys come from the table's random seed.
 *
 * Built only where the compiler targets AES-NI (-maes); the table checks the CPU at creation
 * and falls back to SipHash-1-3 otherwise.
 */
#ifndef WEBOSLB_AESHASH_H
#define WEBOSLB_AESHASH_H

#include <stdint.h>

#if defined(__x86_64__) && defined(__AES__)
#define PST_HAVE_AES 1
#include <emmintrin.h>
#include <wmmintrin.h>

#define AES_INLINE static inline __attribute__((always_inline))
#define AES_MAX_BLOCKS 4

typedef struct {
    __m128i whiten[AES_MAX_BLOCKS];  /* one per block position: blocks cannot trade places */
    __m128i round[2];                /* the two rounds every block gets */
    __m128i finish[2];
} aes_keys;

AES_INLINE __m128i aes_block(const aes_keys *k, uint64_t lo, uint64_t hi, unsigned i)
{
    __m128i x = _mm_xor_si128(_mm_set_epi64x((long long)hi, (long long)lo), k->whiten[i]);
    return _mm_aesenc_si128(_mm_aesenc_si128(x, k->round[0]), k->round[1]);
}

AES_INLINE uint64_t aes_finish(const aes_keys *k, __m128i acc, uint64_t meta)
{
    __m128i s = _mm_xor_si128(acc, _mm_cvtsi64_si128((long long)meta));
    s = _mm_aesenc_si128(_mm_aesenc_si128(s, k->finish[0]), k->finish[1]);
    return (uint64_t)_mm_cvtsi128_si64(s) ^ (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s));
}

#else
#define PST_HAVE_AES 0
#endif

#endif
