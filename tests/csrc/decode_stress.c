/*
 * decode_stress.c - the frame decoder and the L7 extractors on truncated, mutated, spliced and
 * random bytes, for the AddressSanitizer and UndefinedBehaviorSanitizer build
 * (tests/proto/test_csanitizers.py).  Every input is copied to a heap buffer of exactly its
 * size, so a read one byte past it is reported.  Results are checked for internal
 * consistency (offsets inside the input, lengths in range), and the inline per-frame decoder
 * must agree with the batch call.
 *
 * usage: decode_stress corpus rounds seed
 * corpus: records of [kind u8][length u32 little-endian][bytes]; kind 1 frame, 2 TLS stream,
 * 3 HTTP head, 4 FTP line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "decode_inl.h"
#include "l7.h"

#define STRESS_NAME "decode_stress"
#include "stress.h"

typedef struct {
    uint8_t kind;
    size_t len;
    uint8_t *bytes;
} item;

static item *corpus;
static size_t ncorpus;

static void load(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f, "cannot open %s", path);
    size_t cap = 0;
    uint8_t hdr[5];
    while (fread(hdr, 1, 5, f) == 5) {
        size_t len = hdr[1] | (size_t)hdr[2] << 8 | (size_t)hdr[3] << 16 | (size_t)hdr[4] << 24;
        if (ncorpus == cap) {
            cap = cap ? 2 * cap : 64;
            corpus = realloc(corpus, cap * sizeof *corpus);
            CHECK(corpus, "out of memory");
        }
        item *it = &corpus[ncorpus++];
        it->kind = hdr[0];
        it->len = len;
        it->bytes = malloc(len ? len : 1);
        CHECK(it->bytes && fread(it->bytes, 1, len, f) == len, "short corpus record");
    }
    fclose(f);
    CHECK(ncorpus > 0, "empty corpus");
}

/* A variant of src as an exactly sized heap buffer: cut, mutated, spliced or random. */
static uint8_t *variant(const item *src, size_t *n_out)
{
    size_t n = src->len;
    uint8_t tmp[70000];
    CHECK(n <= sizeof tmp, "corpus item too big");
    memcpy(tmp, src->bytes, n);
    switch (rnd() % 6) {
    case 0:         /* as is */
        break;
    case 1:         /* cut */
        n = n ? rnd() % (n + 1) : 0;
        break;
    case 2:         /* a few bytes changed, mostly in the headers */
    case 3:
        for (int k = 1 + (int)(rnd() % 4); k && n; k--) {
            size_t at = rnd() % 2 ? rnd() % n : rnd() % (n < 96 ? n : 96);
            tmp[at] = (uint8_t)(rnd() % 4 == 0 ? tmp[at] ^ (1u << (rnd() % 8)) : rnd());
        }
        if (rnd() % 3 == 0)
            n = n ? rnd() % (n + 1) : 0;
        break;
    case 4: {       /* the head of this one, the tail of another */
        const item *o = &corpus[rnd() % ncorpus];
        size_t cut = n ? rnd() % (n + 1) : 0, from = o->len ? rnd() % (o->len + 1) : 0;
        size_t take = o->len - from;
        if (cut + take > sizeof tmp)
            take = sizeof tmp - cut;
        memcpy(tmp + cut, o->bytes + from, take);
        n = cut + take;
        break;
    }
    default:        /* random bytes */
        n = rnd() % 160;
        for (size_t i = 0; i < n; i++)
            tmp[i] = (uint8_t)rnd();
    }
    uint8_t *p = malloc(n ? n : 1);
    CHECK(p, "out of memory");
    memcpy(p, tmp, n);
    *n_out = n;
    return p;
}

static const int LINKS[] = {FR_LINK_ETHERNET, FR_LINK_RAW, FR_LINK_LINUX_SLL,
                            FR_LINK_LINUX_SLL2, FR_LINK_IPV4, FR_LINK_IPV6, 7};

