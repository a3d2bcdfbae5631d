/*
 * pst.c - the persistence table.
 *
 * Two layouts (see docs/table.md), chosen by key kind at creation:
 *
 *   index + entries (every kind but IPv4)
 *     index   2 x capacity u32 slots, linear probing, load <= 1/2, no tombstones (deletion
 *             shifts back).  A slot is 0 (empty) or (tag << ibits) | (entry number + 1): the
 *             tag holds hash bits the home position does not, so a probe rarely touches an
 *             entry that is not the one sought.  A lazy table's index starts small and
 *             doubles as entries arrive (rebuilt from the entries), up to the same size.
 *     entries capacity fixed-size records: a 20-byte header then the key, zero padded.
 *
 *   hot slots + cold entries (IPv4)
 *     slots   16-byte slots in 64-byte buckets, 5/4 x capacity of them (any count: the home
 *             bucket is a multiply-shift range reduction), linear probing from the home
 *             bucket's first slot, no tombstones (deletion shifts back; a slot that moves
 *             tells its entry).  A slot holds all a lookup needs - key, vsvc, real, the
 *             instant it expires - and its entry number, so a hit reads one cache line (the
 *             home bucket's, for six keys in seven at 3/4 load).
 *     entries capacity 16-byte records holding the rest (created, timeout, SP, flags) and
 *             the position of their slot.  A lazy table's slots start as 4 buckets and
 *             double as entries arrive (rebuilt from the old slots), up to the same size.
 *
 * In both, entries never move and freed ones form a LIFO list, so an entry's number is a
 * stable handle and storage order is the same whatever the layout; the journal is a ring of
 * (op, vsvc, key) records for persistent entries, read by the mirror.
 *
 * Batches run as a pipeline: hash and prefetch the index line, (index layout) find the tag and
 * prefetch the entry, then resolve the key with the lines in cache; IPv4 lookups set aside the
 * keys their home bucket does not decide until the next line has arrived.
 */
#include "pst.h"

#include <stdlib.h>
#include <string.h>

#include "keyhash.h"
#include "mem.h"

/* A macro, not a static function: gcc 12 drops calls to a function whose body is only a
 * prefetch (it sees no side effect). */
#define PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)

enum {
    HDR = 20,               /* index layout: entry bytes before the key */
    HDR4 = 16,              /* IPv4 layout: entry bytes (no key: it is in the slot) */
    RECLAIM_BUDGET = 1024,  /* entries an insert into a full table scans for expired ones */
    EVICT_WINDOW = 64,      /* candidates compared per eviction window */
    EVICT_MAX_SCAN = 4096,  /* entries one eviction may scan for a non-persistent victim */
    PIPE_A = 24,            /* keys between hashing and reading the index line */
    PIPE_B = 12,            /* keys between reading the index and resolving the entry */
    PIPE4 = 32,             /* IPv4 lookups: keys between hashing and reading the home bucket */
    CREATE_A = 24,          /* IPv4 insert-or-touch: keys between hashing and the home bucket, */
    CREATE_B = 16,          /* then between the home bucket and resolving */
    RING = 64,              /* >= PIPE_A + PIPE_B + 1, a power of two */
    SCAN_AHEAD = 32,        /* IPv4 scans: entries whose slots are fetched ahead */
    DEFER4_CAP = 128,       /* IPv4 lookups: keys displaced past their home bucket wait in a */
    DEFER4_HI = 64,         /* ring of DEFER4_CAP; from DEFER4_HI waiting, the oldest are */
    DEFER4_LO = 32,         /* taken up until DEFER4_LO wait (see lookup4) */
    INDEX_FIRST = 16,       /* index slots a lazy table starts with (it doubles from there) */
    BUCKETS_FIRST = 4,      /* IPv4 buckets a lazy table starts with (the same: they double) */
    F_MASK_IN = PST_F_PERSIST | PST_F_USER
};

/*
 * What every entry holds, in both layouts.  The third word depends on the layout and state:
 * the last-used time (index layout), the slot position + 1 (IPv4 layout), or the next free
 * entry number + 1 (a free entry).
 */
typedef struct {
    uint32_t created;
    uint32_t timeout;
    union {
        uint32_t last_used;
        uint32_t slot;
        uint32_t next_free;
    };
    uint8_t sp;
    uint8_t flags;
    uint8_t keylen;         /* 0 marks a free entry */
    uint8_t mark;           /* the mirror sweep's stale mark */
} hdr_t;

/* An index-layout entry: the common header, then vsvc and real, then the key. */
typedef struct {
    hdr_t h;
    uint16_t vsvc;
    uint16_t real;
} gen_t;

_Static_assert(sizeof(hdr_t) == HDR4, "IPv4 entries must stay 16 bytes");
_Static_assert(sizeof(gen_t) == HDR, "entry header must stay 20 bytes");

/*
 * An IPv4 slot.  w0: key (the 4 bytes as a native u32) | vsvc << 32 | real << 48.
 * w1: entry number + 1 (bits 0-28; 0 = empty slot) | life << 29, where life is the instant the
 * entry expires, last_used + timeout (< 2^33), or 2^33 | last_used when it never does (timeout
 * 0): alive <=> now < life, one compare, and last_used is exact either way.
 */
typedef struct {
    uint64_t w0, w1;
} slot4_t;

#define S4_EBITS 29
#define S4_EMASK ((1ULL << S4_EBITS) - 1)
#define S4_KV 0xFFFFFFFFFFFFULL     /* key and vsvc bits of w0 */
#define S4_NEVER (1ULL << 33)

struct pst_table {
#if PST_HAVE_AES
    aes_keys aes;           /* first: calloc's 16-byte alignment suits the vector keys */
#endif
    uint32_t kind, policy, hash;
    uint32_t kw, kmin;      /* key width and minimum key length */
    uint32_t esz;           /* entry stride */
    uint32_t v4;            /* the IPv4 layout (hot slots + cold entries) */
    uint32_t avx2;          /* the CPU has AVX2: IPv4 lookups compare a bucket at once */
    uint32_t ibits;         /* index layout: slot bits holding entry number + 1 */
    uint32_t tag_mask;
    uint32_t jsz;           /* journal record size */
    uint64_t capacity, imask, idx_mask;
    uint64_t nb, nslots;    /* IPv4 layout: buckets of 4 slots, slots */
    uint64_t nb_max;        /* IPv4 layout: buckets at the full size, 5/16 x capacity */
    uint64_t room4;         /* IPv4 layout: entries the slots hold before they must grow */
    uint64_t imax;          /* the index's mask at its full size: 2 x capacity - 1 */
    uint64_t seed[2];
    uint32_t *index;        /* index layout */
    slot4_t *slots;         /* IPv4 layout */
    uint8_t *ents;
    uint8_t *jbuf;
    size_t index_bytes, ents_bytes, jbytes;

    uint64_t hw;            /* entries [0, hw) have been handed out at least once */
    uint64_t free_head;     /* entry number + 1 of the first free entry, 0: none */
    uint64_t count, n_persist;
    uint64_t expire_hand, evict_hand;
    uint64_t moves;         /* IPv4 layout: slot removals and growths, which move slots */

    uint64_t jcap, jmask, jhead, jfloor;    /* records held: (max(jfloor, jhead-jcap), jhead] */

    uint64_t lookups, hits, inserts, touches, updates, deletes, expirations, evictions,
        alloc_failures;
};

static const struct { uint32_t width, min; } KINDS[] = {
    [PST_IPV4] = {4, 4},   [PST_IPV6] = {16, 16},    [PST_SSLID] = {32, 1},
    [PST_COOKIE] = {64, 1}, [PST_FTP] = {6, 6},      [PST_FTP6] = {18, 18},
    [PST_URLHASH] = {8, 8},
};

static int kind_ok(uint32_t kind)
{
    return kind >= PST_IPV4 && kind <= PST_URLHASH;
}

size_t pst_key_width(uint32_t kind)
{
    return kind_ok(kind) ? KINDS[kind].width : 0;
}

size_t pst_key_min(uint32_t kind)
{
    return kind_ok(kind) ? KINDS[kind].min : 0;
}

static int pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

static unsigned log2u(uint64_t x)
{
    unsigned b = 0;
    while (x >>= 1)
        b++;
    return b;
}

/* ---- entries, hashing ------------------------------------------------------------------ */

/* Hot helpers take the key width (and the layout) as parameters: the per-kind batch functions
 * pass constants, so SipHash unrolls, memcpy/memcmp become a few loads and layout tests fold. */
#define HOT static inline __attribute__((always_inline))

HOT hdr_t *ent(const pst_table *t, uint64_t idx)
{
    return (hdr_t *)(t->ents + idx * t->esz);
}

HOT gen_t *gen(hdr_t *e)
{
    return (gen_t *)e;
}

HOT uint8_t *ekey(hdr_t *e)
{
    return (uint8_t *)e + HDR;
}

HOT slot4_t *slot_of(const pst_table *t, const hdr_t *e)
{
    return &t->slots[e->slot - 1];
}

HOT uint64_t s4_life(uint32_t last_used, uint32_t timeout)
{
    return timeout ? (uint64_t)last_used + timeout : S4_NEVER | last_used;
}

HOT uint64_t s4_kv(uint16_t vsvc, const uint8_t *key)
{
    uint32_t ip;
    memcpy(&ip, key, 4);
    return ip | (uint64_t)vsvc << 32;
}

/* The fields that live in the slot in the IPv4 layout. */
HOT uint16_t e_vsvc(const pst_table *t, hdr_t *e)
{
    return t->v4 ? (uint16_t)(slot_of(t, e)->w0 >> 32) : gen(e)->vsvc;
}

HOT uint16_t e_real(const pst_table *t, hdr_t *e)
{
    return t->v4 ? (uint16_t)(slot_of(t, e)->w0 >> 48) : gen(e)->real;
}

HOT uint32_t e_last_used(const pst_table *t, hdr_t *e)
{
    if (!t->v4)
        return e->last_used;
    uint64_t life = slot_of(t, e)->w1 >> S4_EBITS;
    return (uint32_t)(e->timeout ? life - e->timeout : life);   /* never: drop the 2^33 bit */
}

/* The key, zero padded to the kind's width. */
HOT void e_key(const pst_table *t, hdr_t *e, uint8_t *out)
{
    if (t->v4) {
        uint32_t ip = (uint32_t)slot_of(t, e)->w0;
        memcpy(out, &ip, 4);
    } else {
        memcpy(out, ekey(e), t->kw);
    }
}

HOT void set_real(const pst_table *t, hdr_t *e, uint16_t real)
{
    if (t->v4) {
        slot4_t *s = slot_of(t, e);
        s->w0 = (s->w0 & S4_KV) | (uint64_t)real << 48;
    } else {
        gen(e)->real = real;
    }
}

