/*
 * fuzz_engine.c - the engine's batch loop (eng_run) over conversations whose every header
 * field that matters and every payload byte come from the input: the frames reach the TCP
 * state machine, the Layer 7 buffers (a request gathered in order, a response read for its
 * session ID or Set-Cookie, FTP control lines split anywhere) and the persistence tables.
 *
 * The switch is built afresh for each input, as tests/csrc/eng_stress.c builds it: an IPv4
 * and an IPv6 VIP with services of every mode the engine takes (and one it leaves to the slow
 * path), five reals in three groups, small persistence tables that fill.  The harness plays
 * the slow path where the engine stops: it takes the session over (eng_take) or holds the
 * connection (flow_hold), and lets held ones go at the next sweep.
 *
 * Input: byte 0 (options: VMA source port, Layer 7 buffers 1-4, DAM, some persistence tables
 * made only later, events wanted), 8 bytes (the service each of the 8 connections talks to),
 * then records: a byte (bits 0-2 the connection, bit 3 from the server, bit 4 the batch ends
 * here, bits 5-7 what: 0-4 a TCP segment, 5 a raw frame, 6 a sweep, 7 a real down or up),
 * then for a segment: TCP flags, a sequence offset (0 in order; else a signed shift), the
 * payload length and the payload; for a raw frame: its length and bytes; for a sweep: seconds.
 *
 * Checked: eng_run stops inside the range it was given and says why; every decided frame has
 * a verdict and a real that exists; every event is of a known kind with its key inside the
 * arena; a session taken over comes with at most ENG_L7_BYTES of buffered bytes and its own
 * key; the engine's and the flow table's invariants hold after every call; after a final
 * sweep far in the future no session is left; and nothing leaks.
 */
#define FUZZ_NAME "fuzz_engine"
#include "fuzz.h"

#include <math.h>

#include "decode.h"
#include "eng.h"
#include "flow.h"
#include "pst.h"

FUZZ_OUTCOMES("done", "exception", "flush", "taken", "held", "opened", "bound", "learned",
              "closed", "refused", "too_long", "unparsed", "client_reset", "ftp_expectation",
              "persist_full")

enum { NREALS = 5, NGROUPS = 3, NVIRTS = 2, NCONN = 8, BATCH_MAX = 32, FRAMES_MAX = 512,
       EVENTS = 4, ARENA = 2 * ENG_KEY_MAX, HELD_MAX = 64 };

static const uint8_t VIP4[16] = {192, 0, 2, 1};
static const uint8_t VIP6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

static const struct {
    uint16_t port;
    uint8_t mode, delayed, clientip, urlhash;
} PORTS[] = {
    {80, ENG_MODE_L4 | ENG_MODE_COOKIE, 1, 0, 0},
    {443, ENG_MODE_L4 | ENG_MODE_SSLID, 1, 0, 0},
    {81, ENG_MODE_L4 | ENG_MODE_URLHASH | ENG_MODE_COOKIE, 1, 0, 24},
    {82, ENG_MODE_L4, 0, 0, 0},
    {8080, ENG_MODE_L4, 0, 1, 0},
    {85, ENG_MODE_L4, 1, 1, 0},
    {83, ENG_MODE_SLOW, 1, 0, 0},
    {53, ENG_MODE_L4, 0, 0, 0},
    {21, ENG_MODE_L4 | ENG_MODE_FTP, 0, 1, 0},
    {20, ENG_MODE_L4, 0, 0, 0},
};
enum { NPORTS = sizeof PORTS / sizeof PORTS[0] };
static const uint32_t KINDS[] = {PST_IPV4, PST_IPV6, PST_SSLID, PST_COOKIE, PST_FTP, PST_FTP6};

/* ---- the switch, fresh for every input ------------------------------------------------- */

