/*
 * eng_l7.c - the engine's Layer 7: the buffers that hold a first request or response while
 * it is incomplete (slabs, a bounded number in use), and requests and responses read as
 * weboslb/engine/l7.py reads them, with the l7.c extractors.
 */
#include <stdlib.h>
#include <string.h>

#include "eng_int.h"
#include "l7.h"

/* ---- Layer 7 buffers ---------------------------------------------------------------------- */

/* A buffer, or NULL when params.l7_buffers are in use (or memory is short). */
uint8_t *eng_l7_get(eng *e)
{
    if (e->l7_count >= e->params.l7_buffers)
        return NULL;
    if (e->l7_nfree == 0) {         /* a new slab of buffers */
        uint8_t *slab = malloc((size_t)L7_SLAB * ENG_L7_BYTES);
        uint8_t **slabs = realloc(e->slabs, (e->nslabs + 1) * sizeof *slabs);
        uint8_t **fl = slabs ? realloc(e->l7_free, (e->nslabs + 1) * L7_SLAB * sizeof *fl)
                             : NULL;
        if (slabs)
            e->slabs = slabs;
        if (fl)
            e->l7_free = fl;
        if (slab == NULL || slabs == NULL || fl == NULL) {
            free(slab);
            return NULL;
        }
        e->slabs[e->nslabs++] = slab;
        for (uint64_t k = L7_SLAB; k-- > 0;)
            e->l7_free[e->l7_nfree++] = slab + k * ENG_L7_BYTES;
    }
    e->l7_count++;
    return e->l7_free[--e->l7_nfree];
}

void eng_l7_drop(eng *e, ent_t *x)
{
    if (x->l7 != NULL) {
        e->l7_free[e->l7_nfree++] = x->l7;
        e->l7_count--;
    }
    x->l7 = NULL;
    x->l7len = 0;
    x->l7srv = 0;
}

/* ---- requests and responses (l7.py) ------------------------------------------------------- */

static int need_of(int status)
{
    return status == L7_OK ? NEED_DONE : status == L7_NEED_MORE ? NEED_MORE
           : status == L7_TOO_LONG ? NEED_TOO_LONG : NEED_MALFORMED;
}

/* l7.request: the first request of a delayed-binding connection */
void eng_parse_request(const struct eng_service *s, const uint8_t *p, size_t n, req_t *q)
{
    q->need = NEED_MORE;
    q->has_cookie = q->has_url = 0;
    q->sid_len = 0;
    if (s->mode & ENG_MODE_SSLID) {
        struct l7_hello h;
        q->need = need_of(l7_tls_hello(p, n, &h));
        if (q->need == NEED_DONE && h.kind != L7_CLIENT_HELLO)
            q->need = NEED_MALFORMED;
        if (q->need == NEED_DONE) {
            q->sid_len = h.sid_len;
            memcpy(q->sid, h.sid, h.sid_len);
        }
        return;
    }
    size_t hl, off, len;
    q->need = need_of(l7_http_head(p, n, 0, &hl));
    if (q->need != NEED_DONE)
        return;
    if (s->mode & ENG_MODE_COOKIE) {
        if (l7_cookie(p, hl, 0, s->name, s->name_len, &off, &len) == L7_OK ||
            (s->uri && l7_uri_cookie(p, hl, s->name, s->name_len, &off, &len) == L7_OK)) {
            q->has_cookie = 1;
            q->cookie = p + off;
            q->cookie_len = len;
        }
    }
    if (s->urlhash) {                   /* http.url_hash_input */
        size_t toff, tlen, hoff = 0, hlen = 0, limit = s->urlhash;
        l7_http_target(p, hl, &toff, &tlen);
        if (s->urlhost)
            l7_http_header(p, hl, (const uint8_t *)"host", 4, &hoff, &hlen);
        size_t a = hlen < limit ? hlen : limit;
        memcpy(q->url, p + hoff, a);
        size_t b = tlen < limit - a ? tlen : limit - a;
        memcpy(q->url + a, p + toff, b);
        q->url_len = a + b;
        q->has_url = 1;
    }
}

/* l7.response */
void eng_parse_response(const struct eng_service *s, const uint8_t *p, size_t n, resp_t *q)
{
    q->has_cookie = 0;
    q->sid_len = q->tls13 = 0;
    if (s->mode & ENG_MODE_SSLID) {
        struct l7_hello h;
        q->need = need_of(l7_tls_hello(p, n, &h));
        if (q->need == NEED_DONE && h.kind != L7_SERVER_HELLO)
            q->need = NEED_MALFORMED;
        if (q->need == NEED_DONE) {
            q->sid_len = h.sid_len;
            q->tls13 = h.tls13;
            memcpy(q->sid, h.sid, h.sid_len);
        }
        return;
    }
    size_t hl, off, len;
    q->need = need_of(l7_http_head(p, n, REQ_RESPONSE, &hl));
    if (q->need == NEED_DONE &&
        l7_cookie(p, hl, REQ_RESPONSE, s->name, s->name_len, &off, &len) == L7_OK) {
        q->has_cookie = 1;
        q->cookie = p + off;
        q->cookie_len = len;
    }
}

/* switch._starts_response */
int eng_starts_response(const struct eng_service *s, const uint8_t *p, size_t n)
{
    if (s->mode & ENG_MODE_SSLID)
        return n >= 1 && (p[0] == 0x16 || (p[0] & 0x80));
    return n >= 5 && !memcmp(p, "HTTP/", 5);
}


void eng_l7_free_all(eng *e)
{
    for (uint64_t k = 0; k < e->nslabs; k++)
        free(e->slabs[k]);
    free(e->slabs);
    free(e->l7_free);
    e->slabs = NULL;
    e->l7_free = NULL;
    e->nslabs = e->l7_nfree = e->l7_count = 0;
}
