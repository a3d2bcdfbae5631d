/*
 * flow.h - the fast path: a flow cache that forwards the frames of established, bound
 * connections in batches and hands every other frame back to the slow path, in order.
 *
 * This header is also the cffi cdef (weboslb/_native_build.py strips the preprocessor lines),
 * so it holds plain declarations only: constants are enums, never macros.
 *
 * A flow is a connection as the client side sees it (proto, family, client address and port,
 * VIP and vport).  The slow path puts a flow when its session may go fast, holds it when it
 * must see every frame, and deletes it when the session ends; flow_run() then decides, per
 * frame of a batch (eng.h runs whole connections over the same table, one frame at a time):
 *   not decodable            -> PASS, why = the decoder's reason (numbers shared with Why)
 *   neither address a VIP    -> PASS, why = NOT_VIP
 *   a put flow, no SYN/FIN/RST -> TO_REAL (to the VIP) or TO_CLIENT (from it), and the flow's
 *                               last/packets/octets are updated
 *   anything else            -> an exception: verdict 0, its index appended to exc[].  A flow
 *                               that had one is marked with the batch's generation, so every
 *                               later frame of it in the same batch is an exception too (the
 *                               slow path must see them after the one it has not handled yet).
 * enum flow_verdict and enum flow_why carry the numbers of weboslb.engine.events.Verdict and
 * Why (append, never renumber).  One owner per table: no locks, no globals.
 */
#ifndef WEBOSLB_FLOW_H
#define WEBOSLB_FLOW_H

#include <stddef.h>
#include <stdint.h>

typedef struct flow_table flow_table;

enum flow_verdict {
    FLOW_EXCEPTION = 0,     /* for the slow path: the frame index is in exc[] */
    FLOW_TO_REAL = 1,
    FLOW_TO_CLIENT = 2,
    FLOW_LOCAL = 3,
    FLOW_PASS = 4,
    FLOW_DROP = 5,
    FLOW_RESET = 6
};

enum flow_why {
    FLOW_WHY_NONE = 0,
    FLOW_WHY_NOT_IP = 1,
    FLOW_WHY_MPLS = 2,
    FLOW_WHY_FRAGMENT = 3,
    FLOW_WHY_NOT_TCP_UDP = 4,
    FLOW_WHY_TRUNCATED = 5,
    FLOW_WHY_BAD_IP_HEADER = 6,
    FLOW_WHY_BAD_L4_HEADER = 7,
    FLOW_WHY_IPV6_EXT_LIMIT = 8,
    FLOW_WHY_UNKNOWN_LINK = 9,
    FLOW_WHY_NOT_VIP = 16,
    FLOW_WHY_NO_SERVICE = 17,
    FLOW_WHY_VIP_DISABLED = 18,
    FLOW_WHY_NO_SESSION = 19,
    FLOW_WHY_NO_REAL = 20,
    FLOW_WHY_SESSION_TABLE_FULL = 21,
    FLOW_WHY_CLOSED = 22,
    FLOW_WHY_L7_TOO_LONG = 23,
    FLOW_WHY_L7_MALFORMED = 24,
    FLOW_WHY_STANDBY = 25
};

/* Errors are all below -1, as in the other C modules. */
enum flow_err {
    FLOW_OK = 0,
    FLOW_EINVAL = -2,   /* bad argument: NULL array, capacity, hash, key, real code */
    FLOW_ERANGE = -3,   /* flow_run: a frame (off, caplen) that does not lie inside the buffer */
    FLOW_ENOMEM = -4,
    FLOW_EFULL = -5,    /* flow_put: the cache is full; the session stays on the slow path */
    FLOW_EOWNED = -6    /* the engine runs that connection itself (eng.h): not the caller's */
};

enum flow_status {
    FLOW_UPDATED = 0,   /* flow_put on an existing flow: real, flags and last replaced */
    FLOW_CREATED = 1
};

/* flow_new_opt's flags */
enum flow_new_flag {
    FLOW_NEW_LAZY = 1       /* no pre-faulting: pages are touched as flows arrive (a replay,
                               where a first-touch fault costs less than zeroing it all) */
};

enum flow_dir {
    FLOW_DIR_TO_REAL = 0,   /* client -> VIP */
    FLOW_DIR_TO_CLIENT = 1  /* VIP -> client */
};

enum flow_limits {
    FLOW_NO_REAL = 65535,
    FLOW_CAPACITY_MAX = 16777216,   /* 2^24 flows */
    FLOW_VIPS_MAX = 65536
};

/* The connection as the client side sees it.  Canonical form: family 4 or 6, IPv4
 * addresses in the first 4 bytes with the rest zero, `zero` zero. */
struct flow_key {
    uint8_t proto;          /* 6 TCP, 17 UDP */
    uint8_t family;         /* 4 or 6 */
    uint16_t cport;
    uint16_t vport;
    uint16_t zero;
    uint8_t cip[16];
    uint8_t vip[16];
};

