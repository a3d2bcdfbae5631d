"""HTTP heads for cookie persistence (insert, passive, rewrite; header or URI) and URL hashing."""
from __future__ import annotations

import pytest

from weboslb.proto.http import (
    MAX_HEAD, HttpStatus, add_header, cookie_in_uri, find_cookie, name_matches, parse_request,
    parse_response, persist_value, replace_set_cookie_value, url_hash_input,
)

GET = (b"GET /shop/cart.asp?item=7 HTTP/1.1\r\n"
       b"Host: www.example.com\r\n"
       b"User-Agent: test\r\n"
       b"Cookie: ASPSESSIONIDQQGGGNCG=LKJDFLKJDF; theme=dark\r\n"
       b"X-No-Colon-Line\r\n"
       b"cOOKIE:\t AlteonP=c0a80a0b ; flag ;empty= ;v=a=b|c,d \t\r\n"
       b"\r\n")


def test_request_head_with_several_cookie_headers():
    req = parse_request(GET + b"body bytes")
    assert req.status == HttpStatus.OK
    assert (req.method, req.target, req.version) == (b"GET", b"/shop/cart.asp?item=7",
                                                     b"HTTP/1.1")
    assert req.head_len == len(GET)
    assert req.host == b"www.example.com"
    assert req.headers == (
        (b"host", b"www.example.com"), (b"user-agent", b"test"),
        (b"cookie", b"ASPSESSIONIDQQGGGNCG=LKJDFLKJDF; theme=dark"),
        (b"cookie", b"AlteonP=c0a80a0b ; flag ;empty= ;v=a=b|c,d"))
    assert req.cookies == ((b"ASPSESSIONIDQQGGGNCG", b"LKJDFLKJDF"), (b"theme", b"dark"),
                           (b"AlteonP", b"c0a80a0b"), (b"empty", b""), (b"v", b"a=b|c,d"))


REQUESTS = [
    ("bare-lf", b"GET / HTTP/1.0\nHost: h\nCookie: a=1\n\n",
     dict(status=HttpStatus.OK, host=b"h", cookies=((b"a", b"1"),), head_len=36)),
    ("mixed-line-ends", b"POST /f HTTP/1.1\r\nCookie: a=1\n\r\nrest",
     dict(status=HttpStatus.OK, method=b"POST", cookies=((b"a", b"1"),), head_len=32)),
    ("no-headers", b"OPTIONS * HTTP/1.1\r\n\r\n",
     dict(status=HttpStatus.OK, target=b"*", host=None, headers=(), cookies=())),
    ("odd-method", b"PROPFIND /dav HTTP/1.1\r\n\r\n", dict(status=HttpStatus.OK,
                                                           method=b"PROPFIND")),
    ("absolute-target", b"GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n",
     dict(status=HttpStatus.OK, target=b"http://h/p?q")),
    ("first-host-wins", b"GET / HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n",
     dict(status=HttpStatus.OK, host=b"one")),
    ("empty-cookie-header", b"GET / HTTP/1.1\r\nCookie:\r\nCookie: ;;\r\n\r\n",
     dict(status=HttpStatus.OK, cookies=())),
    ("cookie-name-case-kept", b"GET / HTTP/1.1\r\nCookie: JSessionId=Ab\r\n\r\n",
     dict(cookies=((b"JSessionId", b"Ab"),))),
    ("not-ended", b"GET / HTTP/1.1\r\nHost: h\r\n", dict(status=HttpStatus.NEED_MORE)),
    ("empty", b"", dict(status=HttpStatus.NEED_MORE)),
    ("too-long", b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD, dict(status=HttpStatus.TOO_LONG)),
    ("two-parts", b"GET /\r\n\r\n", dict(status=HttpStatus.MALFORMED, head_len=9)),
    ("four-parts", b"GET / x HTTP/1.1\r\n\r\n", dict(status=HttpStatus.MALFORMED)),
    ("double-space", b"GET  / HTTP/1.1\r\n\r\n", dict(status=HttpStatus.MALFORMED)),
    ("version-without-minor", b"GET / HTTP/1\r\n\r\n", dict(status=HttpStatus.MALFORMED)),
    ("lowercase-version", b"GET / http/1.1\r\n\r\n", dict(status=HttpStatus.MALFORMED)),
    ("leading-empty-line", b"\r\nGET / HTTP/1.1\r\n\r\n", dict(status=HttpStatus.MALFORMED)),
    ("response-given", b"HTTP/1.1 200 OK\r\n\r\n", dict(status=HttpStatus.MALFORMED)),
    ("tls-bytes", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
     dict(status=HttpStatus.MALFORMED)),
]


