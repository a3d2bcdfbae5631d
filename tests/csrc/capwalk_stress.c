/*
 * capwalk_stress.c - the pcap and pcapng walks on random, mutated, spliced and truncated
 * captures, for the AddressSanitizer and UndefinedBehaviorSanitizer build
 * (tests/io/test_capwalk_sanitizers.py).  Every buffer handed to a walk is a heap copy of
 * exactly the bytes it is told of, and every column array has exactly the room promised, so a
 * read or write one byte past either is reported.
 *
 * Each capture is walked twice: whole, with eof and roomy columns, and as a stream would be,
 * in windows that grow from random cuts, with columns of 1 to 8 frames.  Both walks must
 * report the same frames, the same stop and the same counters; every frame must lie inside
 * the bytes walked and after the previous one.  The interface and section blocks the walk
 * hands back are read here as simply as the walk needs (not as weboslb reads them).
 *
 * usage: capwalk_stress rounds seed
 */
#include <math.h>     /* isnan, NAN: macros, no libm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capwalk.h"

#define STRESS_NAME "capwalk_stress"
#include "stress.h"

enum { CAP_MAX = 1 << 14, FRAMES_MAX = 4096, IFACES_MAX = 64 };

/* ---- building captures ----------------------------------------------------------------- */

typedef struct {
    uint8_t b[CAP_MAX];
    size_t len;
    int be;             /* the byte order the next field is written in */
} builder;

static void put(builder *o, const void *p, size_t n)
{
    if (o->len + n > CAP_MAX)
        n = CAP_MAX - o->len;
    memcpy(o->b + o->len, p, n);
    o->len += n;
}

static void put32(builder *o, uint32_t v)
{
    uint8_t p[4];
    for (int i = 0; i < 4; i++)
        p[o->be ? i : 3 - i] = (uint8_t)(v >> (24 - 8 * i));
    put(o, p, 4);
}

static void put16(builder *o, uint32_t v)
{
    uint8_t p[2] = {(uint8_t)(o->be ? v >> 8 : v), (uint8_t)(o->be ? v : v >> 8)};
    put(o, p, 2);
}

static void put_random(builder *o, size_t n)
{
    for (size_t i = 0; i < n && o->len < CAP_MAX; i++)
        o->b[o->len++] = (uint8_t)rnd();
}

/* a length drawn mostly small, sometimes at the edges */
static uint32_t draw_len(void)
{
    switch (rnd() % 8) {
    case 0:
        return 0;
    case 1:
        return (uint32_t)rnd();
    case 2:
        return CW_MAX_RECORD + (uint32_t)(rnd() % 3) - 1;
    default:
        return (uint32_t)(rnd() % 90);
    }
}

static void pcap_capture(builder *o, struct cw_pcap *w)
{
    o->be = rnd() % 2;
    w->big_endian = (uint8_t)o->be;
    w->scale = rnd() % 2 ? 1e-6 : 1e-9;
    uint32_t snaplens[] = {0, 65535, CW_MAX_RECORD, 16, 64};
    uint32_t snaplen = snaplens[rnd() % 16 ? rnd() % 3 : 3 + rnd() % 2];
    w->max_caplen = snaplen ? snaplen : CW_MAX_RECORD;
    for (int i = 0, n = (int)(rnd() % 40); i < n; i++) {
        uint32_t size = (uint32_t)(rnd() % 80), caplen = rnd() % 64 ? size : draw_len();
        put32(o, (uint32_t)rnd());
        put32(o, (uint32_t)rnd());
        put32(o, caplen);
        put32(o, rnd() % 4 ? size : (uint32_t)rnd());
        put_random(o, size);
    }
}

/* one block: type, length, body, padding, trailing length (sometimes a wrong one) */
static void put_block(builder *o, uint32_t type, const builder *body)
{
    size_t padded = (body->len + 3) & ~(size_t)3;
    uint32_t len = (uint32_t)(12 + padded);
    if (rnd() % 128 == 0)
        len = draw_len();
    put32(o, type);
    put32(o, len);
    put(o, body->b, body->len);
    put_random(o, padded - body->len);
    put32(o, rnd() % 128 ? len : (uint32_t)rnd());
}

