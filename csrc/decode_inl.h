/*
 * decode_inl.h - the per-frame L2-L4 decoder, static inline so that the fast path compiles it
 * into its own batch loop (no call per frame).  Not part of the cdef.
 *
 * Semantics (shared with weboslb/proto/frame.py, frame for frame):
 *   Ethernet: 802.1Q/802.1ad/0x9100 tags stacked up to FR_VLAN_MAX (a deeper stack: NOT_IP),
 *   MPLS unicast/multicast: MPLS, any other EtherType or an 802.3 length: NOT_IP.  Linux
 *   cooked SLL/SLL2 carry an EtherType (at 14 / at 0) and continue the same way.  RAW takes
 *   the IP version from the first nibble (neither 4 nor 6: BAD_IP_HEADER).
 *   Every length is judged against what the packet claims before what the frame holds: a
 *   header that does not fit in the IP packet (or IPv6 payload) is BAD_*, one that fits but
 *   is cut by the end of the frame is TRUNCATED.  IPv6 extension headers are at least 8
 *   bytes.  What a failed frame carries: vlans always; l3_off once the link layer announced
 *   IP; family, proto, src, dst, is_short once the fixed IP header is valid (proto: where the
 *   walk stopped, 44 for an IPv6 fragment); l4_off for TCP/UDP; ports, flags, seq and ack
 *   once the fixed TCP (20) / UDP (8) header is there.  Payload fields only for FR_OK.
 *   Checksums are not verified.
 */
#ifndef WEBOSLB_DECODE_INL_H
#define WEBOSLB_DECODE_INL_H

#include <string.h>

#include "decode.h"

#define FR_INLINE static inline __attribute__((always_inline))

FR_INLINE uint32_t fr_be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

FR_INLINE uint32_t fr_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether `need` bytes from pos fit the packet as claimed (end) and the frame (n). */
FR_INLINE uint8_t fr_fits(size_t pos, size_t need, size_t end, size_t n, uint8_t bad)
{
    return end - pos < need ? bad : n - pos < need ? FR_TRUNCATED : FR_OK;
}

/* TCP or UDP header at off.  end: where the IP header says the packet ends (off <= end);
 * n: frame length (off <= n). */
FR_INLINE uint8_t fr_l4(const uint8_t *p, size_t n, size_t off, size_t end, struct fr_pkt *o)
{
    const uint8_t *h = p + off;
    size_t hlen = o->proto == 6 ? 20 : 8;
    uint8_t r;
    o->l4_off = (uint32_t)off;
    if ((r = fr_fits(off, hlen, end, n, FR_BAD_L4_HEADER)) != FR_OK)
        return r;
    o->sport = (uint16_t)fr_be16(h);
    o->dport = (uint16_t)fr_be16(h + 2);
    if (o->proto == 6) {
        o->seq = fr_be32(h + 4);
        o->ack = fr_be32(h + 8);
        o->flags = h[13];
        hlen = (size_t)(h[12] >> 4) * 4;
        if (hlen < 20)
            return FR_BAD_L4_HEADER;
        if ((r = fr_fits(off, hlen, end, n, FR_BAD_L4_HEADER)) != FR_OK)
            return r;
    } else if (fr_be16(h + 4) < 8) {
        return FR_BAD_L4_HEADER;
    }
    o->payload_off = (uint32_t)(off + hlen);
    o->payload_len = (uint32_t)((end < n ? end : n) - off - hlen);
    return FR_OK;
}

FR_INLINE int fr_tcp_udp(uint32_t proto)
{
    return proto == 6 || proto == 17;
}

FR_INLINE uint8_t fr_ipv4(const uint8_t *p, size_t n, size_t off, struct fr_pkt *o)
{
    const uint8_t *h = p + off;
    o->l3_off = (uint32_t)off;
    if (n - off < 20)
        return FR_TRUNCATED;
    size_t ihl = (size_t)(h[0] & 15) * 4, total = fr_be16(h + 2);
    if (h[0] >> 4 != 4 || ihl < 20 || total < ihl)
        return FR_BAD_IP_HEADER;
    o->family = 4;
    o->proto = h[9];
    memcpy(o->src, h + 12, 4);
    memcpy(o->dst, h + 16, 4);
    size_t end = off + total;
    o->is_short = end > n;
    if (n - off < ihl)
        return FR_TRUNCATED;
    if (fr_be16(h + 6) & 0x3fff)    /* MF or a fragment offset; DF is fine */
        return FR_FRAGMENT;
    if (!fr_tcp_udp(h[9]))
        return FR_NOT_TCP_UDP;
    return fr_l4(p, n, off + ihl, end, o);
}

