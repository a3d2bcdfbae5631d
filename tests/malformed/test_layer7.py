"""Layer 7 payloads that lie, through ``weboslb replay``: TLS hellos with inconsistent lengths,
HTTP heads that never end, FTP lines announcing numbers no address or port can hold.

The switch never lets such a connection hang or fail: a first request it cannot read is
balanced by the metric alone and counted (the report's ``layer7.unparsed_requests``, or
``requests_too_long``, which ``/stats/slb/layer7/maint`` shows as "Requests exceeded 8192
bytes"); a response it cannot read teaches no binding; an FTP line it cannot read announces
nothing, so the data connection it names is dropped and counted (``no_session`` for a PORT,
``no_service`` for a 227), and the line itself goes through unchanged.  The good traffic
around each case is replayed exactly as without it.
"""
from __future__ import annotations

import json

import pytest

from tests.engine.net import http_request, tls_hello
from tests.hostile.traffic import SYN, Conversation, addr, frame
from tests.malformed.corpus import CONFIG, VIP, good_frames, pcap_layout
from weboslb.io.capture import open_capture
from weboslb.main import main
from weboslb.proto.frame import decode, payload

CLIENT = "198.51.100.77"
SID = bytes(range(1, 33))
CH = tls_hello(1, b"")


def tls(hello: bytes) -> list[bytes]:
    c = Conversation(addr(CLIENT), 45000, 443)
    return [*c.open(), c.send(hello), c.reply(tls_hello(2, SID)), *c.close()]


def with_byte(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1:]


def http(request: bytes, response: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
         segment: int = 1400) -> list[bytes]:
    c = Conversation(addr(CLIENT), 45000, 80)
    out = c.open()
    out += [c.send(request[i:i + segment]) for i in range(0, len(request), segment)]
    out += [c.reply(response[i:i + segment]) for i in range(0, len(response), segment)]
    return out + c.close()


ENDLESS = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 9000  # no empty line, ever


def ftp_active(port_line: bytes) -> list[bytes]:
    """A PORT command, then the real's data connection to what it announced (port 1025)."""
    c = Conversation(addr(CLIENT), 45000, 21)
    return [*c.open(), c.reply(b"220 ready\r\n"), c.send(port_line), c.reply(b"200 OK\r\n"),
            frame(addr(VIP), addr(CLIENT), 20, 1025, SYN, seq=7000)]


def ftp_passive(reply: bytes) -> list[bytes]:
    """A 227 reply, then the client's data connection to port 1025 of the VIP."""
    c = Conversation(addr(CLIENT), 45000, 21)
    return [*c.open(), c.reply(b"220 ready\r\n"), c.send(b"PASV\r\n"), c.reply(reply),
            frame(addr(CLIENT), addr(VIP), 45001, 1025, SYN, seq=9000)]


@pytest.fixture(scope="module")
def good() -> list[bytes]:
    return good_frames()


def replay(tmp_path, frames: list[bytes], name: str, capsys, *extra: str) -> dict:
    cap = tmp_path / f"{name}.pcap"
    cap.write_bytes(pcap_layout(frames).data)
    cfg = tmp_path / "sw.yaml"
    cfg.write_text(CONFIG)
    out = tmp_path / f"{name}.json"
    assert main(["replay", "-q", "-c", str(cfg), str(cap), "--report-json", str(out),
                 *extra]) == 0
    assert capsys.readouterr() == ("", "")
    return json.loads(out.read_text())


def mine(report: dict) -> list[dict]:
    return [r for r in report["connections"] if r["client_ip"] == CLIENT]


UNREAD = {"unparsed_requests": 1, "requests_too_long": 0}
TOO_LONG = {"unparsed_requests": 0, "requests_too_long": 1}
NOTHING = {"unparsed_requests": 0, "requests_too_long": 0}
LEARNT = "new"  # the ServerHello's session ID is still learnt from the server's answer

