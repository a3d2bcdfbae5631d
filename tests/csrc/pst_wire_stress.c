/*
 * pst_wire_stress.c - the mirror's batch calls (pst_export, pst_export_journal, pst_import,
 * pst_sweep_begin/end) under AddressSanitizer and UndefinedBehaviorSanitizer
 * (tests/ha/test_records_sanitizers.py).
 *
 * For every key kind, a teacher table changes at random while its content is copied to a
 * learner table, the way the mirror does it: a bulk copy (a sweep) interleaved with journal
 * reads, then journal reads alone; after each drain the learner must hold exactly the
 * teacher's live persistent entries, with the same real, SP, flags and expiry.  Received
 * blocks are also cut short, bit-flipped and filled with random bytes: every call then either
 * applies the block or refuses it whole, and the tables' invariants (pst_check) hold.  Every
 * buffer is allocated to exactly the size the call is told, so any access past it is reported.
 *
 * usage: pst_wire_stress [rounds] [seed]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst.h"

#define STRESS_NAME "pst_wire_stress"
#include "stress.h"

typedef struct {
    uint32_t kind;
    size_t w, rsz;
    pst_table *a, *b, *recent;
    uint64_t seq;       /* the teacher's journal, read up to here */
    uint32_t now;
} pair_t;

/* A key from a small pool, so that keys repeat: a fixed-width record, zero padded. */
static size_t draw_key(const pair_t *p, uint8_t *out)
{
    size_t lo = pst_key_min(p->kind);
    uint64_t r = rnd() % 48;
    size_t len = lo == p->w ? p->w : lo + (size_t)(r % (p->w - lo + 1));
    memset(out, 0, p->w);
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(r * 29 + i);
    return len;
}

/* The teacher serves: binds, rebinds, forgets and expires at random. */
static void churn(pair_t *p)
{
    uint8_t key[PST_KEY_MAX];
    p->now += (uint32_t)(rnd() % 3);
    for (int i = 0, n = (int)(rnd() % 12); i < n; i++) {
        size_t len = draw_key(p, key);
        uint16_t vsvc = (uint16_t)(rnd() % 2), out;
        switch (rnd() % 5) {
        case 0:
        case 1: {
            pst_entry e = {.created = p->now, .last_used = p->now,
                           .timeout = (uint32_t)(rnd() % 4 ? 1 + rnd() % 9 : 0), .vsvc = vsvc,
                           .real = (uint16_t)(rnd() % 50), .sp = (uint8_t)rnd(),
                           .flags = (uint8_t)(PST_F_PERSIST | (rnd() % 2 ? 0x30 : 0)),
                           .keylen = (uint8_t)len};
            memcpy(e.key, key, len);
            int rc = pst_put(p->a, &e, p->now, 1);
            CHECK(rc == PST_CREATED || rc == PST_FOUND || rc == PST_EFULL, "put %d", rc);
            break;
        }
        case 2:
            CHECK(pst_get_or_create1(p->a, vsvc, key, len, 3, 1, 5, PST_F_PERSIST, p->now,
                                     &out) >= -1, "get_or_create1");
            break;
        case 3:
            CHECK(pst_delete(p->a, vsvc, key, len) >= 0, "delete");
            break;
        default:
            pst_expire(p->a, p->now, rnd() % 8);
        }
    }
}

/* Import a block into the learner; the block is a heap buffer of exactly its size. */
static void import_block(pair_t *p, const uint8_t *src, size_t n, uint32_t flags, int sweep)
{
    uint8_t *buf = malloc(n * p->rsz + 1);
    memcpy(buf, src, n * p->rsz);
    pst_import_result res;
    pst_table *recent = sweep && (!(flags & PST_WIRE_BULK) || rnd() % 2) ? p->recent : NULL;
    int rc = pst_import(p->b, buf, n * p->rsz, n, p->now, 0, flags, recent, &res);
    CHECK(rc == PST_OK, "import of %zu exported records: %d (record %lld, why %u)", n, rc,
          (long long)res.bad, res.why);
    CHECK(res.full == 0, "learner full (%llu)", (unsigned long long)res.full);
    CHECK(res.applied + res.skipped + res.full == n, "import counts %llu+%llu+%llu != %zu",
          (unsigned long long)res.applied, (unsigned long long)res.skipped,
          (unsigned long long)res.full, n);
    free(buf);
}

