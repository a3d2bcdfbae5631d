"""What each session says on the wire: the scripts of the address plan's services, one
function a session, drawing on the run's random generator and counting into its tally."""
from __future__ import annotations

from typing import TYPE_CHECKING

from weboslb.io.traffic.addresses import FTP, FTP_DATA, HTTP, HTTPS, VIP_CACHE, VIP_WWW
from weboslb.io.traffic.payloads import (
    APP_HOST,
    CACHE_HOST,
    CHANGE_CIPHER_SPEC,
    FILES,
    GCM_OVERHEAD,
    PAGES,
    URLS,
    certificate_records,
    client_hello,
    client_key_exchange,
    ftp_listing,
    http_request,
    http_response,
    sealed_records,
    server_hello,
    tls_record,
)
from weboslb.io.traffic.segments import CLIENT, GAP, VIP, Connection

if TYPE_CHECKING:
    from weboslb.io.traffic.sessions import Client, Traffic


def app_session(traffic: Traffic, c: Client, t: float) -> Connection:
    """Pages of the application behind the passive cookie (192.0.2.100:80)."""
    rng, tally = traffic.rng, traffic.tally
    conn = traffic.connection(c, VIP_WWW, HTTP, t)
    conn.open()
    if c.cookie is not None:
        tally.cookie_connections += 1
    for i in range(rng.choice((1, 1, 1, 2, 2, 3))):
        conn.wait(rng.uniform(2e-5, 5e-5) if i == 0 else rng.uniform(0.05, 1.5))
        page = rng.choice(tuple(PAGES))
        target = f"{page}?id={rng.randint(1000, 9999)}" if page == "/catalog/item" else page
        conn.send(CLIENT, http_request(c.agent, APP_HOST, target, c.cookie), acks=False)
        conn.wait(rng.uniform(0.002, 0.025))
        extra: tuple[str, ...] = ()
        if c.cookie is None:
            c.cookie = b"%032X" % rng.getrandbits(128)
            extra = (f"Set-Cookie: JSESSIONID={c.cookie.decode()}; Path=/",)
            tally.cookie_sets += 1
        body = traffic.body("text/html", PAGES[page][0], PAGES[page][1])
        conn.send(VIP, http_response(traffic.date(conn.t), "text/html;charset=UTF-8", body, extra))
    conn.wait(rng.uniform(0.2, 3.0))
    conn.close(CLIENT)
    tally.http_connections += 1
    return conn


def cache_session(traffic: Traffic, c: Client, t: float) -> Connection:
    """Static objects from the caches behind URL hashing (192.0.2.101:80)."""
    rng, tally = traffic.rng, traffic.tally
    conn = traffic.connection(c, VIP_CACHE, HTTP, t)
    conn.open()
    count = rng.choice((1, 1, 2))
    for i in range(count):
        conn.wait(rng.uniform(2e-5, 5e-5) if i == 0 else rng.uniform(0.01, 0.3))
        url = rng.choices(tuple(URLS), [u[2] for u in URLS.values()])[0]
        ctype, size, _ = URLS[url]
        conn.send(CLIENT, http_request(c.agent, CACHE_HOST, url, None), acks=False)
        conn.wait(rng.uniform(0.0005, 0.003))
        etag = f'ETag: "{size:x}-5f3c2a1b"'
        conn.send(VIP, http_response(traffic.date(conn.t), ctype, traffic.body(ctype, url, size),
                                      ("Cache-Control: max-age=3600", etag)))
        tally.url_set.add(url)
    conn.wait(rng.uniform(0.2, 3.0))
    conn.close(CLIENT)
    tally.urlhash_connections += 1
    tally.urlhash_requests += count
    return conn


def https_session(traffic: Traffic, c: Client, t: float) -> Connection:
    """A TLS 1.2 connection: full handshake, or resumption of the client's session ID."""
    rng, tally = traffic.rng, traffic.tally
    if c.roams and c.sid is not None and traffic.addresses:  # moved: same session, new address
        c.ip, c.roams = traffic.address(), False
        c.paths.clear()
    conn = traffic.connection(c, VIP_WWW, HTTPS, t)
    conn.open()
    conn.wait(rng.uniform(2e-5, 5e-5))
    conn.send(CLIENT, client_hello(rng.randbytes(32), c.sid or b""), acks=False)
    conn.wait(rng.uniform(0.0005, 0.002))
    finished = tls_record(22, traffic.opaque(16 + GCM_OVERHEAD))
    if c.sid is not None:
        conn.send(VIP, server_hello(rng.randbytes(32), c.sid) + CHANGE_CIPHER_SPEC
                  + finished, acks=False)
        conn.wait(conn.rtt + rng.uniform(2e-4, 8e-4))
        conn.send(CLIENT, CHANGE_CIPHER_SPEC + finished, acks=False)
        tally.tls_resumed += 1
        tally.tls_roaming += c.ip != c.sid_ip
    else:
        sid = rng.randbytes(32)
        conn.send(VIP, server_hello(rng.randbytes(32), sid) + certificate_records(rng))
        conn.wait(rng.uniform(5e-4, 2e-3))  # the client's key exchange
        conn.send(CLIENT, client_key_exchange(rng) + CHANGE_CIPHER_SPEC + finished,
                  acks=False)
        conn.wait(rng.uniform(3e-4, 1e-3))
        conn.send(VIP, CHANGE_CIPHER_SPEC + finished, acks=False)
        conn.wait(conn.rtt)
        c.sid, c.sid_ip = sid, c.ip
        tally.tls_full += 1
    for i in range(rng.choice((1, 1, 1, 2))):
        if i:
            conn.wait(rng.uniform(0.05, 1.5))
        conn.send(CLIENT, sealed_records(23, rng.randint(380, 720), traffic.opaque), acks=False)
        conn.wait(rng.uniform(0.002, 0.02))
        conn.send(VIP, sealed_records(23, rng.choice(traffic.profile.tls_sizes), traffic.opaque))
    conn.wait(rng.uniform(0.2, 3.0))
    conn.send(CLIENT, tls_record(21, traffic.opaque(2 + GCM_OVERHEAD)), acks=False)  # close_notify
    conn.wait(GAP[CLIENT])
    conn.close(CLIENT)
    tally.https_connections += 1
    return conn


