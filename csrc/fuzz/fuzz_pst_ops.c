/*
 * fuzz_pst_ops.c - random operation sequences on the persistence table (pst.h), each checked
 * against a reference table in the harness.
 *
 * The reference is weboslb/table/reftable.py in C: no hash index, a linear search over the
 * entries, the same entry numbering (hand out [0, hw), then a LIFO free list), the same
 * expiry and eviction hands, the same journal ring and counters.  So every operation must
 * give the same result on both, every entry must sit at the same number with the same fields,
 * and the journal and the statistics must read the same, after every step.
 *
 * Input: byte 0 (the key kind; bit 7: a lazy table, whose index starts small and grows),
 * byte 1 (bit 0: evict on a full table; bits 1-3: capacity 1 to 32; bits 4-6: a journal of 0
 * or 1 to 32 records; bit 7: SipHash, else AES where the CPU has it), then operations: an opcode byte and its arguments (keys drawn from a small pool,
 * so that they repeat and collide; now and then a key of a wrong length or a bad argument).
 */
#define FUZZ_NAME "fuzz_pst_ops"
#include "fuzz.h"

#include "pst.h"

FUZZ_OUTCOMES("created", "found", "table_full", "evicted", "expired", "journal_gap",
              "journal_read", "bad_length", "bad_argument", "cleared", "lookup_hit")

enum { CAP_MAX = 32, JOURNAL_MAX = 32, BATCH_MAX = 8, RECLAIM = 1024, WINDOW = 64,
       MAX_SCAN = 4096, STEPS_MAX = 2000 };

/* ---- the reference table ---------------------------------------------------------------- */

typedef struct {
    int used;
    uint16_t vsvc, real;
    uint8_t sp, flags, keylen;
    uint8_t key[PST_KEY_MAX];
    uint32_t created, last_used, timeout;
} slot_t;

typedef struct {
    uint64_t seq;
    uint32_t op;
    uint16_t vsvc;
    uint8_t keylen;
    uint8_t key[PST_KEY_MAX];
} jrec_t;

typedef struct {
    uint32_t kind, policy, kw, kmin;
    uint64_t capacity, jcap;
    slot_t slots[CAP_MAX];
    uint64_t hw, nfree, count, n_persist, expire_hand, evict_hand;
    uint64_t freelist[CAP_MAX];
    jrec_t journal[JOURNAL_MAX];
    uint64_t jhead, jfloor;
    uint64_t lookups, hits, inserts, touches, updates, deletes, expirations, evictions,
        alloc_failures;
} ref_t;

static int alive(const slot_t *s, uint32_t now)
{
    return s->timeout == 0 || (uint64_t)now < (uint64_t)s->last_used + s->timeout;
}

static int64_t where(const ref_t *r, uint16_t vsvc, const uint8_t *key, size_t len)
{
    for (uint64_t i = 0; i < r->hw; i++) {
        const slot_t *s = &r->slots[i];
        if (s->used && s->vsvc == vsvc && s->keylen == len && !memcmp(s->key, key, len))
            return (int64_t)i;
    }
    return -1;
}

static void journal_append(ref_t *r, uint32_t op, const slot_t *s)
{
    jrec_t *j = &r->journal[r->jhead % r->jcap];
    r->jhead++;
    j->seq = r->jhead;
    j->op = op;
    j->vsvc = s->vsvc;
    j->keylen = s->keylen;
    memset(j->key, 0, sizeof j->key);
    memcpy(j->key, s->key, s->keylen);
}

static void journal_change(ref_t *r, uint32_t op, slot_t *s)
{
    if (r->jcap && (s->flags & PST_F_PERSIST) && !(s->flags & PST_F_PENDING)) {
        journal_append(r, op, s);
        s->flags |= PST_F_PENDING;
    }
}

