/*
 * decode.h - the L2-L4 frame decoder: public API.
 *
 * This header is also the cffi cdef (weboslb/_native_build.py strips the preprocessor lines),
 * so it holds plain declarations only.  The per-frame decoder is fr_decode1() in decode_inl.h,
 * a static inline function the fast path compiles into its own loop.
 *
 * struct fr_pkt mirrors weboslb.proto.packet.Packet field for field; enum fr_reason and
 * enum fr_link carry the numbers of Reason and Link (append, never renumber).
 */
#ifndef WEBOSLB_DECODE_H
#define WEBOSLB_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum fr_reason {
    FR_OK = 0,
    FR_NOT_IP = 1,
    FR_MPLS = 2,
    FR_FRAGMENT = 3,
    FR_NOT_TCP_UDP = 4,
    FR_TRUNCATED = 5,
    FR_BAD_IP_HEADER = 6,
    FR_BAD_L4_HEADER = 7,
    FR_IPV6_EXT_LIMIT = 8,
    FR_UNKNOWN_LINK = 9
};

enum fr_link {
    FR_LINK_ETHERNET = 1,
    FR_LINK_RAW = 101,
    FR_LINK_LINUX_SLL = 113,
    FR_LINK_LINUX_SLL2 = 276,
    FR_LINK_IPV4 = 228,
    FR_LINK_IPV6 = 229
};

enum fr_err {
    FR_EINVAL = -2,     /* a NULL array with n > 0 */
    FR_ERANGE = -3      /* a frame (off, caplen) that does not lie inside the buffer */
};

enum fr_limits {
    FR_VLAN_MAX = 8,    /* VLAN tags walked; a deeper stack is NOT_IP */
    FR_V6_EXT_MAX = 8   /* IPv6 extension headers walked; one more is IPV6_EXT_LIMIT */
};

/* One decoded frame (84 bytes).  Offsets count from the frame's first byte.  A frame whose
 * reason is not FR_OK carries the fields decoded before the failure, the rest zero (the
 * list is in decode_inl.h). */
struct fr_pkt {
    uint8_t reason;         /* enum fr_reason */
    uint8_t family;         /* 4, 6, or 0: no valid IP header */
    uint8_t proto;          /* IP protocol (IPv6: the last next-header value examined) */
    uint8_t flags;          /* TCP flags byte; 0 for UDP */
    uint8_t nvlan;
    uint8_t is_short;       /* Packet.short: the IP packet claims more bytes than the frame holds */
    uint16_t sport;
    uint16_t dport;
    uint16_t vlan[8];       /* VLAN ids, outermost first */
    uint32_t seq;
    uint32_t ack;
    uint32_t l3_off;
    uint32_t l4_off;
    uint32_t payload_off;
    uint32_t payload_len;   /* payload bytes present in the frame (Ethernet padding excluded) */
    uint8_t src[16];        /* 4 bytes used for IPv4, the rest zero */
    uint8_t dst[16];
};

/* Decodes n frames: frame i is buf[off[i] .. off[i] + caplen[i]).  Every (off, caplen) is
 * checked against buflen before any frame is read.  An unknown link type gives every frame
 * FR_UNKNOWN_LINK.  Returns 0, or FR_EINVAL / FR_ERANGE with out untouched. */
int fr_decode_many(const uint8_t *buf, size_t buflen, const uint64_t *off,
                   const uint32_t *caplen, uint32_t n, int link, struct fr_pkt *out);

#endif