typedef struct {
    flow_table *table;
    eng *engine;
    pst_table *tables[8];
    int table_set[8];
    int64_t cur[NREALS], tot[NREALS], high[NREALS], oct[NREALS];
    uint8_t rused[NREALS], up[NREALS];
    double response[NREALS], load[NREALS], load_at[NREALS];
    int64_t weight[NREALS], maxcon[NREALS];
    int32_t backup[NREALS];
    int64_t turn[NGROUPS];
    uint8_t group_up[NGROUPS];
    int64_t vcur[NVIRTS * NREALS], vtot[NVIRTS * NREALS], vhigh[NVIRTS * NREALS],
        voct[NVIRTS * NREALS];
    uint8_t vused[NVIRTS * NREALS];
    int64_t serial, unheld;
    struct flow_key held[HELD_MAX];
    int nheld;
    double now;
} sw_t;

static void build(sw_t *s, uint8_t opt)
{
    FUZZ_CHECK(flow_new(64, 11, 12, 0, &s->table) == FLOW_OK, "flow_new");
    FUZZ_CHECK(eng_new(s->table, 13, 14, &s->engine) == 0, "eng_new");
    uint8_t addrs[32], fams[2] = {4, 6};
    memcpy(addrs, VIP4, 16);
    memcpy(addrs + 16, VIP6, 16);
    FUZZ_CHECK(flow_set_vips(s->table, addrs, fams, 2) == FLOW_OK, "set_vips");
    for (int i = 0; i < 6; i++) {
        pst_params p = {.kind = KINDS[i], .capacity = 8, .journal = 16, .seed = {15, 16}};
        FUZZ_CHECK(pst_new(&p, &s->tables[KINDS[i]]) == PST_OK, "pst_new");
        if (!(opt & 16) || i % 2) {     /* the others come later, as the slow path makes them */
            FUZZ_CHECK(eng_set_table(s->engine, KINDS[i], s->tables[KINDS[i]]) == 0, "table");
            s->table_set[KINDS[i]] = 1;
        }
    }
    struct eng_real reals[NREALS];
    memset(reals, 0, sizeof reals);
    for (int r = 0; r < NREALS; r++) {
        reals[r].rip[0] = 10;
        reals[r].rip[3] = (uint8_t)(r + 1);
        reals[r].family = 4;
        reals[r].code = (uint16_t)(r + 1);
        reals[r].tmout = 600;
        reals[r].track_load = r == 2;
        s->weight[r] = 1 + r % 3;
        s->maxcon[r] = r == 3 ? 2 : 0;
        s->backup[r] = r == 4 ? 0 : -1;
        s->up[r] = 1;
        s->response[r] = NAN;
    }
    static const uint16_t members[] = {0, 1, 2, 2, 3, 4, 3, 1};
    static const uint16_t sched[] = {0, 1, 2};
    struct eng_group groups[NGROUPS] = {
        {.first = 0, .count = 3, .sched_first = 0, .sched_len = 3,
         .metric = ENG_METRIC_ROUNDROBIN},
        {.first = 3, .count = 3, .metric = ENG_METRIC_LEASTCONNS, .backup = 1},
        {.first = 6, .count = 2, .metric = ENG_METRIC_HASH}};
    for (int g = 0; g < NGROUPS; g++)
        s->group_up[g] = 1;
    struct eng_farm f = {
        .nreals = NREALS, .ngroups = NGROUPS, .nvirts = NVIRTS, .nmembers = 8, .nsched = 3,
        .reals = reals, .groups = groups, .members = members, .sched = sched,
        .current = s->cur, .total = s->tot, .highest = s->high, .octets = s->oct,
        .used = s->rused, .response = s->response, .load = s->load, .load_at = s->load_at,
        .up = s->up, .weight = s->weight, .maxcon = s->maxcon, .backup = s->backup,
        .turn = s->turn, .group_up = s->group_up, .vcurrent = s->vcur, .vtotal = s->vtot,
        .vhighest = s->vhigh, .voctets = s->voct, .vused = s->vused, .serial = &s->serial,
        .unheld = &s->unheld};
    FUZZ_CHECK(eng_set_farm(s->engine, &f) == 0, "set_farm");
    struct eng_service svc[2 * NPORTS];
    memset(svc, 0, sizeof svc);
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < NPORTS; i++) {
            struct eng_service *x = &svc[v * NPORTS + i];
            memcpy(x->vip, v ? VIP6 : VIP4, 16);
            x->family = v ? 6 : 4;
            x->mode = PORTS[i].mode;
            x->live = 1;
            x->delayed = PORTS[i].delayed;
            x->clientip = PORTS[i].clientip;
            x->pbind = (uint8_t)(i % ENG_PBINDS);
            x->uri = i == 0;
            x->urlhost = 1;
            x->vport = x->rport = PORTS[i].port;
            x->group = (uint16_t)(i % NGROUPS);
            x->virt = (uint16_t)v;
            x->vsvc = x->pvsvc = (uint16_t)(10 + i);
            x->urlhash = PORTS[i].urlhash;
            x->rcount = 2;
            x->ptmout = 60;
            x->tmout = 600;
            x->offset = 1 + (uint32_t)(i % 3);
            x->length = (uint32_t)(i % 4) * 3;
            memcpy(x->name, "S*ID", 4);
            x->name_len = 4;
            x->ftp = PORTS[i].port == 21;
        }
    }
    FUZZ_CHECK(eng_set_services(s->engine, svc, 2 * NPORTS) == 0, "set_services");
    struct eng_params p = {.dam = (opt & 8) != 0, .matrix = 1, .vmasport = opt & 1,
                           .spcount = 8, .pmask = 0xFFFFFF00u, .limit = 24,
                           .l7_buffers = 1 + ((opt >> 1) & 3)};
    FUZZ_CHECK(eng_set_params(s->engine, &p) == 0, "set_params");
    s->now = 1000.0;
}

