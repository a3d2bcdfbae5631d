/*
 * eng_stress.c - the engine (eng.c) over random conversations, for the AddressSanitizer and
 * UndefinedBehaviorSanitizer build (tests/engine/test_fastpath_sanitizers.py).
 *
 * A small switch is built in C alone: a flow table, persistence tables (small, so they fill),
 * farm columns, services of every mode the engine takes (and one it leaves), on an IPv4 and
 * an IPv6 VIP.  Connections then talk: handshakes, TLS hellos and HTTP heads with cookies,
 * split at random points, sent out of order, retransmitted, cut short, mutated, reset, and
 * answered; frames of other hosts and random bytes come in between.  Each batch's buffer ends
 * where its last frame does, every array has exactly the size promised, the event buffers
 * are tiny (runs and sweeps stop to flush them often).  Where a run stops for the slow path,
 * the driver plays it: it takes the session over and holds it, and drops it later.  Reals go
 * down and come back, DAM ports are taken and given back, sweeps run at random times.
 * eng_check() is verified after every step; any out-of-bounds access, leak or undefined
 * behaviour fails the run.
 *
 * usage: eng_stress rounds seed
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "eng.h"
#include "flow.h"
#include "pst.h"

#define STRESS_NAME "eng_stress"
#include "stress.h"

enum {
    NREALS = 5,
    NGROUPS = 3,
    NVIRTS = 2,
    NCONN = 24,
    MAXBATCH = 48,
    FRAME_MAX = 1600,
    PAYLOAD_MAX = 1400,
    EVENTS = 6,
    ARENA = 520
};

/* ---- the switch --------------------------------------------------------------------------- */

static flow_table *table;
static eng *engine;
static pst_table *tables[8];
static int table_set[8];
static int64_t cur[NREALS], tot[NREALS], high[NREALS], oct[NREALS];
static uint8_t rused[NREALS], up[NREALS];
static double response[NREALS], load[NREALS], load_at[NREALS];
static int64_t weight[NREALS], maxcon[NREALS];
static int32_t backup[NREALS];
static int64_t turn[NGROUPS];
static uint8_t group_up[NGROUPS];
static int64_t vcur[NVIRTS * NREALS], vtot[NVIRTS * NREALS], vhigh[NVIRTS * NREALS],
    voct[NVIRTS * NREALS];
static uint8_t vused[NVIRTS * NREALS];
static int64_t serial, unheld;

static const uint8_t VIP4[16] = {192, 0, 2, 1};
static const uint8_t VIP6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

struct port_mode {
    uint16_t port;
    uint8_t mode, delayed, clientip, urlhash;
};

static const struct port_mode PORTS[] = {
    {80, ENG_MODE_L4 | ENG_MODE_COOKIE, 1, 0, 0},
    {443, ENG_MODE_L4 | ENG_MODE_SSLID, 1, 0, 0},
    {81, ENG_MODE_L4 | ENG_MODE_URLHASH | ENG_MODE_COOKIE, 1, 0, 24},
    {82, ENG_MODE_L4, 0, 0, 0},
    {8080, ENG_MODE_L4, 0, 1, 0},
    {85, ENG_MODE_L4, 1, 1, 0},
    {83, ENG_MODE_SLOW, 1, 0, 0},
    {53, ENG_MODE_L4, 0, 0, 0},
    {21, ENG_MODE_L4 | ENG_MODE_FTP, 0, 1, 0},
    {20, ENG_MODE_L4, 0, 0, 0},
};
enum { NPORTS = sizeof PORTS / sizeof PORTS[0] };

