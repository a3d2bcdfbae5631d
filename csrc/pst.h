/*
 * pst.h - the persistence table: public API.
 *
 * This header is also the cffi cdef (weboslb/_native_build.py strips the preprocessor lines),
 * so it holds plain declarations only: constants are enums, never macros.
 *
 * One table holds one key kind.  Identity of an entry is (vsvc, key): a binding belongs to a
 * virtual service.  Times are virtual-clock seconds (u32) supplied by the caller; the table
 * never reads a clock.  All functions take an opaque handle; there are no globals.
 */
#ifndef WEBOSLB_PST_H
#define WEBOSLB_PST_H

#include <stddef.h>
#include <stdint.h>

typedef struct pst_table pst_table;

enum pst_kind {
    PST_IPV4 = 1,     /* client IPv4 address, already masked by pmask: 4 bytes */
    PST_IPV6 = 2,     /* client IPv6 address: 16 bytes */
    PST_SSLID = 3,    /* SSL/TLS session ID: 1-32 bytes */
    PST_COOKIE = 4,   /* HTTP cookie value: 1-64 bytes */
    PST_FTP = 5,      /* FTP data expectation, IPv4 address + port: 6 bytes */
    PST_FTP6 = 6,     /* FTP data expectation, IPv6 address + port: 18 bytes */
    PST_URLHASH = 7   /* URL hash: 8 bytes */
};

enum pst_policy {
    PST_REFUSE = 0,     /* full table: refuse the insert and count an allocation failure */
    PST_EVICT_LRU = 1   /* full table: evict the least recently used non-persistent entry */
};

/* pst_params.flags */
enum pst_new_flag {
    PST_NEW_LAZY = 1        /* no pre-faulting: memory is touched as entries and journal records
                               arrive (a big table that stays mostly empty costs little) */
};

enum pst_hash {
    PST_HASH_AUTO = 0,      /* AES when the CPU has AES-NI, else SipHash */
    PST_HASH_SIPHASH = 1,   /* SipHash-1-3: portable */
    PST_HASH_AES = 2        /* AES-NI rounds under per-table keys (x86-64) */
};

/* Errors are all below -1, so they never collide with a status or a -1 "miss". */
enum pst_err {
    PST_OK = 0,
    PST_EINVAL = -2,    /* bad argument (kind, capacity, real id, flags, sequence number) */
    PST_ENOMEM = -3,
    PST_EKEYLEN = -4,   /* a key length outside the kind's range */
    PST_EGAP = -5,      /* updates_since: the journal no longer holds that sequence number */
    PST_EFULL = -6,     /* pst_put: table full and nothing could be reclaimed or evicted */
    PST_EBADREC = -7    /* pst_import / pst_wire_check: an invalid wire record (see pst_wire) */
};

enum pst_flag {
    PST_F_PERSIST = 1,      /* persistent binding: mirrored, never evicted, only expires */
    PST_F_PENDING = 2,      /* has a journal record the mirror has not read yet (table-managed) */
    PST_F_USER = 240        /* four bits the caller may use freely (0xF0) */
};

enum pst_status {
    PST_FOUND = 0,      /* existing entry, touched */
    PST_CREATED = 1,    /* new entry */
    PST_FULL = -1       /* refused: table full (counted as an allocation failure) */
};

enum pst_op {
    PST_OP_NEW = 1,
    PST_OP_TOUCH = 2,
    PST_OP_UPDATE = 3,
    PST_OP_DELETE = 4,
    PST_OP_EXPIRE = 5
};

enum pst_limits {
    PST_KEY_MAX = 64,
    PST_NO_REAL = 65535,
    PST_CAPACITY_MAX = 268435456   /* 2^28 entries */
};

typedef struct {
    uint32_t kind;          /* enum pst_kind */
    uint32_t policy;        /* enum pst_policy */
    uint32_t hash;          /* enum pst_hash */
    uint32_t flags;         /* enum pst_new_flag bits */
    uint64_t capacity;      /* maximum entries, a power of two in 1..PST_CAPACITY_MAX */
    uint64_t journal;       /* journal records kept, a power of two, or 0: no journal */
    uint64_t seed[2];       /* hash key; the caller draws it at random per table */
} pst_params;

/* One entry as the table reports it (and as pst_put takes it). */
typedef struct {
    uint32_t created;
    uint32_t last_used;
    uint32_t timeout;       /* seconds of idleness before expiry; 0 = never expires */
    uint16_t vsvc;          /* virtual-service id: part of the entry's identity */
    uint16_t real;          /* real-server id, 0..65534 */
    uint8_t sp;             /* switch processor number */
    uint8_t flags;          /* enum pst_flag bits */
    uint8_t keylen;
    uint8_t reserved;
    uint8_t key[64];        /* keylen bytes, zero padded */
} pst_entry;

/* A batch of keys: n fixed-width records of pst_key_width(kind) bytes, zero padded. */
typedef struct {
    size_t n;
    const uint8_t *keys;
    const uint8_t *lens;    /* n key lengths; NULL for fixed-width kinds */
    const uint16_t *vsvc;   /* n virtual-service ids; NULL: vsvc0 for every key */
    uint16_t vsvc0;
} pst_keys;

/* Values for the entries get_or_create may create.  NULL arrays use the scalar. */
typedef struct {
    const uint16_t *real;
    const uint8_t *sp;
    const uint32_t *timeout;
    uint16_t real0;
    uint8_t sp0;
    uint8_t flags;          /* PST_F_PERSIST and/or PST_F_USER bits */
    uint32_t timeout0;
} pst_vals;

