/*
 * eng.h - the engine: whole connections in the C batch loop, over the flow table (flow.h).
 *
 * This header is also the cffi cdef (weboslb/_native_build.py strips the preprocessor lines),
 * so it holds plain declarations only: constants are enums, never macros.
 *
 * The slow path (weboslb/engine/switch.py) stays the reference.  The engine takes the common
 * life of a connection to a virtual service whose mode it knows (enum eng_mode): the SYN
 * (a session opened, a real chosen as farm.py and metrics.py choose it, or, with delayed
 * binding, the switch's own handshake), the first request gathered in order in a bounded
 * buffer and read by the l7.c extractors, persistence looked up and bound in the pst.c tables
 * the slow path uses, ServerHello session IDs and passive Set-Cookies learnt from responses,
 * FIN and RST, and aging.  Everything else - and any frame whose handling needs what the
 * engine does not do (an out-of-order request segment, a backup server, a full buffer pool) -
 * stops eng_run at that frame, untouched: the slow path takes the session over (eng_take) and
 * handles the frame, then the run resumes at the next one.  Frames are thus decided strictly
 * in order, each side seeing the other's changes to the state they share.
 *
 * Shared state has one home.  The farm's counters and cursors are the Python arrays of
 * weboslb.engine.farm.FarmColumns and stats.SessionRows (pointers in struct eng_farm); the
 * persistence tables are the slow path's own pst tables; DAM ports are kept here and the slow
 * path allocates them through eng_dam_*; session serial numbers come from one counter.
 * Counters only the engine increments are kept here and taken by eng_take_counts.
 */
#ifndef WEBOSLB_ENG_H
#define WEBOSLB_ENG_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "pst.h"

typedef struct eng eng;

/* What the engine does for a virtual service (bits, 0: the slow path does it all). */
enum eng_mode {
    ENG_MODE_SLOW = 0,
    ENG_MODE_L4 = 1,        /* new connections: choose and bind on the first frame */
    ENG_MODE_SSLID = 2,     /* delayed binding on a ClientHello, learn the ServerHello's ID */
    ENG_MODE_COOKIE = 4,    /* delayed binding on a passive cookie, learn it from Set-Cookie */
    ENG_MODE_URLHASH = 8,   /* delayed binding, the real chosen by the URL's hash */
    ENG_MODE_FTP = 16       /* FTP: control lines read, data connections bound to its real */
};

enum eng_metric {
    ENG_METRIC_SLOW = 0,    /* a metric the engine does not compute: the slow path chooses */
    ENG_METRIC_ROUNDROBIN = 1,
    ENG_METRIC_LEASTCONNS = 2,
    ENG_METRIC_HASH = 3
};

/* weboslb.engine.session.TcpState, in this order */
enum eng_state {
    ENG_HALF_OPEN = 0,
    ENG_ESTABLISHED = 1,
    ENG_CLOSING = 2,
    ENG_CLOSED = 3,
    ENG_RESET = 4           /* events only: a closed state reached by a reset */
};

enum eng_bits {
    ENG_UNBOUND = 1,        /* delayed binding, waiting for the real to answer */
    ENG_FIN_CLIENT = 2,
    ENG_FIN_SERVER = 4,
    ENG_RST = 8,
    ENG_HAS_NEXT = 16,      /* request_next is set (a delayed-binding session) */
    ENG_SERVER_INIT = 32,   /* the real opened it (FTP active data) */
    ENG_FTP_CONTROL = 64,   /* an FTP control connection: its lines are read */
    ENG_FTP_DATA = 128      /* an FTP data connection (pbind "ftp") */
};

enum eng_persist {
    ENG_PERSIST_NONE = 0,
    ENG_PERSIST_NEW = 1,
    ENG_PERSIST_HIT = 2
};

enum eng_event_kind {
    ENG_EV_OPENED = 1,
    ENG_EV_BOUND = 2,
    ENG_EV_LEARNED = 3,
    ENG_EV_CLOSED = 4,
    ENG_EV_REFUSED = 5
};

/* How an event's key bytes read as text. */
enum eng_keyfmt {
    ENG_KEY_NONE = 0,
    ENG_KEY_IP = 1,         /* an address: 4 or 16 bytes */
    ENG_KEY_HEX = 2,        /* lowercase hex (session IDs) */
    ENG_KEY_TEXT = 3,       /* latin-1 (cookies, URLs) */
    ENG_KEY_ENDPOINT = 4    /* an address and a 2-byte port (FTP data) */
};