static void check_pkt(const struct fr_pkt *o, size_t n)
{
    CHECK(o->reason <= FR_UNKNOWN_LINK, "reason %u", o->reason);
    CHECK(o->nvlan <= FR_VLAN_MAX, "nvlan %u", o->nvlan);
    CHECK(o->family == 0 || o->family == 4 || o->family == 6, "family %u", o->family);
    if (o->reason == FR_OK) {
        CHECK(o->l3_off < o->l4_off && o->l4_off < o->payload_off, "offsets out of order");
        CHECK(o->payload_off <= n && o->payload_len <= n - o->payload_off,
              "payload %u+%u past a %zu-byte frame", o->payload_off, o->payload_len, n);
    } else {
        CHECK(o->payload_off == 0 && o->payload_len == 0, "payload fields set");
        CHECK(o->l4_off == 0 || (o->l4_off > o->l3_off && o->l4_off <= n), "l4_off %u", o->l4_off);
    }
}

/* A batch of frames in one exactly sized buffer, against the inline decoder frame by frame. */
static void frames(void)
{
    enum { MAXB = 16 };
    uint8_t *parts[MAXB];
    size_t lens[MAXB], total = 0;
    uint32_t nb = 1 + (uint32_t)(rnd() % MAXB);
    for (uint32_t i = 0; i < nb; i++) {
        const item *it;
        do
            it = &corpus[rnd() % ncorpus];
        while (it->kind != 1 && rnd() % 4);
        parts[i] = variant(it, &lens[i]);
        total += lens[i];
    }
    uint8_t *buf = malloc(total ? total : 1);
    uint64_t *off = malloc(nb * sizeof *off);
    uint32_t *cap = malloc(nb * sizeof *cap);
    struct fr_pkt *out = malloc(nb * sizeof *out), one;
    CHECK(buf && off && cap && out, "out of memory");
    size_t pos = 0;
    for (uint32_t i = 0; i < nb; i++) {
        memcpy(buf + pos, parts[i], lens[i]);
        off[i] = pos;
        cap[i] = (uint32_t)lens[i];
        pos += lens[i];
    }
    int link = LINKS[rnd() % (sizeof LINKS / sizeof LINKS[0])];
    CHECK(fr_decode_many(buf, total, off, cap, nb, link, out) == 0, "decode_many failed");
    for (uint32_t i = 0; i < nb; i++) {
        check_pkt(&out[i], lens[i]);
        fr_decode1(parts[i], lens[i], link, &one);
        CHECK(!memcmp(&one, &out[i], sizeof one), "inline and batch decoders differ");
        free(parts[i]);
    }
    /* a frame reaching one byte past the buffer is refused before anything is read */
    uint32_t bad = (uint32_t)(rnd() % nb);
    cap[bad] = (uint32_t)(total - off[bad] + 1);
    memset(out, 0xAB, nb * sizeof *out);
    CHECK(fr_decode_many(buf, total, off, cap, nb, link, out) == FR_ERANGE, "range not checked");
    CHECK(((uint8_t *)out)[0] == 0xAB, "output written on error");
    CHECK(fr_decode_many(NULL, 1, off, cap, nb, link, out) == FR_EINVAL, "NULL buffer");
    CHECK(fr_decode_many(buf, total, off, cap, 0, link, NULL) == 0, "empty batch");
    free(buf);
    free(off);
    free(cap);
    free(out);
}

static const char *PATTERNS[] = {"*", "ASPSESSION*", "JSESSIONID", "a", "*ID*", "", "**x*"};

