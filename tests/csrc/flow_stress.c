/*
 * flow_stress.c - the flow cache and its batch loop on random, truncated, mutated and random-byte
 * frames, for the AddressSanitizer and UndefinedBehaviorSanitizer build
 * (tests/engine/test_fastpath_sanitizers.py).  Every array handed to the API is allocated to
 * exactly the size promised, and each batch's buffer ends where its last frame ends (often a
 * batch of one frame), so a read one byte past a frame is reported.  A model kept here (a
 * plain array of flows, and the inline decoder) predicts every verdict, exception and
 * counter; flow_check() is verified after every step.
 *
 * usage: flow_stress rounds seed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode_inl.h"
#include "flow.h"
#include "keyhash.h"

#define STRESS_NAME "flow_stress"
#include "stress.h"

/* ---- addresses and connections ---------------------------------------------------------- */

typedef struct {
    uint8_t family;
    uint8_t addr[16];
} addr_t;

enum { NVIP = 5, NCLIENT = 4, MAXFLOWS = 64, MAXBATCH = 80, FRAME_MAX = 1600 };

static addr_t vips[NVIP], clients[NCLIENT];    /* vips[0..2] may be VIPs; [3], [4] never */

static void addr_init(addr_t *a, uint8_t family, uint8_t last)
{
    memset(a, 0, sizeof *a);
    a->family = family;
    if (family == 4) {
        a->addr[0] = 192;
        a->addr[3] = last;
    } else {
        a->addr[0] = 0x20;
        a->addr[1] = 0x01;
        a->addr[15] = last;
    }
}

static void draw_key(struct flow_key *k)
{
    const addr_t *v = &vips[rnd() % NVIP];
    const addr_t *c;
    do
        c = &clients[rnd() % NCLIENT];
    while (c->family != v->family);
    memset(k, 0, sizeof *k);
    k->proto = rnd() % 3 ? 6 : 17;
    k->family = v->family;
    k->cport = (uint16_t)(1000 + rnd() % 2);
    k->vport = rnd() % 2 ? 80 : 443;
    memcpy(k->cip, c->addr, 16);
    memcpy(k->vip, v->addr, 16);
}

/* ---- the model ---------------------------------------------------------------------------- */

typedef struct {
    struct flow_key key;
    uint16_t real;
    uint8_t flags;
    int held;
    double last;
    uint64_t packets[2], octets[2], untaken;
} mflow;

static mflow model[MAXFLOWS];
static int nmodel;
static int vip_on[NVIP];

static mflow *model_find(const struct flow_key *k)
{
    for (int i = 0; i < nmodel; i++)
        if (memcmp(&model[i].key, k, sizeof *k) == 0)
            return &model[i];
    return NULL;
}

static int model_vip(uint8_t family, const uint8_t *addr)
{
    for (int i = 0; i < NVIP; i++)
        if (vip_on[i] && vips[i].family == family && memcmp(vips[i].addr, addr, 16) == 0)
            return 1;
    return 0;
}

/* ---- frames ------------------------------------------------------------------------------- */

static void be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* A well-formed frame of the connection (either direction), or a variant of one. */
static size_t make_frame(uint8_t *p, int link)
{
    struct flow_key k;
    draw_key(&k);
    int back = rnd() % 2, v6 = k.family == 6, tcp = k.proto == 6;
    size_t pos = 0, plen = rnd() % 4 ? rnd() % 40 : rnd() % 1400;
    size_t l4 = tcp ? 20 : 8;
    if (link == FR_LINK_ETHERNET) {
        memset(p, 0x02, 12);
        pos = 12;
        if (rnd() % 4 == 0) {
            be16(p + pos, 0x8100);
            be16(p + pos + 2, (uint32_t)(rnd() % 4096));
            pos += 4;
        }
        be16(p + pos, v6 ? 0x86dd : 0x0800);
        pos += 2;
    }
    const uint8_t *src = back ? k.vip : k.cip, *dst = back ? k.cip : k.vip;
    uint16_t sport = back ? k.vport : k.cport, dport = back ? k.cport : k.vport;
    if (v6) {
        memset(p + pos, 0, 40);
        p[pos] = 0x60;
        be16(p + pos + 4, (uint32_t)(l4 + plen));
        p[pos + 6] = k.proto;
        p[pos + 7] = 64;
        memcpy(p + pos + 8, src, 16);
        memcpy(p + pos + 24, dst, 16);
        pos += 40;
    } else {
        memset(p + pos, 0, 20);
        p[pos] = 0x45;
        be16(p + pos + 2, (uint32_t)(20 + l4 + plen));
        if (rnd() % 16 == 0)
            p[pos + 6] = 0x20;      /* MF: a fragment */
        p[pos + 8] = 64;
        p[pos + 9] = k.proto;
        memcpy(p + pos + 12, src, 4);
        memcpy(p + pos + 16, dst, 4);
        pos += 20;
    }
    be16(p + pos, sport);
    be16(p + pos + 2, dport);
    if (tcp) {
        memset(p + pos + 4, 0, 16);
        p[pos + 12] = 0x50;
        static const uint8_t flags[] = {0x10, 0x18, 0x10, 0x18, 0x10, 0x18, 0x10, 0x18,
                                        0x02, 0x12, 0x11, 0x04, 0x14};
        p[pos + 13] = flags[rnd() % sizeof flags];
    } else {
        be16(p + pos + 4, (uint32_t)(8 + plen));
        be16(p + pos + 6, 0);
    }
    pos += l4;
    for (size_t i = 0; i < plen; i++)
        p[pos + i] = (uint8_t)rnd();
    pos += plen;
    switch (rnd() % 10) {
    case 0:         /* cut anywhere */
        return rnd() % (pos + 1);
    case 1:         /* a few bytes changed, mostly in the headers */
        for (int n = 1 + (int)(rnd() % 4); n; n--)
            p[rnd() % (pos < 80 ? pos : 80)] = (uint8_t)rnd();
        return pos;
    case 2:         /* random bytes */
        pos = rnd() % 120;
        for (size_t i = 0; i < pos; i++)
            p[i] = (uint8_t)rnd();
        return pos;
    default:
        return pos;
    }
}

