"""TCP segments as a tap sees them: ``TcpPath.segment`` is the one place a segment is built,
each direction's fixed headers (a template: scapy builds it for the demo, struct for the
benchmark) with the segment's ports, numbers, flags, lengths and checksums packed in.
Per-packet scapy would take minutes for a million frames.  ``Connection`` scripts one TCP
connection with them: SYN options, handshakes, sequence and acknowledgement numbers kept
right, delayed ACKs and slow-start rounds, FIN teardown.
"""
from __future__ import annotations

import random
import struct
from collections.abc import Callable
from operator import itemgetter

from weboslb.proto.frame import decode
from weboslb.proto.packet import Reason, TcpFlag

CLIENT, VIP = 0, 1  # the two sides of a connection
SYN, ACK, FIN, PSH = int(TcpFlag.SYN), int(TcpFlag.ACK), int(TcpFlag.FIN), int(TcpFlag.PSH)
MSS = 1460
INITIAL_WINDOW = 10  # segments in the first slow-start round (RFC 6928)
# MSS 1460, NOP, window scale 7, NOP, NOP, SACK permitted (what scapy's TCP options encode)
SYN_OPTIONS = bytes.fromhex("020405b40103030701010402")
SYN_WINDOW = (64240, 65160)
WINDOW = (502, 509)  # after the handshake, scaled by 2**7
GAP = (2.4e-5, 1.2e-5)  # between back-to-back segments of one side (client links are slower)

_HEAD = struct.Struct("!14sBBHHHBBH4s4sHHIIBBHHH")  # Ethernet, IPv4 without options, TCP


def payload_sum(data: bytes) -> int:
    """The ones' complement sum of ``data`` as 16-bit words (RFC 1071), modulo 0xFFFF.

    2**16 = 1 (mod 0xFFFF), so the sum of a number's 16-bit digits is the number itself
    modulo 0xFFFF: one C-speed big-int operation instead of a Python loop over the words
    (``checksum.ones_sum`` gives the same residue, 4x slower on a full segment).
    """
    n = int.from_bytes(data, "big")
    return (n << 8 if len(data) & 1 else n) % 0xFFFF


class TcpPath:
    """One direction between two hosts: the Ethernet header and IPv4 fields every segment
    shares (the template), with their share of both checksums summed once."""

    __slots__ = ("_ip", "_tcp", "dst", "l2", "src", "ttl")

    def __init__(self, l2: bytes, src: bytes, dst: bytes, ttl: int = 64) -> None:
        if len(l2) != 14 or l2[12:14] != b"\x08\x00":
            raise ValueError("a TCP path needs an untagged Ethernet header announcing IPv4")
        if len(src) != 4 or len(dst) != 4 or not 0 < ttl < 256:
            raise ValueError("a TCP path joins two IPv4 addresses with a TTL of 1..255")
        self.l2, self.src, self.dst, self.ttl = bytes(l2), bytes(src), bytes(dst), ttl
        addrs = payload_sum(self.src + self.dst)
        # version/IHL/TOS, the header's 20 bytes of total length, DF, TTL/protocol, addresses
        self._ip = 0x4500 + 20 + 0x4000 + (ttl << 8 | 6) + addrs
        self._tcp = addrs + 6  # the pseudo-header less the TCP length

    @classmethod
    def from_frame(cls, frame: bytes) -> TcpPath:
        """The path of a template Ethernet/IPv4/TCP frame (scapy's, say): its Ethernet
        header, addresses and TTL."""
        pkt = decode(frame)
        if pkt.reason is not Reason.OK or pkt.family != 4 or pkt.proto != 6 \
                or pkt.l3_off != 14 or pkt.l4_off != 34:
            raise ValueError("a template must be an untagged Ethernet/IPv4/TCP frame "
                             "without IP options")
        return cls(bytes(frame[:14]), pkt.src, pkt.dst, frame[22])

    def segment(self, sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
                ipid: int, payload: bytes = b"", options: bytes = b"",
                psum: int | None = None) -> bytes:
        """A frame carrying one segment: DF set, no IP options, TCP ``options`` (a multiple
        of 4 bytes) then ``payload``; ``psum`` is ``payload_sum(payload)`` when known."""
        hlen = 20 + len(options)
        tcp_len = hlen + len(payload)
        ip_sum = self._ip + tcp_len + ipid
        ip_sum = (ip_sum & 0xFFFF) + (ip_sum >> 16)
        ip_sum = (ip_sum & 0xFFFF) + (ip_sum >> 16)
        offset = hlen << 2  # the data offset in 32-bit words, in the byte's upper nibble
        total = (self._tcp + tcp_len + sport + dport + (seq >> 16) + (seq & 0xFFFF)
                 + (ack >> 16) + (ack & 0xFFFF) + (offset << 8 | flags) + window
                 + (payload_sum(payload) if psum is None else psum)
                 + (payload_sum(options) if options else 0))
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return _HEAD.pack(self.l2, 0x45, 0, 20 + tcp_len, ipid, 0x4000, self.ttl, 6,
                          ~ip_sum & 0xFFFF, self.src, self.dst, sport, dport, seq, ack,
                          offset, flags, window, ~total & 0xFFFF, 0) + options + payload


