/* Deterministic pseudo-random numbers for the unit tests (xorshift64): each test seeds its
 * own generator, so a failure replays exactly. */
#ifndef TEST_RNG_H
#define TEST_RNG_H

#include <stdint.h>

typedef struct test_rng {
    uint64_t s; /* any non-zero seed */
} test_rng_t;

/* A number in 0..n-1 (n > 0). */
static inline uint32_t test_rnd(test_rng_t *r, uint32_t n)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s % n);
}

#endif
