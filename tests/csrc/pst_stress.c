/*
 * pst_stress.c - random operation sequences on every key kind, for the AddressSanitizer and
 * UndefinedBehaviorSanitizer build (tests/table/test_sanitizers.py).  Every buffer is
 * allocated to exactly the size the API is promised, so any read past it is reported.
 * Structural invariants (pst_check) are verified after every step.
 *
 * usage: pst_stress [steps] [seed]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst.h"

#define STRESS_NAME "pst_stress"
#include "stress.h"

/* A key of random length drawn from a small pool, so that keys repeat; one of them all zero
 * bytes (0.0.0.0 looks like an empty slot's key). */
static size_t draw_key(uint32_t kind, uint8_t *out)
{
    size_t w = pst_key_width(kind), lo = pst_key_min(kind);
    uint64_t r = rnd() % 24;
    size_t len = lo == w ? w : lo + (size_t)(r % (w - lo + 1));
    memset(out, 0, w);
    for (size_t i = 0; i < len; i++)
        out[i] = r ? (uint8_t)(r * 31 + i) : 0;
    return len;
}

static void run_kind(uint32_t kind, int steps)
{
    size_t w = pst_key_width(kind);
    /* a lazy table grows from 16 index slots (IPv4: 4 buckets): twice or more with 64 entries */
    pst_params p = {.kind = kind, .policy = (uint32_t)(rnd() % 2),
                    .capacity = rnd() % 2 ? 16 : 64,
                    .hash = pst_aes_available() ? (uint32_t)(1 + rnd() % 2) : PST_HASH_SIPHASH,
                    .journal = (rnd() % 2) ? 8 : 0, .seed = {rnd(), rnd()},
                    .flags = rnd() % 2 ? PST_NEW_LAZY : 0};
    pst_table *t;
    CHECK(pst_new(&p, &t) == PST_OK, "pst_new kind %u", kind);
    uint32_t now = 0;
    for (int step = 0; step < steps; step++) {
        now += (uint32_t)(rnd() % 3);
        size_t n = 1 + rnd() % 40;
        uint8_t *keys = malloc(n * w), *lens = malloc(n);
        uint16_t *vsvc = malloc(n * sizeof *vsvc), *real = malloc(n * sizeof *real);
        uint16_t *out = malloc(n * sizeof *out);
        int8_t *status = malloc(n);
        uint8_t scratch[PST_KEY_MAX];
        for (size_t i = 0; i < n; i++) {
            lens[i] = (uint8_t)draw_key(kind, scratch);
            memcpy(keys + i * w, scratch, w);
            vsvc[i] = (uint16_t)(rnd() % 3);
            real[i] = (uint16_t)(rnd() % 100);
        }
        pst_keys k = {.n = n, .keys = keys, .lens = lens, .vsvc = vsvc};
        pst_vals v = {.real = real, .timeout0 = (uint32_t)(rnd() % 20),
                      .flags = (uint8_t)((rnd() % 2) | (rnd() % 2 ? 0x10 : 0))};
        int64_t rc;
        switch (rnd() % 7) {
        case 0:
        case 1:
            rc = pst_get_or_create_many(t, &k, &v, now, out, status);
            CHECK(rc >= 0, "get_or_create_many %lld", (long long)rc);
            break;
        case 2:
            rc = pst_lookup_many(t, &k, now, out);
            CHECK(rc >= 0 && (size_t)rc <= n, "lookup_many %lld", (long long)rc);
            break;
        case 3: {   /* single-key calls with a buffer of exactly the key's length */
            uint8_t *one = malloc(lens[0]);
            memcpy(one, keys, lens[0]);
            pst_entry e;
            CHECK(pst_get(t, vsvc[0], one, lens[0], now, &e) >= 0, "get");
            CHECK(pst_lookup1(t, vsvc[0], one, lens[0], now) >= -1, "lookup1");
            CHECK(pst_delete(t, vsvc[0], one, lens[0]) >= 0, "delete");
            free(one);
            break;
        }
        case 4: {
            pst_entry e = {.created = now, .last_used = now, .timeout = 5, .vsvc = 1,
                           .real = 7, .flags = PST_F_PERSIST};
            e.keylen = (uint8_t)draw_key(kind, e.key);
            rc = pst_put(t, &e, now, (int)(rnd() % 2));
            CHECK(rc == PST_CREATED || rc == PST_FOUND || rc == PST_EFULL, "put %lld",
                  (long long)rc);
            break;
        }
        case 5: {
            pst_update *u = malloc(4 * sizeof *u);
            uint64_t head = pst_journal_head(t), seq = head > 3 ? head - rnd() % 4 : 0;
            rc = pst_updates_since(t, seq, u, 4);
            CHECK(rc >= 0 || rc == PST_EGAP, "updates_since %lld", (long long)rc);
            free(u);
            pst_expire(t, now, rnd() % 20);
            break;
        }
        default: {
            pst_entry *buf = malloc(3 * sizeof *buf);
            uint64_t cursor = 0;
            while (pst_iter(t, &cursor, buf, 3, (uint32_t)(rnd() % 2), 1) == 3)
                ;
            free(buf);
            if (rnd() % 50 == 0)
                pst_clear(t);
        }
        }
        int bad = pst_check(t);
        CHECK(bad == 0, "kind %u step %d: invariant %d", kind, step, bad);

        /* bad arguments are refused without touching memory */
        uint8_t too_long[PST_KEY_MAX + 1] = {0};
        CHECK(pst_lookup1(t, 0, too_long, w + 1, now) == PST_EKEYLEN, "long key accepted");
        CHECK(pst_delete(t, 0, too_long, 0) == PST_EKEYLEN, "empty key accepted");
        lens[n - 1] = (uint8_t)(w + 1);
        CHECK(pst_lookup_many(t, &k, now, out) == PST_EKEYLEN, "bad batch length accepted");
        real[0] = PST_NO_REAL;
        lens[n - 1] = (uint8_t)w;
        CHECK(pst_get_or_create_many(t, &k, &v, now, out, status) == PST_EINVAL,
              "real 65535 accepted");
        free(keys), free(lens), free(vsvc), free(real), free(out), free(status);
    }
    pst_free(t);
}