class PayloadSums(dict):
    """Payload sums of the payloads that recur (bodies served to many clients): a segment
    of a full-sized payload costs a dictionary lookup instead of a sum."""

    LIMIT = 1 << 14  # payloads remembered (the recurring ones come early and often)

    def __missing__(self, payload: bytes) -> int:
        value = payload_sum(payload)
        if len(self) < self.LIMIT:
            self[payload] = value
        return value


PathMaker = Callable[[bytes, bytes, bytes, bytes, int], TcpPath]  # src/dst MAC, src/dst IP, TTL


def struct_path(src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, ttl: int) -> TcpPath:
    """The path built with struct (what the benchmark uses)."""
    return TcpPath(dst_mac + src_mac + b"\x08\x00", src, dst, ttl)


def scapy_path(src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, ttl: int) -> TcpPath:
    """The path of a template scapy builds (what the demo uses)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    template = (Ether(src=src_mac.hex(":"), dst=dst_mac.hex(":"))
                / IP(src=".".join(map(str, src)), dst=".".join(map(str, dst)), ttl=ttl,
                     flags="DF", id=0) / TCP())
    return TcpPath.from_frame(bytes(template))


# ---- one TCP connection -------------------------------------------------------------------

class Connection:
    """One TCP connection between a client and a VIP port, scripted forward in time.

    ``t`` is the time at the tap of the script's last step.  The client is ``rtt`` away
    (it answers what the tap saw one round trip later); the VIP side, the switch and its
    reals, answers within ``srv``.  Frames are kept in the order built and sorted by time
    once the script ends (acknowledgements may overtake later data).
    """

    __slots__ = ("_sums", "frames", "ipid", "paths", "ports", "rtt", "seq", "srv", "t")

    def __init__(self, up: TcpPath, down: TcpPath, cport: int, vport: int, t: float,
                 rtt: float, rng: random.Random, sums: PayloadSums) -> None:
        self.paths = (up, down)
        self.ports = ((cport, vport), (vport, cport))
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]  # next sequence number per side
        self.ipid = [rng.getrandbits(16), rng.getrandbits(16)]
        self.t, self.rtt, self.srv = t, rtt, rng.uniform(5e-5, 2e-4)
        self.frames: list[tuple[float, bytes]] = []
        self._sums = sums

    def _emit(self, side: int, flags: int, payload: bytes = b"", t: float | None = None,
              options: bytes = b"") -> None:
        seqs, ipids = self.seq, self.ipid
        seq, ipid = seqs[side], ipids[side]
        n = len(payload)
        sport, dport = self.ports[side]
        frame = self.paths[side].segment(
            sport, dport, seq, seqs[1 - side] if flags & ACK else 0, flags,
            SYN_WINDOW[side] if flags & SYN else WINDOW[side], ipid, payload, options,
            (self._sums[payload] if n > 256 else payload_sum(payload)) if n else 0)
        ipids[side] = (ipid + 1) & 0xFFFF
        seqs[side] = (seq + n + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        self.frames.append((self.t if t is None else t, frame))

    def delay(self, side: int) -> float:
        """How long after the tap saw a packet the answer of ``side`` reaches it."""
        return self.rtt if side == CLIENT else self.srv

    def wait(self, seconds: float) -> None:
        self.t += seconds

    def open(self, by: int = CLIENT) -> None:
        """The three-way handshake, opened by ``by`` (the VIP opens active FTP data)."""
        other = 1 - by
        self._emit(by, SYN, options=SYN_OPTIONS)
        self.t += self.delay(other)
        self._emit(other, SYN | ACK, options=SYN_OPTIONS)
        self.t += self.delay(by)
        self._emit(by, ACK)

    def send(self, side: int, data: bytes, *, acks: bool = True) -> None:
        """``data`` from ``side`` in MSS-sized segments, in slow-start rounds.  With ``acks``
        the other side acknowledges every second segment and the last (without, its next
        data carries the acknowledgement: a reply follows at once)."""
        other = 1 - side
        delay = self.delay(other)
        gap = GAP[side]
        t = start = end = self.t
        cwnd, in_round, unacked = INITIAL_WINDOW, 0, 0
        n = len(data)
        for off in range(0, n, MSS):
            last = off + MSS >= n
            self._emit(side, ACK | PSH if last else ACK, data[off:off + MSS], t)
            end = max(end, t)
            unacked += 1
            if acks and (unacked == 2 or last):
                self._emit(other, ACK, t=t + delay)
                end, unacked = t + delay, 0
            in_round += 1
            if in_round == cwnd and not last:
                # the next round leaves when the first acknowledgements are back
                t = start = max(t + gap, start + delay)
                cwnd, in_round = cwnd * 2, 0
            else:
                t += gap
        self.t = end

    def close(self, first: int = CLIENT) -> None:
        """FIN from ``first``, FIN from the other side, the last ACK."""
        other = 1 - first
        self._emit(first, FIN | ACK)
        self.t += self.delay(other)
        self._emit(other, FIN | ACK)
        self.t += self.delay(first)
        self._emit(first, ACK)

    def done(self) -> list[tuple[float, bytes]]:
        self.frames.sort(key=itemgetter(0))
        return self.frames