static void teardown(sw_t *s)
{
    eng_free(s->engine);
    flow_free(s->table);
    for (int i = 0; i < 8; i++)
        pst_free(s->tables[i]);
}

/* ---- the slow path's part --------------------------------------------------------------- */

static void check_events(struct eng_io *io)
{
    for (uint32_t i = 0; i < io->nevents; i++) {
        const struct eng_event *v = &io->events[i];
        FUZZ_CHECK(v->kind >= ENG_EV_OPENED && v->kind <= ENG_EV_REFUSED, "event kind %u",
                   v->kind);
        FUZZ_CHECK((uint64_t)v->keyoff + v->keylen <= io->arena_len && v->keylen <= ENG_KEY_MAX,
                   "event key %u+%u past the arena's %u", v->keyoff, v->keylen, io->arena_len);
        FUZZ_SEEN(5 + v->kind - ENG_EV_OPENED);
    }
    FUZZ_CHECK(io->nevents <= io->events_cap && io->arena_len <= io->arena_cap, "io overflow");
    io->nevents = 0;
    io->arena_len = 0;
}

/* The key of a frame the harness built (Ethernet, IPv4 or IPv6, TCP or UDP) as the engine
 * builds it: client side first.  0 for a frame that is nobody's. */
static int key_of(const uint8_t *f, size_t n, struct flow_key *k)
{
    struct fr_pkt pk;
    uint64_t off = 0;
    uint32_t cap = (uint32_t)n;
    if (fr_decode_many(f, n, &off, &cap, 1, FR_LINK_ETHERNET, &pk) != 0 || pk.reason != FR_OK)
        return 0;
    memset(k, 0, sizeof *k);
    const uint8_t *vip = pk.family == 4 ? VIP4 : VIP6;
    int to_vip = !memcmp(pk.dst, vip, 16);
    if (!to_vip && memcmp(pk.src, vip, 16))
        return 0;
    k->proto = pk.proto;
    k->family = pk.family;
    k->cport = to_vip ? pk.sport : pk.dport;
    k->vport = to_vip ? pk.dport : pk.sport;
    memcpy(k->cip, to_vip ? pk.src : pk.dst, 16);
    memcpy(k->vip, vip, 16);
    return 1;
}