static void extractors(void)
{
    const item *it = &corpus[rnd() % ncorpus];
    size_t n, len, off, vlen;
    uint8_t *p = variant(it, &n);
    struct l7_hello h;
    struct l7_ftp f;
    int rc;

    rc = l7_tls_hello(p, n, &h);
    CHECK(rc >= L7_OK && rc <= L7_MALFORMED, "tls status %d", rc);
    CHECK(h.sid_len <= L7_SID_MAX, "sid_len %u", h.sid_len);
    CHECK(rc == L7_OK ? (h.kind == 1 || h.kind == 2) : h.kind == 0, "hello kind %u", h.kind);

    for (int response = 0; response < 2; response++) {
        rc = l7_http_head(p, n, response, &len);
        CHECK(rc >= L7_OK && rc <= L7_TOO_LONG, "http status %d", rc);
        CHECK(rc == L7_OK ? len > 0 && len <= n && len <= L7_HEAD_MAX : len == 0, "head %zu", len);
        const char *pat = PATTERNS[rnd() % (sizeof PATTERNS / sizeof PATTERNS[0])];
        size_t plen = strlen(pat);
        uint8_t *cp = malloc(plen ? plen : 1);
        CHECK(cp, "out of memory");
        memcpy(cp, pat, plen);
        rc = l7_cookie(p, n, response, cp, plen, &off, &vlen);
        CHECK((rc == L7_OK || rc == L7_NONE) && off <= n && vlen <= n - off, "cookie");
        rc = l7_uri_cookie(p, n, cp, plen, &off, &vlen);
        CHECK((rc == L7_OK || rc == L7_NONE || rc == L7_MALFORMED) && off <= n &&
                  vlen <= n - off, "uri cookie");
        free(cp);

        rc = l7_ftp_line(p, n, response, &f);
        CHECK(rc >= L7_OK && rc <= L7_TOO_LONG && rc != L7_NOT_TLS, "ftp status %d", rc);
        CHECK(f.line_len <= n, "line_len %u of %zu", f.line_len, n);
        CHECK(rc == L7_OK ? f.kind >= 1 && f.kind <= 4 : f.kind == 0, "ftp kind %u", f.kind);
    }
    size_t koff = 0, klen = 0;
    uint32_t o = (uint32_t)(rnd() % 70), l = (uint32_t)(rnd() % 70);
    rc = l7_cookie_key(n, o, l, &koff, &klen);
    CHECK(o == 0 ? rc == L7_EINVAL : (rc == L7_OK || rc == L7_NONE), "cookie_key %d", rc);
    CHECK(klen <= L7_KEY_MAX && koff + klen <= n, "key %zu+%zu of %zu", koff, klen, n);
    free(p);
}

int main(int argc, char **argv)
{
    CHECK(argc == 4, "usage: decode_stress corpus rounds seed");
    load(argv[1]);
    long rounds = strtol(argv[2], NULL, 10);
    rng_state = strtoull(argv[3], NULL, 0) | 1;

    /* every cut of every corpus item, then random variants */
    for (size_t i = 0; i < ncorpus; i++) {
        for (size_t n = 0; n <= corpus[i].len && n <= 600; n++) {
            uint8_t *p = malloc(n ? n : 1);
            struct fr_pkt o;
            struct l7_hello h;
            struct l7_ftp f;
            size_t len;
            CHECK(p, "out of memory");
            memcpy(p, corpus[i].bytes, n);
            for (size_t k = 0; k < sizeof LINKS / sizeof LINKS[0]; k++) {
                fr_decode1(p, n, LINKS[k], &o);
                check_pkt(&o, n);
            }
            (void)l7_tls_hello(p, n, &h);
            (void)l7_http_head(p, n, 0, &len);
            (void)l7_ftp_line(p, n, 1, &f);
            free(p);
        }
    }
    CHECK(l7_tls_hello(NULL, 1, NULL) == L7_EINVAL, "tls NULL");
    CHECK(l7_http_head(NULL, 0, 0, NULL) == L7_EINVAL, "http NULL");
    for (long r = 0; r < rounds; r++) {
        frames();
        extractors();
    }
    for (size_t i = 0; i < ncorpus; i++)
        free(corpus[i].bytes);
    free(corpus);
    printf("decode_stress: ok (%zu corpus items, %ld rounds)\n", ncorpus, rounds);
    return 0;
}