/* ---- one batch against the model ----------------------------------------------------------- */

static void expect(const uint8_t *f, size_t n, int link, double ts, uint32_t i,
                   struct flow_out *want, uint32_t *exc, uint32_t *nexc)
{
    struct fr_pkt pk;
    fr_decode1(f, n, link, &pk);
    *want = (struct flow_out){FLOW_PASS, pk.reason, FLOW_NO_REAL};
    if (pk.reason != FR_OK)
        return;
    struct flow_key k;
    int dir;
    memset(&k, 0, sizeof k);
    k.proto = pk.proto;
    k.family = pk.family;
    if (model_vip(pk.family, pk.dst)) {
        dir = 0;
        k.cport = pk.sport;
        k.vport = pk.dport;
        memcpy(k.cip, pk.src, 16);
        memcpy(k.vip, pk.dst, 16);
    } else if (model_vip(pk.family, pk.src)) {
        dir = 1;
        k.cport = pk.dport;
        k.vport = pk.sport;
        memcpy(k.cip, pk.dst, 16);
        memcpy(k.vip, pk.src, 16);
    } else {
        want->why = FLOW_WHY_NOT_VIP;
        return;
    }
    mflow *m = model_find(&k);
    if (m && !m->held && !(pk.proto == 6 && (pk.flags & 7))) {
        *want = (struct flow_out){dir ? FLOW_TO_CLIENT : FLOW_TO_REAL, 0, m->real};
        m->last = ts;
        m->packets[dir]++;
        m->octets[dir] += pk.payload_len;
        m->untaken += pk.payload_len;
        return;
    }
    if (m)
        m->held = 1;
    *want = (struct flow_out){FLOW_EXCEPTION, 0, FLOW_NO_REAL};
    exc[(*nexc)++] = i;
}

