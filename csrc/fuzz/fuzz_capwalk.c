/*
 * fuzz_capwalk.c - the pcap and pcapng record walks (cw_pcap_walk, cw_pcapng_walk) over a
 * whole capture file of attacker bytes, driven as weboslb/io/pcap.py and pcapng.py drive them
 * (the file header, Section Header and Interface Description Blocks read by the caller).
 *
 * Input: byte 0 (bit 0: pcapng, else pcap; bits 1-3: room in the columns per call, 1 to 8;
 * bits 4-7: the stream window's growth, 1 to 16 times 7 bytes), then the file.
 *
 * Checked: every frame handed back lies inside the bytes the walk was given, after its record
 * header, in file order, no longer than the snapshot length; the walk stops with a documented
 * status at a position inside the buffer; and walking the file whole (a mapped file) or in
 * growing windows (a stream) gives the same frames, times, links, skipped count, final status
 * and position.  Columns and file are heap buffers of exactly their size.
 */
#define FUZZ_NAME "fuzz_capwalk"
#include "fuzz.h"

#include <math.h>

#include "capwalk.h"

FUZZ_OUTCOMES("end", "full", "block", "time", "bad_record_header", "bad_caplen", "bad_record",
              "bad_block_header", "bad_byte_order", "bad_block_length", "bad_past_end",
              "bad_trailer", "bad_packet_block", "bad_interface", "bad_packet_caplen",
              "bad_snaplen", "bad_no_interface", "refused_block")

enum { IFACES_MAX = 16 };

typedef struct {
    uint64_t start, offset;
    uint32_t length, wire;
    double time;
    uint16_t link;
} frame_t;

typedef struct {
    frame_t *f;
    size_t n, cap;
    int status;         /* the last status: CW_END at a clean end, or why the walk stopped */
    uint64_t pos, skipped;
} result_t;

static uint32_t rd32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint16_t rd16(const uint8_t *p, int be)
{
    return (uint16_t)(be ? p[0] << 8 | p[1] : p[1] << 8 | p[0]);
}

/* Appends the n frames of the columns, each checked against the window [0, end). */
static void take(result_t *r, const struct cw_cols *c, size_t end, int framed,
                 uint32_t max_caplen)
{
    for (uint32_t i = 0; i < c->n; i++) {
        uint64_t off = c->offsets[i], len = c->lengths[i];
        FUZZ_CHECK(len > 0 && off + len <= end, "frame %llu+%llu past %zu",
                   (unsigned long long)off, (unsigned long long)len, end);
        FUZZ_CHECK(len <= max_caplen, "frame of %llu over %u", (unsigned long long)len,
                   max_caplen);
        uint64_t start = framed ? c->starts[i] : off - CW_RECORD_LEN;
        FUZZ_CHECK(off >= CW_RECORD_LEN && (!framed || off - start == 12 || off - start == 28),
                   "frame at %llu, record at %llu", (unsigned long long)off,
                   (unsigned long long)start);
        FUZZ_CHECK(r->n == 0 || start > r->f[r->n - 1].start, "frames out of order");
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 64;
            r->f = realloc(r->f, r->cap * sizeof *r->f);
            FUZZ_CHECK(r->f != NULL, "out of memory");
        }
        r->f[r->n++] = (frame_t){start, off, (uint32_t)len, c->wire_lengths[i], c->times[i],
                                 framed ? c->links[i] : 0};
    }
}

/* Columns of exactly cap entries, freshly allocated for each call. */
static struct cw_cols cols_new(uint32_t cap, int framed)
{
    struct cw_cols c = {.cap = cap};
    c.offsets = calloc(cap, sizeof *c.offsets);
    c.lengths = calloc(cap, sizeof *c.lengths);
    c.wire_lengths = calloc(cap, sizeof *c.wire_lengths);
    c.times = calloc(cap, sizeof *c.times);
    if (framed) {
        c.starts = calloc(cap, sizeof *c.starts);
        c.links = calloc(cap, sizeof *c.links);
    }
    return c;
}

static void cols_free(struct cw_cols *c)
{
    free(c->offsets);
    free(c->lengths);
    free(c->wire_lengths);
    free(c->times);
    free(c->starts);
    free(c->links);
}

