/*
 * eng_int.h - what the engine's modules share (internal: not part of the cdef): the engine's
 * state, its small inline helpers, and the functions one module offers the others.
 *   eng.c       the life of a connection, the batch loop, sessions for the slow path, aging
 *   eng_farm.c  services, the farm (choosing a real, its counters) and the DAM port set
 *   eng_l7.c    Layer 7 buffers, and requests and responses as l7.py reads them
 */
#ifndef WEBOSLB_ENG_INT_H
#define WEBOSLB_ENG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eng.h"
#include "flow_int.h"

#define ENG_INLINE static inline __attribute__((always_inline, unused))

enum {
    PIPE_A = 16,            /* frames between hashing and reading the index line */
    PIPE_B = 8,             /* frames between reading the index and deciding */
    RING = 32,
    AHEAD = 8,
    TCP_FIN = 0x01,
    TCP_SYN = 0x02,
    TCP_RST = 0x04,
    TCP_ACK = 0x10,
    TCP_END = 0x07,
    EVENTS_A_FRAME = 4,     /* at most: Closed, Opened, Refused, Closed */
    SP_MAX = 255,
    DAM_FIRST = 1024,
    DAM_LAST = 65535,
    DAM_SPS = 65536,
    RR_WORK_MAX = 65536,    /* smooth round-robin steps x reals worked out per choice */
    L7_SLAB = 64,           /* Layer 7 buffers allocated together */
    REQ_RESPONSE = 1
};

/* what a request or response needs (l7.py Need) */
enum { NEED_DONE = 0, NEED_MORE = 1, NEED_TOO_LONG = 2, NEED_MALFORMED = 3 };
/* what choosing a real came to */
enum { SEL_OK = 0, SEL_NONE = 1, SEL_SLOW = 2 };
/* what a frame came to */
enum { F_DONE = 0, F_SLOW = 1 };

typedef struct {
    uint8_t cip[16], rip[16];
    uint16_t port, rport;
    uint8_t cfam, rfam;     /* cfam 0: an empty slot */
    uint8_t pad[2];
} dam_t;

_Static_assert(sizeof(dam_t) == 40, "a DAM key must stay 40 bytes");

typedef struct {
    dam_t key;
    uint64_t h;
} dam_slot;

struct eng {
    flow_table *t;
    uint64_t seed[2];
    struct eng_service *svcs;
    uint32_t nsvcs;
    uint32_t *svc_index;            /* open addressing, load <= 1/4: service number + 1 */
    uint64_t svc_mask;
    struct vip_ftp {
        uint8_t vip[16];
        uint8_t family;
        uint16_t svc;               /* the VIP's first FTP service: its data connections */
    } *vip_ftp;
    uint32_t nvip_ftp;
    struct eng_farm farm;           /* the pointers; the configuration below is copied */
    struct eng_real *reals;
    struct eng_group *groups;
    uint16_t *members, *sched;
    uint16_t *code_slot;            /* 65536: a real's code -> its slot, ENG_NO_SLOT */
    struct eng_params params;
    int configured;                 /* services, farm and parameters have all been set */
    pst_table *tables[8];           /* the slow path's tables, by kind; NULL: not made yet */
    uint64_t l7_count;              /* buffers in use */
    uint8_t **l7_free;              /* buffers ready for use */
    uint64_t l7_nfree;
    uint8_t **slabs;                /* where the buffers live, L7_SLAB a slab */
    uint64_t nslabs;
    dam_slot *dam;
    uint64_t dam_mask, dam_count;
    uint64_t *dam_next;             /* per SP: the allocation cursor */
    struct {
        uint64_t serial, idx;
    } *stale;
    uint64_t nstale, stale_pos, stale_cap;
    double sweep_now;
    struct eng_counts counts;
};

ENG_INLINE uint32_t eng_alen(uint8_t family)
{
    return family == 4 ? 4 : 16;
}

ENG_INLINE int eng_tcp(const struct flow_key *k)
{
    return k->proto == 6;
}

