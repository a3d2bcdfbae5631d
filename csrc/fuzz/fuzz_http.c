/*
 * fuzz_http.c - the HTTP head readers: l7_http_head (request and status lines), l7_cookie
 * (Cookie and Set-Cookie), l7_uri_cookie, l7_http_target, l7_http_header, l7_cookie_key.
 *
 * Input: byte 0 (bit 0: a response head; the rest: the cookie key's offset), byte 1 (the
 * key's length), byte 2 (the cookie name pattern's length, mod 32) and the pattern, byte 3
 * (a header name's length, mod 24) and the name, then the head bytes.
 *
 * Checked: statuses are the documented ones; every (offset, length) returned lies inside the
 * bytes given and inside the line it belongs to; a cookie value follows its '=', holds no ';'
 * and no line end, and a request target no space; results are zero on any other status; a
 * head's verdict is stable as bytes arrive (NEED_MORE, or the same answer and length); and
 * reading a complete head alone or followed by its body finds the same cookie and header.
 */
#define FUZZ_NAME "fuzz_http"
#include "fuzz.h"

#include "l7.h"

FUZZ_OUTCOMES("ok", "need_more", "malformed", "too_long", "cookie", "set_cookie", "uri_cookie",
              "target", "header", "cookie_key")

static int has(const uint8_t *p, size_t a, size_t b, uint8_t c)
{
    return a < b && memchr(p + a, c, b - a) != NULL;
}

static size_t first_line_end(const uint8_t *h, size_t n)
{
    const uint8_t *lf = memchr(h, '\n', n);
    return lf ? (size_t)(lf - h) : n;
}

static int head(const uint8_t *h, size_t n, int response, size_t *hl)
{
    int rc = l7_http_head(h, n, response, hl);
    FUZZ_CHECK(rc == L7_OK || rc == L7_NEED_MORE || rc == L7_MALFORMED || rc == L7_TOO_LONG,
               "head status %d", rc);
    if (rc != L7_OK) {
        FUZZ_CHECK(*hl == 0, "head_len %zu on status %d", *hl, rc);
        FUZZ_CHECK(rc != L7_TOO_LONG || n >= L7_HEAD_MAX, "too long at %zu bytes", n);
        return rc;
    }
    FUZZ_CHECK(*hl >= 2 && *hl <= n && *hl <= L7_HEAD_MAX, "head_len %zu of %zu", *hl, n);
    FUZZ_CHECK(h[*hl - 1] == '\n' && (h[*hl - 2] == '\n' ||
                                      (*hl >= 3 && h[*hl - 2] == '\r' && h[*hl - 3] == '\n')),
               "head does not end with an empty line");
    return rc;
}

typedef struct {
    int rc;
    size_t off, len;
} found;

static found cookie(const uint8_t *h, size_t n, int response, const uint8_t *pat, size_t plen)
{
    found f;
    f.rc = l7_cookie(h, n, response, pat, plen, &f.off, &f.len);
    FUZZ_CHECK(f.rc == L7_OK || f.rc == L7_NONE, "cookie status %d", f.rc);
    if (f.rc != L7_OK) {
        FUZZ_CHECK(f.off == 0 && f.len == 0, "cookie result on NONE");
        return f;
    }
    FUZZ_CHECK(f.off >= 1 && f.off + f.len <= n && h[f.off - 1] == '=', "cookie at %zu+%zu of %zu",
               f.off, f.len, n);
    FUZZ_CHECK(!has(h, f.off, f.off + f.len, ';') && !has(h, f.off, f.off + f.len, '\n'),
               "cookie value crosses a ';' or a line end");
    FUZZ_CHECK(f.len == 0 || (h[f.off + f.len - 1] != ' ' && h[f.off + f.len - 1] != '\t'),
               "cookie value not trimmed");
    return f;
}

static found header(const uint8_t *h, size_t n, const uint8_t *name, size_t nlen)
{
    found f;
    f.rc = l7_http_header(h, n, name, nlen, &f.off, &f.len);
    FUZZ_CHECK(f.rc == L7_OK || f.rc == L7_NONE, "header status %d", f.rc);
    if (f.rc != L7_OK) {
        FUZZ_CHECK(f.off == 0 && f.len == 0, "header result on NONE");
        return f;
    }
    FUZZ_CHECK(f.off > nlen && f.off + f.len <= n && !has(h, f.off, f.off + f.len, '\n'),
               "header value at %zu+%zu of %zu", f.off, f.len, n);
    FUZZ_CHECK(h[f.off - 1] == ':' || h[f.off - 1] == ' ' || h[f.off - 1] == '\t',
               "header value does not follow its colon");
    return f;
}

