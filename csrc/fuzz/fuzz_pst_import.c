/*
 * fuzz_pst_import.c - the mirror's record decoder in C: pst_import (and pst_wire_check) on
 * RECORDS bodies of attacker bytes, as the standby applies them (weboslb/ha/learn.py), then
 * pst_export of the result.
 *
 * Input: byte 0 (the key kind), byte 1 (bit 0: the second message is a bulk copy; bit 1: a
 * sweep with its "recent" table runs around both; bit 2: a full table evicts; bit 3: a table
 * of 64 entries, else 8; bit 4: the first message claims one record more than it holds;
 * bit 5: the second message is applied twice, a replay; bit 6: lazy tables, whose
 * index starts small and grows), bytes 2-5 the clock, 6-7 the seconds
 * the sender held the records, byte 8 where the records split into two messages; then the
 * records (20 bytes and a key of the kind's width each).
 *
 * Checked: a message is applied whole or refused whole, refused exactly when pst_wire_check
 * finds a bad record (the same one, for the same reason), or PST_EINVAL when it claims more
 * records than it holds; the table's invariants hold; when nothing was refused for room, the
 * table holds exactly what the accepted records say, key by key - the last record of a key
 * wins, a deletion or a lifetime used up while held removes it, an upsert binds its real, SP
 * and flags and expires `remaining - held` seconds from now; bulk copies of keys an
 * incremental record wrote during the sweep are skipped; a replayed message changes nothing;
 * and the table exported and imported into another gives the same bindings and expiries.
 */
#define FUZZ_NAME "fuzz_pst_import"
#include "fuzz.h"

#include "pst.h"

FUZZ_OUTCOMES("accepted", "bad_record", "short_block", "no_room", "bulk_skipped", "forgotten",
              "replayed", "checked", "exported")

enum { MAX_RECORDS = 512 };

typedef struct {
    uint16_t vsvc;
    uint8_t keylen;
    uint8_t key[PST_KEY_MAX];
    int present;
    uint16_t real;
    uint8_t sp, flags;
    uint32_t timeout;
    uint64_t expiry;    /* last_used + timeout as the table should hold it */
} ref_t;

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int lazy;    /* this input's tables are lazy */

static pst_table *table_new(uint32_t kind, uint64_t capacity, uint32_t policy, uint64_t journal)
{
    pst_params p = {.kind = kind, .policy = policy, .capacity = capacity, .journal = journal,
                    .seed = {0x1234, 0x5678}, .flags = lazy ? PST_NEW_LAZY : 0};
    pst_table *t;
    FUZZ_CHECK(pst_new(&p, &t) == PST_OK, "pst_new");
    return t;
}

/* pst_import, cross-checked with pst_wire_check; returns its status. */
static int import(pst_table *t, const uint8_t *buf, size_t size, size_t n, uint32_t now,
                  uint32_t held, uint32_t flags, pst_table *recent, pst_import_result *res)
{
    uint8_t *copy = fz_copy(buf, size);
    uint32_t why = 0;
    FUZZ_CHECK(pst_wire_check(0, copy, size, n, &why) == PST_EINVAL, "wire_check, no kind");
    int rc = pst_import(t, copy, size, n, now, held, flags, recent, res);
    free(copy);
    FUZZ_CHECK(pst_check(t) == 0, "pst_check %d", pst_check(t));
    if (recent)
        FUZZ_CHECK(pst_check(recent) == 0, "recent pst_check %d", pst_check(recent));
    return rc;
}

static size_t find_ref(ref_t *ref, size_t nref, const uint8_t *r)
{
    for (size_t i = 0; i < nref; i++)
        if (ref[i].vsvc == get16(r + 2) && ref[i].keylen == r[1] &&
            !memcmp(ref[i].key, r + PST_WIRE_FIXED, r[1]))
            return i;
    return nref;
}

