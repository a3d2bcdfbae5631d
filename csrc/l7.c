/*
 * l7.c - Layer-7 persistence-key extractors (see l7.h for the API, and the "Parser semantics"
 * shared with weboslb/proto/tls.py, http.py and ftp.py).
 *
 * Every read is checked against the caller's length; nothing is copied except the few bytes a
 * result holds, so a handshake split over many records is read in place through a cursor.
 */
#include "l7.h"

#include <string.h>

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Narrows [*a, *b) of p to drop leading and trailing spaces and tabs. */
static void trim(const uint8_t *p, size_t *a, size_t *b)
{
    while (*a < *b && is_ws(p[*a]))
        (*a)++;
    while (*b > *a && is_ws(p[*b - 1]))
        (*b)--;
}

/* Decimal digits only, at least one; the value saturates, so a long run is just too big. */
static int dec(const uint8_t *s, size_t len, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return 0;
        v = v > max ? v : v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return v <= max;
}

static int ci_eq(const uint8_t *s, const char *lower, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + 32);
        if (c != (uint8_t)lower[i])
            return 0;
    }
    return 1;
}

static const uint8_t *find(const uint8_t *p, size_t from, size_t to, uint8_t c)
{
    return from < to ? memchr(p + from, c, to - from) : NULL;
}

/* ---- TLS -------------------------------------------------------------------------------- */

/* The handshake byte stream carried by consecutive handshake records, read in place. */
typedef struct {
    const uint8_t *p;
    size_t n, pos;      /* pos: the next unread byte of p */
    size_t left;        /* bytes of the current record body not yet read (some maybe absent) */
    int first;          /* no record header read yet: a bad one means "not TLS" */
} hs_stream;

static int hs_record(hs_stream *s)
{
    size_t have = s->n - s->pos;
    const uint8_t *h = s->p + s->pos;
    if ((have >= 1 && h[0] != 22) || (have >= 2 && h[1] != 3))
        return s->first ? L7_NOT_TLS : L7_MALFORMED;
    if (have < 5)
        return L7_NEED_MORE;
    s->left = be16(h + 3);
    s->pos += 5;
    s->first = 0;
    return L7_OK;
}

/* Copies the next k handshake bytes to dst, or skips them (dst NULL). */
static int hs_read(hs_stream *s, uint8_t *dst, size_t k)
{
    while (k) {
        if (s->left == 0) {
            int rc = hs_record(s);
            if (rc != L7_OK)
                return rc;
            continue;
        }
        size_t take = k < s->left ? k : s->left, have = s->n - s->pos;
        if (take > have)
            take = have;
        if (take == 0)
            return L7_NEED_MORE;
        if (dst) {
            memcpy(dst, s->p + s->pos, take);
            dst += take;
        }
        s->pos += take;
        s->left -= take;
        k -= take;
    }
    return L7_OK;
}

/* A complete handshake message; reading past its end sets a sticky error. */
typedef struct {
    hs_stream s;
    size_t left;
    int err;
} msg_rd;

static void m_read(msg_rd *m, uint8_t *dst, size_t k)
{
    if (m->err || k > m->left) {
        m->err = 1;
        return;
    }
    m->left -= k;
    (void)hs_read(&m->s, dst, k);   /* cannot fail: the whole message was seen present */
}

static uint32_t m_uint(msg_rd *m, size_t k)
{
    uint8_t b[4] = {0};
    uint32_t v = 0;
    m_read(m, b, k);
    for (size_t i = 0; i < k && !m->err; i++)
        v = v << 8 | b[i];
    return v;
}