HOT void set_times(const pst_table *t, hdr_t *e, uint32_t last_used, uint32_t timeout)
{
    e->timeout = timeout;
    if (t->v4) {
        slot4_t *s = slot_of(t, e);
        s->w1 = (s->w1 & S4_EMASK) | s4_life(last_used, timeout) << S4_EBITS;
    } else {
        e->last_used = last_used;
    }
}

HOT int alive_gen(const hdr_t *e, uint32_t now)
{
    return e->timeout == 0 || (uint64_t)now < (uint64_t)e->last_used + e->timeout;
}

HOT int alive(const pst_table *t, hdr_t *e, uint32_t now)
{
    return t->v4 ? now < slot_of(t, e)->w1 >> S4_EBITS : alive_gen(e, now);
}

/* SipHash-1-3 of the key zero padded to whole words, then a block holding vsvc and the key
 * length.  A 4-byte key shares that block: the 7-byte message key, vsvc, len. */
HOT uint64_t hash_sip(const pst_table *t, uint16_t vsvc, const uint8_t *key, uint32_t len,
                      uint32_t kw)
{
    uint64_t meta = (uint64_t)vsvc | (uint64_t)len << 16;
    if (kw == 4) {
        sip_state s = sip_init(t->seed);
        uint32_t ip;
        memcpy(&ip, key, 4);
        return sip_finish(&s, ip | meta << 32 | 7ULL << 56);
    }
    return kh_sip(t->seed, key, len, kw, meta, 3);
}

/* The AES hash (keyhash.h) of the zero-padded key, vsvc and the key length. */
HOT uint64_t hash_aes(const pst_table *t, uint16_t vsvc, const uint8_t *key, uint32_t len,
                      uint32_t kw)
{
#if PST_HAVE_AES
    return kh_aes(&t->aes, key, len, kw,
                  (uint64_t)vsvc | (uint64_t)len << 16 | (uint64_t)kw << 32);
#else
    return hash_sip(t, vsvc, key, len, kw);
#endif
}

/* Hot callers pass aes as a constant; the rest ask the table. */
HOT uint64_t hash_kw(const pst_table *t, uint16_t vsvc, const uint8_t *key, uint32_t len,
                     uint32_t kw, const int aes)
{
    return aes ? hash_aes(t, vsvc, key, len, kw) : hash_sip(t, vsvc, key, len, kw);
}

static uint64_t hash_key(const pst_table *t, uint16_t vsvc, const uint8_t *key, uint32_t len)
{
    return hash_kw(t, vsvc, key, len, t->kw, t->hash == PST_HASH_AES);
}

/* The hash of an IPv4 slot's key. */
static uint64_t hash_slot4(const pst_table *t, uint64_t w0)
{
    uint8_t key[4];
    uint32_t ip = (uint32_t)w0;
    memcpy(key, &ip, 4);
    return hash_key(t, (uint16_t)(w0 >> 32), key, 4);
}

static uint64_t hash_entry(const pst_table *t, hdr_t *e)
{
    if (t->v4)
        return hash_slot4(t, slot_of(t, e)->w0);
    return hash_key(t, gen(e)->vsvc, ekey(e), e->keylen);
}

static inline uint32_t tag_of(const pst_table *t, uint64_t h)
{
    return (uint32_t)(h >> 32) & t->tag_mask;
}

HOT int matches(hdr_t *e, uint16_t vsvc, const uint8_t *key, uint32_t len)
{
    return e->keylen == len && gen(e)->vsvc == vsvc &&
           memcmp((const uint8_t *)e + HDR, key, len) == 0;
}

/* ---- the IPv4 slots -------------------------------------------------------------------- */

/* First slot of the home bucket: multiply-shift maps the hash's top half onto nb buckets. */
HOT uint64_t home4(const pst_table *t, uint64_t h)
{
    return ((h >> 32) * t->nb >> 32) << 2;
}

HOT uint64_t next4(const pst_table *t, uint64_t pos)
{
    return pos + 1 == t->nslots ? 0 : pos + 1;
}

/* Slots from a to b, going forward round the table. */
static inline uint64_t dist4(const pst_table *t, uint64_t a, uint64_t b)
{
    return b >= a ? b - a : b + t->nslots - a;
}

/* Which of a bucket's four slots decides a probe for kv: bit 4i set when slot i holds kv, bit
 * 4i + 2 when it is empty.  The lowest set bit is the first slot that holds the key or is
 * empty, which ends the probe (the key is absent if it is an empty one); 0 when all four hold
 * other keys and the probe goes on.  SSE2 (every x86-64) or plain C; an AVX2 version below
 * serves the lookup batches. */
#if defined(__x86_64__)
#include <emmintrin.h>

HOT unsigned bucket_scan(const slot4_t *s, uint64_t kv)
{
    /* per slot, 32-bit lanes (key, vsvc, w1 low, w1 high) equal to (key, vsvc, 0, 0) */
    const __m128i mask = _mm_set_epi64x(-1, (long long)S4_KV);
    const __m128i want = _mm_set_epi64x(0, (long long)kv);
    const __m128i *v = (const __m128i *)s;
    __m128i c0 = _mm_cmpeq_epi32(_mm_and_si128(_mm_load_si128(v), mask), want);
    __m128i c1 = _mm_cmpeq_epi32(_mm_and_si128(_mm_load_si128(v + 1), mask), want);
    __m128i c2 = _mm_cmpeq_epi32(_mm_and_si128(_mm_load_si128(v + 2), mask), want);
    __m128i c3 = _mm_cmpeq_epi32(_mm_and_si128(_mm_load_si128(v + 3), mask), want);
    __m128i p = _mm_packs_epi16(_mm_packs_epi32(c0, c1), _mm_packs_epi32(c2, c3));
    unsigned m = (unsigned)_mm_movemask_epi8(p);   /* 4 bits a slot: key, vsvc, w1 lo, hi */
    m &= m >> 1;                /* bit 4i: kv (or an empty slot and kv 0); bit 4i + 2: empty */
    return (m & 0x1111 & ~(m >> 2)) | (m & 0x4444);
}
#else
HOT unsigned bucket_scan(const slot4_t *s, uint64_t kv)
{
    unsigned m = 0;
    for (int i = 0; i < 4; i++)
        m |= (unsigned)(((s[i].w0 ^ kv) & S4_KV) == 0 && s[i].w1 != 0) << 4 * i |
             (unsigned)(s[i].w1 == 0) << (4 * i + 2);
    return m;
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1

/* bucket_scan with a bit a lane: bit 2i when slot i holds kv, 2i + 1 when it is empty.  Each
 * 32-byte half holds two slots, (w0, w1, w0, w1): one compare of the masked lanes with
 * (kv, 0, kv, 0) tests the keys and the emptiness of both. */
__attribute__((target("avx2"))) static inline unsigned
bucket_scan_avx2(const slot4_t *s, uint64_t kv)
{
    const __m256i mask = _mm256_set_epi64x(-1, (long long)S4_KV, -1, (long long)S4_KV);
    const __m256i want = _mm256_set_epi64x(0, (long long)kv, 0, (long long)kv);
    __m256i lo = _mm256_and_si256(_mm256_load_si256((const __m256i *)s), mask);
    __m256i hi = _mm256_and_si256(_mm256_load_si256((const __m256i *)(s + 2)), mask);
    unsigned a = (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(lo, want)));
    unsigned b = (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(hi, want)));
    unsigned m = a | b << 4;    /* an empty slot's key lane is 0: it matches kv 0 */
    return (m & 0x55 & ~(m >> 1)) | (m & 0xAA);
}
#else
#define HAVE_AVX2_PATH 0
#endif

/* The probe for key|vsvc kv from the first slot of bucket pos / 4, bucket by bucket: the
 * position of the slot holding kv (*found 1), or else of the first empty slot, which ends the
 * probe and is where kv would go (*found 0).  A table always has an empty slot (more slots than
 * capacity), so the probe ends. */
HOT uint64_t scan4(const pst_table *t, uint64_t pos, uint64_t kv, int *found)
{
    for (;;) {
        unsigned m = bucket_scan(&t->slots[pos], kv);
        if (__builtin_expect(m != 0, 1)) {
            unsigned b = (unsigned)__builtin_ctz(m);
            *found = !(b & 2);
            return pos + (b >> 2);
        }
        pos += 4;
        if (pos == t->nslots)
            pos = 0;
    }
}

/* Slot position holding key|vsvc kv (hash h), or -1; *idx gets its entry number. */
HOT int64_t find4(const pst_table *t, uint64_t h, uint64_t kv, uint64_t *idx)
{
    int found;
    uint64_t pos = scan4(t, home4(t, h), kv, &found);
    if (!found)
        return -1;
    *idx = (t->slots[pos].w1 & S4_EMASK) - 1;
    return (int64_t)pos;
}

/* Backward-shift deletion, as in the index layout; a slot that moves tells its entry. */
static void slot4_remove(pst_table *t, uint64_t hole)
{
    uint64_t j = hole;
    t->moves++;
    for (;;) {
        j = next4(t, j);
        slot4_t s = t->slots[j];
        if (s.w1 == 0)
            break;
        uint64_t home = home4(t, hash_slot4(t, s.w0));
        if (dist4(t, home, j) >= dist4(t, hole, j)) {
            t->slots[hole] = s;
            ent(t, (s.w1 & S4_EMASK) - 1)->slot = (uint32_t)hole + 1;
            hole = j;
        }
    }
    t->slots[hole].w0 = t->slots[hole].w1 = 0;
}

/* Entries nb buckets hold before they must grow: load 3/4 while they can, every entry at the
 * full size (5/4 x capacity slots: one is always empty). */
static uint64_t room4_of(const pst_table *t)
{
    return t->nb < t->nb_max ? 3 * t->nb : t->capacity;
}

/* Double a lazy table's buckets (up to nb_max), rebuilt from the old slots; slots move, so
 * t->moves counts it.  -1: at the full size already, or out of memory (the old slots stay). */
static int slots_grow(pst_table *t)
{
    if (t->nb >= t->nb_max)
        return -1;
    uint64_t nb = 2 * t->nb < t->nb_max ? 2 * t->nb : t->nb_max;
    size_t bytes = (size_t)(4 * nb) * sizeof(slot4_t);
    slot4_t *slots = pst_mem_alloc_opt(bytes, 0), *old = t->slots;
    if (slots == NULL)
        return -1;
    uint64_t old_n = t->nslots;
    size_t old_bytes = t->index_bytes;
    t->slots = slots;
    t->nb = nb;
    t->nslots = 4 * nb;
    t->index_bytes = bytes;
    t->room4 = room4_of(t);
    t->moves++;
    for (uint64_t pos = 0; pos < old_n; pos++) {
        slot4_t s = old[pos];
        if (s.w1 == 0)
            continue;
        int found;
        uint64_t at = scan4(t, home4(t, hash_slot4(t, s.w0)), s.w0 & S4_KV, &found);
        t->slots[at] = s;
        ent(t, (s.w1 & S4_EMASK) - 1)->slot = (uint32_t)at + 1;
    }
    pst_mem_free(old, old_bytes);
    return 0;
}