/* What one accepted record does to the reference. */
static void ref_apply(ref_t *ref, size_t *nref, const uint8_t *r, uint32_t now, uint32_t held)
{
    size_t i = find_ref(ref, *nref, r);
    if (i == *nref) {
        ref_t *x = &ref[(*nref)++];
        memset(x, 0, sizeof *x);
        x->vsvc = (uint16_t)get16(r + 2);
        x->keylen = r[1];
        memcpy(x->key, r + PST_WIRE_FIXED, r[1]);
    }
    ref_t *x = &ref[i];
    uint32_t op = r[0], timeout = get32(r + 8), remaining = get32(r + 12);
    remaining = remaining > held ? remaining - held : 0;
    x->present = op >= PST_OP_NEW && op <= PST_OP_UPDATE && (timeout == 0 || remaining > 0);
    if (!x->present)
        return;
    x->real = (uint16_t)get16(r + 4);
    x->sp = r[6];
    x->flags = r[7];
    x->timeout = timeout;
    /* `remaining` seconds from now, whatever the clocks (the table's u32 fields add up in 64
     * bits, so an expiry past the u32 clock's end is kept, never cut short) */
    x->expiry = timeout == 0 ? 0 : (uint64_t)now + remaining;
}

static void check_ref(pst_table *t, const ref_t *ref, size_t nref, uint32_t now)
{
    for (size_t i = 0; i < nref; i++) {
        const ref_t *x = &ref[i];
        pst_entry e;
        int got = pst_get(t, x->vsvc, x->key, x->keylen, now, &e);
        FUZZ_CHECK(got == 0 || got == 1, "pst_get %d", got);
        FUZZ_CHECK(got == x->present, "key %zu: present %d in the table, %d by the records",
                   i, got, x->present);
        if (!got)
            continue;
        FUZZ_CHECK(e.real == x->real && e.sp == x->sp &&
                       (e.flags & ~PST_F_PENDING) == x->flags, "key %zu: real %u sp %u flags %u,"
                   " records say %u %u %u", i, e.real, e.sp, e.flags, x->real, x->sp, x->flags);
        FUZZ_CHECK(!(e.flags & PST_F_PENDING), "an imported entry waits to be mirrored back");
        uint64_t expiry = e.timeout ? (uint64_t)e.last_used + e.timeout : 0;
        FUZZ_CHECK(expiry == x->expiry, "key %zu expires at %llu, records say %llu", i,
                   (unsigned long long)expiry, (unsigned long long)x->expiry);
    }
}

/* Every persistent entry of a, as pst_iter lists them (the order entries were made). */
static size_t entries(pst_table *t, pst_entry *out, size_t max)
{
    uint64_t cursor = 0;
    int64_t n = pst_iter(t, &cursor, out, max, 0, 0);
    FUZZ_CHECK(n >= 0, "pst_iter %lld", (long long)n);
    return (size_t)n;
}

static int by_key(const void *x, const void *y)
{
    const pst_entry *a = x, *b = y;
    if (a->vsvc != b->vsvc)
        return a->vsvc < b->vsvc ? -1 : 1;
    if (a->keylen != b->keylen)
        return a->keylen < b->keylen ? -1 : 1;
    return memcmp(a->key, b->key, sizeof a->key);
}

/* The same bindings, whatever entry numbers they sit at (a key removed and bound again takes
 * whichever entry is free). */
static int same_entries(pst_table *a, pst_table *b)
{
    static pst_entry ea[64], eb[64];
    size_t na = entries(a, ea, 64), nb = entries(b, eb, 64);
    if (na != nb)
        return 0;
    qsort(ea, na, sizeof *ea, by_key);
    qsort(eb, nb, sizeof *eb, by_key);
    for (size_t i = 0; i < na; i++) {
        ea[i].flags &= (uint8_t)~PST_F_PENDING;
        eb[i].flags &= (uint8_t)~PST_F_PENDING;
        if (memcmp(&ea[i], &eb[i], sizeof ea[i]))
            return 0;
    }
    return 1;
}

/* The table exported in one block and imported into a fresh table at the same clock: the
 * same bindings with the same expiries. */
