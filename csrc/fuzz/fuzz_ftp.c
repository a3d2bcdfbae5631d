/*
 * fuzz_ftp.c - the FTP control-line reader (l7_ftp_line): PORT and EPRT commands, 227 and
 * 229 replies, line after line as the engine reads a control connection.
 *
 * Input: byte 0 (bit 0: the client's side, else the server's), then the control stream.
 *
 * Checked: statuses are the documented ones and fit the side (PORT/EPRT from a client,
 * 227/229 from a server); line_len is where the line's LF is; a line without LF is NEED_MORE
 * or TOO_LONG, and stays so on every prefix; the result is zero on any status but OK; an
 * address and port read are written back as a canonical line of the same kind, which reads
 * back to the same address and port (what the engine installs is what the line said).
 */
#define FUZZ_NAME "fuzz_ftp"
#include "fuzz.h"

#include "l7.h"

FUZZ_OUTCOMES("ok", "none", "need_more", "malformed", "too_long", "port", "eprt4", "eprt6",
              "pasv227", "epsv229")

static int line(const uint8_t *p, size_t n, int from_client, struct l7_ftp *out)
{
    uint8_t *copy = fz_copy(p, n);
    int rc = l7_ftp_line(copy, n, from_client, out);
    free(copy);
    FUZZ_CHECK(rc >= L7_OK && rc <= L7_TOO_LONG && rc != L7_NOT_TLS, "status %d", rc);
    const uint8_t *lf = n ? memchr(p, '\n', n) : NULL;
    FUZZ_CHECK(out->line_len == (lf ? (size_t)(lf - p) + 1 : 0), "line_len %u", out->line_len);
    if (!lf)
        FUZZ_CHECK(rc == L7_NEED_MORE || rc == L7_TOO_LONG, "no LF yet: %d", rc);
    if (rc != L7_OK) {
        struct l7_ftp zero = {.line_len = out->line_len};
        FUZZ_CHECK(!memcmp(out, &zero, sizeof zero), "result not zeroed on status %d", rc);
        return rc;
    }
    if (from_client)
        FUZZ_CHECK((out->kind == L7_FTP_PORT && out->family == 4) ||
                       (out->kind == L7_FTP_EPRT && (out->family == 4 || out->family == 6)),
                   "client kind %u family %u", out->kind, out->family);
    else
        FUZZ_CHECK((out->kind == L7_FTP_PASV227 && out->family == 4) ||
                       (out->kind == L7_FTP_EPSV229 && out->family == 0), "server kind %u "
                   "family %u", out->kind, out->family);
    static const uint8_t zeros[16];
    size_t alen = out->family == 4 ? 4 : out->family == 6 ? 16 : 0;
    FUZZ_CHECK(!memcmp(out->addr + alen, zeros, 16 - alen), "address bytes past the family");
    return rc;
}

/* The canonical line for a result, read back. */
static void round_trip(const struct l7_ftp *r, int from_client)
{
    char text[128];
    const uint8_t *a = r->addr;
    int k;
    switch (r->kind) {
    case L7_FTP_PORT:
        k = snprintf(text, sizeof text, "PORT %u,%u,%u,%u,%u,%u\r\n", a[0], a[1], a[2], a[3],
                     r->port >> 8, r->port & 255);
        break;
    case L7_FTP_EPRT:
        if (r->family == 4)
            k = snprintf(text, sizeof text, "EPRT |1|%u.%u.%u.%u|%u|\r\n", a[0], a[1], a[2],
                         a[3], r->port);
        else
            k = snprintf(text, sizeof text, "EPRT |2|%x:%x:%x:%x:%x:%x:%x:%x|%u|\r\n",
                         a[0] << 8 | a[1], a[2] << 8 | a[3], a[4] << 8 | a[5],
                         a[6] << 8 | a[7], a[8] << 8 | a[9], a[10] << 8 | a[11],
                         a[12] << 8 | a[13], a[14] << 8 | a[15], r->port);
        break;
    case L7_FTP_PASV227:
        k = snprintf(text, sizeof text, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u)\r\n",
                     a[0], a[1], a[2], a[3], r->port >> 8, r->port & 255);
        break;
    default:
        k = snprintf(text, sizeof text, "229 Entering Extended Passive Mode (|||%u|)\r\n",
                     r->port);
    }
    struct l7_ftp back;
    int rc = line((const uint8_t *)text, (size_t)k, from_client, &back);
    FUZZ_CHECK(rc == L7_OK && back.kind == r->kind && back.family == r->family &&
                   back.port == r->port && !memcmp(back.addr, r->addr, 16) &&
                   back.line_len == (uint32_t)k, "canonical line %.*s reads back as %d",
               k - 2, text, rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int from_client = data[0] & 1;
    const uint8_t *p = data + 1;
    size_t n = size - 1, pos = 0;
    for (int lines = 0; pos <= n && lines < 64; lines++) {
        struct l7_ftp r;
        int rc = line(p + pos, n - pos, from_client, &r);
        FUZZ_SEEN(rc == L7_OK ? 0 : rc == L7_NONE ? 1 : rc == L7_NEED_MORE ? 2
                  : rc == L7_MALFORMED ? 3 : 4);
        if (rc == L7_OK) {
            FUZZ_SEEN(r.kind == L7_FTP_PORT ? 5 : r.kind == L7_FTP_EPRT ? (r.family == 4 ? 6 : 7)
                      : r.kind == L7_FTP_PASV227 ? 8 : 9);
            round_trip(&r, from_client);
        }
        if (r.line_len == 0) {
            /* no LF: NEED_MORE (or TOO_LONG) on every prefix of what is left too */
            for (size_t cut = 0; cut < n - pos; cut += 1 + (n - pos) / 5) {
                struct l7_ftp c;
                int crc = line(p + pos, cut, from_client, &c);
                FUZZ_CHECK(crc == L7_NEED_MORE || (crc == L7_TOO_LONG && rc == L7_TOO_LONG),
                           "prefix of %zu: %d, whole %d", cut, crc, rc);
            }
            break;
        }
        FUZZ_CHECK(r.line_len <= n - pos && p[pos + r.line_len - 1] == '\n', "line_len %u",
                   r.line_len);
        /* the line alone, without what follows, reads the same */
        struct l7_ftp alone;
        int arc = line(p + pos, r.line_len, from_client, &alone);
        FUZZ_CHECK(arc == rc && !memcmp(&alone, &r, sizeof r), "line alone: %d, in stream %d",
                   arc, rc);
        pos += r.line_len;
    }
    return 0;
}
