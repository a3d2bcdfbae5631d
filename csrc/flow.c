/*
 * flow.c - the fast path's flow cache and its batch loop (flow.h says what it decides).
 *
 * Layout:
 *   index   2 x capacity u64 slots, linear probing, load <= 1/2, no tombstones (deletion
 *           shifts back).  A slot is 0 (empty) or the key's hash with its low IDX_BITS
 *           replaced by entry number + 1: the home position comes from hash bits above
 *           IDX_BITS, so the slot itself tells where it belongs (deletion rehashes nothing),
 *           and the remaining 39 hash bits make a probe touch almost no foreign entry.
 *   entries capacity 96-byte records (two cache lines wherever they start); they never move;
 *           freed ones form a LIFO list threaded through packets[0].
 *   vips    a small open-addressing set of addresses, load <= 1/4, replaced as a whole.
 *
 * flow_run is a three-stage pipeline over the batch, as the persistence table's lookups:
 * decode frame i, pick its direction, hash its key once and prefetch the index line; PIPE_A
 * frames later find the slot with the key's tag and prefetch the entry; PIPE_B frames after
 * that, decide with both in cache.  The decision stage runs in frame order, so the generation
 * mark an exception leaves is seen by every later frame of that connection.
 */
#include "flow_int.h"

#include <stdlib.h>
#include <string.h>

#include "decode_inl.h"
#include "mem.h"

#define PREFETCH FLOW_PREFETCH
#define HOT FLOW_HOT

enum {
    KEY_BYTES = FLOW_KEY_BYTES,
    IDX_BITS = FLOW_IDX_BITS,
    PIPE_A = 16,            /* frames between hashing and reading the index line */
    PIPE_B = 8,             /* frames between reading the index and deciding */
    RING = 32,              /* >= PIPE_A + PIPE_B + 1, a power of two */
    AHEAD = 8,              /* frames between the prefetch of a frame's headers and its decode */
    TCP_END = 0x07,         /* FIN | SYN | RST: the slow path's business */
    HASH_SIPHASH = FLOW_HASH_SIPHASH,
    HASH_AES = FLOW_HASH_AES
};

#define IDX_MASK FLOW_IDX_MASK

_Static_assert(sizeof(struct flow_key) == KEY_BYTES, "flow_key must stay 40 bytes");
_Static_assert(FLOW_CAPACITY_MAX < (1 << IDX_BITS), "entry numbers must fit IDX_BITS");
_Static_assert(RING >= PIPE_A + PIPE_B + 1 && (RING & (RING - 1)) == 0, "ring too small");
/* the decoder's reasons are the first Why numbers */
#define SAME_REASON(r) ((int)FLOW_WHY_##r == (int)FR_##r)
_Static_assert(SAME_REASON(NOT_IP) && SAME_REASON(MPLS) && SAME_REASON(FRAGMENT) &&
               SAME_REASON(NOT_TCP_UDP) && SAME_REASON(TRUNCATED) && SAME_REASON(BAD_IP_HEADER) &&
               SAME_REASON(BAD_L4_HEADER) && SAME_REASON(IPV6_EXT_LIMIT) &&
               SAME_REASON(UNKNOWN_LINK), "Why and fr_reason disagree");

static int pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* ---- keys and the index ------------------------------------------------------------------ */

#define hash_key flow_hash_key
#define home_of flow_home
#define key_eq flow_key_eq
#define ent flow_ent
#define find flow_find
#define vip_hash flow_vip_hash
#define vip_has flow_vip_has

uint64_t flow_hash_of(const flow_table *t, const struct flow_key *k)
{
    return t->hash == HASH_AES ? hash_key(t, k, 1) : hash_key(t, k, 0);
}

#define hash_of flow_hash_of