/* an interface of the section, or now and then one past them */
static uint32_t draw_ifid(uint32_t nifaces)
{
    return nifaces && rnd() % 64 ? (uint32_t)(rnd() % nifaces) : nifaces;
}

static void pcapng_block(builder *o, uint32_t *nifaces, int kind)
{
    static builder body;
    body.len = 0;
    body.be = o->be;
    uint32_t size = (uint32_t)(rnd() % 70), type = 6;
    switch (kind) {
    case 0:     /* SHB: a new section, maybe in the other byte order */
        o->be = body.be = rnd() % 4 ? o->be : !o->be;
        put32(&body, 0x1A2B3C4D);
        put16(&body, rnd() % 8 ? 1 : 2);
        put16(&body, 0);
        put32(&body, 0xFFFFFFFF);
        put32(&body, 0xFFFFFFFF);
        put_block(o, CW_SHB, &body);
        *nifaces = 0;
        return;
    case 1:     /* IDB */
        put16(&body, (uint32_t)(rnd() % 300));
        put16(&body, 0);
        put32(&body, rnd() % 2 ? 0 : (uint32_t)(rnd() % 100));
        put_random(&body, rnd() % 12);
        put_block(o, CW_IDB, &body);
        ++*nifaces;
        return;
    case 2:     /* OPB */
        put16(&body, draw_ifid(*nifaces));
        put16(&body, 0);
        type = 2;
        break;
    case 3: {   /* SPB */
        put32(&body, rnd() % 4 ? size : draw_len());
        put_random(&body, size);
        put_block(o, 3, &body);
        return;
    }
    case 4: {   /* a block without frames, known or not */
        uint32_t types[] = {4, 5, 9, 10, 0xBAD, 0x40000BAD, 7, (uint32_t)rnd()};
        put_random(&body, size);
        put_block(o, types[rnd() % 8], &body);
        return;
    }
    case 5:     /* garbage, now and then */
        if (rnd() % 8 == 0)
            put_random(o, rnd() % 16);
        return;
    case 6: {   /* a block too short for its type, now and then */
        uint32_t types[] = {CW_SHB, CW_IDB, 6, 3, 2};
        type = types[rnd() % 5];
        if (rnd() % 4)
            return;
        if (type == CW_SHB)
            put32(&body, 0x1A2B3C4D);
        put_random(&body, rnd() % (type == CW_SHB ? 12 : 20));
        put_block(o, type, &body);
        *nifaces = type == CW_SHB ? 0 : *nifaces;
        return;
    }
    default:    /* EPB */
        put32(&body, draw_ifid(*nifaces));
        break;
    }
    put32(&body, (uint32_t)rnd());
    put32(&body, (uint32_t)rnd());
    put32(&body, rnd() % 32 ? size : draw_len());
    put32(&body, (uint32_t)rnd());
    put_random(&body, size);
    put_block(o, type, &body);
}

static void pcapng_capture(builder *o)
{
    uint32_t nifaces = 0;
    o->be = 0;  /* the walk's byte order until a section says otherwise */
    if (rnd() % 16)
        pcapng_block(o, &nifaces, 0);   /* a section */
    for (int i = 0, n = rnd() % 16 ? 1 + (int)(rnd() % 2) : 0; i < n; i++)
        pcapng_block(o, &nifaces, 1);   /* and interfaces, as files start */
    for (int i = 0, n = (int)(rnd() % 30); i < n; i++)
        pcapng_block(o, &nifaces, (int)(rnd() % 24));
}

/* overwrite, insert or cut a few bytes */
static void mutate(builder *o)
{
    for (int i = 0, n = (int)(rnd() % 4 ? 0 : rnd() % 4); i < n && o->len; i++) {
        size_t at = rnd() % o->len, k = 1 + rnd() % 4;
        if (rnd() % 2) {
            for (size_t j = at; j < at + k && j < o->len; j++)
                o->b[j] = (uint8_t)rnd();
        } else if (o->len + k <= CAP_MAX) {
            memmove(o->b + at + k, o->b + at, o->len - at);
            for (size_t j = at; j < at + k; j++)
                o->b[j] = (uint8_t)rnd();
            o->len += k;
        }
    }
    if (rnd() % 8 == 0 && o->len)
        o->len = rnd() % o->len;
}