static void build(void)
{
    CHECK(flow_new(64, rnd(), rnd(), 0, &table) == FLOW_OK, "flow_new");
    CHECK(eng_new(table, rnd(), rnd(), &engine) == 0, "eng_new");
    uint8_t addrs[32], fams[2] = {4, 6};
    memcpy(addrs, VIP4, 16);
    memcpy(addrs + 16, VIP6, 16);
    CHECK(flow_set_vips(table, addrs, fams, 2) == FLOW_OK, "set_vips");
    static const uint32_t kinds[] = {PST_IPV4, PST_IPV6, PST_SSLID, PST_COOKIE, PST_FTP,
                                     PST_FTP6};
    for (int i = 0; i < 6; i++) {
        pst_params p = {.kind = kinds[i], .capacity = 16, .journal = 64,
                        .seed = {rnd(), rnd()}};
        CHECK(pst_new(&p, &tables[kinds[i]]) == PST_OK, "pst_new");
        if (rnd() % 4) {    /* some kinds' tables come later, as the slow path makes them */
            CHECK(eng_set_table(engine, kinds[i], tables[kinds[i]]) == 0, "set_table");
            table_set[kinds[i]] = 1;
        }
    }
    struct eng_real *reals = malloc(NREALS * sizeof *reals);
    memset(reals, 0, NREALS * sizeof *reals);
    for (int r = 0; r < NREALS; r++) {
        reals[r].rip[0] = 10;
        reals[r].rip[3] = (uint8_t)(r + 1);
        reals[r].family = 4;
        reals[r].code = (uint16_t)(r + 1);
        reals[r].tmout = 600;
        reals[r].track_load = r == 2;
        weight[r] = 1 + (int64_t)(rnd() % 3);
        maxcon[r] = rnd() % 3 ? 0 : 2;
        backup[r] = rnd() % 4 ? -1 : (int32_t)((r + 1) % NREALS);
        up[r] = 1;
        response[r] = NAN;
    }
    uint16_t *members = malloc(8 * sizeof *members);
    static const uint16_t m[] = {0, 1, 2, 2, 3, 4, 3, 1};
    memcpy(members, m, sizeof m);
    uint16_t *sched = malloc(3 * sizeof *sched);
    sched[0] = 0, sched[1] = 1, sched[2] = 2;
    struct eng_group *groups = malloc(NGROUPS * sizeof *groups);
    memset(groups, 0, NGROUPS * sizeof *groups);
    groups[0] = (struct eng_group){.first = 0, .count = 3, .sched_first = 0, .sched_len = 3,
                                   .metric = ENG_METRIC_ROUNDROBIN};
    groups[1] = (struct eng_group){.first = 3, .count = 3, .metric = ENG_METRIC_LEASTCONNS,
                                   .backup = 1};
    groups[2] = (struct eng_group){.first = 6, .count = 2, .metric = ENG_METRIC_HASH};
    for (int g = 0; g < NGROUPS; g++)
        group_up[g] = 1;
    struct eng_farm f = {
        .nreals = NREALS, .ngroups = NGROUPS, .nvirts = NVIRTS, .nmembers = 8, .nsched = 3,
        .reals = reals, .groups = groups, .members = members, .sched = sched,
        .current = cur, .total = tot, .highest = high, .octets = oct, .used = rused,
        .response = response, .load = load, .load_at = load_at, .up = up, .weight = weight,
        .maxcon = maxcon, .backup = backup, .turn = turn, .group_up = group_up,
        .vcurrent = vcur, .vtotal = vtot, .vhighest = vhigh, .voctets = voct, .vused = vused,
        .serial = &serial, .unheld = &unheld};
    CHECK(eng_set_farm(engine, &f) == 0, "set_farm");
    free(reals);     /* copied */
    free(groups);
    free(members);
    free(sched);
    struct eng_service *s = malloc(2 * NPORTS * sizeof *s);
    memset(s, 0, 2 * NPORTS * sizeof *s);
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < NPORTS; i++) {
            struct eng_service *x = &s[v * NPORTS + i];
            memcpy(x->vip, v ? VIP6 : VIP4, 16);
            x->family = v ? 6 : 4;
            x->mode = PORTS[i].mode;
            x->live = 1;
            x->delayed = PORTS[i].delayed;
            x->clientip = PORTS[i].clientip;
            x->pbind = (uint8_t)(i % ENG_PBINDS);
            x->uri = i == 0;
            x->urlhost = 1;
            x->vport = PORTS[i].port;
            x->rport = PORTS[i].port;
            x->group = (uint16_t)(i % NGROUPS);
            x->virt = (uint16_t)v;
            x->vsvc = (uint16_t)(10 + i);
            x->pvsvc = (uint16_t)(10 + i);
            x->urlhash = PORTS[i].urlhash;
            x->rcount = 2;
            x->ptmout = 60;
            x->tmout = 600;
            x->offset = 1 + (uint32_t)(rnd() % 3);
            x->length = (uint32_t)(rnd() % 10);
            memcpy(x->name, "S*ID", 4);
            x->name_len = 4;
            x->ftp = PORTS[i].port == 21;
        }
    }
    CHECK(eng_set_services(engine, s, 2 * NPORTS) == 0, "set_services");
    free(s);
    struct eng_params p = {.dam = 1, .matrix = 1, .vmasport = rnd() % 2, .spcount = 8,
                           .pmask = 0xFFFFFF00u, .limit = 48, .l7_buffers = 3};
    CHECK(eng_set_params(engine, &p) == 0, "set_params");
}