static void ref_remove(ref_t *r, uint64_t idx, uint32_t op)
{
    slot_t *s = &r->slots[idx];
    if (s->flags & PST_F_PERSIST) {
        r->n_persist--;
        if (r->jcap)
            journal_append(r, op, s);
    }
    memset(s, 0, sizeof *s);
    r->count--;
    r->freelist[r->nfree++] = idx;
}

static uint64_t expire_scan(ref_t *r, uint32_t now, uint64_t budget)
{
    uint64_t n = 0;
    if (budget > r->hw)
        budget = r->hw;
    while (budget--) {
        if (r->expire_hand >= r->hw)
            r->expire_hand = 0;
        uint64_t idx = r->expire_hand++;
        if (r->slots[idx].used && !alive(&r->slots[idx], now)) {
            ref_remove(r, idx, PST_OP_EXPIRE);
            r->expirations++;
            n++;
        }
    }
    return n;
}

static int64_t evict_pick(ref_t *r)
{
    uint64_t limit = r->hw < MAX_SCAN ? r->hw : MAX_SCAN, scanned = 0;
    int64_t best = -1;
    uint32_t best_used = 0;
    while (scanned < limit) {
        uint64_t end = scanned + WINDOW < limit ? scanned + WINDOW : limit;
        for (; scanned < end; scanned++) {
            if (r->evict_hand >= r->hw)
                r->evict_hand = 0;
            uint64_t idx = r->evict_hand++;
            const slot_t *s = &r->slots[idx];
            if (s->used && !(s->flags & PST_F_PERSIST) && (best < 0 || s->last_used < best_used)) {
                best = (int64_t)idx;
                best_used = s->last_used;
            }
        }
        if (best >= 0)
            return best;
    }
    return -1;
}

static int64_t ref_alloc(ref_t *r, uint32_t now)
{
    if (r->nfree)
        return (int64_t)r->freelist[--r->nfree];
    if (r->hw < r->capacity)
        return (int64_t)r->hw++;
    if (expire_scan(r, now, RECLAIM))
        return (int64_t)r->freelist[--r->nfree];
    if (r->policy == PST_EVICT_LRU && r->count > r->n_persist) {
        int64_t victim = evict_pick(r);
        if (victim >= 0) {
            ref_remove(r, (uint64_t)victim, 0);
            r->evictions++;
            return (int64_t)r->freelist[--r->nfree];
        }
    }
    r->alloc_failures++;
    return -1;
}

static slot_t *ref_create(ref_t *r, uint64_t idx, uint16_t vsvc, const uint8_t *key, size_t len)
{
    slot_t *s = &r->slots[idx];
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->vsvc = vsvc;
    s->keylen = (uint8_t)len;
    memcpy(s->key, key, len);
    r->count++;
    r->inserts++;
    return s;
}

static void set_persist(ref_t *r, slot_t *s, uint8_t flags)
{
    if ((flags & PST_F_PERSIST) && !(s->flags & PST_F_PERSIST))
        r->n_persist++;
    else if (!(flags & PST_F_PERSIST) && (s->flags & PST_F_PERSIST))
        r->n_persist--;
    s->flags = (uint8_t)((s->flags & PST_F_PENDING) | flags);
}

static int ref_get_or_create(ref_t *r, uint16_t vsvc, const uint8_t *key, size_t len,
                             uint16_t real, uint8_t sp, uint32_t timeout, uint8_t flags,
                             uint32_t now, uint16_t *out)
{
    int64_t idx = where(r, vsvc, key, len);
    if (idx >= 0) {
        slot_t *s = &r->slots[idx];
        if (alive(s, now)) {
            if (now > s->last_used)
                s->last_used = now;
            s->timeout = timeout;
            r->touches++;
            journal_change(r, PST_OP_TOUCH, s);
            *out = s->real;
            return PST_FOUND;
        }
        ref_remove(r, (uint64_t)idx, PST_OP_EXPIRE);
        r->expirations++;
    }
    idx = ref_alloc(r, now);
    if (idx < 0) {
        *out = PST_NO_REAL;
        return PST_FULL;
    }
    slot_t *s = ref_create(r, (uint64_t)idx, vsvc, key, len);
    s->real = real;
    s->sp = sp;
    s->created = s->last_used = now;
    s->timeout = timeout;
    set_persist(r, s, flags);
    journal_change(r, PST_OP_NEW, s);
    *out = real;
    return PST_CREATED;
}

