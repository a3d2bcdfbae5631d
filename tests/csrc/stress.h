/* What every sanitizer stress driver shares: a seeded xorshift generator and CHECK, which
 * reports a failed condition under the driver's name (STRESS_NAME) and exits non-zero. */
#ifndef WEBOSLB_TESTS_STRESS_H
#define WEBOSLB_TESTS_STRESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, STRESS_NAME ": " __VA_ARGS__);                                     \
            fputc('\n', stderr);                                                               \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#endif