/* ---- the index ------------------------------------------------------------------------- */

/* Index position holding (vsvc, key), or -1; *idx gets its entry number. */
HOT int64_t find_gen(const pst_table *t, uint64_t h, uint16_t vsvc, const uint8_t *key,
                     uint32_t len, uint64_t *idx)
{
    uint64_t pos = h & t->imask;
    uint32_t tag = tag_of(t, h), s;
    while ((s = t->index[pos]) != 0) {
        if ((s >> t->ibits) == tag) {
            uint64_t i = (s & t->idx_mask) - 1;
            if (matches(ent(t, i), vsvc, key, len)) {
                *idx = i;
                return (int64_t)pos;
            }
        }
        pos = (pos + 1) & t->imask;
    }
    return -1;
}

HOT int64_t find(const pst_table *t, uint64_t h, uint16_t vsvc, const uint8_t *key,
                 uint32_t len, uint64_t *idx)
{
    if (t->v4)
        return find4(t, h, s4_kv(vsvc, key), idx);
    return find_gen(t, h, vsvc, key, len, idx);
}

/* find, and for a new IPv4 key the empty slot that ended its probe, where it goes (*at; -1
 * otherwise).  The slot stays right while no slot is removed: see t->moves. */
HOT int locate(const pst_table *t, uint64_t h, uint16_t vsvc, const uint8_t *key,
               uint32_t len, uint64_t *idx, int64_t *at)
{
    *at = -1;
    if (!t->v4)
        return find_gen(t, h, vsvc, key, len, idx) >= 0;
    int found;
    uint64_t pos = scan4(t, home4(t, h), s4_kv(vsvc, key), &found);
    if (found)
        *idx = (t->slots[pos].w1 & S4_EMASK) - 1;
    else
        *at = (int64_t)pos;
    return found;
}

static void index_insert(pst_table *t, uint64_t h, uint64_t idx)
{
    uint64_t pos = h & t->imask;
    while (t->index[pos] != 0)
        pos = (pos + 1) & t->imask;
    t->index[pos] = (tag_of(t, h) << t->ibits) | (uint32_t)(idx + 1);
}

/* Backward-shift deletion: no tombstones, so probe lengths never rot under churn. */
static void index_remove(pst_table *t, uint64_t hole)
{
    uint64_t j = hole;
    for (;;) {
        j = (j + 1) & t->imask;
        uint32_t s = t->index[j];
        if (s == 0)
            break;
        uint64_t home = hash_entry(t, ent(t, (s & t->idx_mask) - 1)) & t->imask;
        /* s may fill the hole unless its home lies cyclically in (hole, j] */
        if (((j - home) & t->imask) >= ((j - hole) & t->imask)) {
            t->index[hole] = s;
            hole = j;
        }
    }
    t->index[hole] = 0;
}

/* Double a lazy table's index, rebuilt from the entries.  -1: at its full size already, or
 * out of memory (the old index stays). */
static int index_grow(pst_table *t)
{
    if (t->imask >= t->imax)
        return -1;
    uint64_t slots = 2 * (t->imask + 1);
    size_t bytes = (size_t)slots * sizeof(uint32_t);
    uint32_t *index = pst_mem_alloc_opt(bytes, 0);
    if (index == NULL)
        return -1;
    pst_mem_free(t->index, t->index_bytes);
    t->index = index;
    t->index_bytes = bytes;
    t->imask = slots - 1;
    for (uint64_t i = 0; i < t->hw; i++) {
        hdr_t *e = ent(t, i);
        if (e->keylen)
            index_insert(t, hash_entry(t, e), i);
    }
    return 0;
}

static uint64_t index_pos_of(const pst_table *t, uint64_t idx)
{
    uint64_t pos = hash_entry(t, ent(t, idx)) & t->imask;
    while ((t->index[pos] & t->idx_mask) != idx + 1)
        pos = (pos + 1) & t->imask;
    return pos;
}

/* Take entry idx's key out of the index (either layout). */
static void unindex(pst_table *t, uint64_t idx)
{
    if (t->v4)
        slot4_remove(t, ent(t, idx)->slot - 1);
    else
        index_remove(t, index_pos_of(t, idx));
}

/* IPv4 scans walk entries in order but read their slots at random: fetch them ahead. */
static inline void scan_ahead(const pst_table *t, uint64_t idx)
{
    if (idx >= t->hw)
        idx -= t->hw;
    if (idx < t->hw) {
        hdr_t *e = ent(t, idx);
        if (e->keylen)
            PREFETCH(slot_of(t, e));
    }
}

/* ---- journal --------------------------------------------------------------------------- */

/* A record: vsvc u16, op u8, keylen u8, key[kw]; its sequence number is its place in the
 * ring (record s at (s - 1) & jmask). */
static uint64_t journal_oldest(const pst_table *t)
{
    uint64_t oldest = t->jfloor + 1;
    if (t->jhead >= t->jcap && t->jhead - t->jcap + 1 > oldest)
        oldest = t->jhead - t->jcap + 1;
    return oldest;
}

static void journal_record(pst_table *t, uint32_t op, uint16_t vsvc, const uint8_t *key,
                           uint32_t len)
{
    uint64_t seq = ++t->jhead;
    uint8_t *r = t->jbuf + ((seq - 1) & t->jmask) * t->jsz;
    memcpy(r, &vsvc, 2);
    r[2] = (uint8_t)op;
    r[3] = (uint8_t)len;
    memcpy(r + 4, key, len);
    if (len < t->kw)
        memset(r + 4 + len, 0, t->kw - len);
}

static void journal_append(pst_table *t, uint32_t op, hdr_t *e)
{
    uint8_t key[PST_KEY_MAX];
    e_key(t, e, key);
    journal_record(t, op, e_vsvc(t, e), key, e->keylen);
}

/* A persistent entry changed: journal it unless it already waits unread (coalescing). */
static void journal_change(pst_table *t, uint32_t op, hdr_t *e)
{
    if (t->jcap == 0 || !(e->flags & PST_F_PERSIST) || (e->flags & PST_F_PENDING))
        return;
    journal_append(t, op, e);
    e->flags |= PST_F_PENDING;
}

/* ---- allocation, removal, expiry, eviction --------------------------------------------- */

static void entry_remove(pst_table *t, uint64_t idx, uint32_t op)
{
    hdr_t *e = ent(t, idx);
    if (e->flags & PST_F_PERSIST) {
        t->n_persist--;
        if (t->jcap)
            journal_append(t, op, e);
    }
    unindex(t, idx);
    t->count--;
    memset(e, 0, t->esz);
    e->next_free = (uint32_t)t->free_head;
    t->free_head = idx + 1;
}

static uint64_t expire_scan(pst_table *t, uint32_t now, uint64_t budget)
{
    uint64_t n = 0;
    if (budget > t->hw)
        budget = t->hw;
    if (t->v4)
        for (uint64_t i = 0; i < SCAN_AHEAD && i < budget; i++)
            scan_ahead(t, t->expire_hand + i);
    for (uint64_t left = budget; left--;) {
        if (t->expire_hand >= t->hw)
            t->expire_hand = 0;
        uint64_t idx = t->expire_hand++;
        if (t->v4 && left >= SCAN_AHEAD)
            scan_ahead(t, idx + SCAN_AHEAD);
        hdr_t *e = ent(t, idx);
        if (e->keylen && !alive(t, e, now)) {
            entry_remove(t, idx, PST_OP_EXPIRE);
            t->expirations++;
            n++;
        }
    }
    return n;
}

/* Least recently used non-persistent entry among windows of EVICT_WINDOW under a rotating
 * hand: exact for tables of up to EVICT_WINDOW entries, a sampled LRU beyond. */
static int64_t evict_pick(pst_table *t)
{
    uint64_t limit = t->hw < EVICT_MAX_SCAN ? t->hw : EVICT_MAX_SCAN, scanned = 0;
    int64_t best = -1;
    uint32_t best_used = 0;
    while (scanned < limit) {
        uint64_t end = scanned + EVICT_WINDOW < limit ? scanned + EVICT_WINDOW : limit;
        if (t->v4)      /* the window's last-used times are in its slots: fetch them first */
            for (uint64_t i = 0; i < end - scanned; i++)
                scan_ahead(t, (t->evict_hand >= t->hw ? 0 : t->evict_hand) + i);
        for (; scanned < end; scanned++) {
            if (t->evict_hand >= t->hw)
                t->evict_hand = 0;
            uint64_t idx = t->evict_hand++;
            hdr_t *e = ent(t, idx);
            if (e->keylen && !(e->flags & PST_F_PERSIST)) {
                uint32_t used = e_last_used(t, e);
                if (best < 0 || used < best_used) {
                    best = (int64_t)idx;
                    best_used = used;
                }
            }
        }
        if (best >= 0)
            return best;
    }
    return -1;
}

static int64_t free_pop(pst_table *t)
{
    uint64_t idx = t->free_head - 1;
    t->free_head = ent(t, idx)->next_free;
    ent(t, idx)->next_free = 0;
    return (int64_t)idx;
}

/* An unused entry number, after reclaiming or evicting if the table is full; -1 if none. */
static int64_t entry_alloc(pst_table *t, uint32_t now)
{
    /* a lazy index grows to keep its load at or below 1/2; should it fail to, it may fill
     * up to one empty slot (which ends every probe) before refusing */
    if (t->imask < t->imax && 2 * (t->count + 1) > t->imask + 1 && index_grow(t) != 0 &&
        t->count + 2 > t->imask + 1) {
        t->alloc_failures++;
        return -1;
    }
    /* the same for a lazy table's IPv4 slots, which keep an empty one (ending every probe) */
    if (t->nb < t->nb_max && t->count + 1 > t->room4 && slots_grow(t) != 0 &&
        t->count + 2 > t->nslots) {
        t->alloc_failures++;
        return -1;
    }
    if (t->free_head)
        return free_pop(t);
    if (t->hw < t->capacity)
        return (int64_t)t->hw++;
    if (expire_scan(t, now, RECLAIM_BUDGET) > 0)
        return free_pop(t);
    if (t->policy == PST_EVICT_LRU && t->count > t->n_persist) {
        int64_t victim = evict_pick(t);
        if (victim >= 0) {
            entry_remove(t, (uint64_t)victim, 0);
            t->evictions++;
            return free_pop(t);
        }
    }
    t->alloc_failures++;
    return -1;
}

/* Entry idx takes (vsvc, key), hash h: indexed, real 0, expired until its times are set.
 * at: IPv4 layout, the slot the key goes to if known (no slot moved since it was found), or
 * -1. */
