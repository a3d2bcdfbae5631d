"""``weboslb extract``: rows on small captures built here, the TSV and the command line, bad
input, and agreement with tshark on every real capture of ../shared/samples/pcaps."""
from __future__ import annotations

import argparse
import csv
import functools
from collections import Counter, defaultdict

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from tests.io.builders import Rec, pcap, write
from tests.proto.builders import client_hello, record, server_hello, version_selected
from tests.proto.builders import extensions as tls_extensions
from tests.proto.samples import PCAPS, captures, need, truth
from weboslb.io import extract
from weboslb.io.capture import CaptureError
from weboslb.io.extract import COLUMNS, Progress, Row, rows, write_tsv
from weboslb.main import UsageError

CLIENT, SERVER = "192.0.2.1", "198.51.100.7"
SID = bytes(range(1, 33))


class Conv:
    """One TCP connection, frame by frame, sequence numbers kept right."""

    def __init__(self, frames: list[bytes], client=(CLIENT, 40000), server=(SERVER, 80)) -> None:
        self.frames, self.client, self.server = frames, client, server
        self.seq = {True: 1000, False: 5000}  # from the client, from the server

    def _frame(self, from_client: bool, flags: str, data: bytes = b"", seq: int | None = None):
        (src, sport), (dst, dport) = ((self.client, self.server) if from_client
                                      else (self.server, self.client))
        ip = IPv6 if ":" in src else IP
        seq = self.seq[from_client] if seq is None else seq
        self.frames.append(bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                                 / ip(src=src, dst=dst)
                                 / TCP(sport=sport, dport=dport, flags=flags, seq=seq,
                                       ack=self.seq[not from_client]) / data))
        return len(self.frames)

    def open(self) -> int:
        """SYN, SYN+ACK, ACK; the SYN's frame number."""
        first = self._frame(True, "S", seq=self.seq[True] - 1)
        self._frame(False, "SA", seq=self.seq[False] - 1)
        self._frame(True, "A")
        return first

    def send(self, data: bytes, from_client: bool = True, *, skip: int = 0) -> int:
        """A segment of ``data`` (after ``skip`` bytes the capture never saw); its frame."""
        self.seq[from_client] += skip
        number = self._frame(from_client, "PA", data)
        self.seq[from_client] += len(data)
        return number

    def resend(self, data: bytes, back: int, from_client: bool = True) -> int:
        """``data`` again from ``back`` bytes before the next byte: a retransmission."""
        return self._frame(from_client, "PA", data, seq=self.seq[from_client] - back)

    def close(self) -> None:
        self._frame(True, "FA")
        self._frame(False, "FA")


def capture(tmp_path, frames: list[bytes], name: str = "c.pcap", start: int = 100,
            step: int = 1) -> str:
    return write(tmp_path / name, pcap([Rec(start + i * step, 0, f)
                                        for i, f in enumerate(frames)]))


def extracted(path: str, *kinds: str) -> list[Row]:
    return [r for r in rows([path]) if not kinds or r.kind in kinds]


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="weboslb")
    extract.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["extract", *argv])
    return args.run(args)


# ---- HTTP ------------------------------------------------------------------------------------

