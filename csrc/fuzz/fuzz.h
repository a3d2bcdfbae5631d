/*
 * fuzz.h - what every fuzz target in csrc/fuzz/ shares.
 *
 * A target is a libFuzzer entry point, LLVMFuzzerTestOneInput(data, size), over the real
 * public functions of the csrc headers.  It is built two ways from the same source: with clang and
 * -fsanitize=fuzzer (tools/fuzz.sh), or with any compiler and standalone.c, which replays a
 * corpus and deterministic mutations of it (tests/fuzz/test_fuzz_smoke.py).  Both builds run
 * under AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * FUZZ_CHECK states a property the code promises beyond "no crash" (a result inside the input,
 * a decision that does not change when more bytes arrive, agreement with a reference); a
 * broken one prints the target's name and the condition, then aborts, so either driver keeps
 * the input that broke it.
 */
#ifndef WEBOSLB_FUZZ_H
#define WEBOSLB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz.h"
#endif

#define FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, FUZZ_NAME ": %s:%d: check failed: %s: ", __FILE__, __LINE__,       \
                    #cond);                                                                    \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* What the inputs reached: a target names its outcomes once (FUZZ_OUTCOMES("ok", ...)) and
 * counts them (FUZZ_SEEN(k)); at exit one line lists them, "NAME: reached K of N outcomes:
 * ok=12 ...", so that a short run shows how deep its inputs went. */
enum { FZ_OUTCOMES_MAX = 32 };
static uint64_t fz_seen_count[FZ_OUTCOMES_MAX];
static const char *const *fz_seen_names;
static size_t fz_seen_n;

#define FUZZ_OUTCOMES(...)                                                                     \
    static const char *const fz_outcome_names[] = {__VA_ARGS__};                               \
    __attribute__((constructor)) static void fz_outcomes_init(void)                            \
    {                                                                                          \
        fz_seen_names = fz_outcome_names;                                                      \
        fz_seen_n = sizeof fz_outcome_names / sizeof *fz_outcome_names;                        \
    }

#define FUZZ_SEEN(k) (fz_seen_count[(k) < FZ_OUTCOMES_MAX ? (k) : FZ_OUTCOMES_MAX - 1]++)

__attribute__((destructor)) static void fz_outcomes_report(void)
{
    size_t reached = 0;
    for (size_t i = 0; i < fz_seen_n; i++)
        reached += fz_seen_count[i] != 0;
    if (fz_seen_n == 0)
        return;
    fprintf(stderr, FUZZ_NAME ": reached %zu of %zu outcomes:", reached, fz_seen_n);
    for (size_t i = 0; i < fz_seen_n; i++)
        fprintf(stderr, " %s=%llu", fz_seen_names[i], (unsigned long long)fz_seen_count[i]);
    fputc('\n', stderr);
}

/* Reads the input front to back; past its end every read gives zeros (never an error, so a
 * short input is still a valid one). */
typedef struct {
    const uint8_t *p;
    size_t n, pos;
} fz_in;

static inline uint8_t fz_u8(fz_in *in)
{
    return in->pos < in->n ? in->p[in->pos++] : 0;
}

static inline uint16_t fz_u16(fz_in *in)
{
    uint16_t hi = fz_u8(in);
    return (uint16_t)(hi << 8 | fz_u8(in));
}

static inline uint32_t fz_u32(fz_in *in)
{
    uint32_t hi = fz_u16(in);
    return hi << 16 | fz_u16(in);
}

static inline size_t fz_left(const fz_in *in)
{
    return in->n - in->pos;
}

/* The next k bytes (fewer when the input ends), advancing past them. */
static inline const uint8_t *fz_bytes(fz_in *in, size_t *k)
{
    const uint8_t *p = in->p + in->pos;
    if (*k > in->n - in->pos)
        *k = in->n - in->pos;
    in->pos += *k;
    return p;
}

/* A heap copy of exactly n bytes, so that any read past the end is an AddressSanitizer report
 * whatever driver runs the target (calloc(0) under ASan: a pointer with no readable byte). */
static inline uint8_t *fz_copy(const uint8_t *p, size_t n)
{
    uint8_t *c = calloc(n, 1);
    FUZZ_CHECK(c != NULL || n == 0, "out of memory");
    if (n)
        memcpy(c, p, n);
    return c;
}

#endif