HOT hdr_t *entry_create(pst_table *t, uint64_t h, uint64_t idx, uint16_t vsvc,
                        const uint8_t *key, uint32_t len, int64_t at)
{
    hdr_t *e = ent(t, idx);
    e->keylen = (uint8_t)len;
    if (t->v4) {
        int found;
        uint64_t kv = s4_kv(vsvc, key);
        uint64_t pos = at >= 0 ? (uint64_t)at : scan4(t, home4(t, h), kv, &found);
        t->slots[pos].w0 = kv;
        t->slots[pos].w1 = idx + 1;
        e->slot = (uint32_t)pos + 1;
    } else {
        gen(e)->vsvc = vsvc;
        memcpy(ekey(e), key, len);
        index_insert(t, h, idx);
    }
    t->count++;
    t->inserts++;
    return e;
}

static void set_persist(pst_table *t, hdr_t *e, uint8_t flags)
{
    if ((flags & PST_F_PERSIST) && !(e->flags & PST_F_PERSIST))
        t->n_persist++;
    else if (!(flags & PST_F_PERSIST) && (e->flags & PST_F_PERSIST))
        t->n_persist--;
    e->flags = (uint8_t)((e->flags & PST_F_PENDING) | flags);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

int pst_aes_available(void)
{
    return kh_aes_available();
}

static void aes_keys_derive(pst_table *t)
{
#if PST_HAVE_AES
    kh_aes_derive(&t->aes, t->seed);
#else
    (void)t;
#endif
}

int pst_new(const pst_params *p, pst_table **out)
{
    if (p == NULL || out == NULL)
        return PST_EINVAL;
    *out = NULL;
    if (!kind_ok(p->kind) || p->policy > PST_EVICT_LRU || p->hash > PST_HASH_AES ||
        (p->hash == PST_HASH_AES && !pst_aes_available()) || !pow2(p->capacity) ||
        p->capacity > PST_CAPACITY_MAX || (p->journal && (!pow2(p->journal) ||
                                                           p->journal > PST_CAPACITY_MAX)) ||
        (p->flags & ~(uint32_t)PST_NEW_LAZY))
        return PST_EINVAL;

    pst_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return PST_ENOMEM;
    t->kind = p->kind;
    t->policy = p->policy;
    t->kw = KINDS[p->kind].width;
    t->kmin = KINDS[p->kind].min;
    t->v4 = p->kind == PST_IPV4;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    t->avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
    t->capacity = p->capacity;
    if (t->v4) {
        /* 5/4 x capacity slots in buckets of 4: at least one always empty */
        t->esz = HDR4;
        t->nb_max = (5 * p->capacity + 15) / 16;
        t->nb = (p->flags & PST_NEW_LAZY) && t->nb_max > BUCKETS_FIRST ? BUCKETS_FIRST
                                                                        : t->nb_max;
        t->nslots = 4 * t->nb;
        t->room4 = room4_of(t);
        t->index_bytes = (size_t)t->nslots * sizeof(slot4_t);
    } else {
        t->esz = (HDR + t->kw + 3) & ~3u;
        t->imax = 2 * p->capacity - 1;
        t->imask = (p->flags & PST_NEW_LAZY) && t->imax >= INDEX_FIRST ? INDEX_FIRST - 1
                                                                       : t->imax;
        t->ibits = log2u(p->capacity) + 1;
        t->idx_mask = ((uint64_t)1 << t->ibits) - 1;
        t->tag_mask = (uint32_t)(((uint64_t)1 << (32 - t->ibits)) - 1);
        t->index_bytes = (size_t)(t->imask + 1) * sizeof(uint32_t);
    }
    t->seed[0] = p->seed[0];
    t->seed[1] = p->seed[1];
    t->hash = p->hash == PST_HASH_AUTO
                  ? (pst_aes_available() ? PST_HASH_AES : PST_HASH_SIPHASH) : p->hash;
    aes_keys_derive(t);
    t->jcap = p->journal;
    t->jmask = p->journal ? p->journal - 1 : 0;
    t->jsz = (4 + t->kw + 3) & ~3u;

    t->ents_bytes = (size_t)p->capacity * t->esz;
    t->jbytes = (size_t)t->jcap * t->jsz;
    int prefault = !(p->flags & PST_NEW_LAZY);
    void *index = pst_mem_alloc_opt(t->index_bytes, prefault);
    if (t->v4)
        t->slots = index;
    else
        t->index = index;
    t->ents = pst_mem_alloc_opt(t->ents_bytes, prefault);
    t->jbuf = t->jcap ? pst_mem_alloc_opt(t->jbytes, prefault) : NULL;
    if (index == NULL || t->ents == NULL || (t->jcap && t->jbuf == NULL)) {
        pst_free(t);
        return PST_ENOMEM;
    }
    *out = t;
    return PST_OK;
}

void pst_free(pst_table *t)
{
    if (t == NULL)
        return;
    pst_mem_free(t->v4 ? (void *)t->slots : (void *)t->index, t->index_bytes);
    pst_mem_free(t->ents, t->ents_bytes);
    pst_mem_free(t->jbuf, t->jbytes);
    free(t);
}

/* /oper/slb/clear: drop every entry.  Journal readers see a gap and resynchronise. */
void pst_clear(pst_table *t)
{
    memset(t->v4 ? (void *)t->slots : (void *)t->index, 0, t->index_bytes);
    memset(t->ents, 0, (size_t)t->hw * t->esz);
    t->hw = t->free_head = t->count = t->n_persist = 0;
    t->expire_hand = t->evict_hand = 0;
    t->jfloor = t->jhead;
}

/* ---- argument checks ------------------------------------------------------------------- */

static int check_len(const pst_table *t, size_t len)
{
    return len >= t->kmin && len <= t->kw ? PST_OK : PST_EKEYLEN;
}

static int check_keys(const pst_table *t, const pst_keys *k)
{
    if (k == NULL || (k->n && k->keys == NULL))
        return PST_EINVAL;
    if (k->lens == NULL)        /* every key is kw bytes long */
        return PST_OK;
    for (size_t i = 0; i < k->n; i++)
        if (check_len(t, k->lens[i]) != PST_OK)
            return PST_EKEYLEN;
    return PST_OK;
}

static int check_vals(const pst_keys *k, const pst_vals *v)
{
    if (v == NULL || (v->flags & ~F_MASK_IN))
        return PST_EINVAL;
    if (v->real == NULL)
        return v->real0 == PST_NO_REAL ? PST_EINVAL : PST_OK;
    for (size_t i = 0; i < k->n; i++)
        if (v->real[i] == PST_NO_REAL)
            return PST_EINVAL;
    return PST_OK;
}


/* ---- lookups --------------------------------------------------------------------------- */

static void entry_view(const pst_table *t, hdr_t *e, pst_entry *out)
{
    memset(out, 0, sizeof *out);
    out->created = e->created;
    out->last_used = e_last_used(t, e);
    out->timeout = e->timeout;
    out->vsvc = e_vsvc(t, e);
    out->real = e_real(t, e);
    out->sp = e->sp;
    out->flags = e->flags;
    out->keylen = e->keylen;
    e_key(t, e, out->key);
}

/* The live entry for (vsvc, key), counted as a lookup; NULL if absent or expired. */
static hdr_t *lookup_one(pst_table *t, uint16_t vsvc, const uint8_t *key, uint32_t len,
                         uint32_t now)
{
    uint64_t idx;
    t->lookups++;
    if (find(t, hash_key(t, vsvc, key, len), vsvc, key, len, &idx) < 0 ||
        !alive(t, ent(t, idx), now))
        return NULL;
    t->hits++;
    return ent(t, idx);
}

int pst_get(pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len, uint32_t now,
            pst_entry *out)
{
    if (key == NULL || out == NULL)
        return PST_EINVAL;
    if (check_len(t, len) != PST_OK)
        return PST_EKEYLEN;
    hdr_t *e = lookup_one(t, vsvc, key, (uint32_t)len, now);
    if (e == NULL)
        return 0;
    entry_view(t, e, out);
    return 1;
}

int32_t pst_lookup1(pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len, uint32_t now)
{
    if (key == NULL)
        return PST_EINVAL;
    if (check_len(t, len) != PST_OK)
        return PST_EKEYLEN;
    hdr_t *e = lookup_one(t, vsvc, key, (uint32_t)len, now);
    return e ? e_real(t, e) : -1;
}

/* ---- insert-or-touch ------------------------------------------------------------------- */

HOT int touch(pst_table *t, hdr_t *e, uint32_t now, uint32_t timeout)
{
    uint32_t last_used = e_last_used(t, e);
    set_times(t, e, now > last_used ? now : last_used, timeout);
    t->touches++;
    journal_change(t, PST_OP_TOUCH, e);
    return PST_FOUND;
}

HOT int get_or_create(pst_table *t, uint64_t h, uint16_t vsvc, const uint8_t *key, uint32_t len,
                      uint16_t real, uint8_t sp, uint32_t timeout, uint8_t flags,
                      uint32_t now, uint16_t *out_real)
{
    uint64_t idx;
    int64_t at;         /* IPv4: the empty slot that ended the probe, where the key goes */
    int found = locate(t, h, vsvc, key, len, &idx, &at);
    if (found) {
        hdr_t *e = ent(t, idx);
        if (alive(t, e, now)) {
            *out_real = e_real(t, e);
            return touch(t, e, now, timeout);
        }
        /* expired but not swept yet: the key starts over */
        entry_remove(t, idx, PST_OP_EXPIRE);
        t->expirations++;
    }
    const uint64_t moves = t->moves;
    int64_t n = entry_alloc(t, now);
    if (n < 0) {
        *out_real = PST_NO_REAL;
        return PST_FULL;
    }
    hdr_t *e = ent(t, (uint64_t)n);
    if (t->v4) {        /* the whole slot in one write */
        uint64_t kv = s4_kv(vsvc, key);
        if (at < 0 || t->moves != moves)
            at = (int64_t)scan4(t, home4(t, h), kv, &found);
        t->slots[at].w0 = kv | (uint64_t)real << 48;
        t->slots[at].w1 = ((uint64_t)n + 1) | s4_life(now, timeout) << S4_EBITS;
        e->slot = (uint32_t)at + 1;
        e->keylen = 4;
        e->timeout = timeout;
        t->count++;
        t->inserts++;
    } else {
        entry_create(t, h, (uint64_t)n, vsvc, key, len, -1);
        set_real(t, e, real);
        set_times(t, e, now, timeout);
    }
    e->sp = sp;
    e->created = now;
    set_persist(t, e, flags);
    if (t->jcap && (flags & PST_F_PERSIST)) {  /* a new entry: nothing pending yet */
        journal_record(t, PST_OP_NEW, vsvc, key, len);
        e->flags |= PST_F_PENDING;
    }
    *out_real = real;
    return PST_CREATED;
}

/* ---- the batch pipelines --------------------------------------------------------------- */

/*
 * Index layout.  Stage A hashes key i and prefetches its index line; stage B, PIPE_A keys
 * later, finds the first slot with the key's tag and prefetches that entry; stage C, PIPE_B
 * keys after that, resolves the key with both lines in cache.  Each key is hashed once (the
 * ring keeps it): prefetching only pays when the next address is known that early.  Stage C
 * always probes from home, so inserts earlier in the same batch are seen.
 */
enum { LOOKUP, GET_OR_CREATE };

HOT int64_t batch(pst_table *t, const pst_keys *k, const pst_vals *v, uint32_t now,
                  uint16_t *out_real, int8_t *out_status, const uint32_t kw, const int fixed,
                  const int mode, const int aes)
{
    uint64_t ring[RING], done = 0;
    const size_t n = k->n;
    for (size_t i = 0; i < n + PIPE_A + PIPE_B; i++) {
        if (i < n) {
            uint32_t len = fixed || !k->lens ? kw : k->lens[i];
            uint64_t h = hash_kw(t, k->vsvc ? k->vsvc[i] : k->vsvc0, k->keys + i * kw, len, kw, aes);
            ring[i & (RING - 1)] = h;
            PREFETCH(&t->index[h & t->imask]);
        }
        if (i >= PIPE_A && i - PIPE_A < n) {
            uint64_t h = ring[(i - PIPE_A) & (RING - 1)], pos = h & t->imask;
            uint32_t tag = tag_of(t, h), s;
            for (int probe = 0; probe < 4 && (s = t->index[pos]) != 0; probe++) {
                if ((s >> t->ibits) == tag) {
                    PREFETCH(ent(t, (s & t->idx_mask) - 1));
                    break;
                }
                pos = (pos + 1) & t->imask;
            }
        }
        if (i < PIPE_A + PIPE_B || i - PIPE_A - PIPE_B >= n)
            continue;
        const size_t j = i - PIPE_A - PIPE_B;
        const uint64_t h = ring[j & (RING - 1)];
        const uint32_t len = fixed || !k->lens ? kw : k->lens[j];
        const uint16_t vsvc = k->vsvc ? k->vsvc[j] : k->vsvc0;
        const uint8_t *key = k->keys + j * kw;
        if (mode == LOOKUP) {
            uint64_t idx;
            uint16_t real = PST_NO_REAL;
            if (find_gen(t, h, vsvc, key, len, &idx) >= 0 && alive_gen(ent(t, idx), now)) {
                real = gen(ent(t, idx))->real;
                done++;
            }
            out_real[j] = real;
        } else {
            int st = get_or_create(t, h, vsvc, key, len, v->real ? v->real[j] : v->real0,
                                   v->sp ? v->sp[j] : v->sp0,
                                   v->timeout ? v->timeout[j] : v->timeout0, v->flags, now,
                                   &out_real[j]);
            out_status[j] = (int8_t)st;
            done += st == PST_CREATED;
        }
    }
    return (int64_t)done;
}

/*
 * IPv4: one cache line a hit.  Stage A hashes key i and prefetches its home bucket's line.
 * Lookups resolve PIPE4 keys later: the four slots of the line are compared at once, and only
 * a key displaced past its home bucket probes on.  Insert-or-touch looks for the key in the
 * line at PIPE4 and prefetches its entry (a touch writes the timeout and may journal), then
 * resolves PIPE_B keys later, probing from home (inserts earlier in the batch are seen).
 */


/* The constants: aes (the hash), vsvc_arr (a vsvc per key, or one for the batch), avx2 (the
 * bucket compare). */
/* Keys whose probe goes on past the bucket read last, waiting for the next bucket's line: a
 * ring of DEFER4_CAP. */
typedef struct {
    size_t j;
    const slot4_t *line;
} deferred4;

/* The scan of bucket line for kv (bucket_scan, or its AVX2 version: lanes = log2 of the bits
 * a slot has in the mask); 1 when it decides, with *real the key's real or PST_NO_REAL. */
HOT int decide4(const slot4_t *line, uint64_t kv, uint32_t now, const int avx2, uint16_t *real)
{
#if HAVE_AVX2_PATH
    const unsigned m = avx2 ? bucket_scan_avx2(line, kv) : bucket_scan(line, kv);
#else
    const unsigned m = bucket_scan(line, kv);
#endif
    const unsigned lanes = avx2 ? 1 : 2;
    /* m = 0: b = 16, past every slot's bits; slot 0 read, the result unused */
    const unsigned b = (unsigned)__builtin_ctz(m | 1u << 16);
    const slot4_t *s = line + ((b >> lanes) & 3);
    const uint64_t w0 = s->w0, w1 = s->w1;
    const int held = m != 0 && !(b & (1u << (lanes - 1)));
    *real = held && now < w1 >> S4_EBITS ? (uint16_t)(w0 >> 48) : PST_NO_REAL;
    return m != 0;
}

/*
 * The constants: aes (the hash), vsvc_arr (a vsvc per key, or one for the batch), avx2 (the
 * bucket compare).  A key whose home bucket is full of other keys (one in seven at 3/4 load)
 * needs the next line, and one in sixteen more than that (linear probing's clusters): rather
 * than wait for a line, the key is deferred and the line prefetched; once DEFER4_HI keys wait,
 * the oldest are taken up, each resolved or deferred again to the line after.  Everything on
 * the way is branch-free but those rare rounds.
 */
HOT int64_t lookup4(pst_table *t, const pst_keys *k, uint32_t now, uint16_t *out_real,
                    const int aes, const int vsvc_arr, const int avx2)
{
    const slot4_t *const slots = t->slots, *const end = t->slots + t->nslots;
    const uint64_t nb = t->nb;
    const uint8_t *const keys = k->keys;
    const uint16_t *const vs = k->vsvc;
    const uint16_t vsvc0 = k->vsvc0;
    const size_t n = k->n;
    const slot4_t *ring[RING];
    deferred4 q[DEFER4_CAP];
    size_t qh = 0, qt = 0;      /* deferred keys: q[qh..qt), indices mod DEFER4_CAP */
    uint64_t hits = 0;
    for (size_t i = 0; i < n + PIPE4 || qt != qh; i++) {
        if (i < n) {
            const uint64_t h = hash_kw(t, vsvc_arr ? vs[i] : vsvc0, keys + 4 * i, 4, 4, aes);
            const slot4_t *line = slots + ((((h >> 32) * nb) >> 32) << 2);
            ring[i & (RING - 1)] = line;
            PREFETCH(line);
        }
        if (i >= PIPE4 && i - PIPE4 < n) {
            const size_t j = i - PIPE4;
            const slot4_t *line = ring[j & (RING - 1)];
            uint16_t real;
            const int decided = decide4(line, s4_kv(vsvc_arr ? vs[j] : vsvc0, keys + 4 * j), now,
                                        avx2, &real);
            hits += real != PST_NO_REAL;
            out_real[j] = real;
            /* undecided: defer the key, fetch the next line */
            const slot4_t *next = line + 4 == end ? slots : line + 4;
            q[qt & (DEFER4_CAP - 1)].j = j;
            q[qt & (DEFER4_CAP - 1)].line = next;
            qt += !decided;
            PREFETCH(decided ? line : next);
        }
        if (__builtin_expect(qt - qh >= DEFER4_HI || (i >= n + PIPE4 && qt != qh), 0)) {
            /* the oldest deferred keys, down to DEFER4_LO (none at the end) */
            const size_t lo = i >= n + PIPE4 ? 0 : DEFER4_LO;
            while (qt - qh > lo) {
                const deferred4 d = q[qh++ & (DEFER4_CAP - 1)];
                uint16_t real;
                if (decide4(d.line, s4_kv(vsvc_arr ? vs[d.j] : vsvc0, keys + 4 * d.j), now, avx2,
                            &real)) {
                    hits += real != PST_NO_REAL;
                    out_real[d.j] = real;
                } else {
                    const slot4_t *next = d.line + 4 == end ? slots : d.line + 4;
                    q[qt & (DEFER4_CAP - 1)].j = d.j;
                    q[qt++ & (DEFER4_CAP - 1)].line = next;
                    PREFETCH(next);
                }
            }
        }
    }
    return (int64_t)hits;
}

#if HAVE_AVX2_PATH
#define LOOKUP4_AVX2(name, aes, vsvc_arr)                                                     \
    __attribute__((target("avx2"))) static int64_t name(pst_table *t, const pst_keys *k,     \
                                                        uint32_t now, uint16_t *r)            \
    {                                                                                         \
        return lookup4(t, k, now, r, aes, vsvc_arr, 1);                                       \
    }
LOOKUP4_AVX2(lookup4_avx2_aes, 1, 0)
LOOKUP4_AVX2(lookup4_avx2_aes_vsvc, 1, 1)
LOOKUP4_AVX2(lookup4_avx2_sip, 0, 0)
LOOKUP4_AVX2(lookup4_avx2_sip_vsvc, 0, 1)
#endif

/* Insert-or-touch the general way: expired keys, full tables (reclaim, evict, refuse). */
static __attribute__((noinline)) int get_or_create_slow(pst_table *t, uint64_t h, uint16_t vsvc,
                                                        const uint8_t *key, uint16_t real,
                                                        uint8_t sp, uint32_t timeout,
                                                        uint8_t flags, uint32_t now,
                                                        uint16_t *out_real)
{
    return get_or_create(t, h, vsvc, key, 4, real, sp, timeout, flags, now, out_real);
}

/*
 * IPv4 insert-or-touch.  Stage A hashes key i and prefetches its home line; stage B, CREATE_A
 * keys later, scans that line: it notes the slot that decided the probe (the key's, or the
 * empty slot it would take) and prefetches the key's entry (a touch writes it) or the next
 * line (the probe goes on); stage C, CREATE_B keys later, resolves the key.  The slot noted in
 * stage B still decides unless a slot was removed since (they move) or another key took it:
 * then the probe starts over from home, which also sees keys inserted earlier in the batch.
 * A new key with a free entry is written inline, slot then entry; everything else (expired
 * keys, a full table, a lazy table's slots that must grow) takes the general path.
 */
HOT int64_t create4(pst_table *t, const pst_keys *k, const pst_vals *v, uint32_t now,
                    uint16_t *out_real, int8_t *out_status, const int aes)
{
    struct {
        uint64_t h, moves;
        int64_t pos;        /* the slot that decided the probe in stage B, or -1 */
    } ring[RING];
    uint64_t done = 0;
    slot4_t *slots = t->slots;      /* reread after the general path: the slots may grow */
    const size_t n = k->n, depth = CREATE_A + CREATE_B;
    for (size_t i = 0; i < n + depth; i++) {
        if (i < n) {
            uint64_t h = hash_kw(t, k->vsvc ? k->vsvc[i] : k->vsvc0, k->keys + i * 4, 4, 4, aes);
            ring[i & (RING - 1)].h = h;
            PREFETCH(&slots[home4(t, h)]);
        }
        if (i >= CREATE_A && i - CREATE_A < n) {
            const size_t j = i - CREATE_A;
            const uint64_t kv = s4_kv(k->vsvc ? k->vsvc[j] : k->vsvc0, k->keys + j * 4);
            const uint64_t home = home4(t, ring[j & (RING - 1)].h);
            const unsigned m = bucket_scan(&slots[home], kv);
            int64_t pos = -1;
            if (m == 0) {               /* a full bucket without the key: the probe goes on */
                PREFETCH(home + 4 == t->nslots ? slots : &slots[home + 4]);
            } else {
                const unsigned b = (unsigned)__builtin_ctz(m);
                pos = (int64_t)(home + (b >> 2));
                if (!(b & 2))           /* found: its entry is about to be touched */
                    PREFETCH(ent(t, (slots[pos].w1 & S4_EMASK) - 1));
            }
            ring[j & (RING - 1)].pos = pos;
            ring[j & (RING - 1)].moves = t->moves;
        }
        if (i < depth)
            continue;
        const size_t j = i - depth;
        const uint16_t vsvc = k->vsvc ? k->vsvc[j] : k->vsvc0;
        const uint8_t *key = k->keys + j * 4;
        const uint16_t real = v->real ? v->real[j] : v->real0;
        const uint8_t sp = v->sp ? v->sp[j] : v->sp0;
        const uint32_t timeout = v->timeout ? v->timeout[j] : v->timeout0;
        const uint64_t h = ring[j & (RING - 1)].h, kv = s4_kv(vsvc, key);
        int64_t at = ring[j & (RING - 1)].pos;
        int found = 0, st;
        if (at >= 0 && ring[j & (RING - 1)].moves == t->moves &&
            (slots[at].w1 == 0 || ((slots[at].w0 ^ kv) & S4_KV) == 0))
            found = slots[at].w1 != 0;
        else
            at = (int64_t)scan4(t, home4(t, h), kv, &found);
        hdr_t *e;
        if (found && alive(t, e = ent(t, (slots[at].w1 & S4_EMASK) - 1), now)) {
            out_real[j] = (uint16_t)(slots[at].w0 >> 48);
            st = touch(t, e, now, timeout);
        } else if (!found && t->count < t->room4 && (t->free_head || t->hw < t->capacity)) {
            const uint64_t idx = t->free_head ? (uint64_t)free_pop(t) : t->hw++;
            e = ent(t, idx);
            slots[at].w0 = kv | (uint64_t)real << 48;
            slots[at].w1 = (idx + 1) | s4_life(now, timeout) << S4_EBITS;
            e->created = now;
            e->timeout = timeout;
            e->slot = (uint32_t)at + 1;
            e->sp = sp;
            e->flags = v->flags;
            e->keylen = 4;
            e->mark = 0;
            t->count++;
            t->inserts++;
            if (v->flags & PST_F_PERSIST) {
                t->n_persist++;
                if (t->jcap) {
                    journal_record(t, PST_OP_NEW, vsvc, key, 4);
                    e->flags |= PST_F_PENDING;
                }
            }
            out_real[j] = real;
            st = PST_CREATED;
        } else {
            st = get_or_create_slow(t, h, vsvc, key, real, sp, timeout, v->flags, now,
                                    &out_real[j]);
            slots = t->slots;
        }
        out_status[j] = (int8_t)st;
        done += st == PST_CREATED;
    }
    return (int64_t)done;
}

/* One instance per key kind, hash and mode, with all three constants. */
#define KIND_BATCH(name, kw, fixed)                                                          \
    static int64_t batch_##name(pst_table *t, const pst_keys *k, const pst_vals *v,           \
                                uint32_t now, uint16_t *r, int8_t *s)                         \
    {                                                                                         \
        if (t->hash == PST_HASH_AES)                                                          \
            return v ? batch(t, k, v, now, r, s, kw, fixed, GET_OR_CREATE, 1)                 \
                     : batch(t, k, v, now, r, s, kw, fixed, LOOKUP, 1);                       \
        return v ? batch(t, k, v, now, r, s, kw, fixed, GET_OR_CREATE, 0)                     \
                 : batch(t, k, v, now, r, s, kw, fixed, LOOKUP, 0);                           \
    }