enum eng_close_why {
    ENG_WHY_FIN = 0,
    ENG_WHY_RST = 1,
    ENG_WHY_AGED = 2
};

enum eng_via {
    ENG_VIA_GROUP = 0,
    ENG_VIA_PERSIST = 1
};

/* Why eng_run returned. */
enum eng_stop {
    ENG_DONE = 0,           /* every frame up to `end` decided */
    ENG_EXCEPTION = 1,      /* the returned frame is the slow path's (nothing of it applied) */
    ENG_FLUSH = 2           /* the event buffer is full: read it, resume at the returned frame */
};

enum eng_err {
    ENG_EINVAL = -2,
    ENG_ERANGE = -3,        /* eng_run: a frame (off, caplen) that does not lie in the buffer */
    ENG_ENOMEM = -4
};

enum eng_limits {
    ENG_NAME_MAX = 64,      /* longest cookie name pattern the engine matches */
    ENG_L7_BYTES = 8192,    /* a request or response head gathered (l7.py REQUEST_LIMIT) */
    ENG_GROUP_MAX = 256,    /* reals a group may have for the engine to choose among them */
    ENG_KEY_MAX = 256,      /* longest event key (a URL hash input) */
    ENG_PBINDS = 8,         /* persistence mode names (counters by service pbind number) */
    ENG_PBIND_FTP = 4,      /* the number of "ftp" among them (FTP data connections) */
    ENG_LINE_KEEP = 514,    /* bytes of an unfinished FTP line kept (ftp.split_lines) */
    ENG_NO_SLOT = 65535,
    ENG_PORT9_SP = 9        /* the SP of Layer 7 bindings ("port 9") */
};

/* One virtual service (VIP, vport), as services.ServiceView compiles it. */
struct eng_service {
    uint8_t vip[16];        /* IPv4 in the first 4 bytes, the rest zero */
    uint8_t family;         /* 4 or 6 */
    uint8_t mode;           /* enum eng_mode bits */
    uint8_t live;           /* the virtual server serves (else: the slow path says why not) */
    uint8_t delayed;        /* delayed binding */
    uint8_t clientip;       /* pbind clientip */
    uint8_t pbind;          /* the number of its pbind name: counters[pbind] */
    uint8_t uri;            /* a passive cookie may come in the request target */
    uint8_t urlhost;        /* URL hashing reads the Host header first */
    uint16_t vport;
    uint16_t rport;
    uint16_t group;         /* group slot */
    uint16_t virt;          /* virtual server slot */
    uint16_t vsvc;
    uint16_t pvsvc;         /* the vsvc persistence entries use */
    uint16_t urlhash;       /* bytes of the URL hashed (0: not URL hashing) */
    uint8_t rcount;         /* responses a passive cookie is looked for in */
    uint8_t name_len;
    uint8_t ftp;            /* an FTP service (its VIP's first takes the data connections) */
    uint8_t reserved[3];
    uint32_t ptmout;        /* seconds an idle binding lives */
    uint32_t tmout;         /* seconds an idle unbound session lives */
    uint32_t offset;        /* the cookie key: 1-based offset, length (0: to the end) */
    uint32_t length;
    uint8_t name[64];       /* the cookie name pattern ('*': any run) */
};

struct eng_real {
    uint8_t rip[16];
    uint8_t family;
    uint8_t track_load;     /* a bandwidth metric reads its load: keep it per frame */
    uint16_t code;          /* the persistence table's real number */
    uint32_t tmout;         /* seconds an idle bound session lives */
};

struct eng_group {
    uint32_t first;         /* its members: members[first .. first + count), real slots */
    uint32_t count;
    uint32_t sched_first;   /* its whole-group smooth round-robin cycle: sched[first .. +len) */
    uint32_t sched_len;
    uint8_t metric;         /* enum eng_metric */
    uint8_t backup;         /* the group has a backup (real or group): the slow path serves */
    uint8_t reserved[6];
};

/* The farm: its configuration (copied by eng_set_farm) and pointers to the columns both sides
 * update (kept: valid until the next eng_set_farm). */