FR_INLINE int fr_v6_ext(uint32_t nh)
{
    return nh == 0 || nh == 43 || nh == 60;     /* hop-by-hop, routing, destination options */
}

FR_INLINE uint8_t fr_ipv6(const uint8_t *p, size_t n, size_t off, struct fr_pkt *o)
{
    const uint8_t *h = p + off;
    o->l3_off = (uint32_t)off;
    if (n - off < 40)
        return FR_TRUNCATED;
    size_t plen = fr_be16(h + 4);
    if (h[0] >> 4 != 6 || plen == 0)    /* payload length 0: a jumbogram */
        return FR_BAD_IP_HEADER;
    uint32_t nh = h[6];
    o->family = 6;
    o->proto = (uint8_t)nh;
    memcpy(o->src, h + 8, 16);
    memcpy(o->dst, h + 24, 16);
    size_t end = off + 40 + plen, pos = off + 40;
    o->is_short = end > n;
    for (int walked = 0; fr_v6_ext(nh); walked++) {
        uint8_t r;
        if (walked == FR_V6_EXT_MAX)
            return FR_IPV6_EXT_LIMIT;
        if ((r = fr_fits(pos, 8, end, n, FR_BAD_IP_HEADER)) != FR_OK)
            return r;
        size_t len = ((size_t)p[pos + 1] + 1) * 8;
        if ((r = fr_fits(pos, len, end, n, FR_BAD_IP_HEADER)) != FR_OK)
            return r;
        nh = p[pos];
        o->proto = (uint8_t)nh;
        pos += len;
    }
    if (nh == 44)
        return FR_FRAGMENT;
    if (!fr_tcp_udp(nh))
        return FR_NOT_TCP_UDP;
    return fr_l4(p, n, pos, end, o);
}

/* From an EtherType at `off` on: VLAN tags, then the network layer. */
FR_INLINE uint8_t fr_ether(const uint8_t *p, size_t n, size_t off, uint32_t type,
                           struct fr_pkt *o)
{
    while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
        if (o->nvlan == FR_VLAN_MAX)
            return FR_NOT_IP;
        if (n - off < 4)
            return FR_TRUNCATED;
        o->vlan[o->nvlan++] = (uint16_t)(fr_be16(p + off) & 0x0fff);
        type = fr_be16(p + off + 2);
        off += 4;
    }
    switch (type) {
    case 0x0800:
        return fr_ipv4(p, n, off, o);
    case 0x86dd:
        return fr_ipv6(p, n, off, o);
    case 0x8847:
    case 0x8848:
        return FR_MPLS;
    default:
        return FR_NOT_IP;
    }
}

/* Copied over a packet to clear it: a memset of the struct compiles to `rep stos`, whose
 * start-up cost a frame is more than the decoding (the copy is a few vector moves). */
static const struct fr_pkt FR_PKT_ZERO;

/* Decodes one frame of n bytes into *o (every field written). */
FR_INLINE void fr_decode1(const uint8_t *p, size_t n, int link, struct fr_pkt *o)
{
    uint8_t r;
    *o = FR_PKT_ZERO;
    switch (link) {
    case FR_LINK_ETHERNET:
        r = n < 14 ? FR_TRUNCATED : fr_ether(p, n, 14, fr_be16(p + 12), o);
        break;
    case FR_LINK_LINUX_SLL:
        r = n < 16 ? FR_TRUNCATED : fr_ether(p, n, 16, fr_be16(p + 14), o);
        break;
    case FR_LINK_LINUX_SLL2:
        r = n < 20 ? FR_TRUNCATED : fr_ether(p, n, 20, fr_be16(p), o);
        break;
    case FR_LINK_RAW:
        if (n < 1)
            r = FR_TRUNCATED;
        else if (p[0] >> 4 == 4)
            r = fr_ipv4(p, n, 0, o);
        else if (p[0] >> 4 == 6)
            r = fr_ipv6(p, n, 0, o);
        else
            r = FR_BAD_IP_HEADER;
        break;
    case FR_LINK_IPV4:
        r = fr_ipv4(p, n, 0, o);
        break;
    case FR_LINK_IPV6:
        r = fr_ipv6(p, n, 0, o);
        break;
    default:
        r = FR_UNKNOWN_LINK;
    }
    o->reason = r;
}

#endif