def test_cookie_and_set_cookie_rows_name_the_frame_that_completes_the_head(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames)
    syn = c.open()
    first = c.send(b"GET /cart?item=7 HTTP/1.1\r\nHost: shop\r\nCookie: a=1; ")
    second = c.send(b"lang= en ; broken\r\nCookie: b=2\r\n\r\n")
    body = b"<html>" * 10
    answer = c.send(b"HTTP/1.1 200 OK\r\nSet-Cookie: SID=abc; Path=/\r\nSet-Cookie: t=9\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body, from_client=False)
    c.close()
    got = extracted(capture(tmp_path, frames))
    assert [(r.frame, r.kind) for r in got] == [(syn, "syn"), (second, "http-request"),
                                                (answer, "http-response")]
    request, response = got[1], got[2]
    assert (request.http, request.cookie) == ("GET /cart?item=7", "a=1; lang= en; b=2")
    assert request.note == f"begins at frame {first}"
    assert (response.http, response.set_cookie) == ("200", "SID=abc; t=9")
    assert {r.client_ip for r in got} == {CLIENT}
    assert (request.src, request.sport, request.dst, request.dport) == (CLIENT, 40000, SERVER, 80)
    assert (response.src, response.dst, response.time) == (SERVER, CLIENT, 100.0 + answer - 1)


def test_pipelined_requests_give_a_row_each_and_bodies_are_passed_over(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames)
    c.open()
    both = c.send(b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nCookie: u=1\r\n\r\nhello"
                  b"GET /b HTTP/1.1\r\nCookie: u=2\r\n\r\n")
    inner = b"GET /x HTTP/1.1\r\nCookie: u=3\r\n\r\n"  # the body of the next POST
    post = c.send(b"POST /c HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (len(inner) + 7))
    c.send(inner)
    c.send(b"x" * 7)
    last = c.send(b"\r\nGET /d HTTP/1.1\r\nCookie: u=4\r\n\r\n")  # a stray CRLF first
    got = extracted(capture(tmp_path, frames), "http-request")
    assert [(r.frame, r.http, r.cookie) for r in got] == [
        (both, "POST /a", "u=1"), (both, "GET /b", "u=2"), (post, "POST /c", ""),
        (last, "GET /d", "u=4")]


def test_responses_to_head_and_chunked_ones_keep_the_reader_in_step(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames)
    c.open()
    c.send(b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    head = c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nSet-Cookie: h=1\r\n\r\n"
                  b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: g=1\r\n\r\n"
                  b"5\r\nHTTP/\r\n", from_client=False)
    c.send(b"0\r\n\r\n", from_client=False)
    last = c.send(b"HTTP/1.1 304 Not Modified\r\nSet-Cookie: g=2\r\n\r\n", from_client=False)
    got = extracted(capture(tmp_path, frames), "http-response")
    assert [(r.frame, r.set_cookie) for r in got] == [(head, "h=1"), (head, "g=1"),
                                                      (last, "g=2")]


def test_a_retransmission_adds_nothing_and_lost_bytes_restart_the_reader(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames)
    c.open()
    request = b"GET / HTTP/1.1\r\nCookie: k=1\r\n\r\n"
    sent = c.send(request)
    again = c.resend(request, back=len(request))
    c.send(b"GET /lost HTTP/1.1\r\nCook")  # its end is never captured
    after = c.send(b"GET /next HTTP/1.1\r\nCookie: k=2\r\n\r\n", skip=100)
    got = extracted(capture(tmp_path, frames), "http-request")
    assert [(r.frame, r.cookie) for r in got] == [(sent, "k=1"), (after, "k=2")]
    assert again not in [r.frame for r in got]
    assert got[1].note == ""


def test_bad_heads_are_noted_and_the_reader_waits_for_the_next_message(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames)
    c.open()
    bad = c.send(b"GET /HTTP/1.1\r\nHost: x\r\n\r\n")
    c.send(b"and then some text that is no request at all\r\n\r\n")
    good = c.send(b"GET /ok HTTP/1.1\r\nCookie: c=1\r\n\r\n")
    long = Conv(frames, client=(CLIENT, 40001))
    long.open()
    long.send(b"GET / HTTP/1.1\r\nCookie: big=" + b"v" * 5000)
    too_long = long.send(b"v" * 4000 + b"\r\n\r\n")
    got = extracted(capture(tmp_path, frames), "http-request")
    assert [(r.frame, r.http, r.cookie, r.note) for r in got] == [
        (bad, "", "", "malformed"), (good, "GET /ok", "c=1", ""),
        (too_long, "", "", f"too-long, begins at frame {too_long - 1}")]


def test_binary_connections_give_no_rows(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames, server=(SERVER, 22))
    c.open()
    c.send(b"\x00\x00\x01\x0c\x0a\x14" + bytes(range(200)))
    c.send(b"SSH-2.0-OpenSSH_9.2p1\r\n", from_client=False)
    assert [r.kind for r in extracted(capture(tmp_path, frames))] == ["syn"]


# ---- TLS -------------------------------------------------------------------------------------

def test_hello_session_ids_in_lowercase_hex_once_the_hello_is_complete(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames, server=(SERVER, 443))
    c.open()
    hello = record(client_hello(SID), version=0x0301)
    begun = c.send(hello[:3])
    done = c.send(hello[3:])
    server = c.send(record(server_hello(SID, exts=tls_extensions())) + b"\x16\x03\x03\x00\x10",
                    from_client=False)  # the next record (a Certificate) is not awaited
    c.send(record(client_hello(bytes(32))), from_client=True)  # a second hello: not read
    got = extracted(capture(tmp_path, frames), "tls-client-hello", "tls-server-hello")
    assert [(r.frame, r.kind, r.tls_version, r.tls_session_id, r.note) for r in got] == [
        (done, "tls-client-hello", "TLS1.2", SID.hex(), f"begins at frame {begun}"),
        (server, "tls-server-hello", "TLS1.2", SID.hex(), "")]


def test_tls13_empty_ids_and_bad_hellos(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames, server=(SERVER, 443))
    c.open()
    c.send(record(client_hello()))
    c.send(record(server_hello(SID, exts=tls_extensions(version_selected(0x0304)))),
           from_client=False)
    bad = Conv(frames, client=(CLIENT, 40001), server=(SERVER, 443))
    bad.open()
    broken = bad.send(b"\x16\x03\x01\x00\x05\x0b\x00\x00\x01\x00")  # a Certificate first
    got = extracted(capture(tmp_path, frames), "tls-client-hello", "tls-server-hello")
    assert [(r.kind, r.tls_session_id, r.note) for r in got] == [
        ("tls-client-hello", "", ""), ("tls-server-hello", SID.hex(), "tls1.3"),
        ("tls-client-hello", "", "malformed")]
    assert got[2].frame == broken


# ---- FTP -------------------------------------------------------------------------------------

def test_ftp_lines_announced_endpoints_and_the_data_connections_they_open(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames, server=(SERVER, 21))
    c.open()
    c.send(b"220 ready\r\n", from_client=False)
    login = c.send(b"230-Welcome\r\n  to the archive\r\n230 Logged in\r\n", from_client=False)
    pasv = c.send(b"227 Entering Passive Mode (198,51,100,7,195,80)\r\n", from_client=False)
    data = Conv(frames, client=(CLIENT, 40002), server=(SERVER, 50000))
    data_syn = data.open()
    data.send(b"GET / HTTP/1.1\r\nCookie: not=read\r\n\r\n", from_client=False)  # file content
    port = c.send(b"PORT 192,0,2,1,156,64\r\nEPRT |2|2001:db8::1|40001|\r\n")
    epsv = c.send(b"229 Entering Extended Passive Mode (|||50001|)\r\n227 (1,2,3)\r\n",
                  from_client=False)
    got = extracted(capture(tmp_path, frames))
    ftp = [(r.frame, r.kind, r.ftp, r.data_endpoint, r.note) for r in got if r.ftp]
    assert ftp == [
        (4, "ftp-reply", "220 ready", "", ""),
        (login, "ftp-reply", "230-Welcome", "", ""),
        (login, "ftp-reply", "230 Logged in", "", ""),
        (pasv, "ftp-data-endpoint", "227 Entering Passive Mode (198,51,100,7,195,80)",
         "198.51.100.7:50000", ""),
        (port, "ftp-data-endpoint", "PORT 192,0,2,1,156,64", "192.0.2.1:40000", ""),
        (port, "ftp-data-endpoint", "EPRT |2|2001:db8::1|40001|", "[2001:db8::1]:40001", ""),
        (epsv, "ftp-data-endpoint", "229 Entering Extended Passive Mode (|||50001|)",
         "198.51.100.7:50001", ""),
        (epsv, "ftp-reply", "227 (1,2,3)", "", "malformed")]
    syns = [(r.frame, r.note) for r in got if r.kind == "syn"]
    assert syns == [(1, ""), (data_syn, f"ftp-data of frame {pasv}")]
    assert not [r for r in got if r.kind.startswith("http")]


# ---- several captures, the TSV ---------------------------------------------------------------

def test_captures_are_merged_by_time_and_numbered_each_on_its_own(tmp_path):
    a_frames: list[bytes] = []
    Conv(a_frames, client=(CLIENT, 40000)).open()
    b_frames: list[bytes] = []
    Conv(b_frames, client=(CLIENT, 40001)).open()
    Conv(b_frames, client=(CLIENT, 40002)).open()
    a = capture(tmp_path, a_frames, "a.pcap", start=101, step=2)  # SYN at 101
    b = capture(tmp_path, b_frames, "b.pcap", start=100, step=1)  # SYNs at 100, 103
    got = [(r.capture, r.frame, r.sport) for r in rows([a, b])]
    assert got == [(b, 1, 40001), (a, 1, 40000), (b, 4, 40002)]
    with pytest.raises(ValueError, match="named twice"):
        list(rows([a, a]))


def test_the_tsv_escapes_what_would_break_a_line_or_a_column(tmp_path):
    frames: list[bytes] = []
    c = Conv(frames)
    c.open()
    c.send(b"GET /\xc3\xa9t\xc3\xa9 HTTP/1.1\r\nCookie: a=x\ty; b=\\n; c=\xff\x01\r\n\r\n")
    out = tmp_path / "out.tsv"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        assert write_tsv(rows([capture(tmp_path, frames)]), fh) == 2
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[0].split("\t") == list(COLUMNS[1:]) and lines[-1] == ""
    cells = dict(zip(COLUMNS[1:], lines[2].split("\t"), strict=True))
    assert cells["http"] == "GET /été"
    assert cells["cookie"] == "a=x\\ty; b=\\\\n; c=\\xff\\x01"
    assert (cells["frame"], cells["time"], cells["kind"]) == ("4", "103.000000", "http-request")


# ---- the command line ------------------------------------------------------------------------

def test_kind_filter_header_and_capture_column(tmp_path, capsys):
    frames: list[bytes] = []
    c = Conv(frames, server=(SERVER, 443))
    c.open()
    c.send(record(client_hello(SID)))
    path = capture(tmp_path, frames)
    assert cli(path, "--kind", "tls") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t") == list(COLUMNS[1:])
    assert [line.split("\t")[6] for line in out[1:]] == ["tls-client-hello"]
    more: list[bytes] = []
    Conv(more, client=(CLIENT, 40001)).open()
    other = capture(tmp_path, more, "other.pcap", start=200)
    assert cli(path, other, "--no-header", "--kind", "syn,ftp-command", "--kind", "http") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in out] == [[path, "1", "100.000000"],
                                                      [other, "1", "200.000000"]]


def test_bad_arguments(tmp_path, capsys):
    path = capture(tmp_path, [])
    with pytest.raises(SystemExit) as exc:
        cli(path, "--kind", "dns")
    assert exc.value.code == 2 and "unknown kind 'dns'" in capsys.readouterr().err
    with pytest.raises(UsageError, match="named twice"):
        cli(path, path)


# ---- bad input -------------------------------------------------------------------------------

def test_a_truncated_capture_keeps_the_rows_before_the_bad_spot(tmp_path, capsys):
    frames: list[bytes] = []
    c = Conv(frames)
    c.open()
    c.send(b"GET / HTTP/1.1\r\nCookie: k=1\r\n\r\n")
    c.send(b"GET /2 HTTP/1.1\r\nCookie: k=2\r\n\r\n")
    whole = pcap([Rec(100 + i, 0, f) for i, f in enumerate(frames)])
    path = write(tmp_path / "cut.pcap", whole[:-10])  # the last record loses its end
    assert cli(path, "--no-header") == 0
    captured = capsys.readouterr()
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == ["1", "4"]
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"weboslb extract: {path}: offset {len(whole) - 16 - len(frames[-1])}: ")
    with pytest.raises(CaptureError):  # without a Progress, the error is raised after the rows
        list(rows([path]))
    progress = Progress()
    assert [r.frame for r in rows([path], progress)] == [1, 4]
    assert progress.frames == 4 and len(progress.errors) == 1


