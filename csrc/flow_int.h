/*
 * flow_int.h - the flow table's layout and inline helpers, shared by flow.c (the table and its
 * forwarding-only batch loop) and eng.c (the engine that runs whole connections in C).
 * Internal: not part of the cdef.
 *
 * An entry is one connection the switch knows, owned by one side:
 *   OWN_PY    a slow-path session the fast path forwards (flow_put): established, bound;
 *   OWN_HELD  a slow-path session whose every frame goes to the slow path (flow_hold): the
 *             engine must know the connection is taken, so it never opens it again;
 *   OWN_C     a session the engine runs itself, from its SYN to its close.
 * Entries are 256 bytes: the fields every forwarded frame touches are in the first two cache
 * lines, the session's colder state (binding key, Layer 7 buffer) in the last two.
 */
#ifndef WEBOSLB_FLOW_INT_H
#define WEBOSLB_FLOW_INT_H

#include <stdint.h>
#include <string.h>

#include "decode.h"
#include "flow.h"
#include "keyhash.h"

#define FLOW_HOT static inline __attribute__((always_inline))
/* A macro, not a static function: gcc 12 drops calls to a function whose body is only a
 * prefetch (it sees no side effect). */
#define FLOW_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)

enum {
    FLOW_KEY_BYTES = 40,
    FLOW_IDX_BITS = 25,     /* entry number + 1 <= FLOW_CAPACITY_MAX < 2^IDX_BITS */
    FLOW_HASH_SIPHASH = 1,  /* enum pst_hash numbers */
    FLOW_HASH_AES = 2
};

enum flow_own {
    OWN_FREE = 0,
    OWN_PY = 1,
    OWN_HELD = 2,
    OWN_C = 3
};

#define FLOW_IDX_MASK ((((uint64_t)1) << FLOW_IDX_BITS) - 1)

typedef struct {
    /* line 0: every frame */
    struct flow_key key;    /* key.family == 0 marks a free entry */
    uint32_t gen;           /* flow_run: the batch that last handed this flow over */
    uint16_t real;          /* the real's code, FLOW_NO_REAL while unbound */
    uint8_t own;            /* enum flow_own */
    uint8_t flags;          /* OWN_PY: the caller's bits */
    double last;            /* the flow's last frame */
    uint8_t state;          /* OWN_C: enum eng_state */
    uint8_t bits;           /* OWN_C: enum eng_bits */
    uint8_t watch;          /* OWN_C: responses still to look into */
    uint8_t sp;             /* OWN_C: the switch processor */
    uint16_t rslot;         /* OWN_C: the real's slot in the farm columns, once bound */
    uint16_t svc;           /* OWN_C: the service's number */
    /* line 1 */
    uint64_t packets[2];    /* by enum flow_dir; free entries: packets[0] = next free + 1 */
    uint64_t octets[2];
    uint64_t untaken;       /* OWN_PY: payload bytes since the last take */
    uint64_t serial;        /* OWN_C: opening order */
    double created;         /* OWN_C */
    double bound_at;        /* OWN_C */
    /* lines 2-3: OWN_C, colder */
    uint8_t *l7;            /* the Layer 7 buffer (request, then response), or NULL */
    uint32_t l7len;
    uint32_t timeout;       /* seconds of idleness before the slow sweep */
    uint32_t request_next;  /* the next client sequence number the request expects */
    uint16_t pport, rport, ingress;
    uint8_t persist;        /* enum eng_persist */
    uint8_t bkind;          /* the binding the session uses: enum pst_kind, 0: none */
    uint16_t bvsvc;
    uint8_t bklen;
    uint16_t l7srv;         /* OWN_C, FTP control: the server's unfinished line (l7 + 1024) */
    uint8_t reserved[6];
    uint8_t bkey[64];
    uint8_t pad[24];
} ent_t;

_Static_assert(sizeof(ent_t) == 256, "an entry must stay 256 bytes");

typedef struct {
    uint64_t w[2];
    uint64_t family;        /* 0: empty slot */
} vip_t;

struct flow_table {
#if PST_HAVE_AES
    aes_keys aes;           /* first: calloc's 16-byte alignment suits the vector keys */
#endif
    uint64_t seed[2];
    uint64_t vkey[2];       /* the VIP set's hash keys */
    uint32_t hash;
    uint32_t gen;           /* the current (or last) batch's generation, >= 1 */
    uint64_t capacity, imask;
    uint64_t *index;
    ent_t *ents;
    size_t index_bytes, ents_bytes;
    uint64_t hw;            /* entries [0, hw) have been handed out at least once */
    uint64_t free_head;     /* entry number + 1 of the first free entry, 0: none */
    uint64_t count;         /* entries in use, every owner */
    uint64_t owned_c;       /* OWN_C entries */
    vip_t *vips;
    uint64_t vmask, nvips;
    uint64_t runs, frames, fast, exceptions, passes, put_failures;
};