KIND_BATCH(ipv6, 16, 1)
KIND_BATCH(sslid, 32, 0)
KIND_BATCH(cookie, 64, 0)
KIND_BATCH(ftp, 6, 1)
KIND_BATCH(ftp6, 18, 1)
KIND_BATCH(urlhash, 8, 1)

static int64_t batch_ipv4(pst_table *t, const pst_keys *k, const pst_vals *v, uint32_t now,
                          uint16_t *r, int8_t *s)
{
    const int aes = t->hash == PST_HASH_AES, per_key = k->vsvc != NULL;
    if (v)
        return aes ? create4(t, k, v, now, r, s, 1) : create4(t, k, v, now, r, s, 0);
#if HAVE_AVX2_PATH
    if (t->avx2)
        return aes ? (per_key ? lookup4_avx2_aes_vsvc(t, k, now, r) : lookup4_avx2_aes(t, k, now, r))
                   : (per_key ? lookup4_avx2_sip_vsvc(t, k, now, r) : lookup4_avx2_sip(t, k, now, r));
#endif
    if (aes)
        return per_key ? lookup4(t, k, now, r, 1, 1, 0) : lookup4(t, k, now, r, 1, 0, 0);
    return per_key ? lookup4(t, k, now, r, 0, 1, 0) : lookup4(t, k, now, r, 0, 0, 0);
}