/* Read the whole journal into the learner: false when it had a gap (a resync is due). */
static int drain_journal(pair_t *p, int sweep)
{
    for (;;) {
        size_t max = 1 + rnd() % 5;
        uint8_t *buf = malloc(max * p->rsz);
        uint64_t before = p->seq;
        int64_t n = pst_export_journal(p->a, &p->seq, p->now, buf, max * p->rsz);
        if (n == PST_EGAP) {
            free(buf);
            return 0;
        }
        CHECK(n >= 0 && (size_t)n <= max && p->seq == before + (uint64_t)n,
              "export_journal %lld", (long long)n);
        CHECK(pst_wire_check(p->kind, buf, max * p->rsz, (size_t)n, NULL) == -1,
              "exported journal records fail the wire check");
        import_block(p, buf, (size_t)n, 0, sweep);
        free(buf);
        if ((size_t)n < max)
            return 1;
    }
}

/* A bulk copy with the teacher changing under it, then the journal drained. */
static void resync(pair_t *p)
{
    CHECK(pst_sweep_begin(p->b) >= 0, "sweep_begin");
    pst_clear(p->recent);       /* each sweep remembers its own incremental keys */
    p->seq = pst_journal_head(p->a);
    uint64_t cursor = 0;
    for (;;) {
        size_t max = 1 + rnd() % 7;
        uint8_t *buf = malloc(max * p->rsz);
        int64_t n = pst_export(p->a, &cursor, p->now, buf, max * p->rsz);
        CHECK(n >= 0 && (size_t)n <= max, "export %lld", (long long)n);
        import_block(p, buf, (size_t)n, PST_WIRE_BULK, 1);
        free(buf);
        if ((size_t)n < max)
            break;
        if (rnd() % 3 == 0) {
            churn(p);
            if (!drain_journal(p, 1)) {     /* the journal wrapped: start the copy again */
                resync(p);
                return;
            }
        }
    }
    CHECK(pst_sweep_end(p->b) >= 0, "sweep_end");
    if (!drain_journal(p, 0))
        resync(p);
}

static int live(const pst_entry *e, uint32_t now)
{
    return e->timeout == 0 || (uint64_t)now < (uint64_t)e->last_used + e->timeout;
}

/* The learner holds exactly the teacher's live persistent entries. */
static void same_content(pair_t *p)
{
    pst_entry *buf = malloc(4 * sizeof *buf), got;
    uint64_t cursor = 0, in_a = 0, in_b = 0;
    int64_t n;
    while ((n = pst_iter(p->a, &cursor, buf, 4, PST_F_PERSIST, 0)) > 0) {
        for (int64_t i = 0; i < n; i++) {
            pst_entry *e = &buf[i];
            if (!live(e, p->now))
                continue;
            in_a++;
            CHECK(pst_get(p->b, e->vsvc, e->key, e->keylen, p->now, &got) == 1,
                  "kind %u: a live binding is missing on the learner", p->kind);
            CHECK(got.real == e->real && got.sp == e->sp &&
                  (got.flags & ~PST_F_PENDING) == (e->flags & ~PST_F_PENDING) &&
                  got.timeout == e->timeout &&
                  (e->timeout == 0 || got.last_used == e->last_used),
                  "kind %u: learner holds real %u sp %u flags %#x expiry %u+%u, teacher "
                  "real %u sp %u flags %#x expiry %u+%u", p->kind, got.real, got.sp, got.flags,
                  got.last_used, got.timeout, e->real, e->sp, e->flags, e->last_used,
                  e->timeout);
        }
        if (n < 4)
            break;
    }
    cursor = 0;
    while ((n = pst_iter(p->b, &cursor, buf, 4, PST_F_PERSIST, 0)) > 0) {
        for (int64_t i = 0; i < n; i++)
            in_b += live(&buf[i], p->now);
        if (n < 4)
            break;
    }
    CHECK(in_a == in_b, "kind %u: teacher %llu live bindings, learner %llu", p->kind,
          (unsigned long long)in_a, (unsigned long long)in_b);
    free(buf);
}