FLOW_HOT uint64_t flow_hash_key(const flow_table *t, const struct flow_key *k, const int aes)
{
#if PST_HAVE_AES
    if (aes)
        return kh_aes(&t->aes, (const uint8_t *)k, FLOW_KEY_BYTES, FLOW_KEY_BYTES,
                      (uint64_t)FLOW_KEY_BYTES << 32);
#else
    (void)aes;
#endif
    return kh_sip(t->seed, (const uint8_t *)k, FLOW_KEY_BYTES, FLOW_KEY_BYTES, 0, 0);
}

FLOW_HOT uint64_t flow_home(const flow_table *t, uint64_t h)
{
    return (h >> FLOW_IDX_BITS) & t->imask;
}

FLOW_HOT int flow_key_eq(const struct flow_key *a, const struct flow_key *b)
{
    uint64_t x = 0, wa, wb;
    for (int off = 0; off < FLOW_KEY_BYTES; off += 8) {
        memcpy(&wa, (const uint8_t *)a + off, 8);
        memcpy(&wb, (const uint8_t *)b + off, 8);
        x |= wa ^ wb;
    }
    return x == 0;
}

FLOW_HOT ent_t *flow_ent(const flow_table *t, uint64_t idx)
{
    return &t->ents[idx];
}

/* Index position of the flow, or -1; *idx gets its entry number. */
FLOW_HOT int64_t flow_find(const flow_table *t, uint64_t h, const struct flow_key *k,
                           uint64_t *idx)
{
    uint64_t pos = flow_home(t, h), tag = h >> FLOW_IDX_BITS, s;
    while ((s = t->index[pos]) != 0) {
        if ((s >> FLOW_IDX_BITS) == tag &&
            flow_key_eq(&flow_ent(t, (s & FLOW_IDX_MASK) - 1)->key, k)) {
            *idx = (s & FLOW_IDX_MASK) - 1;
            return (int64_t)pos;
        }
        pos = (pos + 1) & t->imask;
    }
    return -1;
}

FLOW_HOT uint64_t flow_vip_hash(const flow_table *t, uint64_t w0, uint64_t w1)
{
    uint64_t h = (w0 ^ t->vkey[0]) * 0x9E3779B97F4A7C15ULL;
    h ^= (w1 ^ t->vkey[1]) * 0xC2B2AE3D27D4EB4FULL;
    return h ^ h >> 29;
}

FLOW_HOT int flow_vip_has(const flow_table *t, uint64_t family, const uint8_t *addr)
{
    uint64_t w0, w1;
    if (t->nvips == 0)
        return 0;
    memcpy(&w0, addr, 8);
    memcpy(&w1, addr + 8, 8);
    for (uint64_t pos = flow_vip_hash(t, w0, w1) & t->vmask;; pos = (pos + 1) & t->vmask) {
        const vip_t *v = &t->vips[pos];
        if (v->family == 0)
            return 0;
        if (v->family == family && v->w[0] == w0 && v->w[1] == w1)
            return 1;
    }
}

/* The connection a decoded frame belongs to, as the client side sees it: its direction and
 * key.  0 when neither address is a VIP (plain switching). */
FLOW_HOT int flow_key_of(const flow_table *t, const struct fr_pkt *pk, struct flow_key *key,
                         uint8_t *dir)
{
    const uint8_t *cip, *vip;
    if (flow_vip_has(t, pk->family, pk->dst)) {
        *dir = FLOW_DIR_TO_REAL;
        cip = pk->src;
        vip = pk->dst;
        key->cport = pk->sport;
        key->vport = pk->dport;
    } else if (flow_vip_has(t, pk->family, pk->src)) {
        *dir = FLOW_DIR_TO_CLIENT;
        cip = pk->dst;
        vip = pk->src;
        key->cport = pk->dport;
        key->vport = pk->sport;
    } else {
        return 0;
    }
    key->proto = pk->proto;
    key->family = pk->family;
    key->zero = 0;
    memcpy(key->cip, cip, 16);
    memcpy(key->vip, vip, 16);
    return 1;
}

/* A new zeroed entry for the key (hash h), or NULL when the table is full. */
ent_t *flow_insert(flow_table *t, uint64_t h, const struct flow_key *key);
/* Frees the entry found at index position pos (flow_find's result). */
void flow_remove(flow_table *t, uint64_t pos, uint64_t idx);
uint64_t flow_hash_of(const flow_table *t, const struct flow_key *k);
int flow_key_ok(const struct flow_key *k);

#endif
