/*
 * eng.c - whole connections in the C batch loop (eng.h says what the engine takes and what it
 * leaves to the slow path).
 *
 * Every rule here is a transcription of weboslb/engine/switch.py (the slow path, the
 * reference), farm.py and metrics.py for the cases the engine takes; a comment names the
 * Python function each step follows.  The rule that keeps the two in step: a frame the engine
 * cannot finish is left untouched.  Each frame's handling first decides, reading only, and
 * then commits; any "the slow path must do this" found while deciding stops the run at that
 * frame with nothing of it applied, and the slow path takes the session over as it stood.
 *
 * eng_run is flow.c's pipeline (decode, hash and prefetch ahead; decide in frame order) with
 * the decision stage extended to the life of a connection.
 */
#include "eng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode_inl.h"
#include "flow_int.h"
#include "keyhash.h"
#include "l7.h"
#include "mix.h"

#define PREFETCH FLOW_PREFETCH
#define HOT FLOW_HOT

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

/* ---- small helpers ------------------------------------------------------------------------ */

static inline uint32_t alen_of(uint8_t family)
{
    return family == 4 ? 4 : 16;
}

static inline int tcp_of(const struct flow_key *k)
{
    return k->proto == 6;
}

/* int(now) as the persistence table takes it: the slow path's check_now range */
static inline int now_ok(double now)
{
    return now >= 0.0 && now < 4294967296.0;
}

/* ---- services ----------------------------------------------------------------------------- */

static uint64_t svc_hash(uint8_t family, const uint8_t *vip, uint16_t vport)
{
    uint64_t w0, w1;
    memcpy(&w0, vip, 8);
    memcpy(&w1, vip + 8, 8);
    uint64_t h = (w0 ^ ((uint64_t)vport << 8 | family)) * 0x9E3779B97F4A7C15ULL;
    h ^= w1 * 0xC2B2AE3D27D4EB4FULL;
    return h ^ h >> 31;
}

static const struct eng_service *svc_find(const eng *e, uint8_t family, const uint8_t *vip,
                                          uint16_t vport, uint16_t *number)
{
    if (e->nsvcs == 0)
        return NULL;
    for (uint64_t pos = svc_hash(family, vip, vport) & e->svc_mask;;
         pos = (pos + 1) & e->svc_mask) {
        uint32_t v = e->svc_index[pos];
        if (v == 0)
            return NULL;
        const struct eng_service *s = &e->svcs[v - 1];
        if (s->vport == vport && s->family == family && !memcmp(s->vip, vip, 16)) {
            *number = (uint16_t)(v - 1);
            return s;
        }
    }
}

