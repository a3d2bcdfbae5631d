/*
 * l7.h - Layer-7 persistence-key extractors: TLS hello session IDs, HTTP heads and cookies,
 * FTP PORT/EPRT/227/229 lines.  Public API.
 *
 * This header is also the cffi cdef (weboslb/_native_build.py strips the preprocessor lines),
 * so it holds plain declarations only.  Every input is attacker bytes: each function reads
 * only p[0 .. n) and reports what it found as an enum l7_status; out-structures are zeroed
 * first, so on any status but L7_OK they hold zeros.  Semantics are shared with the Python
 * parsers in weboslb/proto/ (tls.py, http.py, ftp.py).
 */
#ifndef WEBOSLB_L7_H
#define WEBOSLB_L7_H

#include <stddef.h>
#include <stdint.h>

enum l7_status {
    L7_OK = 0,
    L7_NONE = 1,        /* well formed, but nothing to extract (no cookie, another command) */
    L7_NEED_MORE = 2,   /* consistent so far; more bytes are needed */
    L7_NOT_TLS = 3,     /* does not start like a TLS handshake record or an SSLv2 hello */
    L7_MALFORMED = 4,   /* inconsistent lengths, values out of range, unparsable */
    L7_TOO_LONG = 5     /* an HTTP head or FTP line past its limit */
};

enum l7_err {
    L7_EINVAL = -2      /* a NULL pointer where bytes or a result are needed, offset 0 */
};

enum l7_hello_kind {
    L7_CLIENT_HELLO = 1,
    L7_SERVER_HELLO = 2
};

enum l7_ftp_kind {
    L7_FTP_PORT = 1,    /* client PORT h1,h2,h3,h4,p1,p2 */
    L7_FTP_EPRT = 2,    /* client EPRT |1|a.b.c.d|port| or |2|ipv6|port| */
    L7_FTP_PASV227 = 3, /* server 227 reply with h1,h2,h3,h4,p1,p2 */
    L7_FTP_EPSV229 = 4  /* server 229 reply (|||port|): the control connection's address */
};

enum l7_limits {
    L7_SID_MAX = 32,
    L7_HS_MAX = 65536,      /* longest handshake message accepted */
    L7_HEAD_MAX = 8192,     /* longest HTTP head */
    L7_FTP_LINE_MAX = 512,  /* longest FTP line, without its CR LF */
    L7_KEY_MAX = 64         /* longest cookie persistence key */
};

struct l7_hello {
    uint8_t kind;           /* enum l7_hello_kind */
    uint8_t tls13;          /* supported_versions offers (client) / selects (server) 0x0304 */
    uint8_t sid_len;        /* 0..32 */
    uint8_t reserved;
    uint16_t version;       /* legacy_version of the hello (0x0002 for pure SSLv2) */
    uint8_t sid[32];
};

struct l7_ftp {
    uint8_t kind;           /* enum l7_ftp_kind */
    uint8_t family;         /* 4, 6, or 0 for 229 */
    uint16_t port;
    uint32_t line_len;      /* bytes of the line including its LF: where the next one starts */
    uint8_t addr[16];       /* 4 bytes for family 4, 16 for 6, none for 229 */
};

/* The first handshake message of a TLS stream (from its first byte): a ClientHello or
 * ServerHello, or an SSLv2-compatible ClientHello. */
int l7_tls_hello(const uint8_t *p, size_t n, struct l7_hello *out);

/* The HTTP head at p (through the first CRLFCRLF or LFLF) and its start line: request line
 * (response 0) or status line (response 1).  *head_len: the head's length when L7_OK. */
int l7_http_head(const uint8_t *p, size_t n, int response, size_t *head_len);

/* The first cookie whose name matches the glob pattern ('*': any run) in the Cookie headers
 * of a request head, or the Set-Cookie headers of a response head: its value is
 * head[*voff .. *voff + *vlen).  L7_NONE when no cookie matches. */
int l7_cookie(const uint8_t *head, size_t n, int response, const uint8_t *pattern,
              size_t plen, size_t *voff, size_t *vlen);

/* The same for a cookie carried in the request target: ";name=value" or a query parameter
 * "?name=value" / "&name=value", ending at ';', '?', '&', '#' or the end.  L7_MALFORMED
 * when the request line is not one. */
int l7_uri_cookie(const uint8_t *head, size_t n, const uint8_t *pattern, size_t plen,
                  size_t *voff, size_t *vlen);

/* The request target of a request head: head[*toff .. *toff + *tlen).  L7_MALFORMED when the
 * first line is not a request line. */
int l7_http_target(const uint8_t *head, size_t n, size_t *toff, size_t *tlen);

/* The value (trimmed of spaces and tabs) of the first header line of the head whose name, up
 * to the first colon and untrimmed, equals `lower` without regard to ASCII case (lower given
 * in lowercase): head[*voff .. *voff + *vlen).  L7_NONE when there is none. */
int l7_http_header(const uint8_t *head, size_t n, const uint8_t *lower, size_t llen,
                   size_t *voff, size_t *vlen);

/* The persistence key inside a cookie value of vlen bytes: from the 1-based offset, length
 * bytes (0: to the end), at most L7_KEY_MAX.  L7_NONE when the value is shorter than offset. */
int l7_cookie_key(size_t vlen, uint32_t offset, uint32_t length, size_t *koff, size_t *klen);

/* The first FTP control line in line[0 .. n) (through its LF): client commands (from_client
 * 1) or server replies (0).  L7_NONE for other commands and replies, L7_NEED_MORE when no
 * LF has come yet.  out->line_len is set whenever the line is complete, whatever the status. */
int l7_ftp_line(const uint8_t *line, size_t n, int from_client, struct l7_ftp *out);

#endif