typedef int64_t (*batch_fn)(pst_table *, const pst_keys *, const pst_vals *, uint32_t,
                            uint16_t *, int8_t *);
static const batch_fn BATCH[] = {
    [PST_IPV4] = batch_ipv4,   [PST_IPV6] = batch_ipv6, [PST_SSLID] = batch_sslid,
    [PST_COOKIE] = batch_cookie, [PST_FTP] = batch_ftp, [PST_FTP6] = batch_ftp6,
    [PST_URLHASH] = batch_urlhash,
};
int64_t pst_lookup_many(pst_table *t, const pst_keys *k, uint32_t now, uint16_t *out_real)
{
    int rc = check_keys(t, k);
    if (rc != PST_OK)
        return rc;
    if (k->n && out_real == NULL)
        return PST_EINVAL;
    int64_t hits = BATCH[t->kind](t, k, NULL, now, out_real, NULL);
    t->lookups += k->n;
    t->hits += (uint64_t)hits;
    return hits;
}

int64_t pst_get_or_create_many(pst_table *t, const pst_keys *k, const pst_vals *v, uint32_t now,
                               uint16_t *out_real, int8_t *out_status)
{
    int rc = check_keys(t, k);
    if (rc == PST_OK)
        rc = check_vals(k, v);
    if (rc != PST_OK)
        return rc;
    if (k->n && (out_real == NULL || out_status == NULL))
        return PST_EINVAL;
    return BATCH[t->kind](t, k, v, now, out_real, out_status);
}

int pst_get_or_create1(pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len,
                       uint16_t real, uint8_t sp, uint32_t timeout, uint8_t flags, uint32_t now,
                       uint16_t *out_real)
{
    if (key == NULL || out_real == NULL || real == PST_NO_REAL || (flags & ~F_MASK_IN))
        return PST_EINVAL;
    if (check_len(t, len) != PST_OK)
        return PST_EKEYLEN;
    return get_or_create(t, hash_key(t, vsvc, key, (uint32_t)len), vsvc, key, (uint32_t)len,
                         real, sp, timeout, flags, now, out_real);
}

/* Write an entry's whole state: a rebinding, or an entry learned from the peer (journal = 0:
 * it is not mirrored back).  Returns PST_CREATED, PST_FOUND, or an error. */
int pst_put(pst_table *t, const pst_entry *in, uint32_t now, int journal)
{
    if (in == NULL || in->real == PST_NO_REAL || (in->flags & ~(F_MASK_IN | PST_F_PENDING)))
        return PST_EINVAL;
    if (check_len(t, in->keylen) != PST_OK)
        return PST_EKEYLEN;
    uint64_t h = hash_key(t, in->vsvc, in->key, in->keylen), idx;
    hdr_t *e;
    int status;
    if (find(t, h, in->vsvc, in->key, in->keylen, &idx) >= 0) {
        e = ent(t, idx);
        t->updates++;
        status = PST_FOUND;
    } else {
        int64_t n = entry_alloc(t, now);
        if (n < 0)
            return PST_EFULL;
        e = entry_create(t, h, (uint64_t)n, in->vsvc, in->key, in->keylen, -1);
        status = PST_CREATED;
    }
    e->created = in->created;
    set_times(t, e, in->last_used, in->timeout);
    set_real(t, e, in->real);
    e->sp = in->sp;
    set_persist(t, e, in->flags & F_MASK_IN);
    if (journal)
        journal_change(t, status == PST_CREATED ? PST_OP_NEW : PST_OP_UPDATE, e);
    else
        e->flags &= (uint8_t)~PST_F_PENDING;
    return status;
}

int pst_delete(pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len)
{
    if (key == NULL)
        return PST_EINVAL;
    if (check_len(t, len) != PST_OK)
        return PST_EKEYLEN;
    uint64_t idx;
    if (find(t, hash_key(t, vsvc, key, (uint32_t)len), vsvc, key, (uint32_t)len, &idx) < 0)
        return 0;
    entry_remove(t, idx, PST_OP_DELETE);
    t->deletes++;
    return 1;
}

int64_t pst_expire(pst_table *t, uint32_t now, uint64_t max_work)
{
    return (int64_t)expire_scan(t, now, max_work);
}

/* ---- iteration and the journal --------------------------------------------------------- */

int64_t pst_iter(pst_table *t, uint64_t *cursor, pst_entry *out, size_t max, uint32_t want_flags,
                 int clear_pending)
{
    if (cursor == NULL || (max && out == NULL))
        return PST_EINVAL;
    size_t n = 0;
    uint64_t c = *cursor;
    for (; c < t->hw && n < max; c++) {
        hdr_t *e = ent(t, c);
        if (t->v4)
            scan_ahead(t, c + SCAN_AHEAD);
        if (e->keylen == 0 || (e->flags & want_flags) != want_flags)
            continue;
        entry_view(t, e, &out[n++]);
        if (clear_pending)
            e->flags &= (uint8_t)~PST_F_PENDING;
    }
    *cursor = c;
    return (int64_t)n;
}