int eng_set_services(eng *e, const struct eng_service *s, uint32_t n)
{
    if (e == NULL || (n && s == NULL) || n >= 65535)
        return ENG_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        if ((s[i].family != 4 && s[i].family != 6) || s[i].name_len > ENG_NAME_MAX ||
            s[i].pbind >= ENG_PBINDS || s[i].urlhash > ENG_KEY_MAX)
            return ENG_EINVAL;
    uint64_t slots = 8;
    while (slots < 4 * (uint64_t)n)
        slots <<= 1;
    struct eng_service *copy = n ? malloc(n * sizeof *copy) : NULL;
    uint32_t *index = calloc(slots, sizeof *index);
    if ((n && copy == NULL) || index == NULL) {
        free(copy);
        free(index);
        return ENG_ENOMEM;
    }
    if (n)
        memcpy(copy, s, n * sizeof *copy);
    for (uint32_t i = 0; i < n; i++) {   /* a duplicate (VIP, vport): the first one serves */
        uint64_t pos = svc_hash(copy[i].family, copy[i].vip, copy[i].vport) & (slots - 1);
        int dup = 0;
        for (; index[pos]; pos = (pos + 1) & (slots - 1)) {
            const struct eng_service *o = &copy[index[pos] - 1];
            dup |= o->vport == copy[i].vport && o->family == copy[i].family &&
                   !memcmp(o->vip, copy[i].vip, 16);
        }
        if (!dup)
            index[pos] = i + 1;
    }
    struct vip_ftp *vf = malloc((n ? n : 1) * sizeof *vf);
    uint32_t nvf = 0;
    if (vf == NULL) {
        free(copy);
        free(index);
        return ENG_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {  /* services.Services.ftp_data: the first, in order */
        if (!copy[i].ftp)
            continue;
        uint32_t k = 0;
        while (k < nvf && !(vf[k].family == copy[i].family && !memcmp(vf[k].vip, copy[i].vip, 16)))
            k++;
        if (k == nvf) {
            memcpy(vf[nvf].vip, copy[i].vip, 16);
            vf[nvf].family = copy[i].family;
            vf[nvf++].svc = (uint16_t)i;
        }
    }
    free(e->svcs);
    free(e->svc_index);
    free(e->vip_ftp);
    e->svcs = copy;
    e->nsvcs = n;
    e->svc_index = index;
    e->svc_mask = slots - 1;
    e->vip_ftp = vf;
    e->nvip_ftp = nvf;
    return 0;
}

/* The FTP service whose data connections arrive on other ports of the VIP, or NULL. */
static const struct eng_service *ftp_of(const eng *e, uint8_t family, const uint8_t *vip,
                                        uint16_t *number)
{
    for (uint32_t k = 0; k < e->nvip_ftp; k++)
        if (e->vip_ftp[k].family == family && !memcmp(e->vip_ftp[k].vip, vip, 16)) {
            *number = e->vip_ftp[k].svc;
            return &e->svcs[*number];
        }
    return NULL;
}

/* ---- the farm ----------------------------------------------------------------------------- */

int eng_set_farm(eng *e, const struct eng_farm *f)
{
    if (e == NULL || f == NULL || f->nreals > ENG_NO_SLOT || f->ngroups > 65535 ||
        (f->nreals && (!f->reals || !f->current || !f->total || !f->highest || !f->octets ||
                       !f->used || !f->response || !f->load || !f->load_at || !f->up ||
                       !f->weight || !f->maxcon || !f->backup)) ||
        (f->ngroups && (!f->groups || !f->turn || !f->group_up)) ||
        (f->nmembers && !f->members) || (f->nsched && !f->sched) || !f->serial ||
        !f->unheld || (f->nvirts && f->nreals &&
                       (!f->vcurrent || !f->vtotal || !f->vhighest || !f->voctets || !f->vused)))
        return ENG_EINVAL;
    for (uint32_t g = 0; g < f->ngroups; g++) {
        const struct eng_group *gr = &f->groups[g];
        if ((uint64_t)gr->first + gr->count > f->nmembers ||
            (uint64_t)gr->sched_first + gr->sched_len > f->nsched)
            return ENG_EINVAL;
        for (uint32_t m = 0; m < gr->count; m++)
            if (f->members[gr->first + m] >= f->nreals)
                return ENG_EINVAL;
        for (uint32_t k = 0; k < gr->sched_len; k++)
            if (f->sched[gr->sched_first + k] >= gr->count)
                return ENG_EINVAL;
    }
    for (uint32_t r = 0; r < f->nreals; r++)
        if (f->backup[r] >= (int32_t)f->nreals)
            return ENG_EINVAL;
    size_t rb = f->nreals * sizeof(struct eng_real), gb = f->ngroups * sizeof(struct eng_group);
    struct eng_real *reals = malloc(rb ? rb : 1);
    struct eng_group *groups = malloc(gb ? gb : 1);
    uint16_t *members = malloc(f->nmembers ? f->nmembers * 2 : 1);
    uint16_t *sched = malloc(f->nsched ? f->nsched * 2 : 1);
    if (!reals || !groups || !members || !sched) {
        free(reals), free(groups), free(members), free(sched);
        return ENG_ENOMEM;
    }
    memcpy(reals, f->reals, rb);
    memcpy(groups, f->groups, gb);
    memcpy(members, f->members, f->nmembers * 2);
    memcpy(sched, f->sched, f->nsched * 2);
    for (uint32_t i = 0; i < 65536; i++)
        e->code_slot[i] = ENG_NO_SLOT;
    for (uint32_t r = f->nreals; r-- > 0;)
        e->code_slot[reals[r].code] = (uint16_t)r;
    free(e->reals), free(e->groups), free(e->members), free(e->sched);
    e->reals = reals;
    e->groups = groups;
    e->members = members;
    e->sched = sched;
    e->farm = *f;
    return 0;
}

int eng_set_params(eng *e, const struct eng_params *p)
{
    if (e == NULL || p == NULL || p->spcount == 0)
        return ENG_EINVAL;
    e->params = *p;
    e->configured = 1;
    return 0;
}

int eng_set_table(eng *e, uint32_t kind, pst_table *table)
{
    if (e == NULL || kind < PST_IPV4 || kind > PST_URLHASH)
        return ENG_EINVAL;
    e->tables[kind] = table;
    return 0;
}

HOT int available(const eng *e, uint32_t r)
{
    const struct eng_farm *f = &e->farm;
    return f->up[r] && !(f->maxcon[r] > 0 && f->current[r] >= f->maxcon[r]);
}

HOT int64_t weight_of(const eng *e, uint32_t r)
{
    int64_t w = e->farm.weight[r];
    return w < 1 ? 1 : w;
}

/* metrics.py _schedule, one step at a time: the cycle position `at` of the smooth weighted
 * round robin over n weights (nginx's), or -1 when that is too much work here. */
static int rr_pick(const int64_t *w, uint32_t n, uint64_t turn)
{
    int64_t total = 0, cur[ENG_GROUP_MAX];
    for (uint32_t i = 0; i < n; i++) {
        total += w[i];
        cur[i] = 0;
    }
    if ((uint64_t)total * n > RR_WORK_MAX)
        return -1;
    uint64_t steps = turn % (uint64_t)total;
    int best = 0;
    for (uint64_t s = 0; s <= steps; s++) {
        best = 0;
        for (uint32_t i = 0; i < n; i++) {
            cur[i] += w[i];
            if (cur[i] > cur[best])
                best = (int)i;
        }
        cur[best] -= total;
    }
    return best;
}

static uint64_t digest1(const uint8_t *key, size_t n)
{
    mix_b2 s;
    mix_b2_init(&s);
    mix_b2_part(&s, key, n);
    return mix_b2_final(&s);
}

/* Farm._select for a group the engine can serve alone: its reals that can take the
 * connection (a real that cannot is skipped, unless its backup could stand in: the slow
 * path's case), the group's metric over them.  Reads only. */
static int choose_real(const eng *e, uint32_t g, const uint8_t *key, size_t klen,
                       uint16_t *slot)
{
    const struct eng_group *gr = &e->groups[g];
    const struct eng_farm *f = &e->farm;
    uint16_t cand[ENG_GROUP_MAX];
    int64_t w[ENG_GROUP_MAX];
    uint32_t n = 0;
    int whole = 1;
    if (gr->metric == ENG_METRIC_SLOW || gr->count > ENG_GROUP_MAX)
        return SEL_SLOW;
    if (f->group_up[g]) {
        for (uint32_t m = 0; m < gr->count; m++) {
            uint16_t r = e->members[gr->first + m];
            if (available(e, r)) {
                cand[n] = r;
                w[n++] = weight_of(e, r);
                continue;
            }
            whole = 0;
            int32_t b = f->backup[r];
            if (b >= 0 && available(e, (uint32_t)b))
                return SEL_SLOW;    /* a backup or overflow server stands in */
        }
    }
    if (n == 0)
        return gr->backup ? SEL_SLOW : SEL_NONE;
    uint64_t turn = (uint64_t)f->turn[g];
    int i = 0;
    switch (gr->metric) {
    case ENG_METRIC_ROUNDROBIN:
        if (whole && gr->sched_len)
            i = e->sched[gr->sched_first + turn % gr->sched_len];
        else if ((i = rr_pick(w, n, turn)) < 0)
            return SEL_SLOW;
        break;
    case ENG_METRIC_LEASTCONNS: {   /* metrics._least: lowest current/weight, ties in turn */
        double best = INFINITY, score[ENG_GROUP_MAX];
        for (uint32_t k = 0; k < n; k++) {
            score[k] = (double)f->current[cand[k]] / (double)w[k];
            if (score[k] < best)
                best = score[k];
        }
        uint64_t tm = turn % n, dist = n;
        for (uint32_t k = 0; k < n; k++) {
            uint64_t d = (k + n - tm) % n;
            if (score[k] == best && d < dist) {
                dist = d;
                i = (int)k;
            }
        }
        break;
    }
    case ENG_METRIC_HASH: {
        int64_t total = 0;
        for (uint32_t k = 0; k < n; k++)
            total += w[k];
        uint64_t point = digest1(key, klen) % (uint64_t)total;
        i = (int)n - 1;
        for (uint32_t k = 0; k < n; k++) {
            if (point < (uint64_t)w[k]) {
                i = (int)k;
                break;
            }
            point -= (uint64_t)w[k];
        }
        break;
    }
    default:
        return SEL_SLOW;
    }
    *slot = cand[i];
    return SEL_OK;
}

/* The rows of a session opened, closed, or carrying octets (stats.SessionRows). */
HOT void row_opened(int64_t *cur, int64_t *tot, int64_t *high, uint8_t *used, uint64_t i)
{
    int64_t c = ++cur[i];
    tot[i]++;
    if (c > high[i])
        high[i] = c;
    used[i] = 1;
}

HOT void row_closed(int64_t *cur, uint8_t *used, uint64_t i)
{
    cur[i] = cur[i] > 0 ? cur[i] - 1 : 0;
    used[i] = 1;
}

HOT uint64_t vrow(const eng *e, const ent_t *x)
{
    return (uint64_t)e->svcs[x->svc].virt * e->farm.nreals + x->rslot;
}

static void real_octets(eng *e, const ent_t *x, uint32_t n, double now)
{
    const struct eng_farm *f = &e->farm;
    uint32_t r = x->rslot;
    if (n == 0)
        return;
    f->octets[r] += n;
    f->used[r] = 1;
    if (e->reals[r].track_load) {         /* Farm.octets: the decayed load of the bandwidth metric */
        double load = f->load[r], at = f->load_at[r];
        if (now > at)
            load = load * exp(-(now - at) / 4.0);
        f->load[r] = load + n;
        f->load_at[r] = at > now ? at : now;
    }
    if (f->nvirts) {
        uint64_t v = vrow(e, x);
        f->voctets[v] += n;
        f->vused[v] = 1;
    }
}

/* ---- persistence -------------------------------------------------------------------------- */

static int pget(const eng *e, uint32_t kind, uint16_t vsvc, const uint8_t *key, size_t len,
                double now, pst_entry *out)
{
    pst_table *t = e->tables[kind];
    if (t == NULL)                  /* not made yet: it holds nothing */
        return 0;
    return pst_get(t, vsvc, key, len, (uint32_t)now, out) == 1;
}

/* Persistence.touch */
static void ptouch(eng *e, uint32_t kind, uint16_t vsvc, const uint8_t *key, size_t len,
                   double now, const pst_entry *old)
{
    uint16_t real;
    if (e->tables[kind] == NULL)
        return;
    pst_get_or_create1(e->tables[kind], vsvc, key, len, old->real, old->sp, old->timeout,
                       PST_F_PERSIST, (uint32_t)now, &real);
}

/* Persistence.bind: 1 bound, 0 the table is full (counted) */
static int pbind(eng *e, uint32_t kind, uint16_t vsvc, const uint8_t *key, size_t len,
                 uint16_t real, double now, uint32_t timeout, uint8_t sp)
{
    pst_entry en;
    memset(&en, 0, sizeof en);
    en.created = en.last_used = (uint32_t)now;
    en.timeout = timeout;
    en.vsvc = vsvc;
    en.real = real;
    en.sp = sp;
    en.flags = PST_F_PERSIST;
    en.keylen = (uint8_t)len;
    memcpy(en.key, key, len);
    if (pst_put(e->tables[kind], &en, (uint32_t)now, 1) == PST_EFULL) {
        e->counts.persist_alloc_failures++;
        return 0;
    }
    return 1;
}

/* ---- events ------------------------------------------------------------------------------- */

static struct eng_event *ev(const eng *e, struct eng_io *io, uint8_t kind, const ent_t *x,
                            double ts, uint32_t frame)
{
    if (!io->want_events)
        return NULL;
    struct eng_event *v = &io->events[io->nevents++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->pbind = (x->bits & ENG_FTP_DATA) ? ENG_PBIND_FTP : e->svcs[x->svc].pbind;
    v->ts = ts;
    v->frame = frame;
    v->serial = x->serial;
    v->svc = x->svc;
    v->real = x->real;
    v->key = x->key;
    return v;
}

static void ev_key(struct eng_io *io, struct eng_event *v, uint8_t fmt, const uint8_t *k,
                   size_t n)
{
    if (v == NULL)
        return;
    v->keyfmt = fmt;
    v->keyoff = io->arena_len;
    v->keylen = (uint16_t)n;
    memcpy(io->arena + io->arena_len, k, n);
    io->arena_len += (uint32_t)n;
}

HOT int io_room(const struct eng_io *io, uint32_t events)
{
    return !io->want_events || (io->events_cap - io->nevents >= events &&
                                io->arena_cap - io->arena_len >= 2 * ENG_KEY_MAX);
}

/* ---- Layer 7 buffers ---------------------------------------------------------------------- */

/* A buffer, or NULL when params.l7_buffers are in use (or memory is short). */
static uint8_t *l7_get(eng *e)
{
    if (e->l7_count >= e->params.l7_buffers)
        return NULL;
    if (e->l7_nfree == 0) {         /* a new slab of buffers */
        uint8_t *slab = malloc((size_t)L7_SLAB * ENG_L7_BYTES);
        uint8_t **slabs = realloc(e->slabs, (e->nslabs + 1) * sizeof *slabs);
        uint8_t **fl = slabs ? realloc(e->l7_free, (e->nslabs + 1) * L7_SLAB * sizeof *fl)
                             : NULL;
        if (slabs)
            e->slabs = slabs;
        if (fl)
            e->l7_free = fl;
        if (slab == NULL || slabs == NULL || fl == NULL) {
            free(slab);
            return NULL;
        }
        e->slabs[e->nslabs++] = slab;
        for (uint64_t k = L7_SLAB; k-- > 0;)
            e->l7_free[e->l7_nfree++] = slab + k * ENG_L7_BYTES;
    }
    e->l7_count++;
    return e->l7_free[--e->l7_nfree];
}

static void l7_drop(eng *e, ent_t *x)
{
    if (x->l7 != NULL) {
        e->l7_free[e->l7_nfree++] = x->l7;
        e->l7_count--;
    }
    x->l7 = NULL;
    x->l7len = 0;
    x->l7srv = 0;
}

/* ---- DAM ports (vma.py DamPorts) ---------------------------------------------------------- */

/* The set of (client, port, real, real port) in use: open addressing at load <= 1/2,
 * backward-shift deletion, each slot keeping its key's hash (deletion rehashes nothing). */

static uint64_t dam_hash(const eng *e, const dam_t *k)
{
    return kh_sip(e->seed, (const uint8_t *)k, sizeof *k, sizeof *k, 1, 1);
}

static void dam_key(dam_t *k, const uint8_t *cip, uint8_t cfam, uint16_t port,
                    const uint8_t *rip, uint8_t rfam, uint16_t rport)
{
    memset(k, 0, sizeof *k);
    memcpy(k->cip, cip, cfam == 4 ? 4 : cfam == 6 ? 16 : 0);
    memcpy(k->rip, rip, rfam == 4 ? 4 : rfam == 6 ? 16 : 0);
    k->cfam = cfam ? cfam : 1;      /* 0 marks an empty slot */
    k->rfam = rfam;
    k->port = port;
    k->rport = rport;
}

static int64_t dam_find(const eng *e, const dam_t *k, uint64_t h)
{
    if (e->dam == NULL)
        return -1;
    for (uint64_t pos = h & e->dam_mask;; pos = (pos + 1) & e->dam_mask) {
        const dam_slot *d = &e->dam[pos];
        if (d->key.cfam == 0)
            return -1;
        if (d->h == h && !memcmp(&d->key, k, sizeof *k))
            return (int64_t)pos;
    }
}

static void dam_place(dam_slot *slots, uint64_t mask, const dam_t *k, uint64_t h)
{
    uint64_t pos = h & mask;
    while (slots[pos].key.cfam)
        pos = (pos + 1) & mask;
    slots[pos].key = *k;
    slots[pos].h = h;
}

static int dam_insert(eng *e, const dam_t *k, uint64_t h)
{
    if (e->dam == NULL || 2 * (e->dam_count + 1) > e->dam_mask + 1) {
        uint64_t slots = e->dam ? 2 * (e->dam_mask + 1) : 1024;
        dam_slot *nd = calloc(slots, sizeof *nd);
        if (nd == NULL)
            return ENG_ENOMEM;
        for (uint64_t i = 0; e->dam && i <= e->dam_mask; i++)
            if (e->dam[i].key.cfam)
                dam_place(nd, slots - 1, &e->dam[i].key, e->dam[i].h);
        free(e->dam);
        e->dam = nd;
        e->dam_mask = slots - 1;
    }
    dam_place(e->dam, e->dam_mask, k, h);
    e->dam_count++;
    return 0;
}

static void dam_erase(eng *e, uint64_t hole)
{
    uint64_t j = hole, mask = e->dam_mask;
    for (;;) {
        j = (j + 1) & mask;
        if (e->dam[j].key.cfam == 0)
            break;
        uint64_t home = e->dam[j].h & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            e->dam[hole] = e->dam[j];
            hole = j;
        }
    }
    memset(&e->dam[hole], 0, sizeof e->dam[hole]);
    e->dam_count--;
}

int32_t eng_dam_allocate(eng *e, uint32_t sp, const uint8_t *cip, uint8_t cfamily,
                         const uint8_t *rip, uint8_t rfamily, uint16_t rport)
{
    if (e == NULL || cip == NULL || rip == NULL || sp >= DAM_SPS || !e->configured)
        return ENG_EINVAL;
    int64_t step = e->params.spcount;
    int64_t first = DAM_FIRST + (((int64_t)sp - 1) % step + step) % step;
    int64_t span = (DAM_LAST - first) / step + 1;
    uint64_t k = e->dam_next[sp];
    dam_t key;
    for (int64_t j = 0; j < span; j++) {
        uint16_t port = (uint16_t)(first + (int64_t)(k % (uint64_t)span) * step);
        k++;
        dam_key(&key, cip, cfamily, port, rip, rfamily, rport);
        uint64_t h = dam_hash(e, &key);
        if (dam_find(e, &key, h) < 0) {
            if (dam_insert(e, &key, h) != 0)
                return ENG_ENOMEM;
            e->dam_next[sp] = k;
            return port;
        }
    }
    return 0;   /* every port of this SP is taken toward that real */
}

int eng_dam_release(eng *e, const uint8_t *cip, uint8_t cfamily, uint16_t port,
                    const uint8_t *rip, uint8_t rfamily, uint16_t rport)
{
    dam_t key;
    if (e == NULL || cip == NULL || rip == NULL)
        return ENG_EINVAL;
    dam_key(&key, cip, cfamily, port, rip, rfamily, rport);
    int64_t pos = dam_find(e, &key, dam_hash(e, &key));
    if (pos < 0)
        return 0;
    dam_erase(e, (uint64_t)pos);
    return 1;
}

uint64_t eng_dam_count(const eng *e)
{
    return e->dam_count;
}

void eng_dam_clear(eng *e)
{
    free(e->dam);
    e->dam = NULL;
    e->dam_mask = e->dam_count = 0;
    memset(e->dam_next, 0, DAM_SPS * sizeof *e->dam_next);
}

/* ---- requests and responses (l7.py) ------------------------------------------------------- */

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

static int need_of(int status)
{
    return status == L7_OK ? NEED_DONE : status == L7_NEED_MORE ? NEED_MORE
           : status == L7_TOO_LONG ? NEED_TOO_LONG : NEED_MALFORMED;
}

/* l7.request: the first request of a delayed-binding connection */
static void parse_request(const struct eng_service *s, const uint8_t *p, size_t n, req_t *q)
{
    q->need = NEED_MORE;
    q->has_cookie = q->has_url = 0;
    q->sid_len = 0;
    if (s->mode & ENG_MODE_SSLID) {
        struct l7_hello h;
        q->need = need_of(l7_tls_hello(p, n, &h));
        if (q->need == NEED_DONE && h.kind != L7_CLIENT_HELLO)
            q->need = NEED_MALFORMED;
        if (q->need == NEED_DONE) {
            q->sid_len = h.sid_len;
            memcpy(q->sid, h.sid, h.sid_len);
        }
        return;
    }
    size_t hl, off, len;
    q->need = need_of(l7_http_head(p, n, 0, &hl));
    if (q->need != NEED_DONE)
        return;
    if (s->mode & ENG_MODE_COOKIE) {
        if (l7_cookie(p, hl, 0, s->name, s->name_len, &off, &len) == L7_OK ||
            (s->uri && l7_uri_cookie(p, hl, s->name, s->name_len, &off, &len) == L7_OK)) {
            q->has_cookie = 1;
            q->cookie = p + off;
            q->cookie_len = len;
        }
    }
    if (s->urlhash) {                   /* http.url_hash_input */
        size_t toff, tlen, hoff = 0, hlen = 0, limit = s->urlhash;
        l7_http_target(p, hl, &toff, &tlen);
        if (s->urlhost)
            l7_http_header(p, hl, (const uint8_t *)"host", 4, &hoff, &hlen);
        size_t a = hlen < limit ? hlen : limit;
        memcpy(q->url, p + hoff, a);
        size_t b = tlen < limit - a ? tlen : limit - a;
        memcpy(q->url + a, p + toff, b);
        q->url_len = a + b;
        q->has_url = 1;
    }
}

typedef struct {
    int need;
    const uint8_t *cookie;
    size_t cookie_len;
    int has_cookie;
    uint8_t sid_len, tls13;
    uint8_t sid[32];
} resp_t;

/* l7.response */
static void parse_response(const struct eng_service *s, const uint8_t *p, size_t n, resp_t *q)
{
    q->has_cookie = 0;
    q->sid_len = q->tls13 = 0;
    if (s->mode & ENG_MODE_SSLID) {
        struct l7_hello h;
        q->need = need_of(l7_tls_hello(p, n, &h));
        if (q->need == NEED_DONE && h.kind != L7_SERVER_HELLO)
            q->need = NEED_MALFORMED;
        if (q->need == NEED_DONE) {
            q->sid_len = h.sid_len;
            q->tls13 = h.tls13;
            memcpy(q->sid, h.sid, h.sid_len);
        }
        return;
    }
    size_t hl, off, len;
    q->need = need_of(l7_http_head(p, n, REQ_RESPONSE, &hl));
    if (q->need == NEED_DONE &&
        l7_cookie(p, hl, REQ_RESPONSE, s->name, s->name_len, &off, &len) == L7_OK) {
        q->has_cookie = 1;
        q->cookie = p + off;
        q->cookie_len = len;
    }
}

/* switch._starts_response */
static int starts_response(const struct eng_service *s, const uint8_t *p, size_t n)
{
    if (s->mode & ENG_MODE_SSLID)
        return n >= 1 && (p[0] == 0x16 || (p[0] & 0x80));
    return n >= 5 && !memcmp(p, "HTTP/", 5);
}

/* ---- the decision ------------------------------------------------------------------------- */

/* The frame being decided, from the pipeline. */
typedef struct {
    struct flow_key key;
    uint64_t h;
    uint32_t poff, plen, seq;
    uint8_t dir, tcp, live, reason;
} pend_t;

typedef struct {
    const struct eng_batch *b;
    struct eng_io *io;
    uint32_t i;                     /* the frame */
    double now;
    const uint8_t *payload;
} ctx_t;

/* What switch._bind decides, before anything of it is done. */
typedef struct {
    int sel;
    uint16_t slot;
    uint8_t persist, via, hit, bind_new;
    uint8_t ftpdata;                /* an FTP data connection, bound by its expectation */
    pst_entry old;                  /* hit: the binding to touch */
    uint8_t bkind, bklen, keyfmt;
    uint16_t bvsvc;
    uint8_t bkey[64];               /* the binding's key (hit or new) */
    size_t keylen;
    uint8_t keytext[ENG_KEY_MAX];   /* Bound's key, in keyfmt */
} choice_t;

HOT void out(const ctx_t *c, eng *e, uint8_t verdict, uint8_t why, uint16_t real)
{
    c->b->verdict[c->i] = verdict;
    c->b->why[c->i] = why;
    c->b->real[c->i] = real;
    e->counts.verdicts[verdict & 7]++;
    e->counts.whys[why & 31]++;
    e->counts.fast++;
}

/* switch._persisted, reading only: the slot of a live binding's real that can serve */
static int persisted(const eng *e, uint32_t kind, uint16_t vsvc, const uint8_t *key,
                     size_t len, double now, choice_t *c)
{
    if (!pget(e, kind, vsvc, key, len, now, &c->old))
        return 0;
    uint16_t slot = e->code_slot[c->old.real];
    if (slot == ENG_NO_SLOT || !available(e, slot))
        return 0;
    c->slot = slot;
    return 1;
}

static void hexify(uint8_t *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (uint8_t)digits[p[i] >> 4];
        out[2 * i + 1] = (uint8_t)digits[p[i] & 15];
    }
}