/* ---- conversations ------------------------------------------------------------------------ */

typedef struct {
    uint8_t cip[16], family;
    uint16_t cport, vport;
    uint32_t cseq, sseq;
    int phase;                      /* 0 SYN, 1 SYN-ACK, 2 ACK, then talk */
    uint8_t pending[PAYLOAD_MAX];   /* a request or answer being sent in pieces */
    size_t plen, sent;
    int from_server;
} conn_t;

static conn_t conns[NCONN];

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static size_t append(uint8_t *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (n + k > PAYLOAD_MAX)
        return n;
    memcpy(p + n, s, k);
    return n + k;
}

/* A TLS hello record (client 1, server 2), well formed or not. */
static size_t tls_hello(uint8_t *p, int kind)
{
    size_t sid = rnd() % 4 ? rnd() % 33 : 0, n = 0;
    uint8_t body[128];
    size_t b = 0;
    body[b++] = 3;
    body[b++] = 3;
    memset(body + b, 0x11, 32);
    b += 32;
    body[b++] = (uint8_t)sid;
    for (size_t i = 0; i < sid; i++)
        body[b++] = (uint8_t)(rnd() % 4);     /* few distinct IDs: hits happen */
    if (kind == 1) {
        body[b++] = 0, body[b++] = 2, body[b++] = 0x13, body[b++] = 1;
        body[b++] = 1, body[b++] = 0;
    } else {
        body[b++] = 0x13, body[b++] = 1, body[b++] = 0;
    }
    if (rnd() % 3 == 0) {     /* supported_versions */
        int tls13 = rnd() % 2;
        if (kind == 1) {
            uint8_t e[] = {0, 7, 0, 43, 0, 3, 2, 3, (uint8_t)(tls13 ? 4 : 3)};
            memcpy(body + b, e, sizeof e);
            b += sizeof e;
        } else {
            uint8_t e[] = {0, 6, 0, 43, 0, 2, 3, (uint8_t)(tls13 ? 4 : 3)};
            memcpy(body + b, e, sizeof e);
            b += sizeof e;
        }
    }
    p[n++] = 22, p[n++] = 3, p[n++] = 1;
    put16(p + n, (uint32_t)(b + 4));
    n += 2;
    p[n++] = (uint8_t)kind;
    p[n++] = 0;
    put16(p + n, (uint32_t)b);
    n += 2;
    memcpy(p + n, body, b);
    n += b;
    if (rnd() % 8 == 0)
        p[rnd() % n] = (uint8_t)rnd();
    return n;
}