/* ---- walking ----------------------------------------------------------------------------- */

static volatile unsigned sink;
/* stops by status, and the caller's refusals of a block (CW_BAD_NO_INTERFACE + 1) */
static uint64_t stops[CW_BAD_NO_INTERFACE + 2], frames_seen;

typedef struct {
    uint64_t start, offset, time_bits;
    uint32_t length, wire;
    uint16_t link;
} frame;

typedef struct {
    frame f[FRAMES_MAX];
    int n;
    int status;             /* the stop: a CW_BAD_* status, or CW_END at the end */
    uint64_t pos, skipped, value;
} outcome;

/* the walker's state and what the driver keeps beside it */
typedef struct {
    int ng;
    struct cw_pcap pcap;
    struct cw_pcapng png;
    struct cw_iface *ifaces;    /* exactly nifaces of them */
} walker;

static int walk_once(walker *w, const uint8_t *buf, size_t end, int eof, struct cw_cols *c)
{
    return w->ng ? cw_pcapng_walk(&w->png, buf, end, eof, c)
                 : cw_pcap_walk(&w->pcap, buf, end, eof, c);
}

static uint64_t *pos_of(walker *w)
{
    return w->ng ? &w->png.pos : &w->pcap.pos;
}

/* The caller's part of CW_BLOCK: 1 to walk on, 0 for a refused block (the stop). */
static int take_block(walker *w, const uint8_t *buf)
{
    struct cw_pcapng *s = &w->png;
    const uint8_t *p = buf + s->pos;
    if (s->btype == CW_SHB) {
        if (s->blen < 28)
            return 0;
        free(w->ifaces);
        w->ifaces = NULL;
        s->ifaces = NULL;
        s->nifaces = 0;
        return 1;
    }
    CHECK(s->btype == CW_IDB, "CW_BLOCK for block type %u", s->btype);
    if (s->blen < 20 || s->nifaces == IFACES_MAX)
        return 0;
    struct cw_iface f = {0};
    f.link = (uint16_t)(s->big_endian ? p[8] << 8 | p[9] : p[9] << 8 | p[8]);
    f.snaplen = p[12] | (uint32_t)p[13] << 8;    /* any deterministic choice will do */
    uint8_t pick = p[s->blen - 5];
    f.kind = (uint8_t)(pick % 3);
    f.units = 1;
    for (int i = 0; i < pick % 20; i++)
        f.units *= 10;
    f.shift = (uint8_t)(pick % 128);
    f.offset = (int64_t)(pick % 7) - 3;
    uint32_t n = s->nifaces + 1;
    struct cw_iface *more = malloc(n * sizeof *more);   /* exactly n: an overread shows */
    CHECK(more != NULL, "out of memory");
    if (w->ifaces)
        memcpy(more, w->ifaces, (n - 1) * sizeof *more);
    more[n - 1] = f;
    free(w->ifaces);
    w->ifaces = more;
    s->ifaces = more;
    s->nifaces = n;
    return 1;
}

/* Walks buf[0 .. end) from *pos with columns of cap frames, appending to out; returns 1 to
 * go on (the walk ran out of bytes short of eof), 0 once it has stopped for good. */
