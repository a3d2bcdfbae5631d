/*
 * fuzz_decode.c - the frame decoder (fr_decode_many) and the fast path's batch loop over it
 * (flow_run), on one frame of attacker bytes.
 *
 * Input: byte 0 chooses the link type (low 3 bits: Ethernet, raw IP, Linux SLL, SLL2, IPv4,
 * IPv6, or an unknown link) and which of the frame's addresses is a VIP (bits 4-5: none, the
 * destination, the source, both); the rest is the frame.
 *
 * Checked: every offset and length the decoder reports lies inside the frame and in order,
 * fields it must not fill stay zero; flow_run decides the frame exactly as the decoder and the
 * VIP set say (PASS with the decoder's reason, PASS NOT_VIP, an exception for a connection it
 * does not know); once the connection is put, the frame goes fast to its real (unless it
 * carries SYN, FIN or RST) and is counted with its payload; the flow table's invariants hold.
 */
#define FUZZ_NAME "fuzz_decode"
#include "fuzz.h"

#include "decode.h"
#include "flow.h"

FUZZ_OUTCOMES("ok", "not_ip", "mpls", "fragment", "not_tcp_udp", "truncated", "bad_ip_header",
              "bad_l4_header", "ipv6_ext_limit", "unknown_link", "not_vip", "to_real",
              "to_client", "held_back")

static const int LINKS[8] = {FR_LINK_ETHERNET, FR_LINK_RAW, FR_LINK_LINUX_SLL,
                             FR_LINK_LINUX_SLL2, FR_LINK_IPV4, FR_LINK_IPV6, 0, 12345};

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void check_pkt(const struct fr_pkt *o, size_t n)
{
    FUZZ_CHECK(o->reason <= FR_UNKNOWN_LINK, "reason %u", o->reason);
    FUZZ_CHECK(o->nvlan <= FR_VLAN_MAX, "nvlan %u", o->nvlan);
    FUZZ_CHECK(o->family == 0 || o->family == 4 || o->family == 6, "family %u", o->family);
    FUZZ_CHECK(all_zero(o->vlan + o->nvlan, sizeof o->vlan - o->nvlan * sizeof *o->vlan),
               "vlan ids past nvlan");
    FUZZ_CHECK(o->l3_off <= n && o->l4_off <= n, "l3 %u l4 %u of %zu", o->l3_off, o->l4_off, n);
    if (o->family == 4)
        FUZZ_CHECK(all_zero(o->src + 4, 12) && all_zero(o->dst + 4, 12), "IPv4 tail");
    if (o->reason != FR_OK) {
        FUZZ_CHECK(o->payload_off == 0 && o->payload_len == 0, "payload on a failed frame");
        return;
    }
    FUZZ_CHECK(o->family == 4 || o->family == 6, "OK without family");
    FUZZ_CHECK(o->proto == 6 || o->proto == 17, "OK proto %u", o->proto);
    FUZZ_CHECK(o->l3_off + (o->family == 4 ? 20u : 40u) <= o->l4_off, "l3 %u l4 %u",
               o->l3_off, o->l4_off);
    FUZZ_CHECK(o->l4_off + (o->proto == 6 ? 20u : 8u) <= o->payload_off, "l4 %u payload %u",
               o->l4_off, o->payload_off);
    FUZZ_CHECK((uint64_t)o->payload_off + o->payload_len <= n, "payload %u+%u of %zu",
               o->payload_off, o->payload_len, n);
    if (o->proto == 17)
        FUZZ_CHECK(o->flags == 0 && o->seq == 0 && o->ack == 0, "TCP fields on UDP");
}

static flow_table *table;

static void key_of(const struct fr_pkt *o, int vip_is_dst, struct flow_key *k)
{
    memset(k, 0, sizeof *k);
    k->proto = o->proto;
    k->family = o->family;
    k->cport = vip_is_dst ? o->sport : o->dport;
    k->vport = vip_is_dst ? o->dport : o->sport;
    memcpy(k->cip, vip_is_dst ? o->src : o->dst, 16);
    memcpy(k->vip, vip_is_dst ? o->dst : o->src, 16);
}