static void slow_path(sw_t *s, const uint8_t *f, size_t n, uint32_t index)
{
    struct flow_key k;
    if (key_of(f, n, &k)) {
        struct eng_session *x = malloc(sizeof *x);
        uint8_t *l7 = malloc(ENG_L7_BYTES);
        int took = eng_take(s->engine, &k, x, l7);
        FUZZ_CHECK(took == 0 || took == 1, "eng_take %d", took);
        if (took) {
            FUZZ_CHECK((uint64_t)x->l7len + x->l7srv <= ENG_L7_BYTES &&
                           !memcmp(&x->key, &k, sizeof k), "taken session: %u + %u bytes",
                       x->l7len, x->l7srv);
            FUZZ_SEEN(3);
            if (s->nheld < HELD_MAX)
                s->held[s->nheld++] = k;
        } else if (index % 3 == 0 && s->nheld < HELD_MAX) {
            int rc = flow_hold(s->table, &k, s->now);
            FUZZ_CHECK(rc == FLOW_CREATED || rc == FLOW_UPDATED || rc == FLOW_EFULL,
                       "flow_hold %d", rc);
            if (rc == FLOW_CREATED) {
                s->held[s->nheld++] = k;
                FUZZ_SEEN(4);
            }
        }
        free(x);
        free(l7);
    }
    for (uint32_t kind = PST_IPV4; kind <= PST_FTP6; kind++)    /* it made the table */
        if (!s->table_set[kind]) {
            FUZZ_CHECK(eng_set_table(s->engine, kind, s->tables[kind]) == 0, "late table");
            s->table_set[kind] = 1;
            break;
        }
}

static void release_held(sw_t *s)
{
    for (int i = 0; i < s->nheld; i++) {
        int rc = flow_delete(s->table, &s->held[i]);
        FUZZ_CHECK(rc == 0 || rc == 1, "flow_delete %d", rc);
    }
    s->nheld = 0;
}

static void sweep(sw_t *s, struct eng_io *io, int slow)
{
    int64_t left = eng_sweep_begin(s->engine, s->now, 1.0, 4.0, slow);
    FUZZ_CHECK(left >= 0, "sweep_begin %lld", (long long)left);
    while (left > 0) {
        int64_t more = eng_sweep_step(s->engine, io);
        FUZZ_CHECK(more >= 0 && more <= left, "sweep_step %lld of %lld", (long long)more,
                   (long long)left);
        check_events(io);
        left = more;
    }
    FUZZ_CHECK(eng_check(s->engine) == 0, "eng_check after a sweep: %d", eng_check(s->engine));
}

/* ---- frames ----------------------------------------------------------------------------- */

typedef struct {
    uint16_t vport;
    uint16_t gen;           /* a client's SYN opens a new connection: the next source port */
    uint32_t seq[2];        /* the next sequence number from the client [0], the server [1] */
} conn_t;

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

/* A segment of connection c (client i: 198.51.100.i or 2001:db8::10:i, port 1024 + i + 8 *
 * the SYNs it sent before this one). */
static size_t segment(uint8_t *p, int i, conn_t *c, int back, uint8_t flags, uint8_t shift,
                      const uint8_t *payload, size_t plen)
{
    int v6 = i >= 6, udp = c->vport == 53;
    uint8_t cip[16] = {198, 51, 100, (uint8_t)i};
    if (v6) {
        static const uint8_t base[16] = {0x20, 0x01, 0x0d, 0xb8, [13] = 0x10};
        memcpy(cip, base, 16);
        cip[15] = (uint8_t)i;
    }
    const uint8_t *vip = v6 ? VIP6 : VIP4, *src = back ? vip : cip, *dst = back ? cip : vip;
    if (!back && (flags & 0x12) == 0x02)
        c->gen++;
    uint16_t cport = (uint16_t)(1024 + i + 8 * c->gen);
    if (c->vport == 20)     /* active FTP data: the server's port 20 to a client port */
        cport = (uint16_t)(40000 + i % 4);
    uint32_t seq = c->seq[back] + (shift < 0xC0 ? 0 : (uint32_t)(int32_t)(shift - 0xE0));
    if (shift < 0xC0)
        c->seq[back] += (uint32_t)plen + ((flags & 0x03) != 0);    /* SYN and FIN count */
    size_t pos = 14, l4 = udp ? 8 : 20;
    memset(p, 0x02, 12);
    put16(p + 12, v6 ? 0x86dd : 0x0800);
    if (v6) {
        memset(p + pos, 0, 40);
        p[pos] = 0x60;
        put16(p + pos + 4, (uint32_t)(l4 + plen));
        p[pos + 6] = udp ? 17 : 6;
        p[pos + 7] = 64;
        memcpy(p + pos + 8, src, 16);
        memcpy(p + pos + 24, dst, 16);
        pos += 40;
    } else {
        memset(p + pos, 0, 20);
        p[pos] = 0x45;
        put16(p + pos + 2, (uint32_t)(20 + l4 + plen));
        p[pos + 8] = 64;
        p[pos + 9] = udp ? 17 : 6;
        memcpy(p + pos + 12, src, 4);
        memcpy(p + pos + 16, dst, 4);
        pos += 20;
    }
    put16(p + pos, back ? c->vport : cport);
    put16(p + pos + 2, back ? cport : c->vport);
    if (udp) {
        put16(p + pos + 4, (uint32_t)(8 + plen));
        put16(p + pos + 6, 0);
    } else {
        memset(p + pos + 4, 0, 16);
        put32(p + pos + 4, seq);
        put32(p + pos + 8, c->seq[!back]);
        p[pos + 12] = 0x50;
        p[pos + 13] = flags;
    }
    pos += l4;
    memcpy(p + pos, payload, plen);
    return pos + plen;
}