def test_nothing_readable_is_exit_status_1(tmp_path, capsys):
    text = write(tmp_path / "notes.txt", b"GET / HTTP/1.1\r\n")
    assert cli(text) == 1
    err = capsys.readouterr().err
    assert err == f"weboslb extract: {text}: not a pcap or pcapng capture (magic 0x47455420)\n"
    empty = capture(tmp_path, [])
    assert cli(empty, text, "--no-header") == 1  # no frame in either
    frames: list[bytes] = []
    Conv(frames).open()
    assert cli(capture(tmp_path, frames, "one.pcap"), text, "--no-header") == 0
    assert capsys.readouterr().err.count("\n") == 2


# ---- against tshark, on the real captures ----------------------------------------------------
#
# tshark (defaults: TCP reassembly on) reports a message on the frame that completes it, as
# extract does.  The differences below are tshark's, each checked, never waived wholesale:
#  * a hello sharing its TLS record with later handshake messages (ServerHello, Certificate,
#    ... in one record over several segments) is shown by tshark once the whole record is in;
#    the switch reads the session ID as soon as the hello itself is complete;
#  * tshark reads one FTP line per segment (the first; a continuation line has no code);
#  * cs_ppa1e_ftp_crack holds its trace twice, the copy reopening each connection with the same
#    initial sequence number: tshark takes the copy for retransmissions and dissects nothing,
#    the switch sees new connections after the FINs (and so does extract);
#  * the README's caveat: the nodesegbody pass (heads reported where they end, as here) loses 3
#    POSTs of cs_ppa1e_evilprogram; the default pass has them;
#  * flows.tsv takes the first sender as the client when the SYN is missing; extract takes the
#    side on a well-known port as the server.