static void request_parts(const uint8_t *h, size_t n, const uint8_t *pat, size_t plen)
{
    size_t line = first_line_end(h, n), toff, tlen, voff, vlen;
    int trc = l7_http_target(h, n, &toff, &tlen);
    FUZZ_CHECK(trc == L7_OK || trc == L7_MALFORMED, "target status %d", trc);
    if (trc == L7_OK) {
        FUZZ_SEEN(7);
        FUZZ_CHECK(tlen >= 1 && toff >= 2 && toff + tlen <= line && h[toff - 1] == ' ' &&
                       !has(h, toff, toff + tlen, ' '), "target at %zu+%zu, line %zu",
                   toff, tlen, line);
    } else {
        FUZZ_CHECK(toff == 0 && tlen == 0, "target result on MALFORMED");
    }
    int urc = l7_uri_cookie(h, n, pat, plen, &voff, &vlen);
    FUZZ_CHECK(urc == L7_OK || urc == L7_NONE || urc == L7_MALFORMED, "uri status %d", urc);
    FUZZ_CHECK((urc == L7_MALFORMED) == (trc == L7_MALFORMED), "uri %d, target %d", urc, trc);
    if (urc == L7_OK) {
        FUZZ_SEEN(6);
        FUZZ_CHECK(voff > toff && voff + vlen <= toff + tlen && h[voff - 1] == '=',
                   "uri cookie at %zu+%zu, target %zu+%zu", voff, vlen, toff, tlen);
        for (size_t i = voff; i < voff + vlen; i++)
            FUZZ_CHECK(h[i] != ';' && h[i] != '?' && h[i] != '&' && h[i] != '#',
                       "uri cookie value holds a delimiter");
    } else {
        FUZZ_CHECK(voff == 0 && vlen == 0, "uri result on %d", urc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size, 0};
    uint8_t b0 = fz_u8(&in), klen = fz_u8(&in);
    int response = b0 & 1;
    size_t plen = fz_u8(&in) % 32, nlen;
    const uint8_t *pat = fz_bytes(&in, &plen);
    nlen = fz_u8(&in) % 24;
    const uint8_t *name0 = fz_bytes(&in, &nlen);
    uint8_t name[24];   /* l7_http_header wants the name in lowercase */
    for (size_t i = 0; i < nlen; i++)
        name[i] = name0[i] >= 'A' && name0[i] <= 'Z' ? (uint8_t)(name0[i] + 32) : name0[i];
    size_t n = fz_left(&in);
    uint8_t *h = fz_copy(data + in.pos, n);
    uint8_t *p = fz_copy(pat, plen);

    size_t hl;
    int rc = head(h, n, response, &hl);
    FUZZ_SEEN(rc == L7_OK ? 0 : rc == L7_NEED_MORE ? 1 : rc == L7_MALFORMED ? 2 : 3);
    /* stable as bytes arrive: every cut says NEED_MORE or what the whole says */
    size_t cuts[3] = {n / 2, n ? n - 1 : 0, n ? (size_t)klen * 37 % n : 0};
    for (int i = 0; i < 3; i++) {
        size_t chl;
        int crc = head(h, cuts[i], response, &chl);
        FUZZ_CHECK(crc == L7_NEED_MORE || (crc == rc && chl == hl),
                   "%zu bytes say %d (%zu), %zu say %d (%zu)", cuts[i], crc, chl, n, rc, hl);
    }

    /* the readers on the raw bytes (they take any bytes) and on a complete head */
    found c = cookie(h, n, response, p, plen), hd = header(h, n, name, nlen);
    if (c.rc == L7_OK)
        FUZZ_SEEN(response ? 5 : 4);
    if (hd.rc == L7_OK)
        FUZZ_SEEN(8);
    if (!response)
        request_parts(h, n, p, plen);
    if (rc == L7_OK) {
        uint8_t *hh = fz_copy(h, hl);
        found c2 = cookie(hh, hl, response, p, plen), hd2 = header(hh, hl, name, nlen);
        FUZZ_CHECK(c.rc == c2.rc && c.off == c2.off && c.len == c2.len,
                   "cookie differs with the body: %d %zu+%zu, %d %zu+%zu", c.rc, c.off, c.len,
                   c2.rc, c2.off, c2.len);
        FUZZ_CHECK(hd.rc == hd2.rc && hd.off == hd2.off && hd.len == hd2.len,
                   "header differs with the body");
        if (!response)
            request_parts(hh, hl, p, plen);
        free(hh);
    }

    /* the cookie key inside the value found */
    size_t koff, kl;
    uint32_t offset = b0 >> 1;
    int krc = l7_cookie_key(c.len, offset, klen, &koff, &kl);
    if (offset == 0) {
        FUZZ_CHECK(krc == L7_EINVAL, "offset 0: %d", krc);
    } else if (krc == L7_OK) {
        size_t rest = c.len - (offset - 1), want = klen == 0 || klen > rest ? rest : klen;
        want = want < L7_KEY_MAX ? want : L7_KEY_MAX;
        FUZZ_SEEN(9);
        FUZZ_CHECK(koff == offset - 1 && kl == want && koff + kl <= c.len,
                   "key %zu+%zu of %zu", koff, kl, c.len);
    } else {
        FUZZ_CHECK(krc == L7_NONE && c.len < offset && koff == 0 && kl == 0, "key status %d",
                   krc);
    }
    free(p);
    free(h);
    return 0;
}