static const slot_t *ref_live(ref_t *r, uint16_t vsvc, const uint8_t *key, size_t len,
                              uint32_t now)
{
    r->lookups++;
    int64_t idx = where(r, vsvc, key, len);
    if (idx < 0 || !alive(&r->slots[idx], now))
        return NULL;
    r->hits++;
    return &r->slots[idx];
}

static int ref_put(ref_t *r, const pst_entry *e, uint32_t now, int journal)
{
    int64_t idx = where(r, e->vsvc, e->key, e->keylen);
    slot_t *s;
    int status;
    if (idx >= 0) {
        s = &r->slots[idx];
        r->updates++;
        status = PST_FOUND;
    } else {
        idx = ref_alloc(r, now);
        if (idx < 0)
            return PST_EFULL;
        s = ref_create(r, (uint64_t)idx, e->vsvc, e->key, e->keylen);
        status = PST_CREATED;
    }
    s->created = e->created;
    s->last_used = e->last_used;
    s->timeout = e->timeout;
    s->real = e->real;
    s->sp = e->sp;
    set_persist(r, s, e->flags & (PST_F_PERSIST | PST_F_USER));
    if (journal)
        journal_change(r, status == PST_CREATED ? PST_OP_NEW : PST_OP_UPDATE, s);
    else
        s->flags &= (uint8_t)~PST_F_PENDING;
    return status;
}

static uint64_t journal_oldest(const ref_t *r)
{
    uint64_t oldest = r->jfloor + 1;
    if (r->jhead >= r->jcap && r->jhead - r->jcap + 1 > oldest)
        oldest = r->jhead - r->jcap + 1;
    return oldest;
}

static void ref_clear(ref_t *r)
{
    memset(r->slots, 0, sizeof r->slots);
    r->hw = r->nfree = r->count = r->n_persist = r->expire_hand = r->evict_hand = 0;
    r->jfloor = r->jhead;
}

static void view(const ref_t *r, const slot_t *s, pst_entry *out)
{
    memset(out, 0, sizeof *out);
    out->created = s->created;
    out->last_used = s->last_used;
    out->timeout = s->timeout;
    out->vsvc = s->vsvc;
    out->real = s->real;
    out->sp = s->sp;
    out->flags = s->flags;
    out->keylen = s->keylen;
    memcpy(out->key, s->key, r->kw);
}

/* ---- the comparison --------------------------------------------------------------------- */

static void same_entry(const pst_entry *a, const pst_entry *b, const char *what)
{
    FUZZ_CHECK(!memcmp(a, b, sizeof *a), "%s: table {real %u sp %u flags %u created %u used %u "
               "timeout %u vsvc %u len %u}, reference {%u %u %u %u %u %u %u %u}", what, a->real,
               a->sp, a->flags, a->created, a->last_used, a->timeout, a->vsvc, a->keylen,
               b->real, b->sp, b->flags, b->created, b->last_used, b->timeout, b->vsvc,
               b->keylen);
}