CAPTURES = captures()
real = pytest.mark.skipif(not CAPTURES, reason="../shared/samples/pcaps is absent")


@functools.cache
def _extracted(name: str) -> tuple[Row, ...]:
    return tuple(rows([need(name)]))


class _Sparse(dict):
    """A truth row without its empty columns (the captures' rows, all kept, stay small)."""

    def __missing__(self, column: str) -> list[str]:
        return []


@functools.cache
def _truth(name: str) -> dict[int, _Sparse]:
    return {number: _Sparse((k, v) for k, v in row.items() if v and k in _COLUMNS)
            for number, row in truth(name).items()}


_COLUMNS = {"tcp.stream", "tcp.flags", "tcp.seq", "tls.handshake.type",
            "tls.handshake.session_id_length", "tls.handshake.session_id", "http.request.method",
            "http.cookie", "nodesegbody.http.cookie", "nodesegbody.http.set_cookie",
            "ftp.request.command", "ftp.response.code", "ftp.response.arg", "ftp.passive.ip",
            "ftp.passive.port", "ftp.active.cip", "ftp.active.port", "ftp.eprt.ip",
            "ftp.eprt.ipv6", "ftp.eprt.port", "ftp.epsv.ip", "ftp.epsv.ipv6", "ftp.epsv.port"}


