/*
 * capwalk.c - the pcap and pcapng record walks (capwalk.h says what they stop for).
 *
 * Each walk is one loop over the records, compiled once per byte order so that the loads are
 * plain moves (or byte swaps) with no test on the order per field.  Every length read from
 * the buffer is compared with what is left of it before anything behind it is read: a record
 * header needs 16 bytes left, a block header 12, and a block's trailer and fields lie inside
 * its checked length.
 *
 * Times are computed as Python computes them in the reference walk (tests/io/pywalk.py), bit
 * for bit: pcap `sec + frac * scale` in doubles (the build turns off contraction into fused
 * multiply-adds), pcapng `ticks / units + offset` with the division correctly rounded, as
 * Python's int / int is.
 */
#include "capwalk.h"

#include <math.h>
#include <string.h>

#define HOT static inline __attribute__((always_inline))

/* How far ahead of the record being read the walk asks for the file's bytes.  The walk is a
 * chase (each record's length tells where the next starts), so without this every record
 * header waits for memory; streaming the lines ahead turns the chase into a sequential read
 * and leaves the frames in cache for the fast path, which reads them next.  Farther than a
 * page or two was no better (the lines are fetched but not yet mapped: a prefetch does not
 * fault a page in). */
#define STREAM_AHEAD 4096
#define LINE 64

/* Prefetch the lines of buf from *next up to pos + STREAM_AHEAD (not past end). */
HOT void stream_ahead(const uint8_t *buf, uint64_t *next, uint64_t pos, size_t end)
{
    uint64_t until = end - pos > STREAM_AHEAD ? pos + STREAM_AHEAD : end;
    for (uint64_t at = *next; at < until; at += LINE)
        __builtin_prefetch(buf + at);
    if (*next < until)
        *next = until;
}

enum {
    EPB = 6,
    SPB = 3,
    OPB = 2,            /* Obsolete Packet Block (libpcap 0.x "Packet Block") */
    EPB_MIN = 32,       /* header 8, interface 4, time 8, lengths 8, trailer 4 */
    SPB_MIN = 16,       /* header 8, original length 4, trailer 4 */
    EPB_BODY = 28,      /* where an EPB's (or OPB's) frame starts */
    SPB_BODY = 12,
    BOM_BIG = 0x1A2B3C4D    /* the byte-order magic read big-endian in a big-endian section */
};

#define BOM_LITTLE 0x4D3C2B1Au
#define TWO53 (UINT64_C(1) << 53)
#define TWO52 (UINT64_C(1) << 52)

HOT uint32_t ld32(const uint8_t *p, int big_endian)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return big_endian ? v : __builtin_bswap32(v);
#else
    return big_endian ? __builtin_bswap32(v) : v;
#endif
}

HOT uint16_t ld16(const uint8_t *p, int big_endian)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return big_endian ? v : __builtin_bswap16(v);
#else
    return big_endian ? __builtin_bswap16(v) : v;
#endif
}

static inline int bit_length(uint64_t x)
{
    return x ? 64 - __builtin_clzll(x) : 0;
}

