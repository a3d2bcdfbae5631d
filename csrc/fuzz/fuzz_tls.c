/*
 * fuzz_tls.c - the TLS hello reader (l7_tls_hello): ClientHello and ServerHello, split over
 * any number of handshake records, and SSLv2-compatible ClientHellos.
 *
 * Input: the first bytes of a TLS stream, as the engine gathers them.
 *
 * Checked: the status is one of enum l7_status; a hello read has a kind, a session ID of at
 * most 32 bytes, and zeros past it; any other status leaves the result all zero; and the
 * answer is stable as bytes arrive: on every prefix cut at a record boundary or at a few
 * input-chosen points the reader says NEED_MORE, or gives exactly the answer the whole input
 * gives (the engine decides on the first answer that is not NEED_MORE).
 */
#define FUZZ_NAME "fuzz_tls"
#include "fuzz.h"

#include "l7.h"

FUZZ_OUTCOMES("ok", "need_more", "not_tls", "malformed", "client_hello", "server_hello",
              "sslv2", "tls13", "session_id")

static int hello(const uint8_t *p, size_t n, struct l7_hello *out)
{
    uint8_t *copy = fz_copy(p, n);
    int rc = l7_tls_hello(copy, n, out);
    free(copy);
    FUZZ_CHECK(rc >= L7_OK && rc <= L7_TOO_LONG && rc != L7_NONE && rc != L7_TOO_LONG,
               "status %d", rc);
    if (rc == L7_OK) {
        FUZZ_CHECK(out->kind == L7_CLIENT_HELLO || out->kind == L7_SERVER_HELLO, "kind %u",
                   out->kind);
        FUZZ_CHECK(out->sid_len <= L7_SID_MAX, "sid_len %u", out->sid_len);
        for (size_t i = out->sid_len; i < L7_SID_MAX; i++)
            FUZZ_CHECK(out->sid[i] == 0, "sid byte %zu past its length", i);
        FUZZ_CHECK(out->tls13 <= 1 && out->reserved == 0, "tls13 %u", out->tls13);
    } else {
        static const struct l7_hello zero;
        FUZZ_CHECK(!memcmp(out, &zero, sizeof zero), "result not zeroed on status %d", rc);
    }
    return rc;
}

static void prefix(const uint8_t *p, size_t cut, int rc, const struct l7_hello *whole)
{
    struct l7_hello h;
    int prc = hello(p, cut, &h);
    if (prc == L7_NEED_MORE)
        return;
    FUZZ_CHECK(prc == rc, "%zu bytes say %d, more bytes say %d", cut, prc, rc);
    FUZZ_CHECK(!memcmp(&h, whole, sizeof h), "%zu bytes read another hello", cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct l7_hello whole;
    int rc = hello(data, size, &whole);
    FUZZ_SEEN(rc == L7_OK ? 0 : rc == L7_NEED_MORE ? 1 : rc == L7_NOT_TLS ? 2 : 3);
    if (rc == L7_OK) {
        FUZZ_SEEN(whole.kind == L7_CLIENT_HELLO ? 4 : 5);
        if (whole.version == 2 || (size && (data[0] & 0x80)))
            FUZZ_SEEN(6);
        if (whole.tls13)
            FUZZ_SEEN(7);
        if (whole.sid_len)
            FUZZ_SEEN(8);
    }
    FUZZ_CHECK(size > 0 || rc == L7_NEED_MORE, "empty input: %d", rc);
    /* the record boundaries (where a segment often ends), walked by their headers */
    for (size_t pos = 0, k = 0; pos + 5 <= size && k < 64; k++) {
        size_t next = pos + 5 + ((size_t)data[pos + 3] << 8 | data[pos + 4]);
        if (pos + 5 < size)
            prefix(data, pos + 5, rc, &whole);
        if (next >= size)
            break;
        prefix(data, next, rc, &whole);
        pos = next;
    }
    if (size > 1) {     /* and cuts the input chooses */
        prefix(data, size - 1, rc, &whole);
        prefix(data, data[size - 1] % size, rc, &whole);
        prefix(data, (size_t)(data[0] << 8 | data[size / 2]) % size, rc, &whole);
    }
    return 0;
}