/* The extensions block, if any: only supported_versions (43) matters. */
static int hello_exts(msg_rd *m, int server, struct l7_hello *out)
{
    if (m->left == 0)
        return L7_OK;
    size_t total = m_uint(m, 2);
    if (m->err || total > m->left)
        return L7_MALFORMED;
    while (total) {
        if (total < 4)
            return L7_MALFORMED;
        uint32_t type = m_uint(m, 2);
        size_t len = m_uint(m, 2);
        total -= 4;
        if (len > total)
            return L7_MALFORMED;
        total -= len;
        if (type != 43) {
            m_read(m, NULL, len);
        } else if (server) {            /* selected_version */
            if (len < 2)
                return L7_MALFORMED;
            out->tls13 |= m_uint(m, 2) == 0x0304;
            m_read(m, NULL, len - 2);
        } else {                        /* versions<2..254>: a 1-byte length, then pairs */
            if (len < 1)
                return L7_MALFORMED;
            size_t list = m_uint(m, 1);
            if (list > len - 1)
                return L7_MALFORMED;
            for (size_t i = 0; i + 2 <= list; i += 2)
                out->tls13 |= m_uint(m, 2) == 0x0304;
            m_read(m, NULL, len - 1 - (list & ~(size_t)1));
        }
    }
    return m->err ? L7_MALFORMED : L7_OK;
}

static int hello_body(msg_rd *m, uint8_t type, struct l7_hello *out)
{
    out->kind = type;
    out->version = (uint16_t)m_uint(m, 2);
    m_read(m, NULL, 32);                /* random */
    size_t sid = m_uint(m, 1);
    if (m->err || sid > L7_SID_MAX)
        return L7_MALFORMED;
    m_read(m, out->sid, sid);
    out->sid_len = (uint8_t)sid;
    if (type == L7_CLIENT_HELLO) {
        m_read(m, NULL, m_uint(m, 2));  /* cipher suites */
        m_read(m, NULL, m_uint(m, 1));  /* compression methods */
    } else {
        m_read(m, NULL, 3);             /* cipher suite, compression method */
    }
    if (m->err)
        return L7_MALFORMED;
    return hello_exts(m, type == L7_SERVER_HELLO, out);
}

static int tls_hello(const uint8_t *p, size_t n, struct l7_hello *out)
{
    hs_stream s = {.p = p, .n = n, .first = 1};
    uint8_t h[4];
    int rc = hs_read(&s, h, 4);
    if (rc != L7_OK)
        return rc;
    size_t len = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    if ((h[0] != L7_CLIENT_HELLO && h[0] != L7_SERVER_HELLO) || len > L7_HS_MAX)
        return L7_MALFORMED;
    msg_rd m = {.s = s, .left = len};
    rc = hs_read(&s, NULL, len);        /* is the whole message there? */
    if (rc != L7_OK)
        return rc;
    return hello_body(&m, h[0], out);
}

/* SSLv2-compatible ClientHello: 2-byte header with the high bit set, then msg type 1,
 * version, cipher_spec_length, session_id_length, challenge_length and the fields. */
static int sslv2_hello(const uint8_t *p, size_t n, struct l7_hello *out)
{
    if (n < 3)
        return L7_NEED_MORE;
    if (p[2] != 1)
        return L7_NOT_TLS;
    size_t len = (size_t)(p[0] & 0x7f) << 8 | p[1];
    if (len < 9)
        return L7_MALFORMED;
    if (n < 11)
        return L7_NEED_MORE;
    const uint8_t *m = p + 2;
    size_t specs = be16(m + 3), sid = be16(m + 5), challenge = be16(m + 7);
    if ((sid != 0 && (sid < 16 || sid > L7_SID_MAX)) || 9 + specs + sid + challenge > len)
        return L7_MALFORMED;
    if (n - 2 < len)
        return L7_NEED_MORE;
    out->kind = L7_CLIENT_HELLO;
    out->version = (uint16_t)be16(m + 1);
    out->sid_len = (uint8_t)sid;
    memcpy(out->sid, m + 9 + specs, sid);
    return L7_OK;
}

