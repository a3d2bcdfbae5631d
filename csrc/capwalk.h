/*
 * capwalk.h - the record walk of pcap and pcapng captures: from the bytes of a file (an mmap,
 * or one window of a stream) to the columns of a batch.  Frame bytes are never copied or read;
 * only record headers and block framing are.
 *
 * This header is also the cffi cdef (weboslb/_native_build.py strips the preprocessor lines),
 * so it holds plain declarations only: constants are enums, never macros.
 *
 * A walk starts at w->pos in buf[0 .. end) and appends frames to the columns until they are
 * full (CW_FULL), the bytes run out before a whole record (CW_END: at eof that is the end of
 * the capture when pos == end; otherwise the caller brings more bytes and walks on from pos),
 * or a record is bad (a CW_BAD_* status: pos is the bad record's start, which the caller names
 * in its message with the detail fields).  Everything appended before a stop stands.
 *
 * pcapng: the C walk handles the blocks that are nearly every block (Enhanced, Simple and
 * Obsolete Packet Blocks) and steps over the ones without frames; it stops with CW_BLOCK at a
 * Section Header or Interface Description Block, whose framing it has checked, so that the
 * caller reads its contents, updates ifaces / nifaces and walks on from pos + blen.
 * Every byte read is bounds-checked: buf is attacker-controlled.
 */
#ifndef WEBOSLB_CAPWALK_H
#define WEBOSLB_CAPWALK_H

#include <stddef.h>
#include <stdint.h>

enum cw_status {
    CW_FULL = 0,                /* cols->n reached cols->cap */
    CW_END = 1,                 /* the buffer ends before the next whole record (or at it) */
    CW_BLOCK = 2,               /* pcapng: an SHB or IDB at pos (btype, blen) for the caller */
    CW_TIME = 3,                /* pcapng: the packet block just walked is on a CW_UNITS_CALLER
                                 * interface: the caller turns value (ticks) into its time and
                                 * stores it in last_time and, when stored, in the last frame's
                                 * times[cols->n - 1]; pos is already past the block */
    /* the record at pos is bad */
    CW_BAD_RECORD_HEADER = 16,  /* pcap: the file ends inside a record header */
    CW_BAD_CAPLEN = 17,         /* pcap: value (captured length) over max_caplen */
    CW_BAD_RECORD = 18,         /* pcap: the file ends inside the frame of value bytes */
    CW_BAD_BLOCK_HEADER = 19,   /* pcapng: the file ends inside a block header */
    CW_BAD_BYTE_ORDER = 20,     /* pcapng: an SHB's byte-order magic is value (as read, big
                                 * endian) */
    CW_BAD_BLOCK_LENGTH = 21,   /* blen is not a multiple of 4 in [CW_MIN_BLOCK, CW_MAX_BLOCK] */
    CW_BAD_PAST_END = 22,       /* the file ends inside the block of blen bytes */
    CW_BAD_TRAILER = 23,        /* the trailing length value differs from blen */
    CW_BAD_PACKET_BLOCK = 24,   /* a packet block of blen bytes is too short for its header */
    CW_BAD_INTERFACE = 25,      /* a packet for interface value >= nifaces */
    CW_BAD_PACKET_CAPLEN = 26,  /* captured length value runs past the blen-byte block */
    CW_BAD_SNAPLEN = 27,        /* captured length value over interface ifid's snaplen */
    CW_BAD_NO_INTERFACE = 28    /* a simple packet block before any interface */
};

/* Errors (a bad argument, nothing walked) are all below -1, as in the other C modules. */
enum cw_err {
    CW_EINVAL = -2              /* NULL state / buffer / array, pos > end, n > cap */
};

enum cw_limits {
    CW_RECORD_LEN = 16,         /* a pcap record header */
    CW_MIN_BLOCK = 12,          /* a pcapng block: type, length, trailing length */
    CW_MAX_RECORD = 268435456,  /* 256 MiB: larger captured lengths are corruption */
    CW_MAX_BLOCK = 268439552,   /* a maximal frame plus room for a packet block's options */
    CW_SHB = 168627466,         /* 0x0A0D0D0A, the same in both byte orders */
    CW_IDB = 1
};