def ftp_session(traffic: Traffic, c: Client, t: float) -> list[Connection]:
    """An FTP session: login, one to three transfers (passive or active), QUIT."""
    rng, tally = traffic.rng, traffic.tally
    ctl = traffic.connection(c, VIP_WWW, FTP, t)
    conns = [ctl]

    def say(side: int, line: str, think: tuple[float, float], react: bool = True) -> None:
        """A line from ``side``: its answer to the last one, or (not ``react``) what it
        sends right after its own last packet."""
        ctl.wait((ctl.delay(side) if react else 0.0) + rng.uniform(*think))
        ctl.send(side, line.encode() + b"\r\n", acks=False)

    ctl.open()
    user = "anonymous" if rng.random() < 0.4 else f"user{rng.randint(100, 999)}"
    say(VIP, "220 (vsFTPd 3.0.3)", (0, 5e-4))
    say(CLIENT, f"USER {user}", (0.005, 0.05))
    say(VIP, "331 Please specify the password.", (0, 5e-4))
    say(CLIENT, "PASS guest@example.com" if user == "anonymous" else "PASS Hunter2!",
        (0.005, 0.05))
    say(VIP, "230 Login successful.", (0.005, 0.03))
    say(CLIENT, "TYPE I", (0.001, 0.01))
    say(VIP, "200 Switching to Binary mode.", (0, 5e-4))
    for _ in range(rng.choice((1, 1, 2, 3))):
        name = rng.choice(tuple(FILES)) if rng.random() < 0.7 else None
        command = f"RETR {name}" if name else "LIST"
        kind = "text/plain" if name and name.endswith(".txt") else ""
        body = traffic.body(kind, name, FILES[name]) if name else ftp_listing()
        if rng.random() < 0.6:  # passive: the client opens the data connection
            port = traffic.passive_port()
            say(CLIENT, "PASV", (0.001, 0.01))
            say(VIP, f"227 Entering Passive Mode ({','.join(map(str, VIP_WWW))},"
                     f"{port >> 8},{port & 0xFF}).", (0, 5e-4))
            data = traffic.connection(c, VIP_WWW, port, ctl.t + ctl.rtt)
            data.open()
            ctl.t = data.t  # the command follows the data connection's last ACK
            say(CLIENT, command, (1e-5, 5e-5), react=False)
            tally.ftp_passive += 1
        else:  # active: the VIP opens it from port 20 to the port the client names
            port = c.next_port()
            say(CLIENT, "PORT " + ",".join(map(str, (*c.ip, port >> 8, port & 0xFF))),
                (0.001, 0.01))
            say(VIP, "200 PORT command successful. Consider using PASV.", (0, 5e-4))
            say(CLIENT, command, (1e-5, 5e-5))
            data = traffic.connection(c, VIP_WWW, FTP_DATA, ctl.t + ctl.srv, cport=port)
            data.open(by=VIP)
            ctl.t = data.t  # the server connects before it answers 150
            tally.ftp_active += 1
        what = f"BINARY mode data connection for {name} ({len(body)} bytes)" if name \
            else "ASCII mode data connection for file list"
        say(VIP, f"150 Opening {what}.", (0, 5e-4))
        data.t = max(data.t, ctl.t) + data.srv
        data.send(VIP, body)
        data.close(VIP)
        ctl.t = max(ctl.t, data.t)
        say(VIP, "226 Transfer complete." if name else "226 Directory send OK.", (0, 5e-4))
        conns.append(data)
    say(CLIENT, "QUIT", (0.01, 0.2))
    say(VIP, "221 Goodbye.", (0, 5e-4))
    ctl.wait(ctl.srv)
    ctl.close(VIP)
    tally.ftp_connections += 1
    tally.ftp_repeat += c.ftp_sessions > 0
    c.ftp_sessions += 1
    return conns