/* switch._bind, reading only.  q: the parsed request (NULL on the first frame of a Layer 4
 * service, or fields empty when it did not parse). */
static void choose(const eng *e, const struct eng_service *s, const struct flow_key *k,
                   const req_t *q, double now, choice_t *c)
{
    const uint8_t *mkey = k->cip;
    size_t mlen = alen_of(k->family);
    int want_new = 0, hit = 0;
    memset(c, 0, offsetof(choice_t, bkey));
    c->keylen = 0;
    if (s->clientip) {
        uint32_t kind = k->family == 4 ? PST_IPV4 : PST_IPV6;
        c->bkind = (uint8_t)kind;
        c->bklen = (uint8_t)mlen;
        c->bvsvc = s->pvsvc;
        memcpy(c->bkey, k->cip, mlen);
        if (k->family == 4) {
            uint32_t ip = (uint32_t)k->cip[0] << 24 | (uint32_t)k->cip[1] << 16 |
                          (uint32_t)k->cip[2] << 8 | k->cip[3];
            ip &= e->params.pmask;
            uint8_t m[4] = {(uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8),
                            (uint8_t)ip};
            memcpy(c->bkey, m, 4);
        }
        c->keyfmt = ENG_KEY_IP;
        memcpy(c->keytext, c->bkey, mlen);
        c->keylen = mlen;
        hit = persisted(e, kind, s->pvsvc, c->bkey, mlen, now, c);
        want_new = !hit;
        if (want_new && e->tables[kind] == NULL) {
            c->sel = SEL_SLOW;      /* the first binding of its kind makes the table */
            return;
        }
    } else if ((s->mode & ENG_MODE_COOKIE) && q && q->has_cookie) {
        size_t koff, klen;
        if (l7_cookie_key(q->cookie_len, s->offset, s->length, &koff, &klen) == L7_OK &&
            klen) {
            c->keyfmt = ENG_KEY_TEXT;
            memcpy(c->keytext, q->cookie + koff, klen);
            c->keylen = klen;
            c->bkind = PST_COOKIE;
            c->bklen = (uint8_t)klen;
            c->bvsvc = s->pvsvc;
            memcpy(c->bkey, q->cookie + koff, klen);
            hit = persisted(e, PST_COOKIE, s->pvsvc, c->bkey, klen, now, c);
        }
    } else if ((s->mode & ENG_MODE_SSLID) && q && q->sid_len) {
        c->keyfmt = ENG_KEY_HEX;
        hexify(c->keytext, q->sid, q->sid_len);
        c->keylen = 2 * (size_t)q->sid_len;
        c->bkind = PST_SSLID;
        c->bklen = q->sid_len;
        c->bvsvc = s->pvsvc;
        memcpy(c->bkey, q->sid, q->sid_len);
        hit = persisted(e, PST_SSLID, s->pvsvc, c->bkey, q->sid_len, now, c);
    } else if ((s->mode & ENG_MODE_URLHASH) && q && q->has_url) {
        mkey = q->url;
        mlen = q->url_len;
        c->keyfmt = ENG_KEY_TEXT;
        memcpy(c->keytext, q->url, q->url_len);
        c->keylen = q->url_len;
    }
    if (hit) {
        c->hit = 1;
        c->persist = ENG_PERSIST_HIT;
        c->via = ENG_VIA_PERSIST;
        c->sel = SEL_OK;
        return;
    }
    if (!want_new)
        c->bkind = 0;       /* a miss on a learnt key: the response will teach it */
    c->sel = choose_real(e, s->group, mkey, mlen, &c->slot);
    c->bind_new = (uint8_t)want_new;
}