struct eng_farm {
    uint32_t nreals, ngroups, nvirts, nmembers, nsched;
    uint32_t reserved;
    const struct eng_real *reals;
    const struct eng_group *groups;
    const uint16_t *members;
    const uint16_t *sched;          /* member positions */
    int64_t *current, *total, *highest, *octets;    /* a row per real */
    uint8_t *used;
    double *response;               /* NaN: not measured */
    double *load, *load_at;         /* the bandwidth metric's decayed octets */
    const uint8_t *up;              /* enabled, operational, healthy */
    const int64_t *weight, *maxcon;
    const int32_t *backup;          /* a real's backup slot, -1: none */
    int64_t *turn;                  /* per group */
    const uint8_t *group_up;
    int64_t *vcurrent, *vtotal, *vhighest, *voctets;    /* virt * nreals + real */
    uint8_t *vused;
    int64_t *serial;                /* the last session serial given (shared counter) */
    const int64_t *unheld;          /* slow-path sessions the flow table could not hold */
};

struct eng_params {
    uint8_t dam;            /* DAM: translated client ports */
    uint8_t matrix;         /* VMA */
    uint8_t vmasport;
    uint8_t vmadip;
    uint32_t spcount;
    uint32_t pmask;         /* the client-IP persistence mask (IPv4, host order) */
    uint32_t limit;         /* sessions the switch holds, both sides together */
    uint32_t l7_buffers;    /* Layer 7 buffers the engine may hold at once */
    uint32_t reserved;
};

/* An event, in frame order (sweep events in serial order). */
struct eng_event {
    double ts;
    uint64_t serial;        /* the session's */
    uint32_t frame;         /* index in the batch (sweeps: 0) */
    uint32_t keyoff;        /* key bytes: arena[keyoff .. keyoff + keylen) */
    uint16_t keylen;
    uint16_t real;          /* the real's code */
    uint16_t svc;
    uint16_t rport;
    uint8_t kind;           /* enum eng_event_kind */
    uint8_t sp;             /* OPENED */
    uint8_t persist;        /* BOUND */
    uint8_t via;            /* BOUND */
    uint8_t keyfmt;         /* enum eng_keyfmt */
    uint8_t state;          /* CLOSED: enum eng_state */
    uint8_t why;            /* CLOSED: enum eng_close_why */
    uint8_t pbind;          /* BOUND, LEARNED: the session's pbind number */
    struct flow_key key;
};

/* Where eng_run and eng_sweep write what the slow path reads.  With events wanted, it has
 * room for at least 4 events and 2 * ENG_KEY_MAX key bytes (what one frame may write), else
 * eng_run and eng_sweep_step answer ENG_EINVAL. */
struct eng_io {
    struct eng_event *events;
    uint8_t *arena;
    uint32_t events_cap, nevents;
    uint32_t arena_cap, arena_len;
    uint8_t want_events;    /* 0: no events are written (a summary-only replay) */
    uint8_t reserved[7];
};

struct eng_batch {
    const uint8_t *buf;
    size_t buflen;
    const uint64_t *off;
    const uint32_t *caplen;
    const double *ts;
    uint32_t n;
    int32_t link;
    uint16_t ingress;       /* the port the frames came in on (the SP without VMA) */
    uint16_t reserved;
    uint32_t checked;       /* frames [0, checked) lie in the buffer (the engine checks the
                               rest once and advances it; 0 for a new batch) */
    uint8_t *verdict;       /* per frame: enum flow_verdict, 0 where the slow path decides */
    uint8_t *why;
    uint16_t *real;
};

/* A session the engine runs, as the slow path materialises it. */
struct eng_session {
    struct flow_key key;
    double created, last, bound_at;
    uint64_t serial, packets, octets;
    uint32_t timeout, request_next, l7len;
    uint16_t real;          /* code, FLOW_NO_REAL while unbound */
    uint16_t svc, pport, rport, ingress;
    uint8_t sp, state, persist, watch, bits;
    uint8_t bkind, bklen;
    uint8_t reserved;
    uint16_t bvsvc;
    uint16_t l7srv;         /* an FTP control session: the server's unfinished line, after
                               the client's l7len bytes */
    uint8_t bkey[64];
};