static void batch(flow_table *t)
{
    uint32_t n = rnd() % 4 == 0 ? 1 : (uint32_t)(rnd() % MAXBATCH);
    static const int links[] = {FR_LINK_ETHERNET, FR_LINK_ETHERNET, FR_LINK_ETHERNET,
                                FR_LINK_ETHERNET, FR_LINK_ETHERNET, FR_LINK_ETHERNET,
                                FR_LINK_RAW, FR_LINK_RAW, FR_LINK_IPV4, 7};
    int link = links[rnd() % (sizeof links / sizeof links[0])];
    int gen_link = link == FR_LINK_ETHERNET ? FR_LINK_ETHERNET : FR_LINK_RAW;
    uint8_t *tmp = malloc((size_t)(n ? n : 1) * FRAME_MAX);
    uint64_t *off = malloc((n ? n : 1) * sizeof *off);
    uint32_t *cap = malloc((n ? n : 1) * sizeof *cap);
    double *ts = malloc((n ? n : 1) * sizeof *ts);
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        cap[i] = (uint32_t)make_frame(tmp + total, gen_link);
        off[i] = total;
        total += cap[i];
        ts[i] = (double)(rnd() % 100000) / 8.0;
    }
    uint8_t *buf = malloc(total ? total : 1);    /* exactly the frames: the last ends the buffer */
    memcpy(buf, tmp, total);
    size_t m = n ? n : 1;
    struct flow_out *out = malloc(m * sizeof *out), *want = malloc(m * sizeof *want);
    uint32_t *exc = malloc(m * sizeof *exc), *wexc = malloc(m * sizeof *wexc);
    uint32_t nexc = 12345, nwant = 0;

    if (n && rnd() % 8 == 0) {      /* a frame past the buffer: refused before anything moves */
        uint32_t bad = (uint32_t)(rnd() % n), keep = cap[bad];
        cap[bad] = (uint32_t)(total - off[bad] + 1);
        struct flow_stats before, after;
        flow_get_stats(t, &before);
        CHECK(flow_run(t, buf, total, off, cap, ts, n, link, out, exc, &nexc) == FLOW_ERANGE,
              "frame past the buffer accepted");
        flow_get_stats(t, &after);
        CHECK(after.generation == before.generation && after.fast == before.fast,
              "a refused batch changed the cache");
        cap[bad] = keep;
    }
    for (int i = 0; i < nmodel; i++)
        model[i].held = 0;
    for (uint32_t i = 0; i < n; i++)
        expect(buf + off[i], cap[i], link, ts[i], i, &want[i], wexc, &nwant);
    CHECK(flow_run(t, buf, total, off, cap, ts, n, link, out, exc, &nexc) == FLOW_OK, "run");
    CHECK(nexc == nwant, "%u exceptions, the model says %u", nexc, nwant);
    for (uint32_t i = 0; i < n; i++)
        CHECK(out[i].verdict == want[i].verdict && out[i].why == want[i].why &&
                  out[i].real == want[i].real,
              "frame %u: (%u, %u, %u), the model says (%u, %u, %u)", i, out[i].verdict,
              out[i].why, out[i].real, want[i].verdict, want[i].why, want[i].real);
    for (uint32_t i = 0; i < nexc; i++)
        CHECK(exc[i] == wexc[i], "exception %u is frame %u, the model says %u", i, exc[i], wexc[i]);
    free(tmp);
    free(off);
    free(cap);
    free(ts);
    free(buf);
    free(out);
    free(want);
    free(exc);
    free(wexc);
}

/* ---- the slow path's calls against the model ----------------------------------------------- */

static void compare_all(flow_table *t)
{
    uint32_t n = (uint32_t)nmodel;
    struct flow_key *keys = calloc(n ? n : 1, sizeof *keys);
    struct flow_state *st = malloc((n ? n : 1) * sizeof *st);
    uint8_t *found = malloc(n ? n : 1);
    for (uint32_t i = 0; i < n; i++)
        keys[i] = model[i].key;
    CHECK(flow_get_many(t, keys, n, st, found) == (int64_t)n, "get_many lost flows");
    for (uint32_t i = 0; i < n; i++) {
        const mflow *m = &model[i];
        CHECK(found[i] && st[i].real == m->real && st[i].flags == m->flags &&
                  st[i].last == m->last && st[i].packets[0] == m->packets[0] &&
                  st[i].packets[1] == m->packets[1] && st[i].octets[0] == m->octets[0] &&
                  st[i].octets[1] == m->octets[1] && st[i].untaken == m->untaken,
              "flow %u differs from the model", i);
    }
    /* iteration in chunks of exactly sized buffers sees each flow once */
    uint64_t cursor = 0;
    uint32_t max = 1 + (uint32_t)(rnd() % 5), seen = 0;
    struct flow_entry *chunk = malloc(max * sizeof *chunk);
    int64_t got;
    while ((got = flow_iter(t, &cursor, chunk, max, 0)) > 0) {
        for (int64_t j = 0; j < got; j++)
            CHECK(model_find(&chunk[j].key) != NULL, "iter: a flow the model lacks");
        seen += (uint32_t)got;
    }
    CHECK(got == 0 && seen == n, "iter saw %u flows of %u", seen, n);
    free(chunk);
    free(keys);
    free(st);
    free(found);
}