/* switch._attach, and the rest of _bind: the choice made */
static void attach(eng *e, ent_t *x, const struct eng_service *s, choice_t *c, const ctx_t *cx)
{
    const struct eng_real *r = &e->reals[c->slot];
    double now = cx->now;
    uint16_t rport = c->ftpdata ? x->key.vport : s->rport;  /* data: the port announced */
    if (c->ftpdata) {               /* switch._bind_data */
        e->counts.phit[ENG_PBIND_FTP]++;
    } else if (c->hit) {
        ptouch(e, c->bkind, c->bvsvc, c->bkey, c->bklen, now, &c->old);
        e->counts.phit[s->pbind]++;
    } else {
        e->farm.turn[s->group]++;
        if (c->bind_new) {
            if (pbind(e, c->bkind, c->bvsvc, c->bkey, c->bklen, r->code, now, s->ptmout,
                      x->sp)) {
                c->persist = ENG_PERSIST_NEW;
                e->counts.pnew[s->pbind]++;
            } else {
                c->bkind = 0;
            }
        } else if (s->urlhash) {    /* the switch issues the binding: the hash */
            c->persist = ENG_PERSIST_NEW;
            e->counts.pnew[s->pbind]++;
        }
    }
    x->real = r->code;
    x->rslot = c->slot;
    x->rport = rport;
    x->timeout = r->tmout;
    x->persist = c->persist;
    x->bkind = c->bkind;
    if (c->bkind) {
        x->bvsvc = c->bvsvc;
        x->bklen = c->bklen;
        memcpy(x->bkey, c->bkey, c->bklen);
    }
    x->bound_at = now;
    x->pport = x->key.cport;
    if (e->params.dam) {
        int32_t port = eng_dam_allocate(e, x->sp, x->key.cip, x->key.family, r->rip, r->family,
                                        rport);
        if (port > 0)
            x->pport = (uint16_t)port;
    }
    x->watch = c->ftpdata ? 0 : (s->mode & ENG_MODE_SSLID) ? 1 : (s->mode & ENG_MODE_COOKIE)
               ? (s->rcount > 1 ? s->rcount : 1) : 0;
    if (s->ftp && x->key.vport == s->vport && !(x->bits & ENG_SERVER_INIT))
        x->bits |= ENG_FTP_CONTROL;
    const struct eng_farm *f = &e->farm;
    row_opened(f->current, f->total, f->highest, f->used, c->slot);
    if (f->nvirts) {
        uint64_t v = vrow(e, x);
        row_opened(f->vcurrent, f->vtotal, f->vhighest, f->vused, v);
    }
    struct eng_event *v = ev(e, cx->io, ENG_EV_BOUND, x, now, cx->i);
    if (v) {
        v->rport = rport;
        v->persist = c->persist;
        v->via = c->via;
        ev_key(cx->io, v, c->keyfmt, c->keytext, c->keylen);
    }
}

/* switch._close */
static void close_session(eng *e, ent_t *x, uint8_t state, uint8_t why, struct eng_io *io,
                          double now, uint32_t frame)
{
    const struct eng_farm *f = &e->farm;
    if (x->state == ENG_HALF_OPEN && tcp_of(&x->key))
        e->counts.half_open--;
    if (x->real != FLOW_NO_REAL) {
        row_closed(f->current, f->used, x->rslot);
        if (f->nvirts)
            row_closed(f->vcurrent, f->vused, vrow(e, x));
        if (e->params.dam && x->pport != x->key.cport) {
            const struct eng_real *r = &e->reals[x->rslot];
            eng_dam_release(e, x->key.cip, x->key.family, x->pport, r->rip, r->family,
                            x->rport);
        }
        pst_entry old;
        if (x->bkind && pget(e, x->bkind, x->bvsvc, x->bkey, x->bklen, now, &old))
            ptouch(e, x->bkind, x->bvsvc, x->bkey, x->bklen, now, &old);
    } else if ((x->bits & ENG_UNBOUND) && why == ENG_WHY_AGED) {
        e->counts.aged_dbind++;
    }
    struct eng_event *v = ev(e, io, ENG_EV_CLOSED, x, now, frame);
    if (v) {
        v->state = state;
        v->why = why;
    }
    l7_drop(e, x);
    uint64_t idx = 0;
    int64_t pos = flow_find(e->t, flow_hash_of(e->t, &x->key), &x->key, &idx);
    flow_remove(e->t, (uint64_t)pos, idx);
}

/* switch._refuse: no real can take the connection */
static void refuse(eng *e, ent_t *x, const ctx_t *cx)
{
    e->counts.no_available_real++;
    struct eng_event *v = ev(e, cx->io, ENG_EV_REFUSED, x, cx->now, cx->i);
    (void)v;
    int tcp = tcp_of(&x->key);
    e->counts.client_resets += (uint64_t)tcp;
    close_session(e, x, ENG_RESET, ENG_WHY_RST, cx->io, cx->now, cx->i);
    out(cx, e, tcp ? FLOW_RESET : FLOW_DROP, FLOW_WHY_NO_REAL, FLOW_NO_REAL);
}