static size_t http_head(uint8_t *p, int response)
{
    static const char *cookies[] = {"SID=aaaa", "SXID=bbbbbbbbbbbbbb", "S=c", "SESSID=",
                                    "other=1", "SID=dddddddddddddddddddddddddddddddddddddd"};
    char line[128];
    size_t n = 0;
    if (response) {
        n = append(p, n, rnd() % 8 ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 2x0\r\n");
        for (int k = (int)(rnd() % 3); k; k--) {
            snprintf(line, sizeof line, "Set-Cookie: %s; path=/\r\n", cookies[rnd() % 6]);
            n = append(p, n, line);
        }
    } else {
        snprintf(line, sizeof line, "GET /%s%s HTTP/1.%d\r\n",
                 rnd() % 2 ? "index.html" : "a/b",
                 rnd() % 3 ? "" : rnd() % 2 ? ";SID=uri" : "?x=1&SXID=q", (int)(rnd() % 2));
        n = append(p, n, rnd() % 10 ? line : "GET\r\n");
        if (rnd() % 2)
            n = append(p, n, rnd() % 2 ? "Host: www.example.com\r\n" : "hOsT:  h  \r\n");
        for (int k = (int)(rnd() % 3); k; k--) {
            snprintf(line, sizeof line, "Cookie: a=1; %s\r\n", cookies[rnd() % 6]);
            n = append(p, n, line);
        }
    }
    n = append(p, n, rnd() % 6 ? "\r\n" : "");
    if (rnd() % 5 == 0)
        n = append(p, n, "body bytes that follow the head");
    return n;
}

/* An FTP control line (a data announcement, mostly), its end sometimes missing. */
static size_t ftp_text(uint8_t *p, int from_server, uint8_t family)
{
    char line[160];
    unsigned port = 40000 + (unsigned)(rnd() % 4), h = (unsigned)(rnd() % 4);
    if (from_server) {
        switch (rnd() % 4) {
        case 0:
            snprintf(line, sizeof line, "227 Entering Passive Mode (192,0,2,1,%u,%u).\r\n",
                     port >> 8, port & 255);
            break;
        case 1:
            snprintf(line, sizeof line, "227 Entering Passive Mode (10,0,0,%u,%u,%u).\r\n", h,
                     port >> 8, port & 255);
            break;
        case 2:
            snprintf(line, sizeof line, "229 Extended Passive Mode (|||%u|)\r\n", port);
            break;
        default:
            snprintf(line, sizeof line, "200 OK\r\n150 Here it comes\r\n");
        }
    } else {
        switch (rnd() % 4) {
        case 0:
            snprintf(line, sizeof line, "PORT 198,51,100,%u,%u,%u\r\n", h, port >> 8, port & 255);
            break;
        case 1:
            snprintf(line, sizeof line, family == 6 ? "EPRT |2|2001:db8::%u|%u|\r\n"
                                                    : "EPRT |1|198.51.100.%u|%u|\r\n", h, port);
            break;
        case 2:
            snprintf(line, sizeof line, "PORT 1,2,3\r\nLIST\r\n");
            break;
        default:
            snprintf(line, sizeof line, "USER anonymous\n");
        }
    }
    size_t n = strlen(line);
    memcpy(p, line, n);
    return rnd() % 6 ? n : n - 1 - rnd() % 3;
}

static void start_payload(conn_t *c, int from_server)
{
    size_t n;
    if (c->vport == 21 && rnd() % 8) {
        n = ftp_text(c->pending, from_server, c->family);
    } else if (rnd() % 10 == 0) {
        n = rnd() % 200;
        for (size_t i = 0; i < n; i++)
            c->pending[i] = (uint8_t)rnd();
    } else if (c->vport == 443) {
        n = tls_hello(c->pending, from_server ? 2 : 1);
    } else {
        n = http_head(c->pending, from_server);
    }
    c->plen = n;
    c->sent = 0;
    c->from_server = from_server;
}

static void new_conn(conn_t *c)
{
    memset(c, 0, sizeof *c);
    c->family = rnd() % 4 ? 4 : 6;
    if (c->family == 4) {
        c->cip[0] = 198, c->cip[1] = 51, c->cip[2] = 100, c->cip[3] = (uint8_t)(rnd() % 4);
    } else {
        c->cip[0] = 0x20, c->cip[1] = 0x01, c->cip[15] = (uint8_t)(rnd() % 4);
    }
    c->cport = (uint16_t)(1024 + rnd() % 16);
    c->vport = rnd() % 12 == 0 ? 9999 : PORTS[rnd() % NPORTS].port;
    if (rnd() % 10 == 0) {      /* an FTP data connection: passive to the VIP, or active */
        c->vport = rnd() % 2 ? (uint16_t)(40000 + rnd() % 4) : 20;
        if (c->vport == 20)
            c->cport = (uint16_t)(40000 + rnd() % 4);
    }
    c->cseq = (uint32_t)rnd();
    c->sseq = (uint32_t)rnd();
}

/* One frame of a conversation (or of nobody's), written at p: its length. */
static size_t make_frame(uint8_t *p)
{
    conn_t *c = &conns[rnd() % NCONN];
    if (c->family == 0 || rnd() % 40 == 0)
        new_conn(c);
    int udp = c->vport == 53, back = 0;
    uint8_t flags = 0x10;
    uint32_t seq, ack;
    uint8_t payload[PAYLOAD_MAX];
    size_t plen = 0;
    int what = c->phase < 3 && rnd() % 8 ? c->phase : (int)(rnd() % 16);
    if (what < 3)
        c->phase = what + 1;
    switch (what) {
    case 0:
        flags = 0x02;
        seq = c->cseq++;
        break;
    case 1:
        flags = 0x12;
        back = 1;
        seq = c->sseq++;
        break;
    case 2:
        flags = 0x10;
        seq = c->cseq;
        break;
    case 3:
        if (rnd() % 4)
            goto talk;
        /* fall through */
    case 4:
        flags = rnd() % 2 ? 0x11 : 0x04;
        back = rnd() % 3 == 0;
        seq = back ? c->sseq : c->cseq;
        if (rnd() % 2)
            c->phase = 0;   /* the client's next connection reuses the tuple */
        break;
    case 5:     /* out of order, or an old retransmission */
        if (rnd() % 2)
            goto talk;
        seq = c->cseq + (uint32_t)(rnd() % 2 ? rnd() % 64 : -(rnd() % 64));
        plen = 1 + rnd() % 40;
        for (size_t i = 0; i < plen; i++)
            payload[i] = (uint8_t)rnd();
        flags = 0x18;
        break;
    default:
    talk: {     /* the next piece of a request or an answer */
        if (c->sent >= c->plen)
            start_payload(c, rnd() % 2);
        back = c->from_server;
        size_t left = c->plen - c->sent, k = rnd() % 3 ? left : 1 + rnd() % (left ? left : 1);
        if (k > left)
            k = left;
        memcpy(payload, c->pending + c->sent, k);
        plen = k;
        c->sent += k;
        seq = back ? c->sseq : c->cseq;
        if (back)
            c->sseq += (uint32_t)k;
        else
            c->cseq += (uint32_t)k;
        flags = 0x18;
    }
    }
    ack = back ? c->cseq : c->sseq;
    const uint8_t *vip = c->family == 4 ? VIP4 : VIP6;
    const uint8_t *src = back ? vip : c->cip, *dst = back ? c->cip : vip;
    uint16_t sport = back ? c->vport : c->cport, dport = back ? c->cport : c->vport;
    size_t pos = 0, l4 = udp ? 8 : 20;
    memset(p, 0x02, 12);
    pos = 12;
    put16(p + pos, c->family == 6 ? 0x86dd : 0x0800);
    pos += 2;
    if (c->family == 6) {
        memset(p + pos, 0, 40);
        p[pos] = 0x60;
        put16(p + pos + 4, (uint32_t)(l4 + plen));
        p[pos + 6] = udp ? 17 : 6;
        p[pos + 7] = 64;
        memcpy(p + pos + 8, src, 16);
        memcpy(p + pos + 24, dst, 16);
        pos += 40;
    } else {
        memset(p + pos, 0, 20);
        p[pos] = 0x45;
        put16(p + pos + 2, (uint32_t)(20 + l4 + plen));
        p[pos + 8] = 64;
        p[pos + 9] = udp ? 17 : 6;
        memcpy(p + pos + 12, src, 4);
        memcpy(p + pos + 16, dst, 4);
        pos += 20;
    }
    put16(p + pos, sport);
    put16(p + pos + 2, dport);
    if (udp) {
        put16(p + pos + 4, (uint32_t)(8 + plen));
        put16(p + pos + 6, 0);
    } else {
        memset(p + pos + 4, 0, 16);
        put32(p + pos + 4, seq);
        put32(p + pos + 8, ack);
        p[pos + 12] = 0x50;
        p[pos + 13] = flags;
    }
    pos += l4;
    memcpy(p + pos, payload, plen);
    pos += plen;
    switch (rnd() % 24) {
    case 0:
        return rnd() % (pos + 1);               /* cut anywhere */
    case 1:
        p[rnd() % pos] = (uint8_t)rnd();        /* a byte changed */
        return pos;
    case 2:
        pos = rnd() % 100;                      /* random bytes */
        for (size_t i = 0; i < pos; i++)
            p[i] = (uint8_t)rnd();
        return pos;
    default:
        return pos;
    }
}

/* ---- the slow path's part ----------------------------------------------------------------- */

static struct flow_key held[256];
static int nheld;

/* The key of frame f as the engine builds it, if it is a VIP's. */
static int key_of(const uint8_t *f, size_t n, struct flow_key *k)
{
    if (n < 14 + 20 + 8)
        return 0;
    memset(k, 0, sizeof *k);
    size_t ip = 14, l4;
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    const uint8_t *src, *dst;
    if (type == 0x0800 && (f[ip] >> 4) == 4) {
        k->family = 4;
        k->proto = f[ip + 9];
        src = f + ip + 12;
        dst = f + ip + 16;
        l4 = ip + (size_t)(f[ip] & 15) * 4;
        if (l4 + 4 > n)
            return 0;
        memcpy(k->cip, src, 4);
    } else if (type == 0x86dd && n >= 14 + 40 + 8) {
        k->family = 6;
        k->proto = f[ip + 6];
        src = f + ip + 8;
        dst = f + ip + 24;
        l4 = ip + 40;
    } else {
        return 0;
    }
    const uint8_t *vip = k->family == 4 ? VIP4 : VIP6;
    size_t alen = k->family == 4 ? 4 : 16;
    uint16_t sp = (uint16_t)(f[l4] << 8 | f[l4 + 1]), dp = (uint16_t)(f[l4 + 2] << 8 | f[l4 + 3]);
    if (!memcmp(dst, vip, alen)) {
        memcpy(k->cip, src, alen);
        memcpy(k->vip, dst, alen);
        k->cport = sp;
        k->vport = dp;
    } else if (!memcmp(src, vip, alen)) {
        memcpy(k->cip, dst, alen);
        memcpy(k->vip, src, alen);
        k->cport = dp;
        k->vport = sp;
    } else {
        return 0;
    }
    return k->proto == 6 || k->proto == 17;
}

/* What the slow path does with a frame the engine left: takes the session over and holds
 * the connection (or, a table full, counts it unheld); drops some held ones later. */
static void slow_path(const uint8_t *f, size_t n)
{
    struct flow_key k;
    struct eng_session *s = malloc(sizeof *s);
    uint8_t *l7 = malloc(ENG_L7_BYTES);
    if (key_of(f, n, &k)) {
        int took = eng_take(engine, &k, s, l7);
        CHECK(took == 0 || took == 1, "take: %d", took);
        if (took) {     /* the entry stays, held: the slow path ends it later */
            CHECK(s->l7len <= ENG_L7_BYTES && !memcmp(&s->key, &k, sizeof k), "take: record");
            CHECK(nheld < 256, "too many held");
            held[nheld++] = k;
        } else if (rnd() % 4 == 0 && nheld < 256) {
            int rc = flow_hold(table, &k, 0.0);
            CHECK(rc == FLOW_CREATED || rc == FLOW_UPDATED || rc == FLOW_EFULL, "hold: %d", rc);
            if (rc == FLOW_CREATED)
                held[nheld++] = k;
        }
    }
    for (uint32_t kind = PST_IPV4; kind <= PST_FTP6; kind++)    /* it made a table */
        if (!table_set[kind] && rnd() % 16 == 0) {
            CHECK(eng_set_table(engine, kind, tables[kind]) == 0, "set_table later");
            table_set[kind] = 1;
        }
    if (nheld && rnd() % 2 == 0) {
        int i = (int)(rnd() % (uint64_t)nheld);
        int rc = flow_delete(table, &held[i]);
        CHECK(rc == 1 || rc == 0, "delete: %d", rc);
        held[i] = held[--nheld];
    }
    free(s);
    free(l7);
}

/* ---- batches, sweeps and the rest --------------------------------------------------------- */

static double clock_now = 1000.0;
static uint64_t seen_events[8], exceptions, handovers, opened, expectations, ftp_data;

static void read_events(struct eng_io *io)
{
    for (uint32_t i = 0; i < io->nevents; i++) {
        const struct eng_event *v = &io->events[i];
        CHECK(v->kind >= ENG_EV_OPENED && v->kind <= ENG_EV_REFUSED, "event kind %u", v->kind);
        seen_events[v->kind]++;
        ftp_data += v->kind == ENG_EV_BOUND && v->pbind == ENG_PBIND_FTP;
        CHECK((uint64_t)v->keyoff + v->keylen <= io->arena_len, "event key past the arena");
    }
    io->nevents = 0;
    io->arena_len = 0;
}

static void batch(struct eng_io *io)
{
    uint32_t n = rnd() % 4 == 0 ? 1 : 1 + (uint32_t)(rnd() % MAXBATCH);
    uint8_t *tmp = malloc((size_t)n * FRAME_MAX);
    uint64_t *off = malloc(n * sizeof *off);
    uint32_t *cap = malloc(n * sizeof *cap);
    double *ts = malloc(n * sizeof *ts);
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        cap[i] = (uint32_t)make_frame(tmp + total);
        off[i] = total;
        total += cap[i];
        clock_now += rnd() % 16 == 0 ? (double)(rnd() % 1200) : (double)(rnd() % 100) / 1000;
        ts[i] = clock_now;
    }
    uint8_t *buf = malloc(total ? total : 1);   /* exactly the frames */
    memcpy(buf, tmp, total);
    uint8_t *verdict = malloc(n), *why = malloc(n);
    uint16_t *real = malloc(n * sizeof *real);
    struct eng_batch b = {.buf = buf, .buflen = total, .off = off, .caplen = cap, .ts = ts,
                          .n = n, .link = FR_LINK_ETHERNET, .ingress = 1, .verdict = verdict,
                          .why = why, .real = real};
    int stop;
    if (rnd() % 16 == 0) {      /* a frame past the buffer: refused before anything moves */
        uint32_t bad = (uint32_t)(rnd() % n), keep = cap[bad];
        cap[bad] = (uint32_t)(total - off[bad] + 1);
        CHECK(eng_run(engine, &b, 0, n, io, &stop) == ENG_ERANGE, "frame past the buffer");
        cap[bad] = keep;
    }
    uint32_t i = 0;
    while (i < n) {
        uint32_t end = i + 1 + (uint32_t)(rnd() % (n - i));
        int64_t at = eng_run(engine, &b, i, end, io, &stop);
        CHECK(at >= i && at <= end, "run returned %lld", (long long)at);
        read_events(io);
        if (stop == ENG_EXCEPTION) {
            exceptions++;
            slow_path(buf + off[at], cap[at]);
            at++;
        } else if (stop == ENG_DONE) {
            CHECK(at == end, "done before the end");
        }
        i = (uint32_t)at;
        CHECK(eng_check(engine) == 0, "eng_check %d", eng_check(engine));
    }
    free(tmp);
    free(off);
    free(cap);
    free(ts);
    free(buf);
    free(verdict);
    free(why);
    free(real);
}