/* int(now) as the persistence table takes it: the slow path's check_now range */
ENG_INLINE int eng_now_ok(double now)
{
    return now >= 0.0 && now < 4294967296.0;
}

ENG_INLINE int eng_available(const eng *e, uint32_t r)
{
    const struct eng_farm *f = &e->farm;
    return f->up[r] && !(f->maxcon[r] > 0 && f->current[r] >= f->maxcon[r]);
}

ENG_INLINE int64_t eng_weight_of(const eng *e, uint32_t r)
{
    int64_t w = e->farm.weight[r];
    return w < 1 ? 1 : w;
}

/* The rows of a session opened, closed, or carrying octets (stats.SessionRows). */
ENG_INLINE void eng_row_opened(int64_t *cur, int64_t *tot, int64_t *high, uint8_t *used, uint64_t i)
{
    int64_t c = ++cur[i];
    tot[i]++;
    if (c > high[i])
        high[i] = c;
    used[i] = 1;
}

ENG_INLINE void eng_row_closed(int64_t *cur, uint8_t *used, uint64_t i)
{
    cur[i] = cur[i] > 0 ? cur[i] - 1 : 0;
    used[i] = 1;
}

ENG_INLINE uint64_t eng_vrow(const eng *e, const ent_t *x)
{
    return (uint64_t)e->svcs[x->svc].virt * e->farm.nreals + x->rslot;
}

/* ---- requests and responses (eng_l7.c) ------------------------------------------------------ */

typedef struct {
    int need;
    int has_cookie, has_url;
    const uint8_t *cookie;
    size_t cookie_len;
    uint8_t sid_len, tls13;
    uint8_t sid[32];
    size_t url_len;
    uint8_t url[ENG_KEY_MAX];
} req_t;

typedef struct {
    int need;
    const uint8_t *cookie;
    size_t cookie_len;
    int has_cookie;
    uint8_t sid_len, tls13;
    uint8_t sid[32];
} resp_t;

/* ---- eng_farm.c ----------------------------------------------------------------------------- */

/* The service of (VIP, vport), its number in *number; NULL when there is none. */
const struct eng_service *eng_svc_find(const eng *e, uint8_t family, const uint8_t *vip,
                                       uint16_t vport, uint16_t *number);
/* The FTP service whose data connections arrive on other ports of the VIP, or NULL. */
const struct eng_service *eng_ftp_of(const eng *e, uint8_t family, const uint8_t *vip,
                                     uint16_t *number);
/* Farm._select for the group, reading only: SEL_OK and the real's slot, SEL_NONE (no real
 * can serve: the connection is refused), SEL_SLOW (a backup, or a metric the engine does
 * not compute: the slow path chooses). */
int eng_choose_real(const eng *e, uint32_t g, const uint8_t *key, size_t klen, uint16_t *slot);
/* Farm.octets (and the virtual server's row) for a bound session's payload bytes. */
void eng_real_octets(eng *e, const ent_t *x, uint32_t n, double now);
/* The DAM set's invariants: 0 when they hold. */
int eng_dam_check(const eng *e);
/* A hint: fetch the DAM slot where eng_dam_release's search for that key starts. */
void eng_dam_prefetch(const eng *e, const uint8_t *cip, uint8_t cfamily, uint16_t port,
                      const uint8_t *rip, uint8_t rfamily, uint16_t rport);

/* ---- eng_l7.c ------------------------------------------------------------------------------- */

/* A Layer 7 buffer (ENG_L7_BYTES), or NULL when params.l7_buffers are in use. */
uint8_t *eng_l7_get(eng *e);
/* The session's buffer back (its lengths zeroed). */
void eng_l7_drop(eng *e, ent_t *x);
void eng_l7_free_all(eng *e);
void eng_parse_request(const struct eng_service *s, const uint8_t *p, size_t n, req_t *q);
void eng_parse_response(const struct eng_service *s, const uint8_t *p, size_t n, resp_t *q);
int eng_starts_response(const struct eng_service *s, const uint8_t *p, size_t n);

#endif
