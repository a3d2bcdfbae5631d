"""Frames for engine tests, built with scapy, and scripted TCP conversations through a VIP.

A ``Flow`` is one client connection as the switch's client-facing side sees it: the client
talks to VIP:vport and the answers come from VIP:vport, sequence numbers kept right.
"""
from __future__ import annotations

import ipaddress

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from weboslb.config import files
from weboslb.config.model import Config

CLIENT_MAC, SWITCH_MAC = "02:00:00:00:00:01", "02:00:00:00:00:fe"


def config(text: str) -> Config:
    loaded = files.parse(text, "yaml")
    assert loaded.ok, [p.text("test") for p in loaded.problems]
    return loaded.config


def ip_layer(src: str, dst: str):
    if ipaddress.ip_address(src).version == 6:
        return IPv6(src=src, dst=dst)
    return IP(src=src, dst=dst)


def tcp(src: str, dst: str, sport: int, dport: int, flags: str, seq: int = 0, ack: int = 0,
        payload: bytes = b"") -> bytes:
    return bytes(Ether(src=CLIENT_MAC, dst=SWITCH_MAC) / ip_layer(src, dst)
                 / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack) / payload)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"x") -> bytes:
    return bytes(Ether(src=CLIENT_MAC, dst=SWITCH_MAC) / ip_layer(src, dst)
                 / UDP(sport=sport, dport=dport) / payload)


class Flow:
    """One TCP connection between a client and a VIP, frame by frame."""

    def __init__(self, cip: str, cport: int, vip: str, vport: int, *, isn: int = 1000,
                 server_isn: int = 5000) -> None:
        self.cip, self.cport, self.vip, self.vport = cip, cport, vip, vport
        self.cseq, self.sseq = isn, server_isn

    def _c(self, flags: str, payload: bytes = b"") -> bytes:
        f = tcp(self.cip, self.vip, self.cport, self.vport, flags, self.cseq,
                self.sseq if "A" in flags else 0, payload)
        self.cseq += len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        return f

    def _s(self, flags: str, payload: bytes = b"") -> bytes:
        f = tcp(self.vip, self.cip, self.vport, self.cport, flags, self.sseq, self.cseq, payload)
        self.sseq += len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        return f

    def syn(self) -> bytes:
        return self._c("S")

    def synack(self) -> bytes:
        return self._s("SA")

    def ack(self) -> bytes:
        return self._c("A")

    def handshake(self) -> list[bytes]:
        return [self.syn(), self.synack(), self.ack()]

    def send(self, data: bytes) -> bytes:
        return self._c("PA", data)

    def reply(self, data: bytes) -> bytes:
        return self._s("PA", data)

    def server_ack(self) -> bytes:
        return self._s("A")

    def fin(self) -> bytes:
        return self._c("FA")

    def server_fin(self) -> bytes:
        return self._s("FA")

    def rst(self) -> bytes:
        return self._c("R")

    def close(self) -> list[bytes]:
        return [self.fin(), self.server_fin(), self.ack()]


def http_request(path: str = "/", host: str = "www.example.com",
                 cookie: str | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_response(set_cookie: str | None = None, body: bytes = b"hello") -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}"]
    if set_cookie:
        lines.append(f"Set-Cookie: {set_cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def tls_hello(kind: int, session_id: bytes, *, tls13: bool = False) -> bytes:
    """A minimal ClientHello (1) or ServerHello (2) record."""
    body = b"\x03\x03" + bytes(32) + bytes([len(session_id)]) + session_id
    if kind == 1:
        body += b"\x00\x02\x13\x01" + b"\x01\x00"
        ext = b"\x00\x2b\x00\x03\x02\x03\x04" if tls13 else b""
    else:
        body += b"\x13\x01" + b"\x00"
        ext = b"\x00\x2b\x00\x02\x03\x04" if tls13 else b""
    body += len(ext).to_bytes(2, "big") + ext
    msg = bytes([kind]) + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(msg).to_bytes(2, "big") + msg