int l7_tls_hello(const uint8_t *p, size_t n, struct l7_hello *out)
{
    if (!out || (!p && n))
        return L7_EINVAL;
    memset(out, 0, sizeof *out);
    if (n == 0)
        return L7_NEED_MORE;
    int rc = (p[0] & 0x80) ? sslv2_hello(p, n, out) : tls_hello(p, n, out);
    if (rc != L7_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

/* The end of the head within p[0..n): just past the first LF that is followed by LF or by
 * CR LF (an empty line), or 0. */
static size_t head_end(const uint8_t *p, size_t n)
{
    for (const uint8_t *q = find(p, 0, n, '\n'); q; q = find(p, (size_t)(q - p) + 1, n, '\n')) {
        size_t i = (size_t)(q - p);
        if (i + 1 < n && p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* The line starting at `from`: [from, *end) without its LF and one CR before it; returns
 * where the next line starts. */
static size_t line_at(const uint8_t *p, size_t n, size_t from, size_t *end)
{
    const uint8_t *lf = find(p, from, n, '\n');
    size_t e = lf ? (size_t)(lf - p) : n;
    size_t next = lf ? e + 1 : n;
    if (e > from && p[e - 1] == '\r')
        e--;
    *end = e;
    return next;
}

static int http_version(const uint8_t *v)
{
    return !memcmp(v, "HTTP/", 5) && is_digit(v[5]) && v[6] == '.' && is_digit(v[7]);
}

/* METHOD SP target SP HTTP/d.d: three non-empty fields split on single spaces.  Sets the
 * target's [*ts, *te). */
static int request_line(const uint8_t *l, size_t len, size_t *ts, size_t *te)
{
    const uint8_t *sp1 = find(l, 0, len, ' ');
    if (!sp1 || sp1 == l)
        return 0;
    size_t a = (size_t)(sp1 - l);
    const uint8_t *sp2 = find(l, a + 1, len, ' ');
    if (!sp2)
        return 0;
    size_t b = (size_t)(sp2 - l);
    if (b == a + 1 || len - b - 1 != 8 || !http_version(l + b + 1))
        return 0;
    *ts = a + 1;
    *te = b;
    return 1;
}

/* HTTP/d.d SP 3DIGIT, then the end or SP and a reason phrase. */
static int status_line(const uint8_t *l, size_t len)
{
    return len >= 12 && http_version(l) && l[8] == ' ' && is_digit(l[9]) && is_digit(l[10]) &&
           is_digit(l[11]) && (len == 12 || l[12] == ' ');
}

int l7_http_head(const uint8_t *p, size_t n, int response, size_t *head_len)
{
    size_t end, line_end, ts, te;
    if (!head_len || (!p && n))
        return L7_EINVAL;
    *head_len = 0;
    end = head_end(p, n < L7_HEAD_MAX ? n : L7_HEAD_MAX);
    if (end == 0)
        return n >= L7_HEAD_MAX ? L7_TOO_LONG : L7_NEED_MORE;
    line_at(p, end, 0, &line_end);
    if (response ? !status_line(p, line_end) : !request_line(p, line_end, &ts, &te))
        return L7_MALFORMED;
    *head_len = end;
    return L7_OK;
}

/* Glob match of the whole name: '*' matches any run (also empty), all else is literal and
 * case-sensitive.  Backtracks to the last star only: O(plen * len). */
static int glob(const uint8_t *pat, size_t plen, const uint8_t *s, size_t len)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
    while (si < len) {
        if (pi < plen && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < plen && pat[pi] == s[si]) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

typedef struct {
    const uint8_t *pat;
    size_t plen;
    size_t voff, vlen;
} cookie_want;

/* One name=value pair in [a, b): trimmed, then split at the first '='. */
static int pair_matches(const uint8_t *h, size_t a, size_t b, cookie_want *w)
{
    trim(h, &a, &b);
    const uint8_t *eq = find(h, a, b, '=');
    if (!eq || !glob(w->pat, w->plen, h + a, (size_t)(eq - h) - a))
        return 0;
    w->voff = (size_t)(eq - h) + 1;
    w->vlen = b - w->voff;
    return 1;
}

/* Cookie: a=1; b=2 - every pair. */
static int cookie_header(const uint8_t *h, size_t a, size_t b, cookie_want *w)
{
    for (;;) {
        const uint8_t *semi = find(h, a, b, ';');
        size_t e = semi ? (size_t)(semi - h) : b;
        if (pair_matches(h, a, e, w))
            return 1;
        if (!semi)
            return 0;
        a = e + 1;
    }
}

/* Set-Cookie: a=1; Path=/; ... - the pair before the first ';', the rest are attributes. */
static int set_cookie_header(const uint8_t *h, size_t a, size_t b, cookie_want *w)
{
    const uint8_t *semi = find(h, a, b, ';');
    return pair_matches(h, a, semi ? (size_t)(semi - h) : b, w);
}

int l7_cookie(const uint8_t *head, size_t n, int response, const uint8_t *pattern,
              size_t plen, size_t *voff, size_t *vlen)
{
    if (!voff || !vlen || (!head && n) || (!pattern && plen))
        return L7_EINVAL;
    *voff = *vlen = 0;
    const char *want = response ? "set-cookie" : "cookie";
    size_t wlen = strlen(want), end, pos;
    cookie_want w = {.pat = pattern, .plen = plen};
    pos = line_at(head, n, 0, &end);    /* the start line */
    while (pos < n) {
        size_t a = pos;
        pos = line_at(head, n, a, &end);
        if (end == a)                   /* the empty line ending the head */
            break;
        const uint8_t *colon = find(head, a, end, ':');
        if (!colon || (size_t)(colon - head) - a != wlen || !ci_eq(head + a, want, wlen))
            continue;
        size_t va = (size_t)(colon - head) + 1, vb = end;
        trim(head, &va, &vb);
        if (response ? set_cookie_header(head, va, vb, &w) : cookie_header(head, va, vb, &w)) {
            *voff = w.voff;
            *vlen = w.vlen;
            return L7_OK;
        }
    }
    return L7_NONE;
}

int l7_http_target(const uint8_t *head, size_t n, size_t *toff, size_t *tlen)
{
    size_t end, ts, te;
    if (!toff || !tlen || (!head && n))
        return L7_EINVAL;
    *toff = *tlen = 0;
    line_at(head, n, 0, &end);
    if (!request_line(head, end, &ts, &te))
        return L7_MALFORMED;
    *toff = ts;
    *tlen = te - ts;
    return L7_OK;
}

int l7_http_header(const uint8_t *head, size_t n, const uint8_t *lower, size_t llen,
                   size_t *voff, size_t *vlen)
{
    size_t end, pos;
    if (!voff || !vlen || (!head && n) || (!lower && llen))
        return L7_EINVAL;
    *voff = *vlen = 0;
    pos = line_at(head, n, 0, &end);    /* the start line */
    while (pos < n) {
        size_t a = pos;
        pos = line_at(head, n, a, &end);
        if (end == a)                   /* the empty line ending the head */
            break;
        const uint8_t *colon = find(head, a, end, ':');
        if (!colon || (size_t)(colon - head) - a != llen)
            continue;
        int same = 1;
        for (size_t i = 0; i < llen && same; i++) {
            uint8_t c = head[a + i];
            same = (c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c) == lower[i];
        }
        if (!same)
            continue;
        size_t va = (size_t)(colon - head) + 1, vb = end;
        trim(head, &va, &vb);
        *voff = va;
        *vlen = vb - va;
        return L7_OK;
    }
    return L7_NONE;
}

static int uri_delim(uint8_t c)
{
    return c == ';' || c == '?' || c == '&' || c == '#';
}

int l7_uri_cookie(const uint8_t *head, size_t n, const uint8_t *pattern, size_t plen,
                  size_t *voff, size_t *vlen)
{
    size_t end, ts, te;
    if (!voff || !vlen || (!head && n) || (!pattern && plen))
        return L7_EINVAL;
    *voff = *vlen = 0;
    line_at(head, n, 0, &end);
    if (!request_line(head, end, &ts, &te))
        return L7_MALFORMED;
    for (size_t i = ts; i < te && head[i] != '#';) {
        if (!uri_delim(head[i])) {
            i++;
            continue;
        }
        size_t a = i + 1, b = a;
        while (b < te && !uri_delim(head[b]))
            b++;
        const uint8_t *eq = find(head, a, b, '=');
        if (eq && glob(pattern, plen, head + a, (size_t)(eq - head) - a)) {
            *voff = (size_t)(eq - head) + 1;
            *vlen = b - *voff;
            return L7_OK;
        }
        i = b;
    }
    return L7_NONE;
}

int l7_cookie_key(size_t vlen, uint32_t offset, uint32_t length, size_t *koff, size_t *klen)
{
    if (!koff || !klen || offset == 0)
        return L7_EINVAL;
    *koff = *klen = 0;
    if (vlen < offset)
        return L7_NONE;
    size_t rest = vlen - (offset - 1), k = (length == 0 || length > rest) ? rest : length;
    *koff = offset - 1;
    *klen = k < L7_KEY_MAX ? k : L7_KEY_MAX;
    return L7_OK;
}

/* ---- FTP -------------------------------------------------------------------------------- */

/* a.b.c.d as Python's ipaddress takes it: 1-3 digits per octet, no leading zeros. */
static int ipv4_text(const uint8_t *s, size_t len, uint8_t out[4])
{
    size_t a = 0;
    for (int k = 0; k < 4; k++) {
        const uint8_t *dot = find(s, a, len, '.');
        size_t b = dot ? (size_t)(dot - s) : len;
        uint32_t v;
        if ((k < 3) != (dot != NULL) || b - a > 3 || (b - a > 1 && s[a] == '0') ||
            !dec(s + a, b - a, 255, &v))
            return 0;
        out[k] = (uint8_t)v;
        a = b + 1;
    }
    return 1;
}

static int hextet(const uint8_t *s, size_t len, uint32_t *out)
{
    uint32_t v = 0;
    if (len == 0 || len > 4)
        return 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        uint32_t d = is_digit(c) ? (uint32_t)(c - '0')
                     : (c | 32) >= 'a' && (c | 32) <= 'f' ? (uint32_t)((c | 32) - 'a' + 10)
                     : 16;
        if (d == 16)
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* IPv6 text as inet_pton (and Python's ipaddress) takes it: hextets, one "::", an IPv4
 * tail; no zone ID. */
static int ipv6_text(const uint8_t *s, size_t len, uint8_t out[16])
{
    enum { MAXP = 9 };
    size_t ps[MAXP + 1], pe[MAXP + 1];
    uint32_t val[MAXP + 1];
    int np = 0, lastv4 = 0;
    if (len == 0 || find(s, 0, len, '%') || find(s, 0, len, '/'))
        return 0;
    for (size_t a = 0;;) {
        const uint8_t *c = find(s, a, len, ':');
        size_t b = c ? (size_t)(c - s) : len;
        if (np == MAXP + 1)
            return 0;
        ps[np] = a;
        pe[np++] = b;
        if (!c)
            break;
        a = b + 1;
    }
    if (np < 3)
        return 0;
    if (find(s, ps[np - 1], pe[np - 1], '.')) {     /* an IPv4 tail: two hextets */
        uint8_t v4[4];
        if (!ipv4_text(s + ps[np - 1], pe[np - 1] - ps[np - 1], v4) || np == MAXP + 1)
            return 0;
        val[np - 1] = (uint32_t)v4[0] << 8 | v4[1];
        val[np] = (uint32_t)v4[2] << 8 | v4[3];
        ps[np] = pe[np] = 0;
        np++;
        lastv4 = 1;
    }
    if (np > MAXP)
        return 0;
#define EMPTY(i) (!(lastv4 && (i) >= np - 2) && ps[i] == pe[i])
    int skip = -1, hi, lo, skipped;
    for (int i = 1; i < np - 1; i++) {
        if (EMPTY(i)) {
            if (skip >= 0)
                return 0;
            skip = i;
        }
    }
    if (skip >= 0) {
        hi = skip;
        lo = np - skip - 1;
        if (EMPTY(0) && --hi)
            return 0;
        if (EMPTY(np - 1) && --lo)
            return 0;
        skipped = 8 - (hi + lo);
        if (skipped < 1)
            return 0;
    } else {
        if (np != 8 || EMPTY(0) || EMPTY(np - 1))
            return 0;
        hi = np;
        lo = 0;
        skipped = 0;
    }
#undef EMPTY
    uint32_t words[8];  /* hi + skipped + lo == 8 */
    int w = 0;
    for (int i = 0; i < np; i++) {
        if (i == hi)
            for (int k = 0; k < skipped; k++)
                words[w++] = 0;
        if (i >= hi && i < np - lo)
            continue;
        if (!(lastv4 && i >= np - 2) && !hextet(s + ps[i], pe[i] - ps[i], &val[i]))
            return 0;
        words[w++] = val[i];
    }
    for (int k = 0; k < 8; k++) {
        out[2 * k] = (uint8_t)(words[k] >> 8);
        out[2 * k + 1] = (uint8_t)words[k];
    }
    return 1;
}

static size_t skip_spaces(const uint8_t *s, size_t i, size_t len)
{
    while (i < len && s[i] == ' ')
        i++;
    return i;
}

/* Six comma-separated numbers from s[i] on, spaces around them allowed (the regex
 * \d+ *(, *\d+ *){5}).  Returns 0 when they are not there, else 1 with *end just past them
 * (trailing spaces included) and *in_range whether all are 0-255. */
static int six_at(const uint8_t *s, size_t i, size_t len, size_t *end, int *in_range,
                  struct l7_ftp *out)
{
    uint32_t v[6];
    *in_range = 1;
    for (int k = 0; k < 6; k++) {
        if (k) {
            if (i == len || s[i] != ',')
                return 0;
            i = skip_spaces(s, i + 1, len);
        }
        size_t a = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == a)
            return 0;
        *in_range &= dec(s + a, i - a, 255, &v[k]);
        i = skip_spaces(s, i, len);
    }
    *end = i;
    for (int k = 0; k < 4; k++)
        out->addr[k] = (uint8_t)v[k];
    out->family = 4;
    out->port = (uint16_t)(v[4] << 8 | v[5]);
    return 1;
}

/* A port: 1-5 digits, at most 65535. */
static int port_text(const uint8_t *s, size_t len, uint32_t *out)
{
    return len <= 5 && dec(s, len, 65535, out);
}

/* EPRT <d>1<d>a.b.c.d<d>port<d> or <d>2<d>ipv6<d>port<d> (d: 33-126). */
static int eprt(const uint8_t *s, size_t len, struct l7_ftp *out)
{
    const uint8_t *d1, *d2, *d3;
    uint32_t port;
    if (len < 4 || s[0] < 33 || s[0] > 126)
        return 0;
    uint8_t d = s[0];
    if (!(d1 = find(s, 1, len, d)) || !(d2 = find(s, (size_t)(d1 - s) + 1, len, d)) ||
        !(d3 = find(s, (size_t)(d2 - s) + 1, len, d)) || (size_t)(d3 - s) != len - 1)
        return 0;
    size_t a = (size_t)(d1 - s) + 1, b = (size_t)(d2 - s), c = (size_t)(d3 - s);
    if (!port_text(d2 + 1, c - b - 1, &port) || d1 - s != 2)
        return 0;
    if (s[1] == '1' && ipv4_text(s + a, b - a, out->addr))
        out->family = 4;
    else if (s[1] == '2' && ipv6_text(s + a, b - a, out->addr))
        out->family = 6;
    else
        return 0;
    out->port = (uint16_t)port;
    return 1;
}

static int ftp_command(const uint8_t *l, size_t len, struct l7_ftp *out)
{
    const uint8_t *sp = find(l, 0, len, ' ');
    size_t verb = sp ? (size_t)(sp - l) : len, a = sp ? verb + 1 : len, b = len, e;
    int in_range;
    if (verb != 4)
        return L7_NONE;
    a = skip_spaces(l, a, len);         /* the argument, spaces around it dropped */
    while (b > a && l[b - 1] == ' ')
        b--;
    if (ci_eq(l, "port", 4)) {
        out->kind = L7_FTP_PORT;
        return six_at(l, a, b, &e, &in_range, out) && e == b && in_range ? L7_OK
                                                                         : L7_MALFORMED;
    }
    if (ci_eq(l, "eprt", 4)) {
        out->kind = L7_FTP_EPRT;
        return eprt(l + a, b - a, out) ? L7_OK : L7_MALFORMED;
    }
    return L7_NONE;
}

/* 227: the first run of six comma-separated numbers after the code (the first match of the
 * regex (?<!\d)\d+ *(, *\d+ *){5}). */
static int reply_227(const uint8_t *l, size_t len, struct l7_ftp *out)
{
    for (size_t i = 4, e; i < len; i++) {
        int in_range;
        if (!is_digit(l[i]) || is_digit(l[i - 1]) || !six_at(l, i, len, &e, &in_range, out))
            continue;
        out->kind = L7_FTP_PASV227;
        return in_range ? L7_OK : L7_MALFORMED;
    }
    return L7_MALFORMED;
}

/* 229: the first "(<d><d><d>port<d>)" (a regex search for \((.)\1\1(\d+)\1\)). */
static int reply_229(const uint8_t *l, size_t len, struct l7_ftp *out)
{
    for (size_t i = 3; i + 6 <= len; i++) {
        uint8_t d = l[i + 1];
        if (l[i] != '(' || d < 33 || d > 126 || l[i + 2] != d || l[i + 3] != d)
            continue;
        size_t a = i + 4, e = a;
        while (e < len && is_digit(l[e]))
            e++;
        if (is_digit(d) && e > a)
            e--;    /* the delimiter is a digit: the run ends one before the ')' */
        uint32_t port;
        if (e == a || e + 1 >= len || l[e] != d || l[e + 1] != ')')
            continue;
        out->kind = L7_FTP_EPSV229;
        if (!port_text(l + a, e - a, &port))
            return L7_MALFORMED;
        out->port = (uint16_t)port;
        return L7_OK;
    }
    return L7_MALFORMED;
}

static int ftp_reply(const uint8_t *l, size_t len, struct l7_ftp *out)
{
    if (len < 3 || !is_digit(l[0]) || !is_digit(l[1]) || !is_digit(l[2]) ||
        (len > 3 && l[3] != ' ' && l[3] != '-'))
        return L7_NONE;
    if (!memcmp(l, "227", 3))
        return reply_227(l, len, out);
    if (!memcmp(l, "229", 3))
        return reply_229(l, len, out);
    return L7_NONE;
}

int l7_ftp_line(const uint8_t *line, size_t n, int from_client, struct l7_ftp *out)
{
    if (!out || (!line && n))
        return L7_EINVAL;
    memset(out, 0, sizeof *out);
    const uint8_t *lf = find(line, 0, n, '\n');
    size_t len = lf ? (size_t)(lf - line) : n;
    if (len && line[len - 1] == '\r')
        len--;
    int rc = len > L7_FTP_LINE_MAX ? L7_TOO_LONG
             : !lf                 ? L7_NEED_MORE
             : from_client         ? ftp_command(line, len, out)
                                   : ftp_reply(line, len, out);
    if (rc != L7_OK)
        memset(out, 0, sizeof *out);
    if (lf)
        out->line_len = (uint32_t)(lf - line) + 1;
    return rc;
}