int64_t pst_updates_since(pst_table *t, uint64_t seq, pst_update *out, size_t max)
{
    if (seq > t->jhead || (max && out == NULL))
        return PST_EINVAL;
    if (seq + 1 < journal_oldest(t))
        return PST_EGAP;
    size_t n = 0;
    for (uint64_t s = seq + 1; s <= t->jhead && n < max; s++, n++) {
        const uint8_t *r = t->jbuf + ((s - 1) & t->jmask) * t->jsz;
        pst_update *u = &out[n];
        uint64_t idx;
        memset(u, 0, sizeof *u);
        u->seq = s;
        u->op = r[2];
        memcpy(&u->entry.vsvc, r, 2);
        u->entry.keylen = r[3];
        memcpy(u->entry.key, r + 4, t->kw);
        if (find(t, hash_key(t, u->entry.vsvc, u->entry.key, u->entry.keylen), u->entry.vsvc,
                 u->entry.key, u->entry.keylen, &idx) >= 0) {
            hdr_t *e = ent(t, idx);
            u->live = 1;
            entry_view(t, e, &u->entry);
            e->flags &= (uint8_t)~PST_F_PENDING;
        }
    }
    return (int64_t)n;
}

uint64_t pst_journal_head(const pst_table *t)
{
    return t->jhead;
}

uint64_t pst_hash(const pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len)
{
    if (key == NULL || check_len(t, len) != PST_OK)
        return 0;
    return hash_key(t, vsvc, key, (uint32_t)len);
}

void pst_prefetch(const pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len)
{
    if (t == NULL || key == NULL || check_len(t, len) != PST_OK)
        return;
    uint64_t h = hash_key(t, vsvc, key, (uint32_t)len);
    if (t->v4)
        PREFETCH(&t->slots[home4(t, h)]);
    else
        PREFETCH(&t->index[h & t->imask]);
}

void pst_get_stats(const pst_table *t, pst_stats *s, int probes)
{
    memset(s, 0, sizeof *s);
    s->entries = t->count;
    s->capacity = t->capacity;
    s->persistent = t->n_persist;
    s->index_slots = t->v4 ? t->nslots : t->imask + 1;
    s->lookups = t->lookups;
    s->hits = t->hits;
    s->inserts = t->inserts;
    s->touches = t->touches;
    s->updates = t->updates;
    s->deletes = t->deletes;
    s->expirations = t->expirations;
    s->evictions = t->evictions;
    s->alloc_failures = t->alloc_failures;
    s->journal_head = t->jhead;
    s->journal_oldest = journal_oldest(t);
    s->journal_capacity = t->jcap;
    s->memory_bytes = t->index_bytes + t->ents_bytes + t->jbytes;
    s->hash = t->hash;
    if (!probes || t->count == 0)
        return;
    uint64_t total = 0;
    if (t->v4) {            /* IPv4: probe lengths in cache lines, 1 = the home bucket */
        for (uint64_t pos = 0; pos < t->nslots; pos++) {
            uint64_t w0 = t->slots[pos].w0;
            if (t->slots[pos].w1 == 0)
                continue;
            uint64_t d = dist4(t, home4(t, hash_slot4(t, w0)), pos & ~3ULL) / 4;
            total += d + 1;
            if (d > s->probe_max)
                s->probe_max = d;
        }
        s->probe_mean = (double)total / (double)t->count;
        return;
    }
    for (uint64_t pos = 0; pos <= t->imask; pos++) {
        uint32_t slot = t->index[pos];
        if (slot == 0)
            continue;
        uint64_t home = hash_entry(t, ent(t, (slot & t->idx_mask) - 1)) & t->imask;
        uint64_t d = (pos - home) & t->imask;
        total += d + 1;
        if (d > s->probe_max)
            s->probe_max = d;
    }
    s->probe_mean = (double)total / (double)t->count;
}

/* The IPv4 layout's own invariants: each entry's slot points back to it, at a position the
 * probe from its home reaches without crossing an empty slot, with a consistent lifetime;
 * each occupied slot belongs to an entry in use. */
static int check4(const pst_table *t)
{
    for (uint64_t i = 0; i < t->hw; i++) {
        hdr_t *e = ent(t, i);
        if (e->keylen == 0)
            continue;
        if (e->keylen != 4 || e->slot == 0 || e->slot > t->nslots)
            return 1;
        const slot4_t *s = slot_of(t, e);
        if ((s->w1 & S4_EMASK) != i + 1 || (s->w0 >> 48) == PST_NO_REAL)
            return 1;
        uint64_t life = s->w1 >> S4_EBITS;
        if ((e->timeout == 0) != (life >= S4_NEVER) || life >= 2 * S4_NEVER)
            return 10;
        uint64_t pos = home4(t, hash_slot4(t, s->w0));
        for (; pos != e->slot - 1; pos = next4(t, pos))
            if (t->slots[pos].w1 == 0)
                return 3;
    }
    for (uint64_t pos = 0; pos < t->nslots; pos++) {
        uint64_t w1 = t->slots[pos].w1, i = (w1 & S4_EMASK) - 1;
        if (w1 == 0) {
            if (t->slots[pos].w0 != 0)
                return 5;
            continue;
        }
        if (i >= t->hw || ent(t, i)->keylen == 0 || ent(t, i)->slot != pos + 1)
            return 5;
    }
    return 0;
}

/* Structural invariants, for tests and fuzzing: 0 when all hold, else the failed check. */
int pst_check(const pst_table *t)
{
    uint64_t used = 0, persist = 0, slots = 0, freed = 0;
    int rc = t->v4 ? check4(t) : 0;
    if (rc)
        return rc;
    for (uint64_t i = 0; i < t->hw; i++) {
        hdr_t *e = ent(t, i);
        if (e->keylen == 0)
            continue;
        used++;
        persist += (e->flags & PST_F_PERSIST) != 0;
        if (e->keylen < t->kmin || e->keylen > t->kw || e_real(t, e) == PST_NO_REAL)
            return 1;
        if (t->jcap == 0 && (e->flags & PST_F_PENDING))
            return 2;
        if (t->v4)
            continue;
        uint64_t pos = hash_entry(t, e) & t->imask;
        for (;;) {             /* the probe chain from home must reach the entry, gap-free */
            uint32_t s = t->index[pos];
            if (s == 0)
                return 3;
            if ((s & t->idx_mask) == i + 1)
                break;
            pos = (pos + 1) & t->imask;
        }
        if ((t->index[pos] >> t->ibits) != tag_of(t, hash_entry(t, e)))
            return 4;
    }
    if (t->v4) {
        for (uint64_t pos = 0; pos < t->nslots; pos++)
            slots += t->slots[pos].w1 != 0;
    } else {
        for (uint64_t pos = 0; pos <= t->imask; pos++) {
            uint32_t s = t->index[pos];
            if (s == 0)
                continue;
            slots++;
            uint64_t i = (s & t->idx_mask) - 1;
            if (i >= t->hw || ent(t, i)->keylen == 0)
                return 5;
        }
    }
    for (uint64_t f = t->free_head; f; f = ent(t, f - 1)->next_free) {
        if (f - 1 >= t->hw || ent(t, f - 1)->keylen != 0 || ++freed > t->hw)
            return 6;
    }
    if (used != t->count || slots != t->count || persist != t->n_persist)
        return 7;
    if (used + freed != t->hw || t->hw > t->capacity)
        return 8;
    if (t->jhead < t->jfloor)
        return 9;
    return 0;
}

/* ---- the mirror's wire records --------------------------------------------------------- */

/*
 * One RECORDS message is one call: pst_export walks the table (a bulk copy), pst_export_journal
 * reads the journal (incremental updates), pst_import applies a received block.  The learner's
 * rules (docs/mirror-protocol.md, "Bulk sync") live here too: the stale mark of a sweep sits
 * in the entry header's spare byte, and the keys incremental records wrote during a sweep
 * (which win over later bulk copies) sit in a second table of the same kind, "recent".
 */
enum { MARK_STALE = 1 };    /* hdr_t.mark: held when the sweep began, not mentioned since */

static inline void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline int op_live(uint32_t op)
{
    return op >= PST_OP_NEW && op <= PST_OP_UPDATE;
}

size_t pst_wire_size(uint32_t kind)
{
    return kind_ok(kind) ? PST_WIRE_FIXED + KINDS[kind].width : 0;
}

/* 0, or the PST_BAD_* reason one record is refused for (the checks of wire.py). */
static uint32_t wire_bad(const uint8_t *r, uint32_t kw, uint32_t kmin)
{
    uint32_t op = r[0], len = r[1];
    if (op < PST_OP_NEW || op > PST_OP_EXPIRE)
        return PST_BAD_OP;
    if (len < kmin || len > kw)
        return PST_BAD_KEYLEN;
    for (uint32_t i = len; i < kw; i++)
        if (r[PST_WIRE_FIXED + i])
            return PST_BAD_KEYLEN;
    if (op_live(op)) {
        if (get16(r + 4) == PST_NO_REAL || (r[7] & ~F_MASK_IN) || !(r[7] & PST_F_PERSIST))
            return PST_BAD_LIVE;
        uint32_t timeout = get32(r + 8);
        if (timeout && get32(r + 12) > timeout)
            return PST_BAD_REMAINING;
    }
    return 0;
}

/* The index of the first invalid record of n (its reason in *why), or -1 when all are valid;
 * PST_EINVAL when the buffer holds fewer than n records. */
static int64_t wire_scan(uint32_t kw, uint32_t kmin, const uint8_t *buf, size_t size, size_t n,
                         uint32_t *why)
{
    size_t rsz = PST_WIRE_FIXED + kw;
    if ((n && buf == NULL) || n > size / rsz)
        return PST_EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint32_t bad = wire_bad(buf + i * rsz, kw, kmin);
        if (bad) {
            if (why)
                *why = bad;
            return (int64_t)i;
        }
    }
    return -1;
}

int64_t pst_wire_check(uint32_t kind, const uint8_t *buf, size_t size, size_t n, uint32_t *why)
{
    if (!kind_ok(kind))
        return PST_EINVAL;
    return wire_scan(KINDS[kind].width, KINDS[kind].min, buf, size, n, why);
}

/* A live entry's record: lifetimes relative to now, never the table's pending bit. */
static void wire_live(const pst_table *t, uint8_t *r, uint32_t op, hdr_t *e, uint32_t now)
{
    uint64_t remaining = 0;
    if (e->timeout) {
        uint64_t end = (uint64_t)e_last_used(t, e) + e->timeout;
        remaining = end > now ? end - now : 0;
        if (remaining > e->timeout)     /* touched "after" now: a full timeout left */
            remaining = e->timeout;
    }
    r[0] = (uint8_t)op;
    r[1] = e->keylen;
    put16(r + 2, e_vsvc(t, e));
    put16(r + 4, e_real(t, e));
    r[6] = e->sp;
    r[7] = e->flags & F_MASK_IN;
    put32(r + 8, e->timeout);
    put32(r + 12, (uint32_t)remaining);
    put32(r + 16, now > e->created ? now - e->created : 0);
    e_key(t, e, r + PST_WIRE_FIXED);
}

