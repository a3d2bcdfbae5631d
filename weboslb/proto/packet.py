"""What the frame decoder tells the switch about one frame: the shared record of the Python
decoder (``proto/frame.py``) and the C batch decoder (``csrc/decode.c``), field for field.

Addresses are packed bytes (4 for IPv4, 16 for IPv6) so that both families hash and compare
the same way and nothing needs ``socket``.  Offsets count from the first byte of the frame as
captured (the Ethernet header for link type Ethernet).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Link(enum.IntEnum):
    """pcap link types the decoder understands (the LINKTYPE_* numbers)."""

    ETHERNET = 1
    RAW = 101  # raw IPv4/IPv6, version from the first nibble
    LINUX_SLL = 113
    LINUX_SLL2 = 276
    IPV4 = 228
    IPV6 = 229


class Reason(enum.IntEnum):
    """Why a frame is not a TCP/UDP packet the switch load-balances.

    OK frames are SLB candidates; the others are passed through (L2/L3 switching) or dropped,
    and counted by reason.  The numbers are shared with C: append, never renumber.
    """

    OK = 0
    NOT_IP = 1  # ARP, LLDP, STP, ... : switched, not load-balanced
    MPLS = 2
    FRAGMENT = 3  # IPv4 MF/offset or an IPv6 fragment header: not reassembled
    NOT_TCP_UDP = 4  # ICMP, OSPF, VRRP, GRE, ...
    TRUNCATED = 5  # the frame ends inside a header
    BAD_IP_HEADER = 6  # version, IHL or total length that cannot be
    BAD_L4_HEADER = 7  # TCP data offset < 5 or past the packet; UDP length < 8
    IPV6_EXT_LIMIT = 8  # more extension headers than the decoder walks
    UNKNOWN_LINK = 9


class TcpFlag(enum.IntFlag):
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


@dataclass(frozen=True, slots=True)
class Packet:
    """A decoded frame.  For frames with ``reason != OK`` only the fields up to the point of
    failure are meaningful (``family`` 0 when there is no IP header)."""

    reason: Reason
    family: int = 0  # 4, 6, or 0 when not IP
    proto: int = 0  # IP protocol number (6 TCP, 17 UDP, ...)
    src: bytes = b""
    dst: bytes = b""
    sport: int = 0
    dport: int = 0
    flags: int = 0  # TCP flags (TcpFlag); 0 for UDP
    seq: int = 0
    ack: int = 0
    vlans: tuple[int, ...] = ()  # 802.1Q/802.1ad VLAN ids, outermost first
    l3_off: int = 0  # offset of the IP header
    l4_off: int = 0  # offset of the TCP/UDP header
    payload_off: int = 0  # offset of the L4 payload
    payload_len: int = 0  # payload bytes present in the frame (Ethernet padding excluded)
    short: bool = False  # the IP packet claims more bytes than the frame holds (snaplen)