static void sweep(struct eng_io *io, int slow)
{
    int64_t left = eng_sweep_begin(engine, clock_now, 1.0, 4.0, slow);
    CHECK(left >= 0, "sweep_begin");
    while (left > 0) {
        int64_t more = eng_sweep_step(engine, io);
        CHECK(more >= 0 && more <= left, "sweep_step");
        read_events(io);
        left = more;
    }
    CHECK(eng_check(engine) == 0, "eng_check after a sweep %d", eng_check(engine));
}

static void sessions(void)
{
    uint64_t cursor = 0, seen = 0;
    uint32_t max = 1 + (uint32_t)(rnd() % 4);
    struct eng_session *chunk = malloc(max * sizeof *chunk);
    int64_t got;
    while ((got = eng_iter(engine, &cursor, chunk, max)) > 0)
        seen += (uint64_t)got;
    CHECK(got == 0 && seen == eng_count(engine), "iter saw %llu of %llu",
          (unsigned long long)seen, (unsigned long long)eng_count(engine));
    free(chunk);
}

static void dam(void)
{
    uint8_t cip[16] = {198, 51, 100, (uint8_t)(rnd() % 4)}, rip[16] = {10, 0, 0, 1};
    int32_t port = eng_dam_allocate(engine, 1 + (uint32_t)(rnd() % 8), cip, 4, rip, 4, 80);
    CHECK(port >= 0, "dam_allocate");
    if (port > 0 && rnd() % 2)
        CHECK(eng_dam_release(engine, cip, 4, (uint16_t)port, rip, 4, 80) == 1, "release");
}

