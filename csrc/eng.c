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
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode_inl.h"
#include "eng_int.h"
#include "keyhash.h"
#include "l7.h"
#include "mix.h"

#define PREFETCH FLOW_PREFETCH
#define HOT FLOW_HOT

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

/* An io the engine may write to: its counts inside its capacities, and, once emptied, room
 * for the events of one frame (a smaller one would make every run stop for a flush that
 * never makes room: the caller would loop forever). */
static int io_ok(const struct eng_io *io)
{
    return !io->want_events ||
           (io->events && io->arena && io->nevents <= io->events_cap &&
            io->arena_len <= io->arena_cap && io->events_cap >= EVENTS_A_FRAME &&
            io->arena_cap >= 2 * ENG_KEY_MAX);
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
    if (slot == ENG_NO_SLOT || !eng_available(e, slot))
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
    size_t mlen = eng_alen(k->family);
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
    c->sel = eng_choose_real(e, s->group, mkey, mlen, &c->slot);
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
    eng_row_opened(f->current, f->total, f->highest, f->used, c->slot);
    if (f->nvirts) {
        uint64_t v = eng_vrow(e, x);
        eng_row_opened(f->vcurrent, f->vtotal, f->vhighest, f->vused, v);
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
    if (x->state == ENG_HALF_OPEN && eng_tcp(&x->key))
        e->counts.half_open--;
    if (x->real != FLOW_NO_REAL) {
        eng_row_closed(f->current, f->used, x->rslot);
        if (f->nvirts)
            eng_row_closed(f->vcurrent, f->vused, eng_vrow(e, x));
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
    eng_l7_drop(e, x);
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
    int tcp = eng_tcp(&x->key);
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
    if (!eng_tcp(&x->key))
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
    uint32_t crc = mix_crc32(0, k->cip, eng_alen(k->family));
    if (p->vmasport) {
        uint8_t port[2] = {(uint8_t)(k->cport >> 8), (uint8_t)k->cport};
        crc = mix_crc32(crc, port, 2);
    } else if (p->vmadip) {
        crc = mix_crc32(crc, k->vip, eng_alen(k->family));
    }
    return crc % p->spcount + 1;
}

/* Whether a session may open now (switch._open's table limit, a free entry, an SP the
 * entry can hold): the SP, or -1 when the slow path must see to it. */
static int64_t admit(const eng *e, const pend_t *r, const ctx_t *cx)
{
    const flow_table *t = e->t;
    if (t->count + (uint64_t)*e->farm.unheld >= e->params.limit ||
        (t->free_head == 0 && t->hw >= t->capacity) || !eng_now_ok(cx->now))
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
    x->state = eng_tcp(&r->key) ? ENG_HALF_OPEN : ENG_ESTABLISHED;
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
    const struct eng_service *s = eng_ftp_of(e, r->key.family, r->key.vip, &number);
    uint8_t missing = active ? FLOW_WHY_NO_SESSION : FLOW_WHY_NO_SERVICE;
    if (s == NULL || !eng_tcp(&r->key) || !(r->tcp & TCP_SYN)) {
        out(cx, e, FLOW_DROP, s == NULL ? missing : FLOW_WHY_NO_SESSION, FLOW_NO_REAL);
        return F_DONE;
    }
    if (!(s->mode & ENG_MODE_FTP) || !eng_now_ok(cx->now))
        return F_SLOW;
    uint32_t alen = eng_alen(r->key.family), kind = r->key.family == 4 ? PST_FTP : PST_FTP6;
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
        eng_real_octets(e, x, r->plen, x->last);
        out(cx, e, FLOW_TO_REAL, FLOW_WHY_NONE, x->real);
    }
    return F_DONE;
}

/* switch._from_client for a connection nobody holds: a new session */
static int c_new(eng *e, const pend_t *r, const ctx_t *cx)
{
    uint16_t number;
    const struct eng_service *s = eng_svc_find(e, r->key.family, r->key.vip, r->key.vport, &number);
    if (s == NULL)
        return c_data(e, r, cx, 0);
    if (!s->live) {                 /* the virtual server is disabled (or SLB off) */
        out(cx, e, FLOW_PASS, FLOW_WHY_VIP_DISABLED, FLOW_NO_REAL);
        return F_DONE;
    }
    int tcp = eng_tcp(&r->key);
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
    eng_real_octets(e, x, r->plen, x->last);
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
    uint32_t alen, vlen = eng_alen(x->key.family);
    int rc = 0;
    if (l7_ftp_line(line, n, from_client, &f) != L7_OK)
        return 0;
    if (from_client) {
        if ((f.kind != L7_FTP_PORT && f.kind != L7_FTP_EPRT) || (f.family != 4 && f.family != 6))
            return 0;
        addr = f.addr;
        alen = eng_alen(f.family);
    } else {
        if (f.kind != L7_FTP_PASV227 && f.kind != L7_FTP_EPSV229)
            return 0;
        addr = x->key.vip;
        alen = vlen;
        if (f.family && eng_alen(f.family) == vlen && memcmp(f.addr, x->key.vip, vlen) != 0)
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
        if (rest_len && x->l7 == NULL && (x->l7 = eng_l7_get(e)) == NULL)
            return F_SLOW;
        return F_DONE;
    }
    if (from_client)
        x->l7len = (uint32_t)rest_len;
    else
        x->l7srv = (uint16_t)rest_len;
    if (x->l7len == 0 && x->l7srv == 0)
        eng_l7_drop(e, x);
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
    eng_parse_request(s, req, total, &q);
    if (q.need == NEED_MORE && total >= ENG_L7_BYTES)
        q.need = NEED_TOO_LONG;
    choice_t c;
    if (q.need != NEED_MORE) {
        if (!eng_now_ok(cx->now))
            return F_SLOW;
        choose(e, s, &x->key, q.need == NEED_DONE ? &q : NULL, cx->now, &c);
        if (c.sel == SEL_SLOW)
            return F_SLOW;
    } else if (total && x->l7 == NULL) {
        if ((x->l7 = eng_l7_get(e)) == NULL)
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
    eng_l7_drop(e, x);
    eng_real_octets(e, x, r->plen, x->last);
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
    if (lines && (!eng_now_ok(cx->now) ||
                  ftp_lines(e, x, s, cx->payload, r->plen, 0, 0, cx->now) == F_SLOW))
        return F_SLOW;
    resp_t q;
    size_t total = 0;
    const uint8_t *data = cx->payload;
    size_t dlen = r->plen;
    if (inspect && x->l7len == 0 && !eng_starts_response(s, data, dlen))
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
        eng_parse_response(s, resp, total, &q);
        if (q.need == NEED_DONE &&
            (((s->mode & ENG_MODE_SSLID) && q.sid_len && !q.tls13 && !e->tables[PST_SSLID]) ||
             ((s->mode & ENG_MODE_COOKIE) && q.has_cookie && !e->tables[PST_COOKIE] &&
              q.cookie_len >= s->offset)))
            return F_SLOW;          /* the first binding of its kind makes the table */
        if (q.need == NEED_MORE && total < ENG_L7_BYTES) {
            if (x->l7 == NULL) {
                if ((x->l7 = eng_l7_get(e)) == NULL)
                    return F_SLOW;
                memcpy(x->l7, data, total);
            }
        } else if (!eng_now_ok(cx->now)) {
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
    eng_real_octets(e, x, r->plen, x->last);
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
            eng_l7_drop(e, x);
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
        if (lines && (!eng_now_ok(cx->now) ||
                      ftp_lines(e, x, s, cx->payload, r->plen, 1, 0, cx->now) == F_SLOW))
            return F_SLOW;
        track(e, x, r, cx->now, 1);
        if (lines)                  /* switch._ftp_client_lines */
            ftp_lines(e, x, s, cx->payload, r->plen, 1, 1, cx->now);
        eng_real_octets(e, x, r->plen, x->last);
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
    if (!flow_key_of(t, &pk, &r->key, &r->dir)) {
        r->reason = FLOW_WHY_NOT_VIP;
        return;
    }
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

int64_t eng_run(eng *e, struct eng_batch *b, uint32_t start, uint32_t end, struct eng_io *io,
                int *stop)
{
    if (e == NULL || b == NULL || io == NULL || stop == NULL || !e->configured ||
        start > end || end > b->n || (!b->buf && b->buflen) ||
        (b->n && (!b->off || !b->caplen || !b->ts || !b->verdict || !b->why || !b->real)) ||
        !io_ok(io))
        return ENG_EINVAL;
    for (uint32_t i = b->checked; i < b->n; i++)    /* once a batch */
        if (b->off[i] > b->buflen || b->caplen[i] > b->buflen - b->off[i])
            return ENG_ERANGE;
    b->checked = b->n;
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
    eng_l7_drop(e, x);
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

/* What closing x will look up, each a likely cache miss in tables bigger than the cache: its
 * DAM slot, its persistence index line, its flow index line (close_session's order). */
static void close_prefetch(const eng *e, const ent_t *x)
{
    const flow_table *t = e->t;
    if (x->real != FLOW_NO_REAL) {
        if (e->params.dam && x->pport != x->key.cport) {
            const struct eng_real *r = &e->reals[x->rslot];
            eng_dam_prefetch(e, x->key.cip, x->key.family, x->pport, r->rip, r->family,
                             x->rport);
        }
        if (x->bkind && e->tables[x->bkind] != NULL)
            pst_prefetch(e->tables[x->bkind], x->bvsvc, x->bkey, x->bklen);
    }
    PREFETCH(&t->index[flow_home(t, flow_hash_of(t, &x->key))]);
}

int64_t eng_sweep_step(eng *e, struct eng_io *io)
{
    if (e == NULL || io == NULL || !io_ok(io))
        return ENG_EINVAL;
    /* the stale sessions lie anywhere in the flow table: fetch the entries SWEEP_ENTRY
     * closes ahead, then, their fields in cache, what closing them touches SWEEP_SLOTS ahead */
    enum { SWEEP_ENTRY = 8, SWEEP_SLOTS = 4 };
    while (e->stale_pos < e->nstale) {
        if (!io_room(io, 1))
            break;
        uint64_t p = e->stale_pos;
        if (p + SWEEP_ENTRY < e->nstale) {
            const ent_t *y = flow_ent(e->t, e->stale[p + SWEEP_ENTRY].idx);
            PREFETCH(y);                            /* key, real, state */
            PREFETCH((const uint8_t *)y + 128);     /* pport, the binding's kind, its key */
            PREFETCH((const uint8_t *)y + 192);
        }
        if (p + SWEEP_SLOTS < e->nstale)
            close_prefetch(e, flow_ent(e->t, e->stale[p + SWEEP_SLOTS].idx));
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
    eng_l7_free_all(e);
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
    uint64_t l7 = 0;
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
    return eng_dam_check(e);
}