/* switch._track */
static void track(eng *e, ent_t *x, const pend_t *r, double now, int from_client)
{
    x->last = now;
    x->packets[r->dir]++;
    x->octets[r->dir] += r->plen;
    if (!tcp_of(&x->key))
        return;
    uint8_t f = r->tcp;
    if (f & TCP_RST) {
        x->bits |= ENG_RST;
        x->state = ENG_CLOSED;
    } else if (f & TCP_FIN) {
        x->bits |= from_client ? ENG_FIN_CLIENT : ENG_FIN_SERVER;
        x->state = (x->bits & ENG_FIN_CLIENT) && (x->bits & ENG_FIN_SERVER) ? ENG_CLOSED
                                                                            : ENG_CLOSING;
    } else if (x->state == ENG_HALF_OPEN && (f & TCP_ACK) && !(f & TCP_SYN) &&
               (from_client || (x->bits & ENG_SERVER_INIT))) {
        x->state = ENG_ESTABLISHED;
        e->counts.half_open--;
    }
}

static uint32_t sp_of(const eng *e, const struct flow_key *k, uint16_t ingress)
{
    const struct eng_params *p = &e->params;
    if (!p->matrix)
        return ingress;
    uint32_t crc = mix_crc32(0, k->cip, alen_of(k->family));
    if (p->vmasport) {
        uint8_t port[2] = {(uint8_t)(k->cport >> 8), (uint8_t)k->cport};
        crc = mix_crc32(crc, port, 2);
    } else if (p->vmadip) {
        crc = mix_crc32(crc, k->vip, alen_of(k->family));
    }
    return crc % p->spcount + 1;
}

/* Whether a session may open now (switch._open's table limit, a free entry, an SP the
 * entry can hold): the SP, or -1 when the slow path must see to it. */
static int64_t admit(const eng *e, const pend_t *r, const ctx_t *cx)
{
    const flow_table *t = e->t;
    if (t->count + (uint64_t)*e->farm.unheld >= e->params.limit ||
        (t->free_head == 0 && t->hw >= t->capacity) || !now_ok(cx->now))
        return -1;              /* the slow path counts the allocation failure */
    uint32_t sp = sp_of(e, &r->key, cx->b->ingress);
    return sp > SP_MAX ? -1 : (int64_t)sp;
}

/* switch._open */
static ent_t *open_session(eng *e, const pend_t *r, const ctx_t *cx, uint16_t number,
                           uint32_t sp, uint8_t bits)
{
    flow_table *t = e->t;
    const struct eng_service *s = &e->svcs[number];
    ent_t *x = flow_insert(t, r->h, &r->key);
    x->own = OWN_C;
    t->owned_c++;
    x->serial = (uint64_t)++*e->farm.serial;
    x->created = x->last = cx->now;
    x->timeout = s->tmout;
    x->svc = number;
    x->sp = (uint8_t)sp;
    x->ingress = cx->b->ingress;
    x->bits = bits;
    x->state = tcp_of(&r->key) ? ENG_HALF_OPEN : ENG_ESTABLISHED;
    e->counts.opened++;
    if (x->state == ENG_HALF_OPEN)
        e->counts.half_open++;
    struct eng_event *v = ev(e, cx->io, ENG_EV_OPENED, x, cx->now, cx->i);
    if (v)
        v->sp = (uint8_t)sp;
    return x;
}

/* switch._ftp_data: a data connection its control connection announced - the client's to
 * the VIP's announced port (passive), the real's from the VIP to the client's (active) - or
 * a frame the switch drops. */
static int c_data(eng *e, const pend_t *r, const ctx_t *cx, int active)
{
    uint16_t number;
    const struct eng_service *s = ftp_of(e, r->key.family, r->key.vip, &number);
    uint8_t missing = active ? FLOW_WHY_NO_SESSION : FLOW_WHY_NO_SERVICE;
    if (s == NULL || !tcp_of(&r->key) || !(r->tcp & TCP_SYN)) {
        out(cx, e, FLOW_DROP, s == NULL ? missing : FLOW_WHY_NO_SESSION, FLOW_NO_REAL);
        return F_DONE;
    }
    if (!(s->mode & ENG_MODE_FTP) || !now_ok(cx->now))
        return F_SLOW;
    uint32_t alen = alen_of(r->key.family), kind = r->key.family == 4 ? PST_FTP : PST_FTP6;
    uint16_t port = active ? r->key.cport : r->key.vport;
    choice_t c;
    memset(&c, 0, offsetof(choice_t, bkey));
    memcpy(c.bkey, active ? r->key.cip : r->key.vip, alen);
    c.bkey[alen] = (uint8_t)(port >> 8);
    c.bkey[alen + 1] = (uint8_t)port;
    c.bklen = (uint8_t)(alen + 2);
    uint16_t slot = ENG_NO_SLOT;
    if (pget(e, kind, s->pvsvc, c.bkey, c.bklen, cx->now, &c.old))
        slot = e->code_slot[c.old.real];
    if (slot == ENG_NO_SLOT) {
        out(cx, e, FLOW_DROP, missing, FLOW_NO_REAL);
        return F_DONE;
    }
    int64_t sp = admit(e, r, cx);
    if (sp < 0)
        return F_SLOW;
    ent_t *x = open_session(e, r, cx, number, (uint32_t)sp,
                            ENG_FTP_DATA | (active ? ENG_SERVER_INIT : 0));
    c.slot = slot;
    c.ftpdata = 1;
    c.persist = ENG_PERSIST_HIT;
    c.via = ENG_VIA_PERSIST;
    c.bkind = (uint8_t)kind;
    c.bvsvc = s->pvsvc;
    c.keyfmt = ENG_KEY_ENDPOINT;
    memcpy(c.keytext, c.bkey, c.bklen);
    c.keylen = c.bklen;
    attach(e, x, s, &c, cx);
    if (active) {                   /* switch._to_client: no octets on this path */
        out(cx, e, FLOW_TO_CLIENT, FLOW_WHY_NONE, x->real);
    } else {
        real_octets(e, x, r->plen, x->last);
        out(cx, e, FLOW_TO_REAL, FLOW_WHY_NONE, x->real);
    }
    return F_DONE;
}

/* switch._from_client for a connection nobody holds: a new session */
static int c_new(eng *e, const pend_t *r, const ctx_t *cx)
{
    uint16_t number;
    const struct eng_service *s = svc_find(e, r->key.family, r->key.vip, r->key.vport, &number);
    if (s == NULL)
        return c_data(e, r, cx, 0);
    if (!s->live) {                 /* the virtual server is disabled (or SLB off) */
        out(cx, e, FLOW_PASS, FLOW_WHY_VIP_DISABLED, FLOW_NO_REAL);
        return F_DONE;
    }
    int tcp = tcp_of(&r->key);
    if (tcp && !(r->tcp & TCP_SYN)) {
        if ((r->tcp & (TCP_RST | TCP_FIN)) || s->delayed || (!r->plen && !(r->tcp & TCP_ACK))) {
            out(cx, e, FLOW_DROP, FLOW_WHY_NO_SESSION, FLOW_NO_REAL);
            return F_DONE;
        }
        return F_SLOW;              /* a midstream pickup */
    }
    if (s->mode == ENG_MODE_SLOW)
        return F_SLOW;
    int64_t sp = admit(e, r, cx);
    if (sp < 0)
        return F_SLOW;
    int delayed = s->delayed && tcp;
    choice_t c;
    if (!delayed) {
        choose(e, s, &r->key, NULL, cx->now, &c);
        if (c.sel == SEL_SLOW)
            return F_SLOW;
    }
    ent_t *x = open_session(e, r, cx, number, (uint32_t)sp, 0);
    if (delayed) {
        x->bits |= ENG_UNBOUND | ENG_HAS_NEXT;
        x->request_next = r->seq + 1;
        out(cx, e, FLOW_LOCAL, FLOW_WHY_NONE, FLOW_NO_REAL);
        return F_DONE;
    }
    if (c.sel == SEL_NONE) {
        refuse(e, x, cx);
        return F_DONE;
    }
    attach(e, x, s, &c, cx);
    real_octets(e, x, r->plen, x->last);
    out(cx, e, FLOW_TO_REAL, FLOW_WHY_NONE, x->real);
    return F_DONE;
}

/* switch._expect: the real will open, or the client will, a data connection to addr:port */
static void expect(eng *e, const ent_t *x, const struct eng_service *s, const uint8_t *addr,
                   uint32_t alen, uint16_t port, double now)
{
    uint8_t key[18];
    memcpy(key, addr, alen);
    key[alen] = (uint8_t)(port >> 8);
    key[alen + 1] = (uint8_t)port;
    if (pbind(e, alen == 4 ? PST_FTP : PST_FTP6, s->pvsvc, key, alen + 2, x->real, now,
              s->ptmout, x->sp))
        e->counts.ftp_expectations++;
}

enum { LINE_REWRITE = 1, LINE_NO_TABLE = 2 };

/* One complete control line (through its LF): switch._ftp_client_lines /
 * _ftp_server_lines on it.  Returns LINE_REWRITE when the slow path would rewrite it (a 227
 * naming another address than the VIP), LINE_NO_TABLE when it announces an endpoint whose
 * table is not made yet (the slow path makes it). */