static int walk_window(walker *w, const uint8_t *data, size_t end, int eof, uint32_t cap,
                       outcome *out)
{
    uint8_t *buf = end ? malloc(end) : NULL;
    CHECK(!end || buf, "out of memory");
    if (end)
        memcpy(buf, data, end);
    uint64_t *starts = malloc(cap * sizeof *starts), *offsets = malloc(cap * sizeof *offsets);
    uint32_t *lengths = malloc(cap * sizeof *lengths), *wires = malloc(cap * sizeof *wires);
    double *times = malloc(cap * sizeof *times);
    uint16_t *links = malloc(cap * sizeof *links);
    CHECK(starts && offsets && lengths && wires && times && links, "out of memory");
    int more = 1;
    while (more) {
        struct cw_cols c = {starts, offsets, lengths, wires, times, links, 0, cap};
        uint64_t before = *pos_of(w);
        int status = walk_once(w, buf, end, eof, &c);
        uint64_t pos = *pos_of(w);
        CHECK(status >= 0, "status %d", status);
        CHECK(pos >= before && pos <= end, "pos %llu after %llu, end %zu",
              (unsigned long long)pos, (unsigned long long)before, end);
        CHECK(c.n <= cap, "%u frames in %u", c.n, cap);
        if (status == CW_TIME) {
            CHECK(w->ng && w->png.ifid < w->png.nifaces, "CW_TIME out of place");
            w->png.last_time = (double)(w->png.value % 1000);
            if (w->png.stored)
                times[c.n - 1] = w->png.last_time;
        }
        uint64_t floor = before;
        for (uint32_t i = 0; i < c.n; i++) {
            frame f;
            memset(&f, 0, sizeof f);    /* padding too: frames are compared with memcmp */
            f.start = w->ng ? starts[i] : offsets[i] - CW_RECORD_LEN;
            f.offset = offsets[i];
            f.length = lengths[i];
            f.wire = wires[i];
            f.link = w->ng ? links[i] : 0;
            memcpy(&f.time_bits, &times[i], sizeof f.time_bits);
            CHECK(f.start >= floor && f.offset > f.start, "frame %u out of order", i);
            CHECK(f.length > 0 && f.offset + f.length <= pos, "frame %u outside its record", i);
            sink += buf[f.offset] + buf[f.offset + f.length - 1];  /* ASan checks both ends */
            if (!w->ng)
                CHECK(f.length <= w->pcap.max_caplen, "frame %u over the snapshot length", i);
            floor = f.offset + f.length;
            CHECK(out->n < FRAMES_MAX, "too many frames");
            out->f[out->n++] = f;
            frames_seen++;
        }
        switch (status) {
        case CW_FULL:
        case CW_TIME:
            break;
        case CW_BLOCK:
            CHECK(w->png.blen >= CW_MIN_BLOCK && pos + w->png.blen <= end, "bad CW_BLOCK");
            if (take_block(w, buf)) {
                w->png.pos += w->png.blen;
                break;
            }
            out->status = -1;   /* refused by the caller */
            stops[CW_BAD_NO_INTERFACE + 1]++;
            more = 0;
            break;
        case CW_END:
            out->status = CW_END;
            more = 0;
            break;
        default:
            CHECK(status >= CW_BAD_RECORD_HEADER && status <= CW_BAD_NO_INTERFACE,
                  "status %d", status);
            CHECK(eof || (status != CW_BAD_RECORD_HEADER && status != CW_BAD_RECORD &&
                          status != CW_BAD_BLOCK_HEADER && status != CW_BAD_PAST_END),
                  "a truncation reported before eof");
            out->status = status;
            out->value = w->ng ? w->png.value : w->pcap.value;
            stops[status]++;
            more = 0;
        }
    }
    free(buf);
    free(starts);
    free(offsets);
    free(lengths);
    free(wires);
    free(times);
    free(links);
    out->pos = *pos_of(w);
    return out->status == CW_END && !eof;
}

static void walker_init(walker *w, int ng, const struct cw_pcap *pcap, uint64_t start)
{
    memset(w, 0, sizeof *w);
    w->ng = ng;
    w->pcap = *pcap;
    w->pcap.pos = start;
    w->png.pos = start;
}

static void walk_all(const builder *o, int ng, const struct cw_pcap *pcap, outcome *whole,
                     outcome *windows)
{
    walker w;
    memset(whole, 0, sizeof *whole);
    memset(windows, 0, sizeof *windows);
    walker_init(&w, ng, pcap, 0);
    walk_window(&w, o->b, o->len, 1, FRAMES_MAX, whole);
    whole->skipped = ng ? w.png.skipped : w.pcap.skipped;
    free(w.ifaces);

    walker_init(&w, ng, pcap, 0);
    size_t end = o->len ? rnd() % (o->len + 1) : 0;
    uint32_t cap = 1 + (uint32_t)(rnd() % 8);
    while (walk_window(&w, o->b, end, end == o->len, cap, windows)) {
        size_t rest = o->len - end;
        end += rest ? 1 + rnd() % rest : 0;
    }
    windows->skipped = ng ? w.png.skipped : w.pcap.skipped;
    free(w.ifaces);
}