/* How an interface's timestamps become seconds (if_tsresol). */
enum cw_units {
    CW_UNITS_DIVIDE = 0,        /* ticks / units, correctly rounded (as Python's int / int) */
    CW_UNITS_SHIFT = 1,         /* ticks / 2**shift */
    CW_UNITS_CALLER = 2         /* more than 2**64 ticks per second: CW_TIME */
};

/* The caller's arrays, each with room for cap entries; n are filled (in/out). */
struct cw_cols {
    uint64_t *starts;           /* pcapng: where each frame's block starts; unused for pcap */
    uint64_t *offsets;          /* where each frame starts */
    uint32_t *lengths;          /* captured lengths */
    uint32_t *wire_lengths;
    double *times;              /* seconds since the epoch */
    uint16_t *links;            /* pcapng: each frame's link type; unused for pcap */
    uint32_t n;
    uint32_t cap;
};

/* One pcap file's walk. */
struct cw_pcap {
    uint64_t pos;               /* in/out: where the walk is, an offset into buf */
    uint64_t skipped;           /* out, accumulated: zero-length records stepped over */
    uint64_t value;             /* out: the detail of a CW_BAD_* stop */
    double scale;               /* seconds per tick of the fraction: 1e-6 or 1e-9 */
    uint32_t max_caplen;        /* the snapshot length, or CW_MAX_RECORD when it is 0 or more */
    uint8_t big_endian;         /* the records' byte order */
    uint8_t reserved[3];
};

/* One interface of the current pcapng section, as the caller read it from its IDB. */
struct cw_iface {
    uint64_t units;             /* CW_UNITS_DIVIDE: ticks per second (> 0) */
    int64_t offset;             /* if_tsoffset: seconds added to every time */
    uint32_t snaplen;           /* 0: no limit */
    uint16_t link;
    uint8_t kind;               /* enum cw_units */
    uint8_t shift;              /* CW_UNITS_SHIFT: 2**shift ticks per second (shift < 128) */
};

/* One pcapng stream's walk. */
struct cw_pcapng {
    const struct cw_iface *ifaces;  /* the current section's interfaces (the caller's array) */
    uint64_t pos;               /* in/out: where the walk is, an offset into buf */
    uint64_t skipped;           /* out, accumulated: zero-length frames, blocks of unknown type */
    uint64_t value;             /* out: the detail of a stop (see enum cw_status) */
    double last_time;           /* in/out: the last packet's time, a Simple Packet Block's */
    uint32_t nifaces;
    uint32_t btype;             /* out: the type and length of the block at a stop, once read */
    uint32_t blen;
    uint32_t ifid;              /* out: CW_BAD_SNAPLEN's and CW_TIME's interface */
    uint8_t big_endian;         /* in/out: the current section's byte order (an SHB sets it) */
    uint8_t stored;             /* out: CW_TIME's frame was stored (0: it was empty, skipped) */
    uint8_t reserved[2];
};

/* Walk from w->pos; eof: buf[end - 1] is the last byte of the capture.  Returns an enum
 * cw_status, or CW_EINVAL with nothing changed. */
int cw_pcap_walk(struct cw_pcap *w, const uint8_t *buf, size_t end, int eof,
                 struct cw_cols *cols);
int cw_pcapng_walk(struct cw_pcapng *w, const uint8_t *buf, size_t end, int eof,
                   struct cw_cols *cols);

/* v[0] + ... + v[n - 1]: a batch's wire bytes (Python's sum() makes an int object an item). */
uint64_t cw_sum32(const uint32_t *v, size_t n);

/* The time of a packet block of `ticks` on the interface: what the walk stores (NaN for
 * CW_UNITS_CALLER). */
double cw_time(const struct cw_iface *iface, uint64_t ticks);

#endif