def _stream(name: str, frame: int) -> str:
    return _truth(name)[frame]["tcp.stream"][0]


@functools.lru_cache(maxsize=4)
def _replayed(name: str) -> frozenset[int]:
    """Frames of a connection reopened with the very SYN that opened it (tshark: one stream)."""
    syns: Counter[str] = Counter()
    out = set()
    for number, row in sorted(_truth(name).items()):
        stream = row["tcp.stream"][:1]
        if not stream:
            continue
        if row["tcp.flags"] == ["0x0002"] and row["tcp.seq"] == ["0"]:
            syns[stream[0]] += 1
        if syns[stream[0]] > 1:
            out.add(number)
    return frozenset(out)


def _flows(name: str) -> dict[str, dict[str, str]]:
    with open(PCAPS / f"{name}.flows.tsv", newline="", encoding="utf-8") as fh:
        return {row["stream"]: row
                for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)}


def _rows_at(name: str, *kinds: str) -> dict[int, list[Row]]:
    out: dict[int, list[Row]] = defaultdict(list)
    for r in _extracted(name):
        if r.kind in kinds:
            out[r.frame].append(r)
    return out


@real
@pytest.mark.parametrize("name", CAPTURES)
def test_hello_session_ids_agree_with_tshark(name):
    tshark = []  # (frame, kind, session ID, whether handshake messages follow in the frame)
    for number, row in _truth(name).items():
        types = row["tls.handshake.type"]
        hellos = [i for i, t in enumerate(types) if t in ("1", "2")]
        ids = iter(row["tls.handshake.session_id"])  # empty IDs are left out: align by length
        for i, length in zip(hellos, row["tls.handshake.session_id_length"], strict=True):
            sid = next(ids).replace(":", "") if length != "0" else ""
            tshark.append((number, "client" if types[i] == "1" else "server", sid,
                           i + 1 < len(types)))
    ours = [(r.frame, r.kind.split("-")[1], r.tls_session_id) for r in _extracted(name)
            if r.kind.startswith("tls-")]
    assert not [r for r in _extracted(name) if r.kind.startswith("tls-") and r.note
                and "malformed" in r.note]
    unmatched = list(ours)
    wrong = []
    for number, kind, sid, later in tshark:
        same = [o for o in unmatched if o[1:] == (kind, sid)
                and _stream(name, o[0]) == _stream(name, number)
                and (o[0] == number or (later and o[0] < number))]
        if same:
            unmatched.remove(same[0])
        else:
            wrong.append((number, kind, sid))
    assert wrong == [] and unmatched == []


def _cookie_pairs(values: list[str], attributes: bool = False) -> list[str]:
    """A header value as the switch reads it: pairs with '=' (a Set-Cookie's first only)."""
    out = []
    for value in values:
        pairs = [p.strip(" \t") for p in value.split(";")]
        out += [p for p in (pairs[:1] if attributes else pairs) if "=" in p]
    return sorted(out)