static void round_trip(pst_table *t, uint32_t kind, uint32_t now)
{
    size_t rsz = pst_wire_size(kind), size = 64 * rsz;
    uint8_t *buf = malloc(size);
    uint64_t cursor = 0;
    int64_t n = pst_export(t, &cursor, now, buf, size);
    FUZZ_CHECK(n >= 0 && n <= 64, "pst_export %lld", (long long)n);
    uint8_t *exact = fz_copy(buf, (size_t)n * rsz);
    free(buf);
    uint32_t why = 0;
    FUZZ_CHECK(pst_wire_check(kind, exact, (size_t)n * rsz, (size_t)n, &why) == -1,
               "exported record refused for reason %u", why);
    pst_table *u = table_new(kind, 64, PST_REFUSE, 0);
    pst_import_result res;
    if (n > 0)
        FUZZ_SEEN(8);
    int rc = pst_import(u, exact, (size_t)n * rsz, (size_t)n, now, 0, PST_WIRE_BULK, NULL, &res);
    FUZZ_CHECK(rc == PST_OK && res.applied == (uint64_t)n && res.full == 0,
               "re-import: %d, %llu of %lld applied", rc, (unsigned long long)res.applied,
               (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *r = exact + i * rsz;
        pst_entry a, b;
        FUZZ_CHECK(pst_get(t, (uint16_t)get16(r + 2), r + PST_WIRE_FIXED, r[1], now, &a) == 1 &&
                       pst_get(u, (uint16_t)get16(r + 2), r + PST_WIRE_FIXED, r[1], now, &b) == 1,
                   "exported record %lld not alive on both sides", (long long)i);
        uint64_t ea = a.timeout ? (uint64_t)a.last_used + a.timeout : 0;
        uint64_t eb = b.timeout ? (uint64_t)b.last_used + b.timeout : 0;
        FUZZ_CHECK(a.real == b.real && a.sp == b.sp &&
                       ((a.flags ^ b.flags) & ~PST_F_PENDING) == 0 && ea == eb,
                   "record %lld: real %u/%u sp %u/%u flags %u/%u expiry %llu/%llu",
                   (long long)i, a.real, b.real, a.sp, b.sp, a.flags, b.flags,
                   (unsigned long long)ea, (unsigned long long)eb);
    }
    pst_free(u);
    free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size, 0};
    uint32_t kind = 1 + fz_u8(&in) % 7;
    uint8_t opt = fz_u8(&in);
    uint32_t now = fz_u32(&in), held = fz_u16(&in);
    uint8_t split = fz_u8(&in);
    int bulk2 = opt & 1, sweep = (opt & 2) != 0, replay = (opt & 32) != 0;
    lazy = (opt & 64) != 0;
    uint64_t cap = opt & 8 ? 64 : 8;
    size_t rsz = pst_wire_size(kind), left = fz_left(&in), nrec = left / rsz;
    if (nrec > MAX_RECORDS)
        nrec = MAX_RECORDS;
    const uint8_t *recs = data + in.pos;
    size_t m = nrec ? split % (nrec + 1) : 0;

    pst_table *t = table_new(kind, cap, opt & 4 ? PST_EVICT_LRU : PST_REFUSE, 16);
    pst_table *recent = sweep ? table_new(kind, cap, PST_REFUSE, 0) : NULL;
    static ref_t ref[2 * MAX_RECORDS];
    size_t nref = 0;
    int full = 0, forgotten = 0;
    if (sweep)
        FUZZ_CHECK(pst_sweep_begin(t) == 0, "a fresh table has nothing to mark");

    /* message 1: incremental records */
    pst_import_result res;
    size_t claim = opt & 16 ? m + 1 : m;
    int rc = import(t, recs, m * rsz, claim, now, held, 0, recent, &res);
    uint32_t why = 0;
    int64_t bad = pst_wire_check(kind, recs, m * rsz, claim, &why);
    if (claim > m) {
        FUZZ_CHECK(rc == PST_EINVAL && bad == PST_EINVAL, "a short block: %d / %lld", rc,
                   (long long)bad);
        FUZZ_SEEN(2);
        FUZZ_CHECK(pst_check(t) == 0, "after EINVAL");
    } else if (bad >= 0) {
        FUZZ_CHECK(rc == PST_EBADREC && res.bad == bad && res.why == why && res.applied == 0,
                   "bad record %lld (%u): import %d says %lld (%u)", (long long)bad, why, rc,
                   (long long)res.bad, res.why);
        FUZZ_SEEN(1);
    } else {
        FUZZ_SEEN(0);
        FUZZ_CHECK(rc == PST_OK && res.bad == -1 && res.applied + res.full == m &&
                       res.skipped == 0,
                   "message 1: %d, %llu of %zu applied", rc, (unsigned long long)res.applied, m);
        for (size_t i = 0; i < m; i++)
            ref_apply(ref, &nref, recs + i * rsz, now, held);
        full |= res.full != 0;
        forgotten |= res.forgotten != 0;
    }
    size_t nref1 = nref;

    /* message 2: the rest, bulk copies or incremental; maybe twice */
    const uint8_t *rest = recs + m * rsz;
    size_t n2 = nrec - m;
    for (int pass = 0; pass < 1 + replay; pass++) {
        pst_table *before = NULL;
        if (pass == 1) {    /* a copy of the table, to compare the replay with */
            before = table_new(kind, cap, PST_REFUSE, 0);
            static pst_entry all[64];
            size_t k = entries(t, all, 64);
            for (size_t i = 0; i < k; i++)
                FUZZ_CHECK(pst_put(before, &all[i], now, 0) == PST_CREATED, "copy");
        }
        rc = import(t, rest, n2 * rsz, n2, now, held, bulk2 ? PST_WIRE_BULK : 0, recent, &res);
        bad = pst_wire_check(kind, rest, n2 * rsz, n2, &why);
        if (bad >= 0) {
            FUZZ_CHECK(rc == PST_EBADREC && res.bad == bad && res.why == why,
                       "message 2: bad %lld, import %d", (long long)bad, rc);
            FUZZ_SEEN(1);
        } else {
            FUZZ_CHECK(rc == PST_OK && res.applied + res.skipped + res.full == n2,
                       "message 2: %d", rc);
            FUZZ_SEEN(0);
            if (res.skipped)
                FUZZ_SEEN(4);
            if (pass == 0) {
                for (size_t i = 0; i < n2; i++) {
                    const uint8_t *r = rest + i * rsz;
                    /* a bulk copy of a key an incremental record wrote in this sweep */
                    if (sweep && bulk2 && !forgotten && find_ref(ref, nref1, r) < nref1)
                        continue;
                    ref_apply(ref, &nref, r, now, held);
                }
                full |= res.full != 0;
            }
        }
        /* a replay on a nearly full table may run out of room where the first pass did not
         * (keys the message removes and binds again are all still there) */
        int replay_full = pass == 1 && bad < 0 && res.full != 0;
        if (before) {
            if (!full && !replay_full) {
                FUZZ_CHECK(same_entries(t, before), "a replayed message changed the table");
                FUZZ_SEEN(6);
            }
            pst_free(before);
            full |= replay_full;    /* nor do the records tell what the table holds */
        }
    }
    if (sweep) {
        int64_t gone = pst_sweep_end(t);
        FUZZ_CHECK(gone == 0, "the sweep removed %lld entries the messages wrote",
                   (long long)gone);
    }
    if (full)
        FUZZ_SEEN(3);
    if (forgotten)
        FUZZ_SEEN(5);
    if (!full && !(sweep && bulk2 && forgotten) && nref) {
        check_ref(t, ref, nref, now);
        FUZZ_SEEN(7);
    }
    round_trip(t, kind, now);
    FUZZ_CHECK(pst_check(t) == 0, "pst_check %d", pst_check(t));
    pst_free(t);
    pst_free(recent);
    return 0;
}