static void counts(void)
{
    struct eng_counts *c = malloc(sizeof *c);
    eng_take_counts(engine, c);
    handovers += c->handovers;
    opened += c->opened;
    expectations += c->ftp_expectations;
    free(c);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: eng_stress rounds seed\n");
        return 2;
    }
    long rounds = strtol(argv[1], NULL, 10);
    rng_state = strtoull(argv[2], NULL, 0) | 1;
    build();
    struct eng_io *io = malloc(sizeof *io);
    memset(io, 0, sizeof *io);
    io->events = malloc(EVENTS * sizeof *io->events);
    io->arena = malloc(ARENA);
    io->events_cap = EVENTS;
    io->arena_cap = ARENA;
    for (long r = 0; r < rounds; r++) {
        io->want_events = rnd() % 4 != 0;
        switch (rnd() % 16) {
        case 0:
        case 15:
            sweep(io, rnd() % 2);
            break;
        case 1: {       /* a real goes down or comes back */
            int k = (int)(rnd() % NREALS);
            up[k] = !up[k];
            break;
        }
        case 2:
            sessions();
            break;
        case 3:
            dam();
            break;
        case 4:
            counts();
            break;
        case 5:
            group_up[rnd() % NGROUPS] ^= rnd() % 8 == 0;
            break;
        default:
            batch(io);
        }
    }
    /* the end: every session swept away, then everything freed */
    clock_now += 1e6;
    sweep(io, 1);
    counts();
    printf("eng_stress: %llu opened, %llu bound, %llu learned, %llu refused, %llu closed, "
           "%llu exceptions, %llu handovers, %llu FTP expectations, %llu FTP data\n",
           (unsigned long long)opened,
           (unsigned long long)seen_events[ENG_EV_BOUND],
           (unsigned long long)seen_events[ENG_EV_LEARNED],
           (unsigned long long)seen_events[ENG_EV_REFUSED],
           (unsigned long long)seen_events[ENG_EV_CLOSED], (unsigned long long)exceptions,
           (unsigned long long)handovers, (unsigned long long)expectations,
           (unsigned long long)ftp_data);
    CHECK(opened && seen_events[ENG_EV_BOUND] && seen_events[ENG_EV_LEARNED] && handovers &&
              expectations && ftp_data,
          "the run did not reach every path");
    CHECK(eng_count(engine) == 0, "%llu sessions outlived the last sweep",
          (unsigned long long)eng_count(engine));
    eng_free(engine);
    flow_free(table);
    for (int k = 0; k < 8; k++)
        pst_free(tables[k]);
    free(io->events);
    free(io->arena);
    free(io);
    printf("eng_stress: ok\n");
    return 0;
}