/* whether a stop sets value (others leave an earlier one) */
static int has_value(int ng, int status)
{
    if (!ng)
        return status == CW_BAD_CAPLEN || status == CW_BAD_RECORD;
    return status == CW_BAD_BYTE_ORDER || status == CW_BAD_TRAILER ||
           status == CW_BAD_INTERFACE || status == CW_BAD_PACKET_CAPLEN ||
           status == CW_BAD_SNAPLEN;
}

static void same(const outcome *a, const outcome *b, int ng, int round)
{
    CHECK(a->n == b->n, "round %d: %d frames whole, %d in windows", round, a->n, b->n);
    CHECK(memcmp(a->f, b->f, (size_t)a->n * sizeof a->f[0]) == 0, "round %d: frames differ",
          round);
    CHECK(a->status == b->status && a->pos == b->pos && a->skipped == b->skipped &&
              (!has_value(ng, a->status) || a->value == b->value),
          "round %d: stops differ (%d at %llu, %d at %llu)", round, a->status,
          (unsigned long long)a->pos, b->status, (unsigned long long)b->pos);
}

/* ---- the time of ticks ------------------------------------------------------------------- */

static void times_are_sane(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        uint64_t ticks = rnd() >> (rnd() % 64);
        struct cw_iface f = {.kind = (uint8_t)(rnd() % 3), .shift = (uint8_t)(rnd() % 128)};
        f.units = rnd() >> (rnd() % 64);
        if (f.units == 0)
            f.units = 1;
        double t = cw_time(&f, ticks);
        if (f.kind == CW_UNITS_CALLER) {
            CHECK(isnan(t), "a caller's time computed");
            continue;
        }
        long double want = (long double)ticks, diff;
        if (f.kind == CW_UNITS_SHIFT)
            for (int k = 0; k < f.shift; k++)
                want /= 2;
        else
            want /= f.units;
        diff = t > want ? t - want : want - t;
        CHECK(diff <= want * 0x1p-52L, "cw_time(%llu, %llu, shift %u) = %a",
              (unsigned long long)ticks, (unsigned long long)f.units, f.shift, t);
    }
}

static void bad_arguments(void)
{
    struct cw_pcap p = {.pos = 5};
    struct cw_pcapng g = {.nifaces = 1};
    struct cw_cols c = {.cap = 1};
    uint8_t b[4] = {0};
    CHECK(cw_pcap_walk(NULL, b, 4, 1, &c) == CW_EINVAL, "NULL state accepted");
    CHECK(cw_pcap_walk(&p, b, 4, 1, &c) == CW_EINVAL, "pos past the end accepted");
    p.pos = 0;
    CHECK(cw_pcap_walk(&p, b, 4, 1, &c) == CW_EINVAL, "NULL columns accepted");
    CHECK(cw_pcap_walk(&p, NULL, 4, 1, &c) == CW_EINVAL, "NULL buffer accepted");
    CHECK(cw_pcapng_walk(&g, b, 4, 1, &c) == CW_EINVAL, "interfaces without an array");
    c.n = 2;
    CHECK(cw_pcap_walk(&p, b, 4, 1, &c) == CW_EINVAL, "n > cap accepted");
    c.n = c.cap = 0;
    CHECK(cw_pcap_walk(&p, NULL, 0, 1, &c) == CW_FULL, "empty columns: nothing to do");
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9E3779B97F4A7C15ULL;
    static builder o;
    static outcome whole, windows;
    bad_arguments();
    times_are_sane(rounds * 10);
    for (int round = 0; round < rounds; round++) {
        int ng = (int)(rnd() % 2);
        struct cw_pcap pcap = {0};
        o.len = 0;
        if (ng)
            pcapng_capture(&o);
        else
            pcap_capture(&o, &pcap);
        mutate(&o);
        walk_all(&o, ng, &pcap, &whole, &windows);
        same(&whole, &windows, ng, round);
    }
    int kinds = 0;  /* the stops seen: a driver that stops finding them tests little */
    for (int i = CW_BAD_RECORD_HEADER; i <= CW_BAD_NO_INTERFACE + 1; i++)
        kinds += stops[i] != 0;
    printf("capwalk_stress: ok, %llu frames, %d of %d kinds of stop\n",
           (unsigned long long)frames_seen, kinds, CW_BAD_NO_INTERFACE + 2 - CW_BAD_RECORD_HEADER);
    return 0;
}