struct flow_state {
    double last;            /* timestamp of the flow's last frame (or of its put) */
    uint64_t packets[2];    /* since the put, by enum flow_dir */
    uint64_t octets[2];     /* payload bytes since the put, by enum flow_dir */
    uint64_t untaken;       /* payload bytes (both directions) since the last take */
    uint16_t real;          /* the real's code */
    uint8_t flags;          /* the caller's bits, stored as given */
    uint8_t reserved[5];
};

struct flow_entry {
    struct flow_key key;
    struct flow_state state;
};

/* One frame's decision (4 bytes). */
struct flow_out {
    uint8_t verdict;        /* enum flow_verdict */
    uint8_t why;            /* enum flow_why */
    uint16_t real;          /* the real's code for TO_REAL / TO_CLIENT, else FLOW_NO_REAL */
};

struct flow_stats {
    uint64_t entries, capacity, vips, generation;
    uint64_t runs, frames, fast, exceptions, passes, put_failures;
    uint64_t memory_bytes;
    uint32_t hash;          /* enum pst_hash: 1 SipHash, 2 AES */
    uint32_t reserved;
};

/* capacity: a power of two up to FLOW_CAPACITY_MAX; hash: enum pst_hash (0 = AES if the CPU
 * has it).  Memory is allocated and faulted in here, never on the packet path. */
int flow_new(uint64_t capacity, uint64_t seed0, uint64_t seed1, uint32_t hash, flow_table **out);
/* The same; flags: enum flow_new_flag (FLOW_NEW_LAZY: faulted in on the packet path). */
int flow_new_opt(uint64_t capacity, uint64_t seed0, uint64_t seed1, uint32_t hash,
                 uint32_t flags, flow_table **out);
void flow_free(flow_table *t);
/* Every flow goes (the VIP set stays); FLOW_EOWNED while the engine runs sessions here. */
int flow_clear(flow_table *t);

/* Replaces the VIP set: n addresses of 16 bytes each (IPv4 in the first 4, the rest zero),
 * families[i] 4 or 6.  Duplicates are fine.  On error the old set stays. */
int flow_set_vips(flow_table *t, const uint8_t *addrs, const uint8_t *families, uint32_t n);

/* Creates the flow (zero counters) or updates an existing one's real, flags and last: the
 * fast path forwards its frames.  Returns FLOW_CREATED, FLOW_UPDATED, FLOW_EFULL,
 * FLOW_EOWNED or FLOW_EINVAL. */
int flow_put(flow_table *t, const struct flow_key *key, uint16_t real, uint8_t flags,
             double last);
/* Holds the connection for the slow path: every frame of it is an exception (and the engine
 * never opens it itself).  A new entry takes `last`; an existing one keeps its state.
 * Returns FLOW_CREATED, FLOW_UPDATED, FLOW_EFULL, FLOW_EOWNED or FLOW_EINVAL. */
int flow_hold(flow_table *t, const struct flow_key *key, double last);
/* 1: deleted, 0: there was no such flow, FLOW_EOWNED: the engine's. */
int flow_delete(flow_table *t, const struct flow_key *key);

/* n keys at once: found[i] 1 and out[i] its state, or found[i] 0 and out[i] zeroed.
 * Returns how many were found. */
int64_t flow_get_many(const flow_table *t, const struct flow_key *keys, uint32_t n,
                      struct flow_state *out, uint8_t *found);
/* octets[i] = the flow's untaken octets, which become 0 (0 for an absent flow).  Returns how
 * many were found. */
int64_t flow_take_many(flow_table *t, const struct flow_key *keys, uint32_t n,
                       uint64_t *octets);
/* Up to max of the slow path's flows from *cursor on (0 to start; advanced); take: zero each
 * one's untaken octets after reading them.  Returns the number written; 0 once the cursor
 * has passed the end. */
int64_t flow_iter(flow_table *t, uint64_t *cursor, struct flow_entry *out, uint32_t max,
                  int take);

/* One batch: frame i is buf[off[i] .. off[i] + caplen[i]), seen at ts[i]; link is a pcap link
 * type (enum fr_link).  Every (off, caplen) is checked against buflen before any frame is read.
 * out[i] is written for every frame; exc[] (room for n) receives the exceptions' indices in
 * increasing order and *nexc their number.  Returns 0, or FLOW_EINVAL / FLOW_ERANGE with
 * nothing written and no flow changed. */
int flow_run(flow_table *t, const uint8_t *buf, size_t buflen, const uint64_t *off,
             const uint32_t *caplen, const double *ts, uint32_t n, int link,
             struct flow_out *out, uint32_t *exc, uint32_t *nexc);

void flow_get_stats(const flow_table *t, struct flow_stats *s);
/* Structural invariants, for tests and fuzzing: 0 when all hold, else the failed check. */
int flow_check(const flow_table *t);

#endif