static void step(flow_table *t, uint64_t capacity)
{
    struct flow_key k;
    draw_key(&k);
    mflow *m = model_find(&k);
    switch (rnd() % 8) {
    case 0:
    case 1:
    case 2: {
        uint16_t real = (uint16_t)(rnd() % 65535);
        uint8_t flags = (uint8_t)rnd();
        double last = (double)(rnd() % 1000);
        int rc = flow_put(t, &k, real, flags, last);
        if (m == NULL && (uint64_t)nmodel == capacity) {
            CHECK(rc == FLOW_EFULL, "put into a full cache: %d", rc);
            break;
        }
        CHECK(rc == (m ? FLOW_UPDATED : FLOW_CREATED), "put: %d", rc);
        if (m == NULL) {
            m = &model[nmodel++];
            memset(m, 0, sizeof *m);
            m->key = k;
        }
        m->real = real;
        m->flags = flags;
        m->last = last;
        break;
    }
    case 3:
        CHECK(flow_delete(t, &k) == (m != NULL), "delete");
        if (m)
            *m = model[--nmodel];
        break;
    case 4: {
        uint64_t *oct = malloc(sizeof *oct);
        CHECK(flow_take_many(t, &k, 1, oct) == (m != NULL), "take");
        CHECK(*oct == (m ? m->untaken : 0), "take: %llu octets", (unsigned long long)*oct);
        if (m)
            m->untaken = 0;
        free(oct);
        break;
    }
    case 5: {       /* a new VIP set */
        uint8_t *addrs = malloc(NVIP * 16), *fams = malloc(NVIP);
        uint32_t n = 0;
        for (int i = 0; i < NVIP; i++) {
            vip_on[i] = i < 3 && rnd() % 3 != 0;
            if (vip_on[i]) {
                memcpy(addrs + 16 * n, vips[i].addr, 16);
                fams[n++] = vips[i].family;
            }
        }
        CHECK(flow_set_vips(t, addrs, fams, n) == FLOW_OK, "set_vips");
        free(addrs);
        free(fams);
        break;
    }
    default:
        batch(t);
    }
    CHECK(flow_check(t) == 0, "flow_check %d", flow_check(t));
}

static void bad_arguments(flow_table *t)
{
    flow_table *none;
    struct flow_key k;
    draw_key(&k);
    CHECK(flow_new(3, 1, 2, 0, &none) == FLOW_EINVAL && none == NULL, "capacity 3 accepted");
    CHECK(flow_new((uint64_t)FLOW_CAPACITY_MAX * 2, 1, 2, 0, &none) == FLOW_EINVAL, "capacity");
    CHECK(flow_new(8, 1, 2, 9, &none) == FLOW_EINVAL, "hash 9 accepted");
    CHECK(flow_put(t, &k, FLOW_NO_REAL, 0, 0) == FLOW_EINVAL, "NO_REAL accepted");
    k.zero = 1;
    CHECK(flow_put(t, &k, 1, 0, 0) == FLOW_EINVAL, "a non-canonical key accepted");
    k.zero = 0;
    k.family = 5;
    CHECK(flow_put(t, &k, 1, 0, 0) == FLOW_EINVAL, "family 5 accepted");
    uint8_t addr[16] = {1, 2, 3, 4, 5}, fam = 4;
    CHECK(flow_set_vips(t, addr, &fam, 1) == FLOW_EINVAL, "an IPv4 VIP with a tail accepted");
    fam = 7;
    CHECK(flow_set_vips(t, addr, &fam, 1) == FLOW_EINVAL, "VIP family 7 accepted");
    uint32_t nexc;
    CHECK(flow_run(t, NULL, 0, NULL, NULL, NULL, 0, FR_LINK_ETHERNET, NULL, NULL, &nexc) ==
              FLOW_OK && nexc == 0, "an empty batch");
    CHECK(flow_run(t, NULL, 0, NULL, NULL, NULL, 1, FR_LINK_ETHERNET, NULL, NULL, &nexc) ==
              FLOW_EINVAL, "NULL arrays accepted");
    CHECK(flow_get_many(t, NULL, 1, NULL, NULL) == FLOW_EINVAL, "get_many NULL");
    CHECK(flow_take_many(t, NULL, 1, NULL) == FLOW_EINVAL, "take_many NULL");
    CHECK(flow_iter(t, NULL, NULL, 0, 0) == FLOW_EINVAL, "iter NULL");
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9E3779B97F4A7C15ULL;
    if (rng_state == 0)
        rng_state = 1;
    for (int i = 0; i < NVIP; i++)
        addr_init(&vips[i], i == 2 || i == 4 ? 6 : 4, (uint8_t)(100 + i));
    for (int i = 0; i < NCLIENT; i++)
        addr_init(&clients[i], i % 2 ? 6 : 4, (uint8_t)(10 + i));
    for (int r = 0; r < rounds; r++) {
        uint64_t capacity = (uint64_t)1 << (rnd() % 7);     /* 1 .. 64 */
        uint32_t hash = kh_aes_available() ? (uint32_t)(rnd() % 3) : (uint32_t)(rnd() % 2);
        flow_table *t;
        CHECK(flow_new(capacity, rnd(), rnd(), hash, &t) == FLOW_OK, "flow_new");
        nmodel = 0;
        memset(vip_on, 0, sizeof vip_on);
        bad_arguments(t);
        for (int s = 0; s < 60; s++)
            step(t, capacity);
        compare_all(t);
        if (rnd() % 4 == 0) {
            flow_clear(t);
            nmodel = 0;
            CHECK(flow_check(t) == 0, "flow_check after clear");
            batch(t);
            compare_all(t);
        }
        flow_free(t);
    }
    printf("flow_stress: ok\n");
    return 0;
}