@pytest.mark.parametrize("data,expected", [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_request_heads(data, expected):
    req = parse_request(data)
    assert {name: getattr(req, name) for name in expected} == expected


def test_the_head_limit_is_8192_bytes_with_its_empty_line():
    line = b"GET / HTTP/1.1\r\nX: "
    exact = line + b"a" * (MAX_HEAD - len(line) - 4) + b"\r\n\r\n"
    assert len(exact) == MAX_HEAD
    assert parse_request(exact).status == HttpStatus.OK
    one_more = line + b"a" * (MAX_HEAD - len(line) - 3) + b"\r\n\r\n"
    assert parse_request(one_more).status == HttpStatus.TOO_LONG
    assert parse_request(one_more[:MAX_HEAD - 1]).status == HttpStatus.NEED_MORE


RESPONSE = (b"HTTP/1.1 302 Found\r\n"
            b"Set-Cookie: JSESSIONID=0123456789abcdef; Path=/; HttpOnly\r\n"
            b"set-cookie:  AlteonP=XXXXXXXXXXXXXXXX \r\n"
            b"Set-Cookie: noequals; path=/\r\n"
            b"Set-Cookie: prefs=a=1|b=2,c; Expires=Wed, 09 Jun 2021 10:18:14 GMT\r\n"
            b"Location: /next\r\n\r\n")


def test_response_head_with_several_set_cookies():
    resp = parse_response(RESPONSE + b"<html>")
    assert (resp.status, resp.code, resp.version, resp.head_len) == \
        (HttpStatus.OK, 302, b"HTTP/1.1", len(RESPONSE))
    assert resp.set_cookies == (
        (b"JSESSIONID", b"0123456789abcdef", b"Path=/; HttpOnly"),
        (b"AlteonP", b"XXXXXXXXXXXXXXXX", b""),
        (b"prefs", b"a=1|b=2,c", b"Expires=Wed, 09 Jun 2021 10:18:14 GMT"))
    assert resp.headers[-1] == (b"location", b"/next")


@pytest.mark.parametrize("data,status,code", [
    (b"HTTP/1.0 200\r\n\r\n", HttpStatus.OK, 200),
    (b"HTTP/1.1 100 Continue\r\n\r\n", HttpStatus.OK, 100),
    (b"HTTP/1.1 404 Not Found\n\n", HttpStatus.OK, 404),
    (b"HTTP/1.1 20 OK\r\n\r\n", HttpStatus.MALFORMED, 0),
    (b"HTTP/1.1 2000\r\n\r\n", HttpStatus.MALFORMED, 0),
    (b"HTTP/1.1 200OK\r\n\r\n", HttpStatus.MALFORMED, 0),
    (b"HTTP/2 200\r\n\r\n", HttpStatus.MALFORMED, 0),
    (b"GET / HTTP/1.1\r\n\r\n", HttpStatus.MALFORMED, 0),
    (b"HTTP/1.1 200 OK\r\n", HttpStatus.NEED_MORE, 0),
])
def test_status_lines(data, status, code):
    resp = parse_response(data)
    assert (resp.status, resp.code) == (status, code)


@pytest.mark.parametrize("pattern,name,matches", [
    ("ASPSESSION*", b"ASPSESSIONIDQQGGGNCG", True),
    ("ASPSESSION*", b"ASPSESSION", True),
    ("ASPSESSION*", b"aspsessionidqq", False),
    ("ASPsession*", b"ASPSESSIONID", False),
    ("*", b"", True),
    ("*ID", b"JSESSIONID", True),
    ("*ID", b"JSESSIONIDX", False),
    ("a*b*c", b"aXbYc", True),
    ("a*b*c", b"abc", True),
    ("a*b*c", b"acb", False),
    ("a*a", b"a", False),
    ("a**a", b"aa", True),
    ("JSESSIONID", b"JSESSIONID", True),
    ("JSESSIONID", b"JSESSIONIDX", False),
    (b"S*ID", b"SID", True),
])
def test_cookie_name_patterns(pattern, name, matches):
    assert name_matches(name, pattern) is matches


def test_the_first_matching_cookie_wins():
    cookies = parse_request(GET).cookies
    assert find_cookie(cookies, "ASPSESSION*") == b"LKJDFLKJDF"
    assert find_cookie(cookies, "*") == b"LKJDFLKJDF"
    assert find_cookie(cookies, "AlteonP") == b"c0a80a0b"
    assert find_cookie(cookies, "*P") == b"c0a80a0b"
    assert find_cookie(cookies, "alteonp") is None
    assert find_cookie(parse_response(RESPONSE).set_cookies, "Alteon*") == b"XXXXXXXXXXXXXXXX"


def test_a_star_heavy_pattern_against_a_long_name_stays_fast():
    # a backtracking matcher would take ages here; the greedy one is linear
    assert not name_matches(b"a" * 8000, "*a*a*a*a*a*a*a*a*a*a*a*b")


@pytest.mark.parametrize("value,offset,length,key", [
    (b"c0a80a0b0050", 1, 8, b"c0a80a0b"),
    (b"c0a80a0b0050", 9, 4, b"0050"),
    (b"c0a80a0b0050", 9, 0, b"0050"),
    (b"c0a80a0b0050", 1, 0, b"c0a80a0b0050"),
    (b"c0a80a0b0050", 10, 64, b"050"),
    (b"c0a80a0b0050", 12, 1, b"0"),
    (b"c0a80a0b0050", 13, 1, None),
    (b"", 1, 0, None),
    (b"x" * 100, 1, 0, b"x" * 64),
    (b"x" * 100, 30, 64, b"x" * 64),
    (b"abc", 0, 1, None),
])
def test_persistence_key_from_a_cookie_value(value, offset, length, key):
    assert persist_value(value, offset, length) == key


@pytest.mark.parametrize("target,pattern,value", [
    (b"/app;jsessionid=A1B2?x=1", "jsessionid", b"A1B2"),
    (b"/app;JSESSIONID=A1B2", "jsessionid", None),
    (b"/cart?sid=42&item=3", "sid", b"42"),
    (b"/cart?item=3&sid=42#top", "sid", b"42"),
    (b"/cart?item=3&sid=42;x=1", "sid", b"42"),
    (b"/cart?sid=", "sid", b""),
    (b"/cart?sidx=1&sid=2", "sid", b"2"),
    (b"/cart?a=1&ASPSESSIONIDX=9", "ASPSESSION*", b"9"),
    (b"/cart?flag&sid=7", "sid", b"7"),
    (b"/sid=1", "sid", None),
    (b"/p#?sid=1", "sid", None),
    (b"/p?x=1", "sid", None),
    (b"", "sid", None),
])
def test_cookie_in_the_uri(target, pattern, value):
    assert cookie_in_uri(target, pattern) == value


@pytest.mark.parametrize("use_host,limit,expected", [
    (False, 255, b"/shop/cart.asp?item=7"),
    (True, 255, b"www.example.com/shop/cart.asp?item=7"),
    (True, 10, b"www.exampl"),
    (False, 0, b""),
])
def test_url_hash_input(use_host, limit, expected):
    assert url_hash_input(parse_request(GET), use_host, limit) == expected


def test_url_hash_input_without_host_or_request():
    assert url_hash_input(parse_request(b"GET /a HTTP/1.0\r\n\r\n"), True) == b"/a"
    assert url_hash_input(parse_request(b"GET /a"), False) == b""


@pytest.mark.parametrize("head,eol", [(RESPONSE, b"\r\n"),
                                      (b"HTTP/1.0 200 OK\nServer: x\n\n", b"\n")])
def test_cookie_insert_adds_a_set_cookie_line(head, eol):
    out = add_header(head, b"Set-Cookie: AlteonP=0a000001; path=/")
    assert out.endswith(b"Set-Cookie: AlteonP=0a000001; path=/" + eol + eol)
    resp = parse_response(out)
    assert resp.set_cookies[-1] == (b"AlteonP", b"0a000001", b"path=/")
    assert resp.headers[:-1] == parse_response(head).headers


def test_add_header_accepts_a_terminated_line_and_rejects_bad_input():
    assert add_header(b"HTTP/1.1 200 OK\r\n\r\n", b"X: 1\r\n") == b"HTTP/1.1 200 OK\r\nX: 1\r\n\r\n"
    with pytest.raises(ValueError):
        add_header(b"HTTP/1.1 200 OK\r\n\r\n", b"X: 1\r\nInjected: 2")
    with pytest.raises(ValueError):
        add_header(b"HTTP/1.1 200 OK\r\n", b"X: 1")


@pytest.mark.parametrize("pattern,new,offset,length,value", [
    ("AlteonP", b"c0a80a0b", 1, 8, b"c0a80a0bXXXXXXXX"),
    ("AlteonP", b"0050", 9, 4, b"XXXXXXXX0050XXXX"),
    ("Alteon*", b"c0a80a0b", 1, 0, b"c0a80a0b"),
    ("AlteonP", b"ab", 16, 8, b"XXXXXXXXXXXXXXXab"),
])
def test_cookie_rewrite_overwrites_part_of_the_value(pattern, new, offset, length, value):
    out = replace_set_cookie_value(RESPONSE, pattern, new, offset, length)
    resp = parse_response(out)
    assert resp.set_cookies[1] == (b"AlteonP", value, b"")
    assert resp.set_cookies[0] == parse_response(RESPONSE).set_cookies[0]
    assert len(out) - len(RESPONSE) == len(value) - 16


def test_cookie_rewrite_changes_only_the_first_match():
    head = b"HTTP/1.1 200 OK\r\nSet-Cookie: s=AAAA\r\nSet-Cookie: s=BBBB\r\n\r\n"
    assert replace_set_cookie_value(head, "s", b"zz", 2, 2) == \
        b"HTTP/1.1 200 OK\r\nSet-Cookie: s=AzzA\r\nSet-Cookie: s=BBBB\r\n\r\n"


@pytest.mark.parametrize("pattern,offset", [("Missing", 1), ("AlteonP", 17), ("AlteonP", 0),
                                            ("noequals", 1)])
def test_cookie_rewrite_without_a_cookie_to_rewrite(pattern, offset):
    assert replace_set_cookie_value(RESPONSE, pattern, b"x", offset, 1) is None


def test_cookie_rewrite_rejects_a_value_that_breaks_the_header():
    with pytest.raises(ValueError):
        replace_set_cookie_value(RESPONSE, "AlteonP", b"a;b", 1, 3)