static int ftp_line(eng *e, const ent_t *x, const struct eng_service *s, const uint8_t *line,
                    size_t n, int from_client, int commit, double now)
{
    struct l7_ftp f;
    const uint8_t *addr;
    uint32_t alen, vlen = alen_of(x->key.family);
    int rc = 0;
    if (l7_ftp_line(line, n, from_client, &f) != L7_OK)
        return 0;
    if (from_client) {
        if ((f.kind != L7_FTP_PORT && f.kind != L7_FTP_EPRT) || (f.family != 4 && f.family != 6))
            return 0;
        addr = f.addr;
        alen = alen_of(f.family);
    } else {
        if (f.kind != L7_FTP_PASV227 && f.kind != L7_FTP_EPSV229)
            return 0;
        addr = x->key.vip;
        alen = vlen;
        if (f.family && alen_of(f.family) == vlen && memcmp(f.addr, x->key.vip, vlen) != 0)
            rc = LINE_REWRITE;
    }
    if (e->tables[alen == 4 ? PST_FTP : PST_FTP6] == NULL)
        return rc | LINE_NO_TABLE;
    if (commit)
        expect(e, x, s, addr, alen, f.port, now);
    return rc;
}

/* switch._ftp_lines over one segment of a control connection: the unfinished line kept
 * from before and the segment, split at LF; each complete line read, the new unfinished
 * rest kept (at most ENG_LINE_KEEP bytes).  Reading only (commit 0), it says whether the
 * slow path must take the segment (it would rewrite a 227, or a buffer is wanted and none
 * is left); committing, it binds the expectations and keeps the rest. */
static int ftp_lines(eng *e, ent_t *x, const struct eng_service *s, const uint8_t *p,
                     size_t n, int from_client, int commit, double now)
{
    size_t k = from_client ? x->l7len : x->l7srv;
    uint8_t *keep = x->l7 ? x->l7 + (from_client ? 0 : 1024) : NULL;
    int rewrite = 0;
    size_t rest_len;
    const uint8_t *lf = memchr(p, '\n', n);
    if (lf != NULL) {
        size_t i = (size_t)(lf - p), pos;
        uint8_t first[1024];
        if (k + i + 1 <= sizeof first) {    /* longer: past MAX_LINE, nothing to read */
            if (k)
                memcpy(first, keep, k);
            memcpy(first + k, p, i + 1);
            rewrite |= ftp_line(e, x, s, first, k + i + 1, from_client, commit, now);
        }
        for (pos = i + 1; pos < n && (lf = memchr(p + pos, '\n', n - pos)) != NULL;
             pos = (size_t)(lf - p) + 1)
            rewrite |= ftp_line(e, x, s, p + pos, (size_t)(lf - p) + 1 - pos, from_client,
                                commit, now);
        rest_len = n - pos < ENG_LINE_KEEP ? n - pos : ENG_LINE_KEEP;
        if (commit && rest_len)
            memcpy(x->l7 + (from_client ? 0 : 1024), p + pos, rest_len);
    } else {
        size_t add = n < ENG_LINE_KEEP - k ? n : ENG_LINE_KEEP - k;
        rest_len = k + add;
        if (commit && add)
            memcpy(x->l7 + (from_client ? 0 : 1024) + k, p, add);
    }
    if (!commit) {
        if ((rewrite & LINE_NO_TABLE) || (!from_client && (rewrite & LINE_REWRITE) && k == 0))
            return F_SLOW;          /* the slow path makes the table, or rewrites the reply */
        if (rest_len && x->l7 == NULL && (x->l7 = l7_get(e)) == NULL)
            return F_SLOW;
        return F_DONE;
    }
    if (from_client)
        x->l7len = (uint32_t)rest_len;
    else
        x->l7srv = (uint16_t)rest_len;
    if (x->l7len == 0 && x->l7srv == 0)
        l7_drop(e, x);
    return F_DONE;
}

/* switch._delayed: a client's frame before the real is chosen */
static int c_unbound(eng *e, ent_t *x, const pend_t *r, const ctx_t *cx)
{
    const struct eng_service *s = &e->svcs[x->svc];
    if (!r->plen || (x->bits & ENG_RST) || (r->tcp & TCP_RST)) {
        track(e, x, r, cx->now, 1);
        out(cx, e, FLOW_LOCAL, FLOW_WHY_NONE, FLOW_NO_REAL);
        return F_DONE;
    }
    /* switch._reassemble: in order only */
    const uint8_t *data = cx->payload;
    size_t dlen = r->plen;
    uint32_t off = r->seq - x->request_next;
    if (off >= 0x80000000u) {       /* old bytes: a retransmission overlapping what we hold */
        size_t back = (size_t)(uint32_t)(0u - off);
        size_t skip = back < dlen ? back : dlen;
        data += skip;
        dlen -= skip;
        off = 0;
    }
    if (off)
        return F_SLOW;              /* after a gap: the slow path holds segments back */
    size_t old = x->l7len, total;
    const uint8_t *req;
    if (old == 0) {
        req = data;
        total = dlen < ENG_L7_BYTES ? dlen : ENG_L7_BYTES;
    } else {
        size_t add = dlen < ENG_L7_BYTES - old ? dlen : ENG_L7_BYTES - old;
        memcpy(x->l7 + old, data, add);     /* past l7len: nothing is committed yet */
        req = x->l7;
        total = old + add;
    }
    req_t q;
    parse_request(s, req, total, &q);
    if (q.need == NEED_MORE && total >= ENG_L7_BYTES)
        q.need = NEED_TOO_LONG;
    choice_t c;
    if (q.need != NEED_MORE) {
        if (!now_ok(cx->now))
            return F_SLOW;
        choose(e, s, &x->key, q.need == NEED_DONE ? &q : NULL, cx->now, &c);
        if (c.sel == SEL_SLOW)
            return F_SLOW;
    } else if (total && x->l7 == NULL) {
        if ((x->l7 = l7_get(e)) == NULL)
            return F_SLOW;          /* no buffer left: the slow path gathers it */
        memcpy(x->l7, data, total);
    }
    track(e, x, r, cx->now, 1);
    x->request_next += (uint32_t)dlen;
    if (q.need == NEED_MORE) {
        x->l7len = (uint32_t)total;
        out(cx, e, FLOW_LOCAL, FLOW_WHY_NONE, FLOW_NO_REAL);
        return F_DONE;
    }
    if (q.need == NEED_TOO_LONG)
        e->counts.requests_too_long++;
    else if (q.need == NEED_MALFORMED)
        e->counts.unparsed++;
    if (c.sel == SEL_NONE) {
        refuse(e, x, cx);
        return F_DONE;
    }
    attach(e, x, s, &c, cx);        /* c holds its own copies of the keys */
    l7_drop(e, x);
    real_octets(e, x, r->plen, x->last);
    out(cx, e, FLOW_TO_REAL, FLOW_WHY_NONE, x->real);
    return F_DONE;
}

/* switch._learn */
static void learn(eng *e, ent_t *x, const struct eng_service *s, uint32_t kind,
                  const uint8_t *key, size_t len, uint8_t fmt, const ctx_t *cx)
{
    pst_entry old;
    double now = cx->now;
    if (pget(e, kind, s->pvsvc, key, len, now, &old) && old.real == x->real) {
        ptouch(e, kind, s->pvsvc, key, len, now, &old);
        return;
    }
    if (!pbind(e, kind, s->pvsvc, key, len, x->real, now, s->ptmout, ENG_PORT9_SP))
        return;
    e->counts.pnew[s->pbind]++;
    struct eng_event *v = ev(e, cx->io, ENG_EV_LEARNED, x, now, cx->i);
    if (v) {
        uint8_t text[64];
        if (fmt == ENG_KEY_HEX) {
            hexify(text, key, len);
            ev_key(cx->io, v, fmt, text, 2 * len);
        } else {
            ev_key(cx->io, v, fmt, key, len);
        }
    }
    if (x->persist == ENG_PERSIST_NONE)
        x->persist = ENG_PERSIST_NEW;
}

/* switch._from_real for a bound session of the engine's: the answer toward the client, and
 * switch._inspect_response on it when responses are still watched. */
static int c_to_client(eng *e, ent_t *x, const pend_t *r, const ctx_t *cx)
{
    const struct eng_service *s = &e->svcs[x->svc];
    int inspect = x->watch && r->plen;
    int lines = !inspect && (x->bits & ENG_FTP_CONTROL) && r->plen;
    if (lines && (!now_ok(cx->now) ||
                  ftp_lines(e, x, s, cx->payload, r->plen, 0, 0, cx->now) == F_SLOW))
        return F_SLOW;
    resp_t q;
    size_t total = 0;
    const uint8_t *data = cx->payload;
    size_t dlen = r->plen;
    if (inspect && x->l7len == 0 && !starts_response(s, data, dlen))
        inspect = 0;                /* a continuation of a response already read */
    if (inspect) {
        const uint8_t *resp;
        size_t old = x->l7len;
        if (old == 0) {
            resp = data;
            total = dlen < ENG_L7_BYTES ? dlen : ENG_L7_BYTES;
        } else {
            size_t add = dlen < ENG_L7_BYTES - old ? dlen : ENG_L7_BYTES - old;
            memcpy(x->l7 + old, data, add);
            resp = x->l7;
            total = old + add;
        }
        parse_response(s, resp, total, &q);
        if (q.need == NEED_DONE &&
            (((s->mode & ENG_MODE_SSLID) && q.sid_len && !q.tls13 && !e->tables[PST_SSLID]) ||
             ((s->mode & ENG_MODE_COOKIE) && q.has_cookie && !e->tables[PST_COOKIE] &&
              q.cookie_len >= s->offset)))
            return F_SLOW;          /* the first binding of its kind makes the table */
        if (q.need == NEED_MORE && total < ENG_L7_BYTES) {
            if (x->l7 == NULL) {
                if ((x->l7 = l7_get(e)) == NULL)
                    return F_SLOW;
                memcpy(x->l7, data, total);
            }
        } else if (!now_ok(cx->now)) {
            return F_SLOW;
        }
    }
    track(e, x, r, cx->now, 0);
    if (x->bits & ENG_UNBOUND) {    /* Farm.response_time */
        x->bits &= (uint8_t)~ENG_UNBOUND;
        double sec = cx->now - x->bound_at, *col = &e->farm.response[x->rslot];
        if (sec < 0)
            sec = 0;
        if (sec < INFINITY)
            *col = isnan(*col) ? sec : *col + 0.125 * (sec - *col);
    }
    real_octets(e, x, r->plen, x->last);
    if (lines)                      /* switch._ftp_server_lines */
        ftp_lines(e, x, s, cx->payload, r->plen, 0, 1, cx->now);
    if (inspect) {
        if (q.need == NEED_MORE && total < ENG_L7_BYTES) {
            x->l7len = (uint32_t)total;
        } else {
            uint8_t key[64];
            size_t klen = 0;
            int have = 0;
            if ((s->mode & ENG_MODE_COOKIE) && q.need == NEED_DONE && q.has_cookie) {
                size_t koff;
                if (l7_cookie_key(q.cookie_len, s->offset, s->length, &koff, &klen) == L7_OK &&
                    klen) {
                    memcpy(key, q.cookie + koff, klen);
                    have = 1;
                }
            }
            l7_drop(e, x);
            x->watch--;
            if (q.need == NEED_DONE) {
                if (s->mode & ENG_MODE_SSLID) {
                    if (q.sid_len && !q.tls13)
                        learn(e, x, s, PST_SSLID, q.sid, q.sid_len, ENG_KEY_HEX, cx);
                } else if (have) {
                    learn(e, x, s, PST_COOKIE, key, klen, ENG_KEY_TEXT, cx);
                    x->watch = 0;
                }
            }
        }
    }
    out(cx, e, FLOW_TO_CLIENT, FLOW_WHY_NONE, x->real);
    return F_DONE;
}