static void compare_all(pst_table *t, ref_t *r)
{
    FUZZ_CHECK(pst_check(t) == 0, "pst_check %d", pst_check(t));
    pst_stats s;
    pst_get_stats(t, &s, 1);
    FUZZ_CHECK(s.entries == r->count && s.persistent == r->n_persist && s.lookups == r->lookups &&
                   s.hits == r->hits && s.inserts == r->inserts && s.touches == r->touches &&
                   s.updates == r->updates && s.deletes == r->deletes &&
                   s.expirations == r->expirations && s.evictions == r->evictions &&
                   s.alloc_failures == r->alloc_failures && s.journal_head == r->jhead &&
                   s.journal_oldest == journal_oldest(r), "statistics differ: entries %llu/%llu"
               " lookups %llu/%llu expirations %llu/%llu evictions %llu/%llu failures %llu/%llu",
               (unsigned long long)s.entries, (unsigned long long)r->count,
               (unsigned long long)s.lookups, (unsigned long long)r->lookups,
               (unsigned long long)s.expirations, (unsigned long long)r->expirations,
               (unsigned long long)s.evictions, (unsigned long long)r->evictions,
               (unsigned long long)s.alloc_failures, (unsigned long long)r->alloc_failures);
    pst_entry got[CAP_MAX], want;
    uint64_t cursor = 0;
    int64_t n = pst_iter(t, &cursor, got, CAP_MAX, 0, 0);
    FUZZ_CHECK(n == (int64_t)r->count && cursor == r->hw, "iter: %lld entries, cursor %llu",
               (long long)n, (unsigned long long)cursor);
    for (uint64_t i = 0, k = 0; i < r->hw; i++) {
        if (!r->slots[i].used)
            continue;
        view(r, &r->slots[i], &want);
        same_entry(&got[k++], &want, "entry");
    }
}

/* ---- keys and arguments from the input -------------------------------------------------- */

typedef struct {
    uint16_t vsvc;
    size_t len;
    uint8_t key[PST_KEY_MAX];
} pkey_t;

/* One of a small pool of keys (its length too, for the kinds that vary); rarely a length the
 * kind does not take. */
static void draw_key(fz_in *in, const ref_t *r, pkey_t *k)
{
    uint8_t sel = fz_u8(in);
    memset(k->key, 0, sizeof k->key);
    k->vsvc = (sel >> 5) & 1;
    size_t span = r->kw - r->kmin + 1;
    k->len = r->kmin + (span > 1 ? (sel & 7) * 5 % span : 0);
    if ((sel & 0xC0) == 0xC0 && (sel & 0x18) == 0x18)
        k->len = sel & 1 ? r->kw + 1 : r->kmin - 1;     /* wrong: EKEYLEN */
    for (size_t i = 0; i < k->len && i < PST_KEY_MAX; i++)
        k->key[i] = (uint8_t)((sel & 0x1f) * 37 + i);
}

static int len_ok(const ref_t *r, size_t len)
{
    return len >= r->kmin && len <= r->kw;
}

static uint32_t draw_timeout(fz_in *in)
{
    uint8_t b = fz_u8(in);
    return b >= 0xF0 ? (uint32_t)-1 - (b & 15) : b % 13;
}

/* ---- one step --------------------------------------------------------------------------- */