/* 2**e, exactly, for e in the normal range [-1022, 1023] */
static inline double pow2(int e)
{
    uint64_t bits = (uint64_t)(e + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* a / b rounded to the nearest double, ties to even (b > 0).  Exact operands give one
 * rounding; otherwise the quotient's 53 leading bits are found with integer division and
 * rounded by hand with the remainder, then scaled by a power of two (exact). */
static double div_round(uint64_t a, uint64_t b)
{
    if (a <= TWO53 && b <= TWO53)
        return (double)a / (double)b;
    if (a == 0)         /* the bit loop below needs a quotient with a bit set */
        return 0.0;
    uint64_t q = a / b, r = a % b, m;
    if (q >= TWO53) {   /* an integral part of 54 to 64 bits: the fraction is only a sticky bit */
        int shift = bit_length(q) - 53;
        uint64_t low = q & ((UINT64_C(1) << shift) - 1), half = UINT64_C(1) << (shift - 1);
        m = q >> shift;
        if (low > half || (low == half && (r || (m & 1))))
            m++;
        return (double)m * pow2(shift);
    }
    int p = 53 - bit_length(q);     /* fraction bits that complete 53 significant bits */
    if (q && bit_length(b) + p <= 64) {     /* the usual case: one more division */
        uint64_t num = r << p;
        m = (q << p) + num / b;
        r = num % b;
    } else {            /* a huge divisor or a quotient below 1: one bit at a time */
        m = q;
        p = 0;
        while (m < TWO52) {
            uint64_t carry = r >> 63;
            r <<= 1;
            m <<= 1;
            if (carry || r >= b) {
                r -= b;
                m |= 1;
            }
            p++;
        }
    }
    if (r > b - r || (r == b - r && (m & 1)))   /* 2r > b, or a tie and m odd */
        m++;
    return (double)m * pow2(-p);
}

double cw_time(const struct cw_iface *iface, uint64_t ticks)
{
    double t;
    if (iface->kind == CW_UNITS_SHIFT)
        t = (double)ticks * pow2(-(int)iface->shift);
    else if (iface->kind == CW_UNITS_DIVIDE && iface->units)
        t = div_round(ticks, iface->units);
    else
        return NAN;
    return t + (double)iface->offset;
}

uint64_t cw_sum32(const uint32_t *v, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i];
    return total;
}

/* ---- pcap ------------------------------------------------------------------------------- */

HOT int pcap_loop(struct cw_pcap *w, const uint8_t *buf, size_t end, int eof,
                  struct cw_cols *c, const int be)
{
    uint64_t *offsets = c->offsets;
    uint32_t *lengths = c->lengths, *wires = c->wire_lengths;
    double *times = c->times;
    const uint32_t cap = c->cap, max_caplen = w->max_caplen;
    const double scale = w->scale;
    uint64_t pos = w->pos, skipped = 0, ahead = pos;
    uint32_t n = c->n;
    int status = CW_FULL;
    while (n < cap) {
        stream_ahead(buf, &ahead, pos, end);
        if (end - pos < CW_RECORD_LEN) {
            status = eof && pos < end ? CW_BAD_RECORD_HEADER : CW_END;
            break;
        }
        const uint8_t *p = buf + pos;
        uint32_t caplen = ld32(p + 8, be);
        if (caplen == 0) {
            skipped++;
            pos += CW_RECORD_LEN;
            continue;
        }
        if (caplen > max_caplen) {
            w->value = caplen;
            status = CW_BAD_CAPLEN;
            break;
        }
        if (caplen > end - pos - CW_RECORD_LEN) {
            w->value = caplen;
            status = eof ? CW_BAD_RECORD : CW_END;
            break;
        }
        offsets[n] = pos + CW_RECORD_LEN;
        lengths[n] = caplen;
        wires[n] = ld32(p + 12, be);
        times[n] = (double)ld32(p, be) + (double)ld32(p + 4, be) * scale;
        n++;
        pos += CW_RECORD_LEN + (uint64_t)caplen;
    }
    w->pos = pos;
    w->skipped += skipped;
    c->n = n;
    return status;
}

static int cols_ok(const struct cw_cols *c, int framed)
{
    if (!c || c->n > c->cap)
        return 0;
    if (c->n == c->cap)
        return 1;
    return c->offsets && c->lengths && c->wire_lengths && c->times &&
           (!framed || (c->starts && c->links));
}

int cw_pcap_walk(struct cw_pcap *w, const uint8_t *buf, size_t end, int eof,
                 struct cw_cols *cols)
{
    if (!w || (!buf && end) || w->pos > end || !cols_ok(cols, 0))
        return CW_EINVAL;
    return w->big_endian ? pcap_loop(w, buf, end, eof, cols, 1)
                         : pcap_loop(w, buf, end, eof, cols, 0);
}

/* ---- pcapng ----------------------------------------------------------------------------- */

/* Blocks known to hold no frame: Name Resolution, Interface Statistics, systemd Journal
 * Export, Decryption Secrets, Custom (copyable and not).  They are not "skipped". */
static inline int ignored(uint32_t btype)
{
    return btype == 4 || btype == 5 || btype == 9 || btype == 10 || btype == 0x00000BADu ||
           btype == 0x40000BADu;
}

/* The framing every block shares: its length, and the same length at its end.  0 or a stop. */
HOT int framing(struct cw_pcapng *w, const uint8_t *p, size_t left, int eof, uint32_t blen,
                int be)
{
    if ((blen & 3) || blen < CW_MIN_BLOCK || blen > CW_MAX_BLOCK)
        return CW_BAD_BLOCK_LENGTH;
    if (blen > left)
        return eof ? CW_BAD_PAST_END : CW_END;
    uint32_t trailer = ld32(p + blen - 4, be);
    if (trailer != blen) {
        w->value = trailer;
        return CW_BAD_TRAILER;
    }
    return 0;
}

HOT int pcapng_loop(struct cw_pcapng *w, const uint8_t *buf, size_t end, int eof,
                    struct cw_cols *c, const int be)
{
    uint64_t *starts = c->starts, *offsets = c->offsets;
    uint32_t *lengths = c->lengths, *wires = c->wire_lengths;
    double *times = c->times;
    uint16_t *links = c->links;
    const struct cw_iface *ifaces = w->ifaces;
    const uint32_t cap = c->cap, nifaces = w->nifaces;
    uint64_t pos = w->pos, skipped = 0, ahead = pos;
    uint32_t n = c->n, btype = 0, blen = 0;
    double last = w->last_time;
    int status = CW_FULL;
    while (n < cap) {
        stream_ahead(buf, &ahead, pos, end);
        size_t left = end - pos;
        if (left < CW_MIN_BLOCK) {
            status = eof && left ? CW_BAD_BLOCK_HEADER : CW_END;
            break;
        }
        const uint8_t *p = buf + pos;
        btype = ld32(p, be);
        if (btype == CW_SHB) {  /* the section's byte order, then its length read in it */
            uint32_t bom = ld32(p + 8, 1);
            if (bom != BOM_BIG && bom != BOM_LITTLE) {
                w->value = bom;
                status = CW_BAD_BYTE_ORDER;
                break;
            }
            int order = bom == BOM_BIG;
            w->big_endian = (uint8_t)order;
            blen = ld32(p + 4, order);
            status = framing(w, p, left, eof, blen, order);
            if (status == 0)
                status = CW_BLOCK;
            break;
        }
        blen = ld32(p + 4, be);
        status = framing(w, p, left, eof, blen, be);
        if (status)
            break;
        const struct cw_iface *ifc;
        uint32_t caplen, wire;
        uint64_t body;
        double t;
        if (btype == EPB || btype == OPB) {
            if (blen < EPB_MIN) {
                status = CW_BAD_PACKET_BLOCK;
                break;
            }
            uint32_t ifid = btype == EPB ? ld32(p + 8, be) : ld16(p + 8, be);
            if (ifid >= nifaces) {
                w->value = ifid;
                status = CW_BAD_INTERFACE;
                break;
            }
            ifc = &ifaces[ifid];
            caplen = ld32(p + 20, be);
            wire = ld32(p + 24, be);
            if (caplen > blen - EPB_MIN) {
                w->value = caplen;
                status = CW_BAD_PACKET_CAPLEN;
                break;
            }
            if (ifc->snaplen && caplen > ifc->snaplen) {
                w->value = caplen;
                w->ifid = ifid;
                status = CW_BAD_SNAPLEN;
                break;
            }
            uint64_t ticks = (uint64_t)ld32(p + 12, be) << 32 | ld32(p + 16, be);
            body = pos + EPB_BODY;
            if (ifc->kind != CW_UNITS_DIVIDE && ifc->kind != CW_UNITS_SHIFT) {
                w->value = ticks;
                w->ifid = ifid;
                status = CW_TIME;
                t = NAN;    /* the caller's to fill in */
            } else {
                t = last = cw_time(ifc, ticks);
            }
        } else if (btype == SPB) {
            if (!nifaces) {
                status = CW_BAD_NO_INTERFACE;
                break;
            }
            if (blen < SPB_MIN) {
                status = CW_BAD_PACKET_BLOCK;
                break;
            }
            ifc = &ifaces[0];
            wire = ld32(p + 8, be);
            uint32_t room = blen - SPB_MIN;
            caplen = wire < room ? wire : room;
            if (ifc->snaplen && caplen > ifc->snaplen)
                caplen = ifc->snaplen;
            t = last;   /* an SPB has no time of its own */
            body = pos + SPB_BODY;
        } else if (btype == CW_IDB) {
            status = CW_BLOCK;
            break;
        } else {
            skipped += !ignored(btype);
            pos += blen;
            continue;
        }
        w->stored = caplen != 0;
        if (caplen) {
            starts[n] = pos;
            offsets[n] = body;
            lengths[n] = caplen;
            wires[n] = wire;
            times[n] = t;
            links[n] = ifc->link;
            n++;
        } else {
            skipped++;
        }
        pos += blen;
        if (status == CW_TIME)
            break;
    }
    w->pos = pos;
    w->skipped += skipped;
    w->last_time = last;
    w->btype = btype;
    w->blen = blen;
    c->n = n;
    return status;
}

int cw_pcapng_walk(struct cw_pcapng *w, const uint8_t *buf, size_t end, int eof,
                   struct cw_cols *cols)
{
    if (!w || (!buf && end) || w->pos > end || (w->nifaces && !w->ifaces) || !cols_ok(cols, 1))
        return CW_EINVAL;
    return w->big_endian ? pcapng_loop(w, buf, end, eof, cols, 1)
                         : pcapng_loop(w, buf, end, eof, cols, 0);
}