/* Received bytes that are not what was sent: refused whole, or applied; never more. */
static void hostile(pair_t *p)
{
    size_t n = 1 + rnd() % 6, size = n * p->rsz;
    uint8_t *buf = malloc(size);
    uint64_t cursor = 0;
    int64_t got = pst_export(p->a, &cursor, p->now, buf, size);
    CHECK(got >= 0, "export");
    if ((size_t)got < n)        /* fill the rest with records of random bytes */
        for (size_t i = (size_t)got * p->rsz; i < size; i++)
            buf[i] = (uint8_t)rnd();
    for (int flips = (int)(rnd() % 4); flips > 0; flips--)
        buf[rnd() % size] ^= (uint8_t)(1u << (rnd() % 8));
    pst_import_result res;
    uint32_t why = 0;
    int64_t bad = pst_wire_check(p->kind, buf, size, n, &why);
    int rc = pst_import(p->b, buf, size, n, p->now, (uint32_t)(rnd() % 3),
                        rnd() % 2 ? PST_WIRE_BULK : 0, rnd() % 2 ? p->recent : NULL, &res);
    if (bad >= 0) {
        CHECK(rc == PST_EBADREC && res.bad == bad && res.why == why && why >= PST_BAD_OP &&
              why <= PST_BAD_REMAINING, "bad record %lld (why %u) gave %d", (long long)bad,
              why, rc);
        CHECK(res.applied == 0, "a refused block applied %llu records",
              (unsigned long long)res.applied);
    } else {
        CHECK(bad == -1 && rc == PST_OK, "valid block: check %lld import %d", (long long)bad,
              rc);
    }
    /* a block that claims more records than its bytes hold is refused without a read */
    CHECK(pst_import(p->b, buf, size - 1, n, p->now, 0, 0, NULL, &res) == PST_EINVAL,
          "a short buffer was read");
    CHECK(pst_wire_check(p->kind, buf, size - 1, n, NULL) == PST_EINVAL, "short check");
    CHECK(pst_import(p->b, buf, size, n, p->now, 0, 0, p->b, &res) == PST_EINVAL,
          "the table was its own recent set");
    CHECK(pst_import(p->b, buf, size, n, p->now, 0, 2, NULL, &res) == PST_EINVAL,
          "unknown import flags");
    free(buf);
}

static void run_kind(uint32_t kind, int rounds)
{
    pair_t p = {.kind = kind, .w = pst_key_width(kind), .now = 1};
    p.rsz = pst_wire_size(kind);
    CHECK(p.rsz == PST_WIRE_FIXED + p.w, "wire size %zu", p.rsz);
    pst_params pa = {.kind = kind, .capacity = 32, .journal = 16,
                     .hash = PST_HASH_SIPHASH, .seed = {rnd(), rnd()}};
    pst_params pb = pa, pr = pa;
    pb.capacity = 64;       /* room for the stale entries of a sweep beside the new */
    pb.seed[0] = rnd();
    pr.journal = 0;
    pr.seed[1] = rnd();
    /* a lazy learner or recent set grows as records arrive (index, or IPv4 slots) */
    pb.flags = rnd() % 2 ? PST_NEW_LAZY : 0;
    pr.flags = rnd() % 2 ? PST_NEW_LAZY : 0;
    if (pst_aes_available())
        pb.hash = PST_HASH_AES;
    CHECK(pst_new(&pa, &p.a) == PST_OK && pst_new(&pb, &p.b) == PST_OK &&
              pst_new(&pr, &p.recent) == PST_OK, "pst_new kind %u", kind);
    for (int round = 0; round < rounds; round++) {
        churn(&p);
        if (rnd() % 4 == 0 || !drain_journal(&p, 0))
            resync(&p);
        same_content(&p);
        if (rnd() % 5 == 0) {
            hostile(&p);
            resync(&p);     /* hostile bytes that passed the checks are now content */
            same_content(&p);
        }
        CHECK(pst_check(p.a) == 0 && pst_check(p.b) == 0 && pst_check(p.recent) == 0,
              "kind %u round %d: invariants %d %d %d", kind, round, pst_check(p.a),
              pst_check(p.b), pst_check(p.recent));
    }
    pst_free(p.a);
    pst_free(p.b);
    pst_free(p.recent);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9E3779B97F4A7C15ULL;
    uint32_t why;
    CHECK(pst_wire_size(0) == 0 && pst_wire_check(99, NULL, 0, 0, &why) == PST_EINVAL,
          "bad kind accepted");
    CHECK(pst_wire_check(PST_IPV4, NULL, 0, 1, &why) == PST_EINVAL, "NULL block read");
    CHECK(pst_export(NULL, NULL, 0, NULL, 0) == PST_EINVAL, "NULL table exported");
    for (uint32_t kind = PST_IPV4; kind <= PST_URLHASH; kind++)
        run_kind(kind, rounds);
    puts("pst_wire_stress: ok");
    return 0;
}