CASES = {
    # TLS: the ClientHello under pbind sslid
    "TLS handshake longer than its record": (tls(with_byte(CH, 6, 0x7F)), UNREAD, LEARNT),
    "TLS record shorter than the hello": (tls(CH[:3] + b"\x00\x10" + CH[5:]), UNREAD, LEARNT),
    "TLS session ID length 33": (tls(tls_hello(1, SID + b"!")), UNREAD, LEARNT),
    "TLS session ID past the hello": (tls(with_byte(CH, 43, 0xF0)), UNREAD, LEARNT),
    "TLS handshake length 16M": (tls(CH[:6] + b"\xff\xff\xff" + CH[9:]), UNREAD, LEARNT),
    "TLS record of 9 KB never ending": (
        tls(b"\x16\x03\x01\x40\x00\x01\x00\x3f\xfc\x03\x03" + b"\0" * 9000), TOO_LONG,
        LEARNT),
    "not TLS at all on the TLS port": (tls(http_request()), UNREAD, LEARNT),
    # HTTP: the request head under passive cookie persistence
    "HTTP request head without end": (http(ENDLESS), TOO_LONG, "none"),
    "HTTP request line of binary junk": (http(bytes(range(256)) * 2 + b"\r\n\r\n"), UNREAD,
                                         "none"),
    "HTTP response head without end": (
        http(http_request(), b"HTTP/1.1 200 OK\r\nSet-Cookie: SID=never\r\nX: " + b"b" * 9000),
        NOTHING, "none"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_an_unreadable_first_request_is_balanced_and_counted(tmp_path, name, good, capsys):
    frames, layer7, persist = CASES[name]
    report = replay(tmp_path, good + frames, "bad", capsys)
    alone = replay(tmp_path, good, "good", capsys)
    assert report["summary"]["layer7"] == layer7
    assert report["summary"]["reasons"] == {}  # no frame of it dropped
    [row] = mine(report)
    assert row["real"] is not None and row["state"] == "closed"
    assert (row["persist"], row["persist_key"]) == (
        (persist, SID.hex()) if persist == LEARNT else ("none", ""))
    assert report["connections"][:-1] == alone["connections"]
    assert report["summary"]["table"]["entries"] == (alone["summary"]["table"]["entries"]
                                                     + (persist == LEARNT))


@pytest.mark.parametrize("line", [b"PORT 999,1,1,1,4,1\r\n", b"PORT 198,51,100,77,300,1\r\n",
                                  b"PORT 198,51,100,77,4,1,9\r\n",
                                  b"PORT 198,51,100,77,99999999999999999999,1\r\n",
                                  b"EPRT |1|198.51.100.777|1025|\r\n",
                                  b"EPRT |1|198.51.100.77|99999|\r\n"])
def test_a_port_command_with_overflowing_numbers_announces_nothing(tmp_path, line, good, capsys):
    report = replay(tmp_path, good + ftp_active(line), "port", capsys)
    assert report["summary"]["reasons"] == {"no_session": 1}  # the real's data SYN
    [control] = mine(report)
    assert control["vport"] == 21 and control["real"] is not None
    assert "ftp" not in report["summary"]["persistence"]


@pytest.mark.parametrize("reply", [
    b"227 Entering Passive Mode (10,0,1,11,99999,1).\r\n",
    b"227 Entering Passive Mode (256,0,1,11,4,1).\r\n",
    b"227 Entering Passive Mode (10,0,1,11,4).\r\n",
    b"227 Entering Passive Mode (10,0,1,11,4,1" + b"0" * 600 + b").\r\n",
    b"229 Entering Extended Passive Mode (|||99999|).\r\n",
])
def test_a_passive_reply_with_overflowing_numbers_goes_through_unread(tmp_path, reply, good,
                                                                      capsys):
    views = tmp_path / "views"
    report = replay(tmp_path, good + ftp_passive(reply), "pasv", capsys, "--out-pcap",
                    str(views))
    assert report["summary"]["reasons"] == {"no_service": 1}  # the client's data SYN
    assert "ftp" not in report["summary"]["persistence"]
    # the client gets the line as the server sent it: nothing rewritten into it
    with open_capture(views / "client.pcap") as cap:
        sent = [bytes(payload(f, decode(f))) for _, _, f in cap.frames()]
    assert reply in sent