@real
@pytest.mark.parametrize("name", CAPTURES)
def test_request_cookies_agree_with_tshark(name):
    expected = {}
    last_request: dict[str, int] = {}
    heads = {n for n, row in _truth(name).items() if row["nodesegbody.http.cookie"]}
    for number, row in sorted(_truth(name).items()):
        if row["nodesegbody.http.cookie"]:
            expected[number] = _cookie_pairs(row["nodesegbody.http.cookie"])
        if row["http.request.method"] and row["tcp.stream"]:
            stream = row["tcp.stream"][0]
            since = last_request.get(stream, 0)
            if row["http.cookie"] and not any(
                    since < n <= number and _stream(name, n) == stream for n in heads):
                expected[number] = _cookie_pairs(row["http.cookie"])  # lost by nodesegbody
            last_request[stream] = number
    ours = {n: sorted(p for r in found for p in r.cookie.split("; ") if r.cookie)
            for n, found in _rows_at(name, "http-request").items()}
    assert {n: v for n, v in ours.items() if v} == expected


@real
@pytest.mark.parametrize("name", CAPTURES)
def test_set_cookies_agree_with_tshark(name):
    expected = {n: _cookie_pairs(row["nodesegbody.http.set_cookie"], attributes=True)
                for n, row in _truth(name).items() if row["nodesegbody.http.set_cookie"]}
    ours = {n: sorted(p for r in found for p in r.set_cookie.split("; ") if r.set_cookie)
            for n, found in _rows_at(name, "http-response").items()}
    assert {n: v for n, v in ours.items() if v} == expected


def _ftp_word(row: Row) -> str:
    """The reply code, or the command verb, as tshark shows them."""
    return row.ftp[:3] if row.src != row.client_ip else row.ftp.split(" ")[0].upper()


@real
@pytest.mark.parametrize("name", CAPTURES)
def test_ftp_commands_and_replies_agree_with_tshark(name):
    replayed = _replayed(name)
    ours = _rows_at(name, "ftp-command", "ftp-reply", "ftp-data-endpoint")
    checked, wrong = 0, []
    for number, row in _truth(name).items():
        said = [c.upper() for c in row["ftp.request.command"]] + row["ftp.response.code"]
        found = ours.get(number, [])
        if said:  # tshark's one line: our first line of that frame
            checked += 1
            if [_ftp_word(found[0]) if found else ""] != said:
                wrong.append((number, said, [r.ftp for r in found]))
        elif found and number not in replayed and not row["ftp.response.arg"]:
            wrong.append((number, "tshark saw no FTP line", [r.ftp for r in found]))
    assert wrong == []
    assert checked or not ours


@real
@pytest.mark.parametrize("name", CAPTURES)
def test_announced_data_endpoints_agree_with_tshark(name):
    columns = [("ftp.passive.ip", "ftp.passive.port"), ("ftp.active.cip", "ftp.active.port"),
               ("ftp.eprt.ip", "ftp.eprt.port"), ("ftp.eprt.ipv6", "ftp.eprt.port"),
               ("ftp.epsv.ip", "ftp.epsv.port"), ("ftp.epsv.ipv6", "ftp.epsv.port")]
    expected = sorted((n, f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
                      for n, row in _truth(name).items() for ips, ports in columns
                      for ip, port in zip(row[ips], row[ports]))
    ours = sorted((r.frame, r.data_endpoint) for r in _extracted(name) if r.data_endpoint)
    assert ours == expected
    # the data connections: the SYN to an announced endpoint, as flows.tsv matched them
    matched = sorted((int(f["first_frame"]),
                      "ftp-data of frame " + f["ftp_data_announced_by"].partition("@")[2])
                     for f in _flows(name).values() if f["ftp_data_match"] == "ip_port")
    noted = sorted((r.frame, r.note) for r in _extracted(name) if r.note.startswith("ftp-data"))
    assert noted == matched


@real
@pytest.mark.parametrize("name", CAPTURES)
def test_the_client_ip_is_the_connections_client(name):
    flows = _flows(name)
    wrong = []
    for r in _extracted(name):
        flow = flows[_stream(name, r.frame)]
        client = flow["client_ip"]
        if flow["client_by"] == "first_packet" and \
                int(flow["client_port"]) < 1024 <= int(flow["server_port"]):
            client = flow["server_ip"]  # the first sender was the server
        if r.client_ip != client:
            wrong.append((r.frame, r.kind, r.client_ip, client))
    assert wrong == []
    syns = [r.frame for r in _extracted(name) if r.kind == "syn" and r.frame not in _replayed(name)]
    assert len(syns) == len([f for f in flows.values() if f["client_by"] == "syn"])