/* The walk's status is one it documents, at a position inside the buffer. */
static void check_stop(int st, uint64_t pos, size_t end)
{
    FUZZ_SEEN(st <= CW_TIME ? (size_t)(st == CW_END ? 0 : st == CW_FULL ? 1 : st)
                            : (size_t)(4 + st - CW_BAD_RECORD_HEADER));
    FUZZ_CHECK((st >= CW_FULL && st <= CW_TIME) ||
                   (st >= CW_BAD_RECORD_HEADER && st <= CW_BAD_NO_INTERFACE), "status %d", st);
    FUZZ_CHECK(pos <= end, "pos %llu past %zu", (unsigned long long)pos, end);
}

/* ---- pcap ------------------------------------------------------------------------------- */

static void walk_pcap(const uint8_t *file, size_t size, uint32_t cap, size_t grow, result_t *r)
{
    if (size < 24)
        return;
    uint32_t magic = rd32(file, 1);
    int be, nano;
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du)
        be = 1, nano = magic == 0xa1b23c4du;
    else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u)
        be = 0, nano = magic == 0x4d3cb2a1u;
    else
        return;
    uint32_t snaplen = rd32(file + 16, be);
    struct cw_pcap w = {.pos = 24, .scale = nano ? 1e-9 : 1e-6, .big_endian = (uint8_t)be,
                        .max_caplen = snaplen && snaplen < CW_MAX_RECORD ? snaplen
                                                                          : CW_MAX_RECORD};
    size_t end = grow ? (24 + grow < size ? 24 + grow : size) : size;
    for (int calls = 0;; calls++) {
        FUZZ_CHECK(calls < 1 << 20, "the walk does not advance");
        int eof = end == size;
        struct cw_cols c = cols_new(cap, 0);
        int st = cw_pcap_walk(&w, file, end, eof, &c);
        check_stop(st, w.pos, end);
        FUZZ_CHECK(st != CW_BLOCK && st != CW_TIME, "pcap status %d", st);
        take(r, &c, end, 0, w.max_caplen);
        cols_free(&c);
        r->status = st;
        if (st == CW_FULL)
            continue;
        if (st == CW_END && !eof) {
            end = end + grow < size ? end + grow : size;
            continue;
        }
        break;
    }
    r->pos = w.pos;
    r->skipped = w.skipped;
}

/* ---- pcapng ----------------------------------------------------------------------------- */

/* The caller's part (pcapng.py _block): a section resets the interfaces, an interface block
 * adds one.  0, or 1 when the block is refused (the walk stops there). */
static int read_block(struct cw_pcapng *w, struct cw_iface *ifaces, double *units_f,
                      const uint8_t *buf, uint64_t pos, uint32_t btype, uint32_t blen)
{
    const uint8_t *b = buf + pos;
    int be = w->big_endian;
    if (btype == CW_SHB) {
        if (blen < 28 || rd16(b + 12, be) != 1)
            return 1;
        w->nifaces = 0;
        return 0;
    }
    FUZZ_CHECK(btype == CW_IDB, "block type %u", btype);
    if (blen < 20 || w->nifaces == IFACES_MAX)
        return 1;
    struct cw_iface f = {.link = rd16(b + 8, be), .snaplen = rd32(b + 12, be),
                         .kind = CW_UNITS_DIVIDE, .units = 1000000};
    double uf = 1e6;
    if (f.snaplen > CW_MAX_RECORD)
        f.snaplen = CW_MAX_RECORD;
    for (uint64_t opt = 16; opt + 4 <= blen - 4;) {
        uint32_t code = rd16(b + opt, be), len = rd16(b + opt + 2, be);
        if (code == 0)
            break;
        if (opt + 4 + len > blen - 4)
            return 1;
        if (code == 9 && len >= 1) {
            uint8_t exp = b[opt + 4];
            if (exp & 0x80) {
                f.kind = CW_UNITS_SHIFT;
                f.shift = exp & 0x7f;
                uf = ldexp(1.0, exp & 0x7f);
            } else if (exp < 20) {
                f.kind = CW_UNITS_DIVIDE;
                f.units = 1;
                for (int i = 0; i < exp; i++)
                    f.units *= 10;
                uf = (double)f.units;
            } else {
                f.kind = CW_UNITS_CALLER;
                uf = pow(10.0, exp);
            }
        } else if (code == 14 && len >= 8) {
            f.offset = (int64_t)((uint64_t)rd32(b + opt + 4 + (be ? 0 : 4), be) << 32 |
                                 rd32(b + opt + 4 + (be ? 4 : 0), be));
        }
        opt += 4 + ((len + 3) & ~3u);
    }
    units_f[w->nifaces] = uf;
    ifaces[w->nifaces++] = f;
    return 0;
}