/* A journal record as read back: the key, and the entry's state now (live) or its absence. */
typedef struct {
    uint64_t seq;
    uint32_t op;            /* enum pst_op that wrote the record */
    uint32_t live;          /* 1: entry holds the current state; 0: the key is absent now */
    pst_entry entry;
} pst_update;

typedef struct {
    uint64_t entries;
    uint64_t capacity;
    uint64_t persistent;
    uint64_t index_slots;       /* index slots now; IPv4: key slots (5/4 x capacity at full size) */
    uint64_t lookups;
    uint64_t hits;
    uint64_t inserts;
    uint64_t touches;
    uint64_t updates;
    uint64_t deletes;
    uint64_t expirations;
    uint64_t evictions;
    uint64_t alloc_failures;
    uint64_t journal_head;      /* last sequence number written (0: none yet) */
    uint64_t journal_oldest;    /* oldest sequence number still held (head + 1 when empty) */
    uint64_t journal_capacity;
    uint64_t memory_bytes;      /* bytes mapped for the index, entries and journal */
    uint64_t probe_max;         /* longest probe distance (IPv4: in cache-line buckets) */
    uint64_t hash;              /* enum pst_hash in use (never AUTO) */
    double probe_mean;          /* mean probe length of present keys, 1 = home slot
                                 * (IPv4: lines read, 1 = home bucket) */
} pst_stats;

int pst_aes_available(void);
size_t pst_key_width(uint32_t kind);
size_t pst_key_min(uint32_t kind);
int pst_new(const pst_params *params, pst_table **out);
void pst_free(pst_table *t);
void pst_clear(pst_table *t);

int64_t pst_lookup_many(pst_table *t, const pst_keys *k, uint32_t now, uint16_t *out_real);
int32_t pst_lookup1(pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len, uint32_t now);
int pst_get(pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len, uint32_t now,
            pst_entry *out);
int64_t pst_get_or_create_many(pst_table *t, const pst_keys *k, const pst_vals *v, uint32_t now,
                               uint16_t *out_real, int8_t *out_status);
int pst_get_or_create1(pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len,
                       uint16_t real, uint8_t sp, uint32_t timeout, uint8_t flags, uint32_t now,
                       uint16_t *out_real);
int pst_put(pst_table *t, const pst_entry *e, uint32_t now, int journal);
int pst_delete(pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len);
int64_t pst_expire(pst_table *t, uint32_t now, uint64_t max_work);
int64_t pst_iter(pst_table *t, uint64_t *cursor, pst_entry *out, size_t max, uint32_t want_flags,
                 int clear_pending);
int64_t pst_updates_since(pst_table *t, uint64_t seq, pst_update *out, size_t max);
uint64_t pst_journal_head(const pst_table *t);
void pst_get_stats(const pst_table *t, pst_stats *s, int probes);
uint64_t pst_hash(const pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len);
/* A hint: fetch the index line where a lookup of the key starts (nothing for a bad length). */
void pst_prefetch(const pst_table *t, uint16_t vsvc, const uint8_t *key, size_t len);
int pst_check(const pst_table *t);

/*
 * The mirror's wire records (docs/mirror-protocol.md, weboslb/ha/wire.py), read from and
 * applied to a table in one call per RECORDS message.  A record is big-endian:
 *   op u8, keylen u8, vsvc u16, real u16, sp u8, flags u8, timeout u32, remaining u32,
 *   age u32, key[pst_key_width(kind)] zero padded
 * Lifetimes are relative (remaining and age in seconds), so the two clocks need not agree.
 * Buffers are (pointer, byte length) pairs; nothing is read or written outside them.
 */
enum pst_wire {
    PST_WIRE_FIXED = 20,        /* record bytes before the key */
    PST_WIRE_BULK = 1,          /* pst_import flag: bulk copies (see pst_import) */
    PST_BAD_OP = 1,             /* why a record is invalid: unknown op */
    PST_BAD_KEYLEN = 2,         /* key length out of the kind's range, or padding not zero */
    PST_BAD_LIVE = 3,           /* live record with real 65535, no persistent bit, or
                                   reserved flag bits */
    PST_BAD_REMAINING = 4       /* remaining lifetime longer than the timeout */
};

typedef struct {
    uint64_t applied;   /* records written (upserts) or removed (deletions) */
    uint64_t skipped;   /* bulk copies of keys an incremental record wrote in this sweep */
    uint64_t full;      /* live records the table had no room for */
    uint64_t forgotten; /* incremental keys the recent set had no room to remember */
    int64_t bad;        /* PST_EBADREC: index of the first invalid record, else -1 */
    uint32_t why;       /* PST_EBADREC: enum pst_wire PST_BAD_* of that record */
    uint32_t reserved;
} pst_import_result;

size_t pst_wire_size(uint32_t kind);
int64_t pst_wire_check(uint32_t kind, const uint8_t *buf, size_t size, size_t n,
                       uint32_t *why);
int64_t pst_export(pst_table *t, uint64_t *cursor, uint32_t now, uint8_t *buf, size_t size);
int64_t pst_export_journal(pst_table *t, uint64_t *seq, uint32_t now, uint8_t *buf,
                           size_t size);
int pst_import(pst_table *t, const uint8_t *buf, size_t size, size_t n, uint32_t now,
               uint32_t held, uint32_t flags, pst_table *recent, pst_import_result *res);
int64_t pst_sweep_begin(pst_table *t);
int64_t pst_sweep_end(pst_table *t);

#endif