static void step(pst_table *t, ref_t *r, fz_in *in, uint32_t *now)
{
    uint8_t op = fz_u8(in);
    pkey_t k;
    switch (op % 13) {
    case 0: {   /* get_or_create1 */
        draw_key(in, r, &k);
        uint16_t real = fz_u8(in) == 0xFF ? PST_NO_REAL : fz_u8(in);
        uint8_t sp = fz_u8(in), fb = fz_u8(in);
        uint8_t flags = (uint8_t)((fb & 0xF1) | ((fb & 0x0E) == 0x0E ? 0x04 : 0));  /* EINVAL */
        uint32_t timeout = draw_timeout(in);
        uint16_t a = 0, b = 0;
        int rc = pst_get_or_create1(t, k.vsvc, k.key, k.len, real, sp, timeout, flags, *now, &a);
        int want = real == PST_NO_REAL || (flags & 0x0C) ? PST_EINVAL
                   : !len_ok(r, k.len) ? PST_EKEYLEN
                   : ref_get_or_create(r, k.vsvc, k.key, k.len, real, sp, timeout, flags, *now, &b);
        FUZZ_CHECK(rc == want && (rc < PST_FULL || a == b), "get_or_create1: %d real %u, "
                   "reference %d real %u", rc, a, want, b);
        FUZZ_SEEN(rc == PST_CREATED ? 0 : rc == PST_FOUND ? 1 : rc == PST_FULL ? 2
                  : rc == PST_EKEYLEN ? 7 : 8);
        break;
    }
    case 1: {   /* get_or_create_many */
        size_t n = 1 + fz_u8(in) % BATCH_MAX, w = r->kw;
        uint8_t keys[BATCH_MAX * PST_KEY_MAX], lens[BATCH_MAX];
        uint16_t vsvc[BATCH_MAX], real[BATCH_MAX], out[BATCH_MAX], rout;
        int8_t status[BATCH_MAX];
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            draw_key(in, r, &k);
            bad |= !len_ok(r, k.len);
            lens[i] = (uint8_t)k.len;
            vsvc[i] = k.vsvc;
            memcpy(keys + i * w, k.key, w);
            real[i] = fz_u8(in);
        }
        pst_keys ks = {.n = n, .keys = keys, .lens = r->kw == r->kmin ? NULL : lens,
                       .vsvc = vsvc};
        if (r->kw == r->kmin)
            bad = 0;    /* fixed width: no lengths given, every key is whole */
        uint32_t timeout = draw_timeout(in);   /* arguments read in order, one by one */
        uint8_t flags = fz_u8(in) & 0xF1;
        pst_vals v = {.real = real, .sp0 = 3, .timeout0 = timeout, .flags = flags};
        int64_t rc = pst_get_or_create_many(t, &ks, &v, *now, out, status);
        if (bad) {
            FUZZ_CHECK(rc == PST_EKEYLEN, "batch with a bad length: %lld", (long long)rc);
            break;
        }
        int64_t created = 0;
        for (size_t i = 0; i < n; i++) {
            int st = ref_get_or_create(r, vsvc[i], keys + i * w, ks.lens ? lens[i] : w, real[i],
                                       3, v.timeout0, v.flags, *now, &rout);
            FUZZ_CHECK(status[i] == st && out[i] == rout, "batch key %zu: %d real %u, "
                       "reference %d real %u", i, status[i], out[i], st, rout);
            created += st == PST_CREATED;
        }
        FUZZ_CHECK(rc == created, "batch created %lld, reference %lld", (long long)rc,
                   (long long)created);
        break;
    }
    case 2: {   /* lookup1 */
        draw_key(in, r, &k);
        pst_prefetch(t, k.vsvc, k.key, k.len);     /* a hint: never a read past the key */
        int32_t rc = pst_lookup1(t, k.vsvc, k.key, k.len, *now);
        int32_t want = PST_EKEYLEN;
        if (len_ok(r, k.len)) {
            const slot_t *s = ref_live(r, k.vsvc, k.key, k.len, *now);
            want = s ? s->real : -1;
        }
        FUZZ_CHECK(rc == want, "lookup1: %d, reference %d", rc, want);
        if (rc >= 0)
            FUZZ_SEEN(10);
        break;
    }
    case 3: {   /* lookup_many */
        size_t n = fz_u8(in) % (BATCH_MAX + 1), w = r->kw;
        uint8_t keys[BATCH_MAX * PST_KEY_MAX + 1];
        uint16_t out[BATCH_MAX + 1];
        uint16_t vsvc0 = fz_u8(in) & 1;
        for (size_t i = 0; i < n; i++) {
            draw_key(in, r, &k);
            memcpy(keys + i * w, k.key, w);     /* lens NULL: every key kw bytes */
        }
        pst_keys ks = {.n = n, .keys = keys, .vsvc0 = vsvc0};
        int64_t hits = pst_lookup_many(t, &ks, *now, out), want = 0;
        for (size_t i = 0; i < n; i++) {
            const slot_t *s = ref_live(r, vsvc0, keys + i * w, w, *now);
            FUZZ_CHECK(out[i] == (s ? s->real : PST_NO_REAL), "lookup_many key %zu: %u", i,
                       out[i]);
            want += s != NULL;
        }
        FUZZ_CHECK(hits == want, "lookup_many hits %lld, reference %lld", (long long)hits,
                   (long long)want);
        break;
    }
    case 4: {   /* get */
        draw_key(in, r, &k);
        pst_entry e, we;
        int rc = pst_get(t, k.vsvc, k.key, k.len, *now, &e), want = PST_EKEYLEN;
        if (len_ok(r, k.len)) {
            const slot_t *s = ref_live(r, k.vsvc, k.key, k.len, *now);
            want = s != NULL;
            if (s) {
                view(r, s, &we);
                if (rc == 1)
                    same_entry(&e, &we, "get");
            }
        }
        FUZZ_CHECK(rc == want, "get: %d, reference %d", rc, want);
        break;
    }
    case 5: {   /* put */
        draw_key(in, r, &k);
        pst_entry e = {.vsvc = k.vsvc, .keylen = (uint8_t)k.len};
        e.created = *now - fz_u8(in) % 4;
        e.last_used = *now - fz_u8(in) % 8;
        e.timeout = draw_timeout(in);
        e.sp = fz_u8(in);
        e.flags = fz_u8(in) & 0xF3;
        e.real = fz_u8(in) == 0xFE ? PST_NO_REAL : fz_u8(in);
        int journal = fz_u8(in) & 1;
        memcpy(e.key, k.key, sizeof e.key);
        int rc = pst_put(t, &e, *now, journal);
        int want = e.real == PST_NO_REAL || (e.flags & 0x0C) ? PST_EINVAL
                   : !len_ok(r, k.len) ? PST_EKEYLEN : ref_put(r, &e, *now, journal);
        FUZZ_CHECK(rc == want, "put: %d, reference %d", rc, want);
        if (rc == PST_EFULL)
            FUZZ_SEEN(2);
        break;
    }
    case 6: {   /* delete */
        draw_key(in, r, &k);
        int rc = pst_delete(t, k.vsvc, k.key, k.len), want = PST_EKEYLEN;
        if (len_ok(r, k.len)) {
            int64_t idx = where(r, k.vsvc, k.key, k.len);
            want = idx >= 0;
            if (idx >= 0) {
                ref_remove(r, (uint64_t)idx, PST_OP_DELETE);
                r->deletes++;
            }
        }
        FUZZ_CHECK(rc == want, "delete: %d, reference %d", rc, want);
        break;
    }
    case 7: {   /* expire */
        uint64_t work = fz_u8(in) % 40;
        int64_t n = pst_expire(t, *now, work);
        uint64_t want = expire_scan(r, *now, work);
        FUZZ_CHECK(n == (int64_t)want, "expire: %lld, reference %llu", (long long)n,
                   (unsigned long long)want);
        break;
    }
    case 8:
    case 9: {   /* time passes: mostly a little, now and then a lot */
        uint8_t b = fz_u8(in);
        *now += b >= 0xF8 ? (uint32_t)b << 20 : b % 6;
        break;
    }
    case 10: {  /* the journal, from a sequence number near its head */
        uint64_t back = fz_u8(in) % (JOURNAL_MAX + 4), seq = r->jhead >= back ? r->jhead - back : 0;
        if (fz_u8(in) == 0xFF)
            seq = r->jhead + 1;
        size_t max = fz_u8(in) % 8;
        pst_update got[8];
        int64_t n = pst_updates_since(t, seq, got, max), want;
        if (seq > r->jhead)
            want = PST_EINVAL;
        else if (seq + 1 < journal_oldest(r))
            want = PST_EGAP;
        else
            want = (int64_t)(r->jhead - seq < max ? r->jhead - seq : max);
        FUZZ_CHECK(n == want, "updates_since %llu: %lld, reference %lld",
                   (unsigned long long)seq, (long long)n, (long long)want);
        if (n == PST_EGAP)
            FUZZ_SEEN(5);
        else if (n > 0)
            FUZZ_SEEN(6);
        for (int64_t i = 0; i < n; i++) {
            uint64_t s = seq + 1 + (uint64_t)i;
            const jrec_t *j = &r->journal[(s - 1) % r->jcap];
            FUZZ_CHECK(j->seq == s && got[i].seq == s && got[i].op == j->op,
                       "journal record %llu: op %u, reference %u", (unsigned long long)s,
                       got[i].op, j->op);
            int64_t idx = where(r, j->vsvc, j->key, j->keylen);
            FUZZ_CHECK(got[i].live == (idx >= 0), "journal record %llu live %u",
                       (unsigned long long)s, got[i].live);
            pst_entry we;
            if (idx >= 0) {
                view(r, &r->slots[idx], &we);
                r->slots[idx].flags &= (uint8_t)~PST_F_PENDING;
            } else {
                memset(&we, 0, sizeof we);
                we.vsvc = j->vsvc;
                we.keylen = j->keylen;
                memcpy(we.key, j->key, r->kw);
            }
            same_entry(&got[i].entry, &we, "journal record");
        }
        break;
    }
    case 11: {  /* iteration: persistent ones, maybe clearing the pending bits */
        uint32_t want_flags = fz_u8(in) & 0x11;
        int clear = fz_u8(in) & 1;
        pst_entry got[CAP_MAX], we;
        uint64_t cursor = 0;
        int64_t n = pst_iter(t, &cursor, got, CAP_MAX, want_flags, clear), k2 = 0;
        for (uint64_t i = 0; i < r->hw; i++) {
            slot_t *s = &r->slots[i];
            if (!s->used || (s->flags & want_flags) != want_flags)
                continue;
            FUZZ_CHECK(k2 < n, "iter lists %lld entries, fewer than the reference", (long long)n);
            view(r, s, &we);
            same_entry(&got[k2++], &we, "iter");
            if (clear)
                s->flags &= (uint8_t)~PST_F_PENDING;
        }
        FUZZ_CHECK(k2 == n, "iter lists %lld entries, reference %lld", (long long)n,
                   (long long)k2);
        break;
    }
    default:    /* /oper/slb/clear, rarely */
        if (fz_u8(in) == 0x5A) {
            pst_clear(t);
            ref_clear(r);
            FUZZ_SEEN(9);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size, 0};
    static ref_t r;
    memset(&r, 0, sizeof r);
    uint8_t b0 = fz_u8(&in), b1 = fz_u8(&in);
    r.kind = 1 + (b0 & 0x7f) % 7;
    r.policy = b1 & 1;
    r.capacity = (uint64_t)1 << ((b1 >> 1) & 7) % 6;
    r.jcap = (b1 >> 4) & 7 ? (uint64_t)1 << (((b1 >> 4) & 7) - 1) % 6 : 0;
    r.kw = (uint32_t)pst_key_width(r.kind);
    r.kmin = (uint32_t)pst_key_min(r.kind);
    pst_params p = {.kind = r.kind, .policy = r.policy, .capacity = r.capacity,
                    .journal = r.jcap, .seed = {0xfeed, 0xbeef},
                    .flags = b0 & 0x80 ? PST_NEW_LAZY : 0,
                    .hash = b1 & 0x80 || !pst_aes_available() ? PST_HASH_SIPHASH : PST_HASH_AES};
    pst_table *t;
    FUZZ_CHECK(pst_new(&p, &t) == PST_OK, "pst_new");
    uint32_t now = 1000;
    for (int steps = 0; fz_left(&in) && steps < STEPS_MAX; steps++) {
        uint64_t evictions = r.evictions, expirations = r.expirations;
        step(t, &r, &in, &now);
        compare_all(t, &r);
        if (r.evictions > evictions)
            FUZZ_SEEN(3);
        if (r.expirations > expirations)
            FUZZ_SEEN(4);
    }
    pst_free(t);
    return 0;
}