/* Big batches into a nearly full table: long probes, keys displaced past their home bucket
 * (deferred by the IPv4 lookups), present and absent keys, expired ones; every answer checked
 * against the single-key lookup. */
static void big_batches(uint32_t kind)
{
    size_t w = pst_key_width(kind), cap = 4096, n = 3 * cap;
    pst_params p = {.kind = kind, .capacity = cap, .journal = 1024, .seed = {rnd(), rnd()},
                    .hash = pst_aes_available() ? (uint32_t)(1 + rnd() % 2) : PST_HASH_SIPHASH};
    pst_table *t;
    CHECK(pst_new(&p, &t) == PST_OK, "pst_new big kind %u", kind);
    uint8_t *keys = malloc(n * w);
    uint16_t *vsvc = malloc(n * sizeof *vsvc), *real = malloc(n * sizeof *real);
    uint16_t *out = malloc(n * sizeof *out);
    uint32_t *timeout = malloc(n * sizeof *timeout);
    int8_t *status = malloc(n);
    memset(keys, 0, n * w);
    for (size_t i = 0; i < n; i++) {
        for (size_t b = 0; b < w; b++)
            keys[i * w + b] = (uint8_t)rnd();
        vsvc[i] = (uint16_t)(rnd() % 3);
        real[i] = (uint16_t)(rnd() % 1000);
        timeout[i] = rnd() % 4 ? 0 : 5;
    }
    pst_keys k = {.n = cap - 7, .keys = keys, .vsvc = vsvc};
    pst_vals v = {.real = real, .timeout = timeout, .flags = PST_F_PERSIST};
    CHECK(pst_get_or_create_many(t, &k, &v, 10, out, status) >= 0, "big fill");
    for (uint32_t now = 10; now <= 20; now += 10) {
        k.n = n;                /* the table's keys, then as many absent ones */
        int64_t hits = pst_lookup_many(t, &k, now, out);
        int64_t seen = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t one = pst_lookup1(t, vsvc[i], keys + i * w, w, now);
            CHECK(out[i] == (one < 0 ? PST_NO_REAL : one), "big batch key %zu: %u, not %d", i,
                  out[i], one);
            seen += one >= 0;
        }
        CHECK(hits == seen, "big batch hits %lld, not %lld", (long long)hits, (long long)seen);
    }
    CHECK(pst_check(t) == 0, "big batches: invariant %d", pst_check(t));
    free(keys), free(vsvc), free(real), free(out), free(timeout), free(status);
    pst_free(t);
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 2000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9E3779B97F4A7C15ULL;
    pst_params bad = {.kind = 99, .capacity = 8};
    pst_table *t;
    CHECK(pst_new(&bad, &t) == PST_EINVAL && t == NULL, "bad kind accepted");
    bad.kind = PST_IPV4;
    bad.capacity = 0;
    CHECK(pst_new(&bad, &t) == PST_EINVAL, "zero capacity accepted");
    bad.capacity = 12;
    CHECK(pst_new(&bad, &t) == PST_EINVAL, "capacity 12 accepted");
    for (uint32_t kind = PST_IPV4; kind <= PST_URLHASH; kind++) {
        run_kind(kind, steps);
        big_batches(kind);
    }
    puts("pst_stress: ok");
    return 0;
}