static int zeros(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Only canonical keys are stored, so that each connection has exactly one. */
int flow_key_ok(const struct flow_key *k)
{
    if (k->zero != 0 || (k->family != 4 && k->family != 6))
        return 0;
    return k->family == 6 || (zeros(k->cip + 4, 12) && zeros(k->vip + 4, 12));
}

#define key_ok flow_key_ok

static void index_insert(flow_table *t, uint64_t h, uint64_t idx)
{
    uint64_t pos = home_of(t, h);
    while (t->index[pos] != 0)
        pos = (pos + 1) & t->imask;
    t->index[pos] = (h & ~IDX_MASK) | (idx + 1);
}

/* Backward-shift deletion: no tombstones, so probe lengths never rot under churn. */
static void index_remove(flow_table *t, uint64_t hole)
{
    uint64_t j = hole;
    for (;;) {
        j = (j + 1) & t->imask;
        uint64_t s = t->index[j];
        if (s == 0)
            break;
        uint64_t home = home_of(t, s);
        /* s may fill the hole unless its home lies cyclically in (hole, j] */
        if (((j - home) & t->imask) >= ((j - hole) & t->imask)) {
            t->index[hole] = s;
            hole = j;
        }
    }
    t->index[hole] = 0;
}

ent_t *flow_insert(flow_table *t, uint64_t h, const struct flow_key *key)
{
    uint64_t idx;
    if (t->free_head) {
        idx = t->free_head - 1;
        t->free_head = ent(t, idx)->packets[0];
    } else if (t->hw < t->capacity) {
        idx = t->hw++;
    } else {
        return NULL;
    }
    ent_t *e = ent(t, idx);
    memset(e, 0, sizeof *e);
    e->key = *key;
    e->real = FLOW_NO_REAL;
    index_insert(t, h, idx);
    t->count++;
    return e;
}

void flow_remove(flow_table *t, uint64_t pos, uint64_t idx)
{
    index_remove(t, pos);
    ent_t *e = ent(t, idx);
    if (e->own == OWN_C)
        t->owned_c--;
    memset(e, 0, sizeof *e);
    e->packets[0] = t->free_head;
    t->free_head = idx + 1;
    t->count--;
}

/* ---- the VIP set ------------------------------------------------------------------------- */

int flow_set_vips(flow_table *t, const uint8_t *addrs, const uint8_t *families, uint32_t n)
{
    if (t == NULL || (n && (addrs == NULL || families == NULL)) || n > FLOW_VIPS_MAX)
        return FLOW_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if ((families[i] != 4 && families[i] != 6) ||
            (families[i] == 4 && !zeros(addrs + 16 * (size_t)i + 4, 12)))
            return FLOW_EINVAL;
    uint64_t slots = 8;
    while (slots < 4 * (uint64_t)n)
        slots <<= 1;
    vip_t *v = n ? calloc(slots, sizeof *v) : NULL;
    if (n && v == NULL)
        return FLOW_ENOMEM;
    free(t->vips);
    t->vips = v;
    t->vmask = n ? slots - 1 : 0;
    t->nvips = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *a = addrs + 16 * (size_t)i;
        if (vip_has(t, families[i], a))
            continue;
        uint64_t w0, w1, pos;
        memcpy(&w0, a, 8);
        memcpy(&w1, a + 8, 8);
        for (pos = vip_hash(t, w0, w1) & t->vmask; v[pos].family; pos = (pos + 1) & t->vmask)
            ;
        v[pos] = (vip_t){{w0, w1}, families[i]};
        t->nvips++;
    }
    return FLOW_OK;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

int flow_new(uint64_t capacity, uint64_t seed0, uint64_t seed1, uint32_t hash, flow_table **out)
{
    return flow_new_opt(capacity, seed0, seed1, hash, 0, out);
}

int flow_new_opt(uint64_t capacity, uint64_t seed0, uint64_t seed1, uint32_t hash,
                 uint32_t flags, flow_table **out)
{
    if (out == NULL)
        return FLOW_EINVAL;
    *out = NULL;
    if (!pow2(capacity) || capacity > FLOW_CAPACITY_MAX || hash > HASH_AES ||
        (hash == HASH_AES && !kh_aes_available()) || (flags & ~(uint32_t)FLOW_NEW_LAZY))
        return FLOW_EINVAL;
    flow_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return FLOW_ENOMEM;
    t->seed[0] = seed0;
    t->seed[1] = seed1;
    t->hash = hash == 0 ? (kh_aes_available() ? HASH_AES : HASH_SIPHASH) : hash;
#if PST_HAVE_AES
    kh_aes_derive(&t->aes, t->seed);
#endif
    for (uint64_t i = 0; i < 2; i++) {      /* the VIP set's keys: another SipHash domain */
        sip_state s = sip_init(t->seed);
        t->vkey[i] = sip_finish(&s, (i + 64) | 8ULL << 56);
    }
    t->gen = 1;
    t->capacity = capacity;
    t->imask = 2 * capacity - 1;
    t->index_bytes = (size_t)(2 * capacity) * sizeof *t->index;
    t->ents_bytes = (size_t)capacity * sizeof *t->ents;
    int prefault = !(flags & FLOW_NEW_LAZY);
    t->index = pst_mem_alloc_opt(t->index_bytes, prefault);
    t->ents = pst_mem_alloc_opt(t->ents_bytes, prefault);
    if (t->index == NULL || t->ents == NULL) {
        flow_free(t);
        return FLOW_ENOMEM;
    }
    *out = t;
    return FLOW_OK;
}

void flow_free(flow_table *t)
{
    if (t == NULL)
        return;
    pst_mem_free(t->index, t->index_bytes);
    pst_mem_free(t->ents, t->ents_bytes);
    free(t->vips);
    free(t);
}

/* Every flow goes (the VIP set stays); refused while the engine runs sessions here. */
int flow_clear(flow_table *t)
{
    if (t->owned_c)
        return FLOW_EOWNED;
    memset(t->index, 0, t->index_bytes);
    memset(t->ents, 0, (size_t)t->hw * sizeof *t->ents);
    t->hw = t->free_head = t->count = 0;
    return FLOW_OK;
}

/* ---- single flows (the slow path's calls) ------------------------------------------------ */

/* The slow path's entry for the key, made if need be: NULL with *rc set when it cannot be. */
static ent_t *own_entry(flow_table *t, const struct flow_key *key, int *rc)
{
    uint64_t h = hash_of(t, key), idx;
    if (find(t, h, key, &idx) >= 0) {
        ent_t *e = ent(t, idx);
        if (e->own == OWN_C) {
            *rc = FLOW_EOWNED;
            return NULL;
        }
        *rc = FLOW_UPDATED;
        return e;
    }
    ent_t *e = flow_insert(t, h, key);
    if (e == NULL) {
        t->put_failures++;
        *rc = FLOW_EFULL;
        return NULL;
    }
    *rc = FLOW_CREATED;
    return e;
}

int flow_put(flow_table *t, const struct flow_key *key, uint16_t real, uint8_t flags,
             double last)
{
    int rc;
    if (t == NULL || key == NULL || !key_ok(key) || real == FLOW_NO_REAL)
        return FLOW_EINVAL;
    ent_t *e = own_entry(t, key, &rc);
    if (e == NULL)
        return rc;
    e->own = OWN_PY;
    e->real = real;
    e->flags = flags;
    e->last = last;
    return rc;
}

int flow_hold(flow_table *t, const struct flow_key *key, double last)
{
    int rc;
    if (t == NULL || key == NULL || !key_ok(key))
        return FLOW_EINVAL;
    ent_t *e = own_entry(t, key, &rc);
    if (e == NULL)
        return rc;
    if (rc == FLOW_CREATED)
        e->last = last;
    e->own = OWN_HELD;
    return rc;
}

int flow_delete(flow_table *t, const struct flow_key *key)
{
    uint64_t idx;
    if (t == NULL || key == NULL)
        return FLOW_EINVAL;
    int64_t pos = key_ok(key) ? find(t, hash_of(t, key), key, &idx) : -1;
    if (pos < 0)
        return 0;
    if (ent(t, idx)->own == OWN_C)
        return FLOW_EOWNED;
    flow_remove(t, (uint64_t)pos, idx);
    return 1;
}

static ent_t *lookup(const flow_table *t, const struct flow_key *key)
{
    uint64_t idx;
    if (!key_ok(key) || find(t, hash_of(t, key), key, &idx) < 0)
        return NULL;
    return ent(t, idx);
}

static void state_of(const ent_t *e, struct flow_state *s)
{
    memset(s, 0, sizeof *s);
    s->last = e->last;
    memcpy(s->packets, e->packets, sizeof s->packets);
    memcpy(s->octets, e->octets, sizeof s->octets);
    s->untaken = e->untaken;
    s->real = e->real;
    s->flags = e->flags;
}

int64_t flow_get_many(const flow_table *t, const struct flow_key *keys, uint32_t n,
                      struct flow_state *out, uint8_t *found)
{
    if (t == NULL || (n && (keys == NULL || out == NULL || found == NULL)))
        return FLOW_EINVAL;
    int64_t hits = 0;
    for (uint32_t i = 0; i < n; i++) {
        const ent_t *e = lookup(t, &keys[i]);
        found[i] = e != NULL;
        if (e) {
            state_of(e, &out[i]);
            hits++;
        } else {
            memset(&out[i], 0, sizeof out[i]);
        }
    }
    return hits;
}

int64_t flow_take_many(flow_table *t, const struct flow_key *keys, uint32_t n,
                       uint64_t *octets)
{
    if (t == NULL || (n && (keys == NULL || octets == NULL)))
        return FLOW_EINVAL;
    int64_t hits = 0;
    for (uint32_t i = 0; i < n; i++) {
        ent_t *e = lookup(t, &keys[i]);
        octets[i] = e ? e->untaken : 0;
        if (e) {
            e->untaken = 0;
            hits++;
        }
    }
    return hits;
}

int64_t flow_iter(flow_table *t, uint64_t *cursor, struct flow_entry *out, uint32_t max,
                  int take)
{
    if (t == NULL || cursor == NULL || (max && out == NULL))
        return FLOW_EINVAL;
    uint32_t n = 0;
    uint64_t c = *cursor;
    for (; c < t->hw && n < max; c++) {
        ent_t *e = ent(t, c);
        if (e->key.family == 0 || e->own == OWN_C)
            continue;
        out[n].key = e->key;
        state_of(e, &out[n++].state);
        if (take)
            e->untaken = 0;
    }
    *cursor = c;
    return n;
}

/* ---- the batch --------------------------------------------------------------------------- */

typedef struct {
    struct flow_key key;
    uint64_t h;
    uint32_t plen;
    uint8_t dir;
    uint8_t tcp;            /* TCP flags; 0 for UDP */
    uint8_t live;           /* decoded, a VIP's: needs the lookup */
} pend_t;

/* Stage A for frame i: decode, find the direction, build and hash the key. */
HOT void stage_a(flow_table *t, const uint8_t *p, uint32_t n, int link, struct flow_out *o,
                 pend_t *r, const int aes)
{
    struct fr_pkt pk;
    fr_decode1(p, n, link, &pk);
    r->live = 0;
    if (pk.reason != FR_OK) {
        *o = (struct flow_out){FLOW_PASS, pk.reason, FLOW_NO_REAL};
        t->passes++;
        return;
    }
    if (!flow_key_of(t, &pk, &r->key, &r->dir)) {
        *o = (struct flow_out){FLOW_PASS, FLOW_WHY_NOT_VIP, FLOW_NO_REAL};
        t->passes++;
        return;
    }
    r->h = hash_key(t, &r->key, aes);
    r->plen = pk.payload_len;
    r->tcp = pk.proto == 6 ? pk.flags : 0;
    r->live = 1;
    PREFETCH(&t->index[home_of(t, r->h)]);
}

/* Stage B: the first slot with the key's tag; prefetch both lines of its entry. */
HOT void stage_b(const flow_table *t, const pend_t *r)
{
    uint64_t pos = home_of(t, r->h), tag = r->h >> IDX_BITS, s;
    for (int probe = 0; probe < 4 && (s = t->index[pos]) != 0; probe++) {
        if ((s >> IDX_BITS) == tag) {
            const ent_t *e = ent(t, (s & IDX_MASK) - 1);
            PREFETCH(e);
            PREFETCH((const uint8_t *)e + sizeof *e - 1);
            return;
        }
        pos = (pos + 1) & t->imask;
    }
}

/* Stage C, in frame order: forward the frame, or hand it (and its connection) over. */
HOT void stage_c(flow_table *t, const pend_t *r, double ts, uint32_t i, struct flow_out *o,
                 uint32_t *exc, uint32_t *nexc)
{
    uint64_t idx;
    ent_t *e = find(t, r->h, &r->key, &idx) >= 0 ? ent(t, idx) : NULL;
    if (e != NULL && e->own == OWN_PY && e->gen != t->gen && !(r->tcp & TCP_END)) {
        *o = (struct flow_out){r->dir == FLOW_DIR_TO_REAL ? FLOW_TO_REAL : FLOW_TO_CLIENT,
                               FLOW_WHY_NONE, e->real};
        e->last = ts;
        e->packets[r->dir]++;
        e->octets[r->dir] += r->plen;
        e->untaken += r->plen;
        t->fast++;
        return;
    }
    if (e != NULL)
        e->gen = t->gen;
    *o = (struct flow_out){FLOW_EXCEPTION, FLOW_WHY_NONE, FLOW_NO_REAL};
    exc[(*nexc)++] = i;
}

HOT void run(flow_table *t, const uint8_t *buf, const uint64_t *off, const uint32_t *caplen,
             const double *ts, uint32_t n, int link, struct flow_out *out, uint32_t *exc,
             uint32_t *nexc, const int aes)
{
    pend_t ring[RING];
    for (uint64_t i = 0; i < (uint64_t)n + PIPE_A + PIPE_B; i++) {
        if (i < n) {
            if (i + AHEAD < n)
                PREFETCH(buf + off[i + AHEAD]);
            stage_a(t, buf + off[i], caplen[i], link, &out[i], &ring[i & (RING - 1)], aes);
        }
        if (i >= PIPE_A && i - PIPE_A < n && ring[(i - PIPE_A) & (RING - 1)].live)
            stage_b(t, &ring[(i - PIPE_A) & (RING - 1)]);
        if (i < PIPE_A + PIPE_B)
            continue;
        const uint64_t j = i - PIPE_A - PIPE_B;
        if (j < n && ring[j & (RING - 1)].live)
            stage_c(t, &ring[j & (RING - 1)], ts[j], (uint32_t)j, &out[j], exc, nexc);
    }
}

static void run_sip(flow_table *t, const uint8_t *buf, const uint64_t *off,
                    const uint32_t *caplen, const double *ts, uint32_t n, int link,
                    struct flow_out *out, uint32_t *exc, uint32_t *nexc)
{
    run(t, buf, off, caplen, ts, n, link, out, exc, nexc, 0);
}

static void run_aes(flow_table *t, const uint8_t *buf, const uint64_t *off,
                    const uint32_t *caplen, const double *ts, uint32_t n, int link,
                    struct flow_out *out, uint32_t *exc, uint32_t *nexc)
{
    run(t, buf, off, caplen, ts, n, link, out, exc, nexc, 1);
}

int flow_run(flow_table *t, const uint8_t *buf, size_t buflen, const uint64_t *off,
             const uint32_t *caplen, const double *ts, uint32_t n, int link,
             struct flow_out *out, uint32_t *exc, uint32_t *nexc)
{
    static const uint8_t empty[1];
    if (t == NULL || nexc == NULL || (!buf && buflen) ||
        (n && (!off || !caplen || !ts || !out || !exc)))
        return FLOW_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if (off[i] > buflen || caplen[i] > buflen - off[i])
            return FLOW_ERANGE;
    *nexc = 0;
    if (n == 0)
        return FLOW_OK;
    if (++t->gen == 0) {        /* after 2^32 batches: forget the old marks */
        for (uint64_t i = 0; i < t->hw; i++)
            ent(t, i)->gen = 0;
        t->gen = 1;
    }
    (t->hash == HASH_AES ? run_aes : run_sip)(t, buf ? buf : empty, off, caplen, ts, n, link,
                                              out, exc, nexc);
    t->runs++;
    t->frames += n;
    t->exceptions += *nexc;
    return FLOW_OK;
}

/* ---- stats and invariants ---------------------------------------------------------------- */

void flow_get_stats(const flow_table *t, struct flow_stats *s)
{
    memset(s, 0, sizeof *s);
    s->entries = t->count;
    s->capacity = t->capacity;
    s->vips = t->nvips;
    s->generation = t->gen;
    s->runs = t->runs;
    s->frames = t->frames;
    s->fast = t->fast;
    s->exceptions = t->exceptions;
    s->passes = t->passes;
    s->put_failures = t->put_failures;
    s->memory_bytes = t->index_bytes + t->ents_bytes;
    if (t->vips)
        s->memory_bytes += (t->vmask + 1) * sizeof(vip_t);
    s->hash = t->hash;
}

int flow_check(const flow_table *t)
{
    uint64_t used = 0, slots = 0, freed = 0, vips = 0, owned = 0;
    for (uint64_t i = 0; i < t->hw; i++) {
        const ent_t *e = ent(t, i);
        if (e->key.family == 0)
            continue;
        used++;
        owned += e->own == OWN_C;
        if (!key_ok(&e->key) || e->own < OWN_PY || e->own > OWN_C ||
            (e->own == OWN_PY && e->real == FLOW_NO_REAL) || e->gen > t->gen)
            return 1;
        uint64_t h = hash_of(t, &e->key), pos = home_of(t, h);
        for (;;) {              /* the probe chain from home must reach the entry, gap-free */
            uint64_t s = t->index[pos];
            if (s == 0)
                return 2;
            if ((s & IDX_MASK) == i + 1) {
                if ((s >> IDX_BITS) != (h >> IDX_BITS))
                    return 3;
                break;
            }
            pos = (pos + 1) & t->imask;
        }
    }
    for (uint64_t pos = 0; pos <= t->imask; pos++) {
        uint64_t s = t->index[pos];
        if (s == 0)
            continue;
        slots++;
        uint64_t i = (s & IDX_MASK) - 1;
        if (i >= t->hw || ent(t, i)->key.family == 0)
            return 4;
    }
    for (uint64_t f = t->free_head; f; f = ent(t, f - 1)->packets[0])
        if (f - 1 >= t->hw || ent(t, f - 1)->key.family != 0 || ++freed > t->hw)
            return 5;
    if (used != t->count || slots != t->count || used + freed != t->hw || t->hw > t->capacity ||
        owned != t->owned_c)
        return 6;
    for (uint64_t pos = 0; t->vips && pos <= t->vmask; pos++) {
        const vip_t *v = &t->vips[pos];
        if (v->family == 0)
            continue;
        vips++;
        if (!vip_has(t, v->family, (const uint8_t *)v->w))
            return 7;
    }
    if (vips != t->nvips || (t->nvips && 4 * t->nvips > t->vmask + 1) || t->gen == 0)
        return 8;
    return 0;
}