/* A frame of a session the engine runs. */
static int c_frame(eng *e, ent_t *x, const pend_t *r, const ctx_t *cx)
{
    if (r->dir == FLOW_DIR_TO_REAL) {
        if (x->state == ENG_CLOSED && (r->tcp & TCP_SYN) && !(r->tcp & TCP_ACK)) {
            /* a new SYN on a closed connection's tuple: start over */
            close_session(e, x, ENG_CLOSED, ENG_WHY_FIN, cx->io, cx->now, cx->i);
            return c_new(e, r, cx);
        }
        if (x->real == FLOW_NO_REAL)
            return c_unbound(e, x, r, cx);
        int lines = (x->bits & ENG_FTP_CONTROL) && r->plen;
        const struct eng_service *s = &e->svcs[x->svc];
        if (lines && (!now_ok(cx->now) ||
                      ftp_lines(e, x, s, cx->payload, r->plen, 1, 0, cx->now) == F_SLOW))
            return F_SLOW;
        track(e, x, r, cx->now, 1);
        if (lines)                  /* switch._ftp_client_lines */
            ftp_lines(e, x, s, cx->payload, r->plen, 1, 1, cx->now);
        real_octets(e, x, r->plen, x->last);
        out(cx, e, FLOW_TO_REAL, FLOW_WHY_NONE, x->real);
        return F_DONE;
    }
    if (x->real == FLOW_NO_REAL) {  /* the switch's own half of the handshake */
        track(e, x, r, cx->now, 0);
        out(cx, e, FLOW_LOCAL, FLOW_WHY_NONE, FLOW_NO_REAL);
        return F_DONE;
    }
    return c_to_client(e, x, r, cx);
}

/* One frame, in order. */
HOT int decide(eng *e, const pend_t *r, const ctx_t *cx)
{
    if (!r->live) {
        out(cx, e, FLOW_PASS, r->reason, FLOW_NO_REAL);
        return F_DONE;
    }
    uint64_t idx;
    flow_table *t = e->t;
    ent_t *x = flow_find(t, r->h, &r->key, &idx) >= 0 ? flow_ent(t, idx) : NULL;
    if (x != NULL) {
        if (x->own == OWN_C)
            return c_frame(e, x, r, cx);
        if (x->own == OWN_PY && !(r->tcp & TCP_END)) {  /* forwarded for the slow path */
            x->last = cx->now;
            x->packets[r->dir]++;
            x->octets[r->dir] += r->plen;
            x->untaken += r->plen;
            out(cx, e, r->dir == FLOW_DIR_TO_REAL ? FLOW_TO_REAL : FLOW_TO_CLIENT,
                FLOW_WHY_NONE, x->real);
            return F_DONE;
        }
        return F_SLOW;
    }
    if (*e->farm.unheld > 0)
        return F_SLOW;          /* a slow-path session may be this one */
    return r->dir == FLOW_DIR_TO_REAL ? c_new(e, r, cx) : c_data(e, r, cx, 1);
}

/* ---- the batch ---------------------------------------------------------------------------- */

HOT void stage_a(const flow_table *t, const uint8_t *p, uint32_t n, int link, pend_t *r,
                 const int aes)
{
    struct fr_pkt pk;
    fr_decode1(p, n, link, &pk);
    r->live = 0;
    if (pk.reason != FR_OK) {
        r->reason = pk.reason;
        return;
    }
    const uint8_t *cip, *vip;
    if (flow_vip_has(t, pk.family, pk.dst)) {
        r->dir = FLOW_DIR_TO_REAL;
        cip = pk.src;
        vip = pk.dst;
        r->key.cport = pk.sport;
        r->key.vport = pk.dport;
    } else if (flow_vip_has(t, pk.family, pk.src)) {
        r->dir = FLOW_DIR_TO_CLIENT;
        cip = pk.dst;
        vip = pk.src;
        r->key.cport = pk.dport;
        r->key.vport = pk.sport;
    } else {
        r->reason = FLOW_WHY_NOT_VIP;
        return;
    }
    r->key.proto = pk.proto;
    r->key.family = pk.family;
    r->key.zero = 0;
    memcpy(r->key.cip, cip, 16);
    memcpy(r->key.vip, vip, 16);
    r->h = flow_hash_key(t, &r->key, aes);
    r->poff = pk.payload_off;
    r->plen = pk.payload_len;
    r->seq = pk.seq;
    r->tcp = pk.proto == 6 ? pk.flags : 0;
    r->live = 1;
    PREFETCH(&t->index[flow_home(t, r->h)]);
}

HOT void stage_b(const flow_table *t, const pend_t *r)
{
    uint64_t pos = flow_home(t, r->h), tag = r->h >> FLOW_IDX_BITS, s;
    for (int probe = 0; probe < 4 && (s = t->index[pos]) != 0; probe++) {
        if ((s >> FLOW_IDX_BITS) == tag) {
            const ent_t *x = flow_ent(t, (s & FLOW_IDX_MASK) - 1);
            PREFETCH(x);
            PREFETCH((const uint8_t *)x + 64);
            return;
        }
        pos = (pos + 1) & t->imask;
    }
}

HOT int64_t run(eng *e, const struct eng_batch *b, uint32_t start, uint32_t end,
                struct eng_io *io, int *stop, const int aes)
{
    pend_t ring[RING];
    const flow_table *t = e->t;
    ctx_t cx = {.b = b, .io = io};
    const uint64_t n = end - start;
    for (uint64_t k = 0; k < n + PIPE_A + PIPE_B; k++) {
        if (k < n) {
            uint64_t i = start + k;
            if (k + AHEAD < n)
                PREFETCH(b->buf + b->off[i + AHEAD]);
            stage_a(t, b->buf + b->off[i], b->caplen[i], b->link, &ring[k & (RING - 1)], aes);
        }
        if (k >= PIPE_A && k - PIPE_A < n && ring[(k - PIPE_A) & (RING - 1)].live)
            stage_b(t, &ring[(k - PIPE_A) & (RING - 1)]);
        if (k < PIPE_A + PIPE_B)
            continue;
        const uint64_t j = k - PIPE_A - PIPE_B;
        if (j >= n)
            continue;
        const pend_t *r = &ring[j & (RING - 1)];
        cx.i = (uint32_t)(start + j);
        if (!io_room(io, EVENTS_A_FRAME)) {
            *stop = ENG_FLUSH;
            return cx.i;
        }
        cx.now = b->ts[cx.i];
        cx.payload = b->buf + b->off[cx.i] + r->poff;
        if (decide(e, r, &cx) == F_SLOW) {
            b->verdict[cx.i] = 0;
            *stop = ENG_EXCEPTION;
            return cx.i;
        }
    }
    *stop = ENG_DONE;
    return end;
}

static int64_t run_sip(eng *e, const struct eng_batch *b, uint32_t start, uint32_t end,
                       struct eng_io *io, int *stop)
{
    return run(e, b, start, end, io, stop, 0);
}

static int64_t run_aes(eng *e, const struct eng_batch *b, uint32_t start, uint32_t end,
                       struct eng_io *io, int *stop)
{
    return run(e, b, start, end, io, stop, 1);
}

int64_t eng_run(eng *e, const struct eng_batch *b, uint32_t start, uint32_t end,
                struct eng_io *io, int *stop)
{
    if (e == NULL || b == NULL || io == NULL || stop == NULL || !e->configured ||
        start > end || end > b->n || (!b->buf && b->buflen) ||
        (b->n && (!b->off || !b->caplen || !b->ts || !b->verdict || !b->why || !b->real)) ||
        (io->want_events && (!io->events || !io->arena || io->nevents > io->events_cap ||
                             io->arena_len > io->arena_cap)))
        return ENG_EINVAL;
    for (uint32_t i = b->checked; i < b->n; i++)    /* once a batch */
        if (b->off[i] > b->buflen || b->caplen[i] > b->buflen - b->off[i])
            return ENG_ERANGE;
    ((struct eng_batch *)b)->checked = b->n;
    *stop = ENG_DONE;
    if (start == end)
        return end;
    return (e->t->hash == FLOW_HASH_AES ? run_aes : run_sip)(e, b, start, end, io, stop);
}