/* A removed key's record: op, key length, vsvc and key; every other field zero. */
static void wire_gone(const pst_table *t, uint8_t *r, uint32_t op, uint32_t vsvc,
                      const uint8_t *key, uint32_t len)
{
    memset(r, 0, PST_WIRE_FIXED + t->kw);
    r[0] = (uint8_t)op;
    r[1] = (uint8_t)len;
    put16(r + 2, vsvc);
    memcpy(r + PST_WIRE_FIXED, key, len);
}

/* Bulk copies: live persistent entries from *cursor on, as NEW records, at most size / record
 * size of them.  Every persistent entry passed clears its pending-mirror bit, so a change after
 * this read is journaled again.  Fewer records than asked for: the walk is complete. */
int64_t pst_export(pst_table *t, uint64_t *cursor, uint32_t now, uint8_t *buf, size_t size)
{
    if (t == NULL || cursor == NULL || (size && buf == NULL))
        return PST_EINVAL;
    size_t rsz = PST_WIRE_FIXED + t->kw, max = size / rsz, n = 0;
    uint64_t c = *cursor;
    for (; c < t->hw && n < max; c++) {
        hdr_t *e = ent(t, c);
        if (t->v4)
            scan_ahead(t, c + SCAN_AHEAD);
        if (e->keylen == 0 || !(e->flags & PST_F_PERSIST))
            continue;
        e->flags &= (uint8_t)~PST_F_PENDING;
        if (alive(t, e, now))
            wire_live(t, buf + n++ * rsz, PST_OP_NEW, e, now);
    }
    *cursor = c;
    return (int64_t)n;
}

/* Incremental updates: one record per journal record after *seq (which advances), with the
 * entry's state now: live (NEW, TOUCH or UPDATE; UPDATE for a key removed and bound again)
 * or gone (EXPIRE for an expiry, else DELETE).  PST_EGAP when the journal no longer holds
 * the records after *seq, PST_EINVAL when *seq is beyond the head (a cleared table). */
int64_t pst_export_journal(pst_table *t, uint64_t *seq, uint32_t now, uint8_t *buf, size_t size)
{
    if (t == NULL || seq == NULL || (size && buf == NULL) || *seq > t->jhead)
        return PST_EINVAL;
    if (*seq + 1 < journal_oldest(t))
        return PST_EGAP;
    size_t rsz = PST_WIRE_FIXED + t->kw, max = size / rsz, n = 0;
    uint64_t s = *seq;
    for (; s < t->jhead && n < max; n++) {
        const uint8_t *j = t->jbuf + (s & t->jmask) * t->jsz;     /* record s + 1 */
        uint16_t vsvc;
        memcpy(&vsvc, j, 2);
        uint32_t op = j[2], len = j[3];
        const uint8_t *key = j + 4;
        uint8_t *r = buf + n * rsz;
        uint64_t idx;
        hdr_t *e = NULL;
        s++;
        if (find(t, hash_key(t, vsvc, key, len), vsvc, key, len, &idx) >= 0) {
            e = ent(t, idx);
            e->flags &= (uint8_t)~PST_F_PENDING;
        }
        if (e != NULL && (e->flags & PST_F_PERSIST) && alive(t, e, now))
            wire_live(t, r, op_live(op) ? op : PST_OP_UPDATE, e, now);
        else
            wire_gone(t, r, op == PST_OP_EXPIRE ? PST_OP_EXPIRE : PST_OP_DELETE, vsvc, key, len);
    }
    *seq = s;
    return (int64_t)n;
}

/* Remember (vsvc, key) in the recent set; 0 if it has no room. */
static int recent_add(pst_table *r, uint64_t h, uint16_t vsvc, const uint8_t *key,
                      uint32_t len, uint32_t now)
{
    if (r->count >= r->capacity)
        return 0;
    int64_t idx = entry_alloc(r, now);     /* a free entry exists: count < capacity */
    if (idx < 0)                            /* a lazy index that could not grow */
        return 0;
    hdr_t *e = entry_create(r, h, (uint64_t)idx, vsvc, key, len, -1);
    e->created = now;
    set_times(r, e, now, 0);
    return 1;
}

enum {
    IMPORT_AHEAD = 16,      /* records hashed (and their index lines fetched) ahead */
    IMPORT_AHEAD4 = 32,     /* the same, IPv4 (a record costs less there: look further) */
    IMPORT_RING = 32        /* >= both, a power of two */
};

/* A record's hash in t, with its home index line prefetched. */
static inline uint64_t import_hash(const pst_table *t, const uint8_t *r)
{
    uint64_t h = hash_key(t, (uint16_t)get16(r + 2), r + PST_WIRE_FIXED, r[1]);
    if (t->v4)
        PREFETCH(&t->slots[home4(t, h)]);
    else
        PREFETCH(&t->index[h & t->imask]);
    return h;
}

/* One valid record (h: its hash in t): an upsert rebased on our clock, or a removal; never
 * journaled. */
static void import_one(pst_table *t, const uint8_t *r, uint64_t h, uint32_t now,
                       uint32_t held, pst_import_result *res)
{
    uint32_t op = r[0], len = r[1], vsvc = get16(r + 2);
    const uint8_t *key = r + PST_WIRE_FIXED;
    uint64_t idx;
    int64_t at;
    int found = locate(t, h, (uint16_t)vsvc, key, len, &idx, &at);
    uint64_t timeout = get32(r + 8), remaining = get32(r + 12);
    uint64_t age = (uint64_t)get32(r + 16) + held;
    remaining = remaining > held ? remaining - held : 0;
    if (op_live(op) && (timeout == 0 || remaining > 0)) {
        /* it expires `remaining` seconds from now whatever the sender's clock said; a clock
         * younger than the entry's idle time stretches the timeout to keep that expiry */
        uint64_t last_used = now, idle = timeout - remaining;
        if (timeout && idle <= now)
            last_used = now - idle;
        else if (timeout) {
            last_used = 0;
            timeout = (uint64_t)now + remaining;
            if (timeout > UINT32_MAX)
                timeout = UINT32_MAX;
        }
        const uint16_t real = (uint16_t)get16(r + 4);
        hdr_t *e;
        if (found) {
            e = ent(t, idx);
            t->updates++;
        } else {
            const uint64_t moves = t->moves;
            int64_t n = entry_alloc(t, now);
            if (n < 0) {
                res->full++;
                return;
            }
            e = entry_create(t, h, (uint64_t)n, (uint16_t)vsvc, key, len,
                             t->moves == moves ? at : -1);
        }
        e->created = age < now ? now - (uint32_t)age : 0;
        set_times(t, e, (uint32_t)last_used, (uint32_t)timeout);
        set_real(t, e, real);
        e->sp = r[6];
        set_persist(t, e, r[7]);
        e->flags &= (uint8_t)~PST_F_PENDING;
        e->mark = 0;
    } else if (found) {
        entry_remove(t, idx, PST_OP_DELETE);
        t->deletes++;
    }
    res->applied++;
}

/* Apply n records (a RECORDS body after its header) with the learner's rules.  Every record is
 * checked before any is applied: one invalid record refuses the block (PST_EBADREC, its index
 * and reason in res).  held: seconds the sender held the records, taken off their remaining
 * lifetimes.  During a sweep (recent non-NULL: a table of the same kind, no journal), an
 * incremental record's key is remembered in recent, and a bulk copy (flags PST_WIRE_BULK) of
 * a remembered key is skipped: it may have been read before that change. */
int pst_import(pst_table *t, const uint8_t *buf, size_t size, size_t n, uint32_t now,
               uint32_t held, uint32_t flags, pst_table *recent, pst_import_result *res)
{
    if (t == NULL || res == NULL || (flags & ~(uint32_t)PST_WIRE_BULK) ||
        (recent != NULL && (recent == t || recent->kind != t->kind)))
        return PST_EINVAL;
    memset(res, 0, sizeof *res);
    res->bad = -1;
    int64_t bad = wire_scan(t->kw, t->kmin, buf, size, n, &res->why);
    if (bad < -1)
        return (int)bad;
    if (bad >= 0) {
        res->bad = bad;
        return PST_EBADREC;
    }
    const int bulk = (flags & PST_WIRE_BULK) != 0;
    const size_t rsz = PST_WIRE_FIXED + t->kw;
    uint64_t ring[IMPORT_RING];
    const size_t ahead = t->v4 ? IMPORT_AHEAD4 : IMPORT_AHEAD;
    /* hash `ahead` records ahead and prefetch their index lines: the table is far
     * bigger than the caches, and the index line is the miss every record pays */
    for (size_t i = 0; i < n && i < ahead; i++)
        ring[i] = import_hash(t, buf + i * rsz);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = buf + i * rsz;
        const uint64_t h = ring[i % IMPORT_RING];
        if (i + ahead < n)
            ring[(i + ahead) % IMPORT_RING] = import_hash(t, buf + (i + ahead) * rsz);
        if (recent != NULL) {
            uint32_t len = r[1];
            uint16_t vsvc = (uint16_t)get16(r + 2);
            uint64_t h = hash_key(recent, vsvc, r + PST_WIRE_FIXED, len), idx;
            int seen = find(recent, h, vsvc, r + PST_WIRE_FIXED, len, &idx) >= 0;
            if (bulk && seen) {
                res->skipped++;
                continue;
            }
            if (!bulk && !seen && !recent_add(recent, h, vsvc, r + PST_WIRE_FIXED, len, now))
                res->forgotten++;
        }
        import_one(t, r, h, now, held, res);
    }
    return PST_OK;
}

/* A bulk copy begins: mark every persistent entry stale.  Records that mention a key clear
 * its mark; pst_sweep_end removes what is still marked.  Returns the entries marked. */
int64_t pst_sweep_begin(pst_table *t)
{
    if (t == NULL)
        return PST_EINVAL;
    uint64_t n = 0;
    for (uint64_t c = 0; c < t->hw; c++) {
        hdr_t *e = ent(t, c);
        e->mark = e->keylen && (e->flags & PST_F_PERSIST) ? MARK_STALE : 0;
        n += e->mark;
    }
    return (int64_t)n;
}

/* The bulk copy ended: remove (as deletions) the entries no record mentioned since
 * pst_sweep_begin.  Returns the entries removed. */
int64_t pst_sweep_end(pst_table *t)
{
    if (t == NULL)
        return PST_EINVAL;
    uint64_t n = 0;
    for (uint64_t c = 0; c < t->hw; c++) {
        hdr_t *e = ent(t, c);
        if (e->keylen && e->mark == MARK_STALE) {
            entry_remove(t, c, PST_OP_DELETE);
            t->deletes++;
            n++;
        } else {
            e->mark = 0;
        }
    }
    return (int64_t)n;
}