typedef struct {
    uint8_t *buf;           /* frames back to back, FRAME_ROOM bytes each at most */
    uint64_t off[BATCH_MAX];
    uint32_t cap[BATCH_MAX];
    double ts[BATCH_MAX];
    uint32_t n;
    size_t len;
} pending_t;

enum { FRAME_ROOM = 14 + 40 + 20 + 255 };

static void run_batch(sw_t *s, pending_t *pb, struct eng_io *io)
{
    if (pb->n == 0)
        return;
    uint32_t n = pb->n;
    uint8_t *buf = fz_copy(pb->buf, pb->len);      /* exactly the frames */
    uint8_t *verdict = malloc(n), *why = malloc(n);
    uint16_t *real = malloc(n * sizeof *real);
    struct eng_batch b = {.buf = buf, .buflen = pb->len, .off = pb->off, .caplen = pb->cap,
                          .ts = pb->ts, .n = n, .link = FR_LINK_ETHERNET, .ingress = 1,
                          .verdict = verdict, .why = why, .real = real};
    uint32_t i = 0;
    while (i < n) {
        int stop = -1;
        int64_t at = eng_run(s->engine, &b, i, n, io, &stop);
        FUZZ_CHECK(at >= i && at <= n, "eng_run from %u returned %lld", i, (long long)at);
        for (int64_t k = i; k < at; k++)
            FUZZ_CHECK(verdict[k] >= FLOW_TO_REAL && verdict[k] <= FLOW_RESET &&
                           (real[k] == FLOW_NO_REAL || (real[k] >= 1 && real[k] <= NREALS)),
                       "frame %lld: verdict %u real %u", (long long)k, verdict[k], real[k]);
        check_events(io);
        FUZZ_CHECK(stop == ENG_DONE || stop == ENG_EXCEPTION || stop == ENG_FLUSH, "stop %d", stop);
        FUZZ_SEEN(stop == ENG_DONE ? 0 : stop == ENG_EXCEPTION ? 1 : 2);
        if (stop == ENG_EXCEPTION) {
            FUZZ_CHECK(at < n, "an exception past the batch");
            slow_path(s, buf + pb->off[at], pb->cap[at], (uint32_t)at);
            at++;
        } else if (stop == ENG_DONE) {
            FUZZ_CHECK(at == n, "done at %lld of %u", (long long)at, n);
        }
        i = (uint32_t)at;
        FUZZ_CHECK(eng_check(s->engine) == 0, "eng_check %d", eng_check(s->engine));
        FUZZ_CHECK(flow_check(s->table) == 0, "flow_check %d", flow_check(s->table));
    }
    free(buf);
    free(verdict);
    free(why);
    free(real);
    pb->n = 0;
    pb->len = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size, 0};
    uint8_t opt = fz_u8(&in);
    sw_t *s = calloc(1, sizeof *s);
    build(s, opt);
    conn_t conns[NCONN];
    for (int i = 0; i < NCONN; i++) {
        uint8_t b = fz_u8(&in);
        conns[i].vport = b % 16 < NPORTS ? PORTS[b % 16].port : b % 16 == 15 ? 9999
                                                                            : (uint16_t)40000;
        conns[i].seq[0] = 1000u * (uint32_t)(i + 1);
        conns[i].seq[1] = 0x80000000u + 7u * (uint32_t)i;
    }
    struct eng_io io = {.events = malloc(EVENTS * sizeof *io.events), .arena = malloc(ARENA),
                        .events_cap = EVENTS, .arena_cap = ARENA, .want_events = !(opt & 32)};
    pending_t pb = {.buf = malloc((size_t)BATCH_MAX * FRAME_ROOM)};
    {   /* an io too small for one frame's events is refused, never looped on (a finding) */
        struct eng_io small = io;
        small.arena_cap = 2 * ENG_KEY_MAX - 1;
        small.events_cap = opt & 64 ? EVENTS : EVENTS - 1;
        small.want_events = 1;
        struct eng_batch none = {.link = FR_LINK_ETHERNET};
        int stop;
        FUZZ_CHECK(eng_run(s->engine, &none, 0, 0, &small, &stop) == ENG_EINVAL &&
                       eng_sweep_step(s->engine, &small) == ENG_EINVAL, "a small io accepted");
    }
    for (int frames = 0; fz_left(&in) && frames < FRAMES_MAX; frames++) {
        uint8_t rec = fz_u8(&in);
        int i = rec & 7, back = (rec >> 3) & 1, what = rec >> 5;
        conn_t *c = &conns[i];
        if (what <= 4) {    /* a TCP segment (a datagram on port 53) */
            uint8_t flags = fz_u8(&in), shift = fz_u8(&in);
            size_t plen = fz_u8(&in);
            const uint8_t *payload = fz_bytes(&in, &plen);
            pb.cap[pb.n] = (uint32_t)segment(pb.buf + pb.len, i, c, back, flags, shift, payload,
                                             plen);
        } else if (what == 5) {     /* bytes that may be anything */
            size_t len = fz_u8(&in);
            if (len > FRAME_ROOM)
                len = FRAME_ROOM;
            const uint8_t *bytes = fz_bytes(&in, &len);     /* len: what the input had */
            memcpy(pb.buf + pb.len, bytes, len);
            pb.cap[pb.n] = (uint32_t)len;
        } else if (what == 6) {     /* time passes, the sessions age */
            run_batch(s, &pb, &io);
            s->now += fz_u8(&in);
            sweep(s, &io, back);
            release_held(s);
            continue;
        } else {                    /* a real goes down or comes back */
            s->up[i % NREALS] ^= 1;
            continue;
        }
        pb.off[pb.n] = pb.len;
        pb.len += pb.cap[pb.n];
        s->now += (rec & 16) ? 0.25 : 0.001;
        pb.ts[pb.n++] = s->now;
        if ((rec & 16) || pb.n == BATCH_MAX)
            run_batch(s, &pb, &io);
    }
    run_batch(s, &pb, &io);
    release_held(s);
    s->now += 1e6;          /* the end: every session ages out */
    sweep(s, &io, 1);
    FUZZ_CHECK(eng_count(s->engine) == 0, "%llu sessions outlive their timeout",
               (unsigned long long)eng_count(s->engine));
    struct eng_counts counts;
    eng_take_counts(s->engine, &counts);
    if (counts.requests_too_long)
        FUZZ_SEEN(10);
    if (counts.unparsed)
        FUZZ_SEEN(11);
    if (counts.client_resets)
        FUZZ_SEEN(12);
    if (counts.ftp_expectations)
        FUZZ_SEEN(13);
    if (counts.persist_alloc_failures)
        FUZZ_SEEN(14);
    teardown(s);
    free(s);
    free(io.events);
    free(io.arena);
    free(pb.buf);
    return 0;
}