static void walk_pcapng(const uint8_t *file, size_t size, uint32_t cap, size_t grow,
                        result_t *r)
{
    struct cw_iface *ifaces = calloc(IFACES_MAX, sizeof *ifaces);
    double units_f[IFACES_MAX];
    struct cw_pcapng w = {.ifaces = ifaces};
    size_t end = grow ? (grow < size ? grow : size) : size;
    for (int calls = 0;; calls++) {
        FUZZ_CHECK(calls < 1 << 20, "the walk does not advance");
        int eof = end == size;
        struct cw_cols c = cols_new(cap, 1);
        int st = cw_pcapng_walk(&w, file, end, eof, &c);
        check_stop(st, w.pos, end);
        if (st == CW_TIME && w.stored) {    /* the caller's time, for units past 2**64 */
            FUZZ_CHECK(c.n > 0 && w.ifid < w.nifaces, "CW_TIME without a frame");
            c.times[c.n - 1] = w.last_time = (double)w.value / units_f[w.ifid] +
                                             (double)ifaces[w.ifid].offset;
        }
        take(r, &c, end, 1, CW_MAX_RECORD);
        cols_free(&c);
        r->status = st;
        if (st == CW_FULL || st == CW_TIME)
            continue;
        if (st == CW_BLOCK) {
            FUZZ_CHECK(w.blen >= CW_MIN_BLOCK && w.pos + w.blen <= end, "block %u at %llu",
                       w.blen, (unsigned long long)w.pos);
            if (read_block(&w, ifaces, units_f, file, w.pos, w.btype, w.blen)) {
                FUZZ_SEEN(17);
                break;
            }
            w.pos += w.blen;
            continue;
        }
        if (st == CW_END && !eof) {
            end = end + grow < size ? end + grow : size;
            continue;
        }
        break;
    }
    r->pos = w.pos;
    r->skipped = w.skipped;
    free(ifaces);
}

static int same_time(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int ng = data[0] & 1;
    uint32_t cap = 1 + ((data[0] >> 1) & 7);
    size_t grow = 7 * (size_t)(1 + (data[0] >> 4));
    size_t n = size - 1;
    uint8_t *file = fz_copy(data + 1, n);
    result_t whole = {0}, stream = {0};
    if (ng) {
        walk_pcapng(file, n, cap, 0, &whole);
        walk_pcapng(file, n, cap, grow, &stream);
    } else {
        walk_pcap(file, n, cap, 0, &whole);
        walk_pcap(file, n, cap, grow, &stream);
    }
    FUZZ_CHECK(whole.n == stream.n, "%zu frames whole, %zu in windows", whole.n, stream.n);
    for (size_t i = 0; i < whole.n; i++) {
        const frame_t *a = &whole.f[i], *b = &stream.f[i];
        FUZZ_CHECK(a->start == b->start && a->offset == b->offset && a->length == b->length &&
                       a->wire == b->wire && a->link == b->link && same_time(a->time, b->time),
                   "frame %zu differs between the whole file and windows", i);
    }
    FUZZ_CHECK(whole.status == stream.status && whole.pos == stream.pos &&
                   whole.skipped == stream.skipped, "whole: status %d at %llu, skipped %llu; "
               "windows: status %d at %llu, skipped %llu", whole.status,
               (unsigned long long)whole.pos, (unsigned long long)whole.skipped, stream.status,
               (unsigned long long)stream.pos, (unsigned long long)stream.skipped);
    free(whole.f);
    free(stream.f);
    free(file);
    return 0;
}