struct eng_counts {
    uint64_t verdicts[8];   /* frames the engine decided, by verdict */
    uint64_t whys[32];      /* and by reason */
    uint64_t fast;          /* frames the engine decided */
    uint64_t opened;        /* sessions opened */
    uint64_t pnew[8];       /* "persistence new <pbind>" */
    uint64_t phit[8];       /* "persistence hits <pbind>" */
    int64_t half_open;      /* change of Layer 7 "half open connections" */
    uint64_t requests_too_long, unparsed, client_resets, aged_dbind, no_available_real;
    uint64_t persist_alloc_failures;
    uint64_t handovers;     /* sessions the slow path took over */
    uint64_t ftp_expectations;  /* "ftp data expectations" */
};

int eng_new(flow_table *t, uint64_t seed0, uint64_t seed1, eng **out);
void eng_free(eng *e);

/* Configuration: services, farm, parameters, and the slow path's persistence table of a
 * kind (NULL: not made yet - a frame that would bind the first entry of the kind is the
 * slow path's, which makes the table; it is then set here). */
int eng_set_services(eng *e, const struct eng_service *s, uint32_t n);
int eng_set_farm(eng *e, const struct eng_farm *f);
int eng_set_params(eng *e, const struct eng_params *p);
int eng_set_table(eng *e, uint32_t kind, pst_table *table);

/* Frames start .. end-1 of the batch, in order, until one is the slow path's.  Returns the
 * index where it stopped (end when all were decided), *stop saying why; events go to io.
 * The arguments are checked on every call (every frame against buflen on the first, start
 * 0); FLOW_EINVAL / ENG_ERANGE with nothing done. */
int64_t eng_run(eng *e, struct eng_batch *b, uint32_t start, uint32_t end, struct eng_io *io,
                int *stop);

/* The engine's sessions: how many, and up to max from *cursor on (0 to start; advanced). */
uint64_t eng_count(const eng *e);
int64_t eng_iter(const eng *e, uint64_t *cursor, struct eng_session *out, uint32_t max);
/* The engine's session of key, read only: 1 and *out, or 0 when it runs none. */
int eng_peek(const eng *e, const struct flow_key *key, struct eng_session *out);
/* Hands the session of key over to the slow path: 1 and *out (with its buffered bytes in
 * l7[0 .. out->l7len + out->l7srv), room for ENG_L7_BYTES) when the engine ran it, which it
 * no longer does (the entry is held for the slow path); 0 when it did not. */
int eng_take(eng *e, const struct flow_key *key, struct eng_session *out, uint8_t *l7);

/* Aging: eng_sweep_begin finds the sessions a sweep at `now` removes (closed ones a fast
 * period after their last frame, half-open ones after half_open_age, idle ones past their
 * timeout when slow), eng_sweep_step closes them in serial order while io has room for their
 * events; it returns how many are left (0: the sweep is done). */
int64_t eng_sweep_begin(eng *e, double now, double fast_period, double half_open_age, int slow);
int64_t eng_sweep_step(eng *e, struct eng_io *io);

/* The engine's counters since the last take (zeroed by the take). */
void eng_take_counts(eng *e, struct eng_counts *out);

/* DAM source ports, for the slow path's sessions too (one home for the ports in use).
 * eng_dam_allocate returns the port, or 0 when the SP has none left toward that real. */
int32_t eng_dam_allocate(eng *e, uint32_t sp, const uint8_t *cip, uint8_t cfamily,
                         const uint8_t *rip, uint8_t rfamily, uint16_t rport);
int eng_dam_release(eng *e, const uint8_t *cip, uint8_t cfamily, uint16_t port,
                    const uint8_t *rip, uint8_t rfamily, uint16_t rport);
uint64_t eng_dam_count(const eng *e);
/* Every port free again, every cursor back to the start (a new configuration). */
void eng_dam_clear(eng *e);

/* Hashes the metrics and VMA use, for tests: blake2b-64 (person "weboslb-metric") of the
 * length-prefixed parts, CRC-32 (zlib). */
uint64_t eng_digest(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, int parts);
uint32_t eng_crc32(const uint8_t *p, size_t n);

/* Structural invariants, for tests and fuzzing: 0 when all hold. */
int eng_check(const eng *e);

#endif