static void run1(const uint8_t *frame, size_t n, int link, struct flow_out *out, uint32_t *nexc)
{
    uint64_t off = 0;
    uint32_t caplen = (uint32_t)n, exc[1];
    double ts = 1.5;
    int rc = flow_run(table, frame, n, &off, &caplen, &ts, 1, link, out, exc, nexc);
    FUZZ_CHECK(rc == FLOW_OK, "flow_run %d", rc);
    FUZZ_CHECK(*nexc <= 1 && (*nexc == 0 || exc[0] == 0), "exceptions %u", *nexc);
    FUZZ_CHECK((out->verdict == FLOW_EXCEPTION) == (*nexc == 1), "verdict %u, %u exceptions",
               out->verdict, *nexc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int link = LINKS[data[0] & 7], vipmode = (data[0] >> 4) & 3;
    size_t n = size - 1;
    uint8_t *frame = fz_copy(data + 1, n);

    /* the decoder, alone and inside a batch at an offset */
    struct fr_pkt pk, pk2[2];
    uint64_t off = 0;
    uint32_t caplen = (uint32_t)n;
    FUZZ_CHECK(fr_decode_many(frame, n, &off, &caplen, 1, link, &pk) == 0, "decode");
    check_pkt(&pk, n);
    FUZZ_SEEN(pk.reason);
    if (n > 0) {    /* the same frame seen through a shorter caplen: never reads past it */
        uint64_t offs[2] = {0, 1};
        uint32_t lens[2] = {(uint32_t)(n - 1), (uint32_t)(n - 1)};
        FUZZ_CHECK(fr_decode_many(frame, n, offs, lens, 2, link, pk2) == 0, "decode 2");
        check_pkt(&pk2[0], n - 1);
        check_pkt(&pk2[1], n - 1);
    }
    uint64_t bad_off = n + 1;
    FUZZ_CHECK(fr_decode_many(frame, n, &bad_off, &caplen, 1, link, pk2) == FR_ERANGE, "range");

    /* the fast path on the same frame */
    if (table == NULL)
        FUZZ_CHECK(flow_new(16, 1, 2, 0, &table) == FLOW_OK, "flow_new");
    FUZZ_CHECK(flow_clear(table) == FLOW_OK, "flow_clear");
    uint8_t addrs[32] = {0}, fams[2] = {0};
    uint32_t nvips = 0;
    int family_ok = pk.family == 4 || pk.family == 6;
    if (family_ok && (vipmode & 1)) {
        memcpy(addrs + 16 * nvips, pk.dst, 16);
        fams[nvips++] = pk.family;
    }
    if (family_ok && (vipmode & 2)) {
        memcpy(addrs + 16 * nvips, pk.src, 16);
        fams[nvips++] = pk.family;
    }
    FUZZ_CHECK(flow_set_vips(table, addrs, fams, nvips) == FLOW_OK, "set_vips");
    struct flow_out out;
    uint32_t nexc;
    run1(frame, n, link, &out, &nexc);
    if (pk.reason != FR_OK) {
        FUZZ_CHECK(out.verdict == FLOW_PASS && out.why == pk.reason, "bad frame: %u/%u vs %u",
                   out.verdict, out.why, pk.reason);
    } else if (nvips == 0) {
        FUZZ_CHECK(out.verdict == FLOW_PASS && out.why == FLOW_WHY_NOT_VIP, "no VIP: %u/%u",
                   out.verdict, out.why);
        FUZZ_SEEN(10);
    } else {
        FUZZ_CHECK(out.verdict == FLOW_EXCEPTION, "unknown connection: %u", out.verdict);
        /* the destination wins when both addresses are VIPs */
        int to_real = (vipmode & 1) || !memcmp(pk.src, pk.dst, 16);
        struct flow_key k;
        key_of(&pk, to_real, &k);
        int rc = flow_put(table, &k, 7, 0, 1.0);
        FUZZ_CHECK(rc == FLOW_CREATED, "flow_put %d", rc);
        run1(frame, n, link, &out, &nexc);
        int ends = pk.proto == 6 && (pk.flags & 0x07);
        if (ends) {
            FUZZ_CHECK(out.verdict == FLOW_EXCEPTION, "SYN/FIN/RST went fast");
            FUZZ_SEEN(13);
        } else {
            FUZZ_CHECK(out.verdict == (to_real ? FLOW_TO_REAL : FLOW_TO_CLIENT) &&
                           out.real == 7, "put connection: %u real %u", out.verdict, out.real);
            FUZZ_SEEN(to_real ? 11 : 12);
            struct flow_state st;
            uint8_t found;
            FUZZ_CHECK(flow_get_many(table, &k, 1, &st, &found) == 1, "get");
            FUZZ_CHECK(st.packets[!to_real] == 1 && st.octets[!to_real] == pk.payload_len &&
                           st.last == 1.5, "counted %llu packets %llu octets",
                       (unsigned long long)st.packets[!to_real],
                       (unsigned long long)st.octets[!to_real]);
        }
    }
    FUZZ_CHECK(flow_check(table) == 0, "flow_check %d", flow_check(table));
    free(frame);
    return 0;
}