/* ---- sessions for the slow path ----------------------------------------------------------- */

static void session_of(const ent_t *x, struct eng_session *o)
{
    memset(o, 0, sizeof *o);
    o->key = x->key;
    o->created = x->created;
    o->last = x->last;
    o->bound_at = x->bound_at;
    o->serial = x->serial;
    o->packets = x->packets[0] + x->packets[1];
    o->octets = x->octets[0] + x->octets[1];
    o->timeout = x->timeout;
    o->request_next = x->request_next;
    o->l7len = x->l7len;
    o->real = x->real;
    o->svc = x->svc;
    o->pport = x->pport;
    o->rport = x->rport;
    o->ingress = x->ingress;
    o->sp = x->sp;
    o->state = x->state;
    o->persist = x->persist;
    o->watch = x->watch;
    o->bits = x->bits;
    o->bkind = x->bkind;
    o->bklen = x->bklen;
    o->bvsvc = x->bvsvc;
    o->l7srv = x->l7srv;
    memcpy(o->bkey, x->bkey, sizeof o->bkey);
}

uint64_t eng_count(const eng *e)
{
    return e->t->owned_c;
}

int64_t eng_iter(const eng *e, uint64_t *cursor, struct eng_session *out, uint32_t max)
{
    if (e == NULL || cursor == NULL || (max && out == NULL))
        return ENG_EINVAL;
    const flow_table *t = e->t;
    uint32_t n = 0;
    uint64_t c = *cursor;
    for (; c < t->hw && n < max; c++) {
        const ent_t *x = flow_ent(t, c);
        if (x->key.family && x->own == OWN_C)
            session_of(x, &out[n++]);
    }
    *cursor = c;
    return n;
}

int eng_peek(const eng *e, const struct flow_key *key, struct eng_session *out)
{
    uint64_t idx;
    if (e == NULL || key == NULL || out == NULL)
        return ENG_EINVAL;
    const flow_table *t = e->t;
    if (!flow_key_ok(key) || flow_find(t, flow_hash_of(t, key), key, &idx) < 0)
        return 0;
    const ent_t *x = flow_ent(t, idx);
    if (x->own != OWN_C)
        return 0;
    session_of(x, out);
    return 1;
}

int eng_take(eng *e, const struct flow_key *key, struct eng_session *out, uint8_t *l7)
{
    uint64_t idx;
    if (e == NULL || key == NULL || out == NULL || l7 == NULL)
        return ENG_EINVAL;
    flow_table *t = e->t;
    if (!flow_key_ok(key) || flow_find(t, flow_hash_of(t, key), key, &idx) < 0)
        return 0;
    ent_t *x = flow_ent(t, idx);
    if (x->own != OWN_C)
        return 0;
    session_of(x, out);
    if (x->l7len)
        memcpy(l7, x->l7, x->l7len);
    if (x->l7srv)
        memcpy(l7 + x->l7len, x->l7 + 1024, x->l7srv);
    l7_drop(e, x);
    x->own = OWN_HELD;
    t->owned_c--;
    e->counts.handovers++;
    return 1;
}

/* ---- aging -------------------------------------------------------------------------------- */

static int by_serial(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int64_t eng_sweep_begin(eng *e, double now, double fast_period, double half_open_age, int slow)
{
    if (e == NULL)
        return ENG_EINVAL;
    const flow_table *t = e->t;
    e->nstale = e->stale_pos = 0;
    e->sweep_now = now;
    for (uint64_t i = 0; i < t->hw; i++) {
        const ent_t *x = flow_ent(t, i);
        if (x->key.family == 0 || x->own != OWN_C)
            continue;
        double idle = now - x->last;
        int stale;
        if (x->state == ENG_CLOSED)     /* a fast period's grace, for the last ACK */
            stale = idle >= fast_period;
        else if (x->state == ENG_HALF_OPEN && idle >= half_open_age)
            stale = 1;
        else
            stale = slow && idle >= (double)x->timeout;
        if (!stale)
            continue;
        if (e->nstale == e->stale_cap) {
            uint64_t cap = e->stale_cap ? 2 * e->stale_cap : 1024;
            void *grown = realloc(e->stale, cap * sizeof *e->stale);
            if (grown == NULL)
                return ENG_ENOMEM;
            e->stale = grown;
            e->stale_cap = cap;
        }
        e->stale[e->nstale].serial = x->serial;
        e->stale[e->nstale++].idx = i;
    }
    if (e->nstale)
        qsort(e->stale, e->nstale, sizeof *e->stale, by_serial);
    return (int64_t)e->nstale;
}

int64_t eng_sweep_step(eng *e, struct eng_io *io)
{
    if (e == NULL || io == NULL ||
        (io->want_events && (!io->events || !io->arena || io->nevents > io->events_cap)))
        return ENG_EINVAL;
    while (e->stale_pos < e->nstale) {
        if (!io_room(io, 1))
            break;
        ent_t *x = flow_ent(e->t, e->stale[e->stale_pos++].idx);
        uint8_t state = x->state, why = ENG_WHY_AGED;
        if (state == ENG_CLOSED) {
            int rst = (x->bits & ENG_RST) != 0;
            state = rst ? ENG_RESET : ENG_CLOSED;
            why = rst ? ENG_WHY_RST : ENG_WHY_FIN;
        }
        close_session(e, x, state, why, io, e->sweep_now, 0);
    }
    return (int64_t)(e->nstale - e->stale_pos);
}

/* ---- counters, hashes, lifecycle, invariants ---------------------------------------------- */

void eng_take_counts(eng *e, struct eng_counts *out)
{
    *out = e->counts;
    memset(&e->counts, 0, sizeof e->counts);
}

uint64_t eng_digest(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, int parts)
{
    mix_b2 s;
    mix_b2_init(&s);
    mix_b2_part(&s, a, alen);
    if (parts > 1)
        mix_b2_part(&s, b, blen);
    return mix_b2_final(&s);
}

uint32_t eng_crc32(const uint8_t *p, size_t n)
{
    return mix_crc32(0, p, n);
}

int eng_new(flow_table *t, uint64_t seed0, uint64_t seed1, eng **out)
{
    if (out == NULL)
        return ENG_EINVAL;
    *out = NULL;
    if (t == NULL)
        return ENG_EINVAL;
    eng *e = calloc(1, sizeof *e);
    if (e == NULL)
        return ENG_ENOMEM;
    e->t = t;
    sip_state s0 = sip_init((uint64_t[2]){seed0, seed1});
    e->seed[0] = sip_finish(&s0, 96 | 8ULL << 56);  /* the DAM set's own hash domain */
    sip_state s1 = sip_init((uint64_t[2]){seed0, seed1});
    e->seed[1] = sip_finish(&s1, 97 | 8ULL << 56);
    e->code_slot = malloc(65536 * sizeof *e->code_slot);
    e->dam_next = calloc(DAM_SPS, sizeof *e->dam_next);
    if (e->code_slot == NULL || e->dam_next == NULL) {
        eng_free(e);
        return ENG_ENOMEM;
    }
    for (uint32_t i = 0; i < 65536; i++)
        e->code_slot[i] = ENG_NO_SLOT;
    *out = e;
    return 0;
}

/* The flow table is not read: it may be gone already (it is the caller's). */
void eng_free(eng *e)
{
    if (e == NULL)
        return;
    for (uint64_t k = 0; k < e->nslabs; k++)
        free(e->slabs[k]);
    free(e->slabs);
    free(e->l7_free);
    free(e->svcs);
    free(e->svc_index);
    free(e->vip_ftp);
    free(e->reals);
    free(e->groups);
    free(e->members);
    free(e->sched);
    free(e->code_slot);
    free(e->dam);
    free(e->dam_next);
    free(e->stale);
    free(e);
}

int eng_check(const eng *e)
{
    const flow_table *t = e->t;
    int rc = flow_check(t);
    if (rc)
        return rc;
    uint64_t l7 = 0, dam = 0;
    for (uint64_t i = 0; i < t->hw; i++) {
        const ent_t *x = flow_ent(t, i);
        if (x->key.family == 0 || x->own != OWN_C)
            continue;
        if (x->svc >= e->nsvcs || x->state > ENG_CLOSED ||
            (x->l7 == NULL && (x->l7len || x->l7srv)) || x->l7len > ENG_L7_BYTES ||
            x->l7srv > ENG_LINE_KEEP ||
            ((x->bits & ENG_FTP_CONTROL) && x->l7len > ENG_LINE_KEEP) || x->bklen > 64 ||
            (x->real != FLOW_NO_REAL && (x->rslot >= e->farm.nreals ||
                                          e->reals[x->rslot].code != x->real)))
            return 20;
        l7 += x->l7 != NULL;
    }
    if (l7 != e->l7_count || e->l7_count + e->l7_nfree != e->nslabs * L7_SLAB)
        return 21;
    for (uint64_t i = 0; e->dam && i <= e->dam_mask; i++) {
        const dam_slot *d = &e->dam[i];
        if (!d->key.cfam)
            continue;
        dam++;
        if (d->h != dam_hash(e, &d->key) || dam_find(e, &d->key, d->h) != (int64_t)i)
            return 22;
    }
    if (dam != e->dam_count)
        return 23;
    return 0;
}
