"""The switch: frames and time in, a verdict per frame and events out, no IO (DESIGN.md).

The engine sees the client-facing side of the switch.  A packet to a VIP:vport is a client's;
a packet from a VIP (to a client) is the answer of the real its connection is bound to.  This
module is the slow path, and the reference the C fast path is tested against: new
connections, delayed binding, persistence, FTP control lines, payload rewrites and aging.

``process_batch`` runs a batch through the C engine (``cengine.Engine``), which takes the
common connections whole, from SYN to close; at each frame it leaves alone, the slow path
takes the connection over and handles the frame, and the engine goes on from the next one.
"""
from __future__ import annotations

import bisect
import ipaddress
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from weboslb.config.model import Config, Id
from weboslb.engine import l7
from weboslb.engine.cengine import EXCEPTION, PBINDS, Engine, EngineDamPorts
from weboslb.engine.cookie import CODE_LEN, Codebook, set_cookie_line
from weboslb.engine.events import (
    Bound, Closed, Conn, Event, Learned, Opened, Persist, Refused, Verdict, Why,
)
from weboslb.engine.farm import Farm
from weboslb.engine.fastpath import NO_REAL
from weboslb.engine.handover import event_of, session_of
from weboslb.engine.persist import DEFAULT_CAPACITY, Persistence
from weboslb.engine.services import PORT_9_SP, RealView, Services, ServiceView
from weboslb.engine.session import (
    HALF_OPEN_SWEEPS, MAX_SESSIONS, Session, SessionTable, TcpState,
)
from weboslb.engine.stats import Layer7Stats, MaintStats, SessionRows, VirtRows, VirtStats
from weboslb.engine.vma import DamPorts, Matrix
from weboslb.proto import frame as framing
from weboslb.proto import ftp, http, rewrite
from weboslb.proto.packet import Link, Packet, Reason, TcpFlag
from weboslb.table.contract import KeyKind

TCP, UDP = 6, 17
SYN, ACK, FIN, RST = int(TcpFlag.SYN), int(TcpFlag.ACK), int(TcpFlag.FIN), int(TcpFlag.RST)
DEFAULT_FLOWS = 1 << 16  # connections the C engine can hold (more stay on the slow path)
FTP_LINE_BUFFER = 2048  # bytes of an unfinished FTP control line kept per direction


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A batch's decisions, one entry a frame: ``Verdict`` and ``Why`` numbers, and the real's
    persistence-table code (``Switch.services.by_code``; NO_REAL when not forwarded)."""

    verdicts: bytearray
    whys: bytearray
    reals: array
    fast: int  # frames the C fast path decided


@dataclass(frozen=True, slots=True)
class Action:
    """What the switch did with one frame.  ``client`` and ``server`` are the frame as it
    travels on each side (None: not on that side; only built when the switch was made with
    ``frames=True``); ``emit`` holds frames the switch originates, as (side, frame)."""

    verdict: Verdict
    why: Why = Why.NONE
    real: Id | None = None
    client: bytes | None = None
    server: bytes | None = None
    emit: tuple[tuple[str, bytes], ...] = ()


class Switch:
    def __init__(self, config: Config, *, capacity: int = DEFAULT_CAPACITY,
                 seed: bytes | None = None, ingress: int = 1, frames: bool = False,
                 fastpath: bool = True, flows: int = DEFAULT_FLOWS, events: bool = True,
                 prefault: bool = True, sessions: int = MAX_SESSIONS) -> None:
        self.persistence = Persistence(capacity, seed=seed, prefault=prefault)
        self.persistence.on_full = self._persistence_full
        self._session_limit = sessions
        # the C engine runs the common connections; with frames=True every frame must be
        # rewritten, which only the slow path does
        self.fast = Engine(flows, seed, prefault=prefault) if fastpath and not frames else None
        self._dirty: list[Session] = []
        self.ingress = ingress
        self.frames = frames
        self.events: list[Event] = []
        self.want_events = events  # False: only counts (a summary-only replay)
        self.connections = 0  # sessions opened, whether or not events are kept
        self.handovers = 0  # sessions the engine ran and the slow path took over
        self.why: Counter[Why] = Counter()
        self.verdicts: Counter[Verdict] = Counter()
        self.counts: Counter[str] = Counter()  # persistence new/hit by pbind, and the like
        self.maint = MaintStats()
        self.layer7 = Layer7Stats()
        self.virts: dict[Id, VirtRows | VirtStats] = {}
        self.virt_rows = SessionRows(0)
        self.farm: Farm | None = None
        self.sessions: SessionTable | None = None
        # VIPs this switch must not serve: the VRRP backup's (weboslb/ha/node.py sets it)
        self.standby: frozenset[bytes] = frozenset()
        self.apply(config)
        self.persistence.users_from(lambda: (s.binding for s in self.sessions))

    @property
    def want_events(self) -> bool:
        """Whether events are kept (``drain``); without, only counters (``connections``)."""
        return self._want_events

    @want_events.setter
    def want_events(self, on: bool) -> None:
        self._want_events = bool(on)
        if self.fast is not None:
            self.fast.want_events = self._want_events

    # ---- configuration --------------------------------------------------------------------

    def apply(self, config: Config) -> None:
        """Take a newly applied configuration; sessions and bindings stay (the engine's are
        taken over: they were bound under the old one)."""
        if self.fast is not None and self.sessions is not None:
            self._take_all()
        self.config = config
        self.services = Services(config)
        adv = config.slb.adv
        self.matrix = Matrix.of(adv)
        self.dam = adv.direct
        self.dam_ports = EngineDamPorts(self.fast) if self.fast is not None else DamPorts(
            self.matrix)
        self.pmask = int(ipaddress.IPv4Address(adv.pmask))
        self.codebook = Codebook({rid: r.rip for rid, r in self.services.reals.items()})
        if self.farm is None:
            self.farm = Farm(config.slb, self.maint)
        else:
            self.farm.reconfigure(config.slb)
        if self.sessions is None:
            self.sessions = SessionTable(fastage=adv.fastage, slowage=adv.slowage,
                                         limit=self._session_limit)
            self.maint.maximum_sessions = self.sessions.limit
            if self.fast is not None:
                self.sessions.remote = _EngineSessions(self)
        self._virt_rows(config)
        if self.fast is not None:
            self.fast.configure(
                services=self.services, farm=self.farm, virt_rows=self.virt_rows,
                nvirts=len(config.slb.virt), virt_slot={v: i for i, v in enumerate(
                    config.slb.virt)}, persistence=self.persistence,
                serials=self.sessions.serials, matrix=self.matrix, dam=self.dam,
                pmask=self.pmask, limit=self.sessions.limit)
            # bindings may have moved: sessions go fast again when eligible
            for s in self.sessions.local():
                if s.fast:
                    self._fold([s])
                    self.fast.hold(s.conn, s.last)
                    s.fast = False
                self._dirty.append(s)
            self.fast.set_vips(self.services.vips)

    def _virt_rows(self, config: Config) -> None:
        """The virtual servers' per-real rows, laid out anew (one block of real slots a
        virtual server); rows that stay keep their counts, the others become plain records."""
        slots = self.farm.real_slots()
        rows = SessionRows(len(config.slb.virt) * len(slots))
        old = self.virts
        virts: dict[Id, VirtRows | VirtStats] = {}
        for vslot, vid in enumerate(config.slb.virt):
            view = VirtRows(rows, vslot * len(slots), slots)
            prev = old.get(vid)
            if prev is not None:
                for rid, row in prev.reals.items():
                    if rid in slots:
                        rows.set_row(view.base + slots[rid], row)
                    else:
                        view.extra[rid] = row
            virts[vid] = view
        for vid, prev in old.items():  # virtual servers no longer configured keep their page
            if vid not in virts:
                virts[vid] = VirtStats(prev.reals)
        self.virts, self.virt_rows = virts, rows

    def _event(self, event: Event) -> None:
        if self.want_events:
            self.events.append(event)

    def _take_all(self) -> None:
        """Every session the engine runs becomes the slow path's."""
        for rec in list(self.fast.records()):
            self.sessions.get(rec.conn)

    # ---- the packet path ------------------------------------------------------------------

    def process_many(self, frames: Iterable[bytes], times: Sequence[float],
                     link: Link = Link.ETHERNET) -> list[Action]:
        return [self.process(f, t, link=link) for f, t in zip(frames, times)]

    def process_batch(self, buf, offsets, lengths, times, link: Link = Link.ETHERNET
                      ) -> BatchResult:
        """Decide a batch of frames ``buf[offsets[i]:offsets[i] + lengths[i]]`` seen at
        ``times[i]``: one C call for the established connections and the frames that are not
        the switch's business, the slow path for the rest, in frame order."""
        n = len(offsets)
        if self.fast is None or self.standby:  # the C fast path knows nothing of standby
            verdicts, whys, reals = bytearray(n), bytearray(n), array("H", [NO_REAL]) * n
            for i in range(n):
                self._note(i, self.process(_frame(buf, offsets[i], lengths[i]), times[i],
                                           link=link), verdicts, whys, reals)
            return BatchResult(verdicts, whys, reals, 0)
        verdicts, whys, reals = bytearray(n), bytearray(n), array("H", [NO_REAL]) * n
        engine = self.fast
        tables = self.persistence.tables
        if len(tables) != engine.tables_seen:
            engine.set_tables(self.persistence)
        run = engine.batch(buf, offsets, lengths, times, link, self.ingress, verdicts, whys,
                           reals)
        slow = start = 0
        io = engine.io
        while start < n:
            # the sweeps run between frames, as in the slow path: cut the batch where one is due
            self.tick(times[start])
            end = max(bisect.bisect_left(times, self.sessions.next_due(), start, n), start + 1)
            i = start
            while i < end:
                i, stop = run.step(i, end)
                if io.nevents:
                    self._engine_events()
                if stop == EXCEPTION:  # the slow path's frame, in its turn
                    self._note(i, self.process(_frame(buf, offsets[i], lengths[i]), times[i],
                                               link=link), verdicts, whys, reals)
                    slow += 1
                    i += 1
                    if len(tables) != engine.tables_seen:  # it made a table
                        engine.set_tables(self.persistence)
            start = end
        self._fold_counts()
        return BatchResult(verdicts, whys, reals, n - slow)

    def _engine_events(self) -> None:
        """The engine's events so far, in their place among the slow path's."""
        engine = self.fast
        if self.want_events:
            views = engine.compiled.services
            self.events += [event_of(v, key, views, self.services)
                            for v, key in engine.events()]
        engine.events_read()

    def _fold_counts(self) -> None:
        """Fold what only the engine counted into the switch's counters."""
        c = self.fast.take_counts()
        verdicts = self.verdicts
        for v, k in enumerate(c.verdicts):
            if k:
                verdicts[Verdict(v)] += k
        for w, k in enumerate(c.whys):
            if k and w:
                self._count(Action(Verdict.PASS, Why(w)), verdict=False, times=k)
        self.connections += c.opened
        self.handovers += c.handovers
        counts = self.counts
        for i, name in enumerate(PBINDS):
            if c.pnew[i]:
                counts["persistence new " + name] += c.pnew[i]
            if c.phit[i]:
                counts["persistence hits " + name] += c.phit[i]
        if c.unparsed:
            counts["layer7 unparsed requests"] += c.unparsed
        if c.ftp_expectations:
            counts["ftp data expectations"] += c.ftp_expectations
        l7, maint = self.layer7, self.maint
        l7.half_open += c.half_open
        l7.requests_too_long += c.requests_too_long
        l7.client_resets += c.client_resets
        l7.aged_dbind_sessions += c.aged_dbind
        maint.no_available_real += c.no_available_real
        self.persistence.alloc_failures += c.persist_alloc_failures
        maint.allocation_failures += c.persist_alloc_failures
        maint.current_sessions = len(self.sessions)

    def _note(self, i: int, act: Action, verdicts, whys, reals) -> None:
        verdicts[i], whys[i] = act.verdict, act.why
        if act.real is not None:
            reals[i] = self.services.reals[act.real].code

    def process(self, frame: bytes, now: float, *, link: Link = Link.ETHERNET,
                ingress: int | None = None) -> Action:
        act = self._process(frame, now, link, ingress)
        if self._dirty:
            self._sync_flows()
        return act

    def _process(self, frame: bytes, now: float, link: Link, ingress: int | None) -> Action:
        self.tick(now)
        pkt = framing.decode(frame, link)
        if pkt.reason is not Reason.OK:
            return self._count(Action(Verdict.PASS, Why(int(pkt.reason)), client=self._f(frame)))
        svcs = self.services
        if self.standby and (pkt.dst in self.standby or pkt.src in self.standby):
            act = Action(Verdict.DROP, Why.STANDBY, client=self._f(frame))
        elif pkt.dst in svcs.vips:
            act = self._from_client(pkt, bytes(frame), now, ingress or self.ingress)
        elif pkt.src in svcs.vips:
            act = self._from_real(pkt, bytes(frame), now)
        else:
            act = Action(Verdict.PASS, Why.NOT_VIP, client=self._f(frame))
        return self._count(act)

    def _persistence_full(self) -> None:
        self.maint.allocation_failures += 1

    def _f(self, frame: bytes) -> bytes | None:
        return bytes(frame) if self.frames else None

    def _count(self, act: Action, *, verdict: bool = True, times: int = 1) -> Action:
        if verdict:
            self.verdicts[act.verdict] += times
        if act.why is not Why.NONE:
            self.why[act.why] += times
            field = _MAINT_FIELD.get(act.why)
            if field:
                setattr(self.maint, field, getattr(self.maint, field) + times)
        return act

    # ---- the fast path's share ------------------------------------------------------------

    def _eligible(self, s: Session) -> bool:
        """May the C fast path forward this session's packets?  Only while nothing but
        forwarding is left to do: bound and answered, nothing to inspect or rewrite."""
        return (s.state is TcpState.ESTABLISHED and s.real is not None and not s.unbound
                and not s.watch and not s.ftp_control and not s.delta_c and not s.delta_s
                and self.sessions.get(s.conn) is s)

    def _sync_flows(self) -> None:
        dirty, self._dirty = self._dirty, []
        fast = self.fast
        if fast is None:
            return
        for s in dirty:
            if self.sessions.by_conn.get(s.conn) is not s:
                continue  # closed: released already
            if self._eligible(s):
                if not s.fast:
                    s.fast = fast.put(s.conn, self.services.reals[s.real].code, last=s.last)
                    if s.fast and not s.held:  # the table had room again
                        s.held = True
                        fast.unheld[0] -= 1
            elif s.fast:
                self._fold([s])
                fast.hold(s.conn, s.last)
                s.fast = False

    def _hold(self, s: Session) -> None:
        """The engine must know the connection is the slow path's (it never opens it)."""
        if self.fast is not None:
            s.held = self.fast.hold(s.conn, s.last)
            if not s.held:
                self.fast.unheld[0] += 1

    def _release(self, s: Session) -> None:
        fast = self.fast
        if fast is None:
            return
        if s.fast:
            self._fold([s])
            s.fast = False
        if s.held:
            fast.delete(s.conn)
            s.held = False
        elif self.fast.unheld[0] > 0:
            fast.unheld[0] -= 1

    def _fold(self, sessions: list[Session]) -> None:
        """Bring sessions the fast path served up to date: last use, packets, octets."""
        if not sessions:
            return
        conns = [s.conn for s in sessions]
        states = self.fast.get_many(conns)
        for s, st, n in zip(sessions, states, self.fast.take_octets(conns)):
            if st is None:
                continue
            s.last = max(s.last, st.last)
            packets = st.packets[0] + st.packets[1]
            s.packets += packets - s.flow_packets
            s.flow_packets = packets
            if n:
                s.octets += n
                self.farm.octets(s.real, n, s.last)
                if s.virt in self.virts:
                    self.virts[s.virt].add_octets(s.real, n)

    def sync(self) -> None:
        """Fold what the fast path counted into the sessions and counters (before a report)."""
        if self.fast is not None:
            self._fold([s for s in self.sessions.local() if s.fast])
            self._fold_counts()

    # ---- client to VIP --------------------------------------------------------------------

    def _from_client(self, pkt: Packet, frame: bytes, now: float, ingress: int) -> Action:
        conn = Conn(pkt.proto, pkt.src, pkt.sport, pkt.dst, pkt.dport)
        s = self.sessions.get(conn)
        if s is not None and not (s.state is TcpState.CLOSED and pkt.flags & SYN
                                  and not pkt.flags & ACK):
            return self._client_packet(s, pkt, frame, now)
        if s is not None:  # a new SYN on a closed connection's tuple: start over
            self._close(s, now, "closed", "fin")
        svc = self.services.service(pkt.dst, pkt.dport)
        if svc is None:
            return self._ftp_data(conn, pkt, frame, now, ingress, active=False)
        if not self.services.serving(pkt.dst, pkt.dport):
            return Action(Verdict.PASS, Why.VIP_DISABLED, client=self._f(frame))
        if pkt.proto == TCP and not pkt.flags & SYN:
            if pkt.flags & (RST | FIN) or svc.delayed or not pkt.payload_len and not (
                    pkt.flags & ACK):
                return Action(Verdict.DROP, Why.NO_SESSION, client=self._f(frame))
            self.counts["midstream pickups"] += 1
        s = self._open(conn, svc, now, ingress, established=not (pkt.flags & SYN))
        if s is None:
            return Action(Verdict.DROP, Why.SESSION_TABLE_FULL, client=self._f(frame))
        if svc.delayed and pkt.proto == TCP:
            s.unbound = True
            s.request_next = (pkt.seq + 1) & 0xFFFFFFFF  # the request starts after the SYN
            return Action(Verdict.LOCAL, client=self._f(frame))
        if not self._bind(s, svc, now, key_hint=None):
            return self._refuse(s, pkt, frame, now)
        return self._to_real(s, pkt, frame)

    def _open(self, conn: Conn, svc: ServiceView, now: float, ingress: int, *,
              established: bool) -> Session | None:
        sp = self.matrix.sp(conn.cip, conn.cport, conn.vip, ingress)
        s = Session(conn=conn, sp=sp, ingress=ingress, created=now, last=now,
                    timeout=svc.tmout, vsvc=svc.vsvc, pbind=svc.pbind_name)
        if established or conn.proto != TCP:
            s.state = TcpState.ESTABLISHED
        if not self.sessions.add(s):
            self.maint.allocation_failures += 1
            return None
        self._hold(s)
        self.maint.current_sessions = len(self.sessions)
        if s.state is TcpState.HALF_OPEN:
            self.layer7.half_open += 1
        self.connections += 1
        if self.want_events:
            self.events.append(Opened(now, conn, sp))
        return s

    def _client_packet(self, s: Session, pkt: Packet, frame: bytes, now: float) -> Action:
        self._track(s, pkt, now, from_client=True)
        svc = self.services.service(s.conn.vip, s.conn.vport) or self._ftp_svc(s)
        if s.real is None:
            return self._delayed(s, svc, pkt, frame, now)
        if s.ftp_control and pkt.payload_len:
            return self._ftp_client_lines(s, pkt, frame, now)
        return self._to_real(s, pkt, frame)

    def _track(self, s: Session, pkt: Packet, now: float, *, from_client: bool) -> None:
        """Bring the connection's state up to date with one of its packets."""
        s.last = now
        s.packets += 1
        s.octets += pkt.payload_len
        self._dirty.append(s)
        if pkt.proto != TCP:
            return
        f = pkt.flags
        if f & RST:
            s.reset = True
            s.state = TcpState.CLOSED
        elif f & FIN:
            if from_client:
                s.fin_client = True
            else:
                s.fin_server = True
            s.state = TcpState.CLOSED if s.fin_client and s.fin_server else TcpState.CLOSING
        elif s.state is TcpState.HALF_OPEN and f & ACK and (from_client or s.server_initiated):
            if not f & SYN:
                s.state = TcpState.ESTABLISHED
                self.layer7.half_open -= 1

    # ---- delayed binding ------------------------------------------------------------------

    def _delayed(self, s: Session, svc: ServiceView, pkt: Packet, frame: bytes,
                 now: float) -> Action:
        """Before the real is chosen the switch itself answers the client; the request is
        buffered until it says where it must go."""
        if pkt.payload_len and not s.reset:
            need = self._reassemble(s, pkt, frame)
            if need is not l7.Need.MORE:
                if not self._bind(s, svc, now, key_hint=need):
                    return self._refuse(s, pkt, frame, now)
                return self._to_real(s, pkt, frame, handshake=True)
        return Action(Verdict.LOCAL, client=self._f(frame))

    def _reassemble(self, s: Session, pkt: Packet, frame: bytes) -> l7.Need:
        data = framing.payload(frame, pkt)
        seq = pkt.seq
        if s.request_next is None:
            s.request_next = seq
        off = (seq - s.request_next) & 0xFFFFFFFF
        if off >= 0x80000000:  # old bytes: a retransmission overlapping what we hold
            back = 0x100000000 - off
            data, off = data[back:], 0
        if off:  # a segment after a gap: held back, within the request's byte budget
            if len(s.pending) < l7.PENDING_LIMIT and off + len(data) <= l7.REQUEST_LIMIT:
                s.pending[seq] = data
            return l7.Need.MORE
        s.request += data
        s.request_next = (s.request_next + len(data)) & 0xFFFFFFFF
        while s.request_next in s.pending:
            more = s.pending.pop(s.request_next)
            s.request += more
            s.request_next = (s.request_next + len(more)) & 0xFFFFFFFF
        if len(s.request) > l7.REQUEST_LIMIT:
            del s.request[l7.REQUEST_LIMIT:]
        return self._parse_request(s)

    def _parse_request(self, s: Session) -> l7.Need:
        svc = self.services.service(s.conn.vip, s.conn.vport)
        req = l7.request(svc, bytes(s.request))
        if req.need is l7.Need.MORE and len(s.request) >= l7.REQUEST_LIMIT:
            req = l7.Request(l7.Need.TOO_LONG)
        s.parsed = req
        return req.need

    # ---- choosing the real ----------------------------------------------------------------

    def _bind(self, s: Session, svc: ServiceView, now: float, key_hint) -> bool:
        """Choose the connection's real: persistence first, then the group metric."""
        req = s.parsed
        if key_hint is l7.Need.TOO_LONG:
            self.layer7.requests_too_long += 1
        elif key_hint is l7.Need.MALFORMED:
            self.counts["layer7 unparsed requests"] += 1
        chosen: Id | None = None
        via = "group"
        persist = Persist.NONE
        key_text = ""
        binding = None
        new_binding = None
        metric_key = s.conn.cip
        pb = svc.pbind
        if svc.clientip:
            kind, key = self._clientip_key(s.conn.cip)
            key_text = str(ipaddress.ip_address(key))
            binding = (kind, svc.pvsvc, key)
            chosen = self._persisted(kind, svc.pvsvc, key, now)
            if chosen is None:
                new_binding = binding
        elif svc.cookie and req is not None and req.cookie is not None:
            value = req.cookie
            if svc.cookie == "passive":
                key = http.persist_value(value, pb.offset, pb.length)
                if key:
                    key_text = key.decode("latin-1")
                    binding = (KeyKind.COOKIE, svc.pvsvc, key[:64])
                    chosen = self._persisted(KeyKind.COOKIE, svc.pvsvc, key[:64], now)
            else:
                offset = pb.offset if svc.cookie == "rewrite" else 1
                rid = self.codebook.decode(value, offset)
                key_text = value.decode("latin-1")
                if rid is not None and self.farm.available(rid):
                    chosen = rid
        elif svc.sslid and req is not None and req.sid:
            key_text = req.sid.hex()
            binding = (KeyKind.SSLID, svc.pvsvc, req.sid)
            chosen = self._persisted(KeyKind.SSLID, svc.pvsvc, req.sid, now)
        elif svc.urlhash and req is not None and req.url is not None:
            metric_key = req.url
            key_text = req.url.decode("latin-1")
        if chosen is not None:
            persist, via = Persist.HIT, "persist"
            self.counts["persistence hits " + svc.pbind_name] += 1
        else:
            binding = new_binding  # a miss on a learnt key: the response will teach it
            pick = self.farm.select(svc.group, metric_key, now)
            if pick is None:
                return False
            chosen, via = pick.real, pick.via
            if new_binding is not None:
                kind, vsvc, key = new_binding
                sp = self._entry_sp(s, kind)
                if self.persistence.bind(kind, vsvc, key, real=self.services.reals[chosen].code,
                                         now=now, timeout=svc.ptmout, sp=sp):
                    persist = Persist.NEW
                    self.counts["persistence new " + svc.pbind_name] += 1
                else:
                    binding = None
            elif svc.cookie in ("insert", "rewrite") or svc.urlhash:
                persist = Persist.NEW  # the switch issues the binding: cookie or hash
                self.counts["persistence new " + svc.pbind_name] += 1
        self._attach(s, svc, chosen, now, persist=persist, key_text=key_text,
                     binding=binding, via=via)
        return True

    def _clientip_key(self, cip: bytes) -> tuple[KeyKind, bytes]:
        if len(cip) == 4:
            masked = int.from_bytes(cip, "big") & self.pmask
            return KeyKind.IPV4, masked.to_bytes(4, "big")
        return KeyKind.IPV6, cip

    def _entry_sp(self, s: Session, kind: KeyKind) -> int:
        return s.sp if kind in (KeyKind.IPV4, KeyKind.IPV6) else PORT_9_SP

    def _persisted(self, kind: KeyKind, vsvc: int, key: bytes, now: float) -> Id | None:
        """The real a live binding names, if that real can take the connection (a binding
        to a real that is down or full is re-balanced, and rebound)."""
        e = self.persistence.lookup(kind, vsvc, key, now)
        if e is None:
            return None
        real = self.services.by_code.get(e.real)
        if real is None or not self.farm.available(real.id):
            return None
        self.persistence.touch(kind, vsvc, key, now, e)
        return real.id

    def _attach(self, s: Session, svc: ServiceView, rid: Id, now: float, *, persist: Persist,
                key_text: str, binding, via: str, rport: int | None = None) -> None:
        """Bind the session to its real; ``rport``: the real's port when it is not the
        service's (an FTP data connection's)."""
        real = self.services.reals[rid]
        rport = svc.rport if rport is None else rport
        s.real, s.rip, s.rport, s.virt = rid, real.rip, rport, svc.virt
        s.timeout = real.tmout
        s.persist, s.key, s.binding = persist, key_text, binding
        s.bound_at = now
        s.pport = s.conn.cport
        if self.dam:
            port = self.dam_ports.allocate(s.sp, s.conn.cip, real.rip, rport)
            if port is not None:
                s.pport = port
        s.ftp_control = svc.ftp and s.conn.vport == svc.vport and not s.server_initiated
        s.watch = self._watch(svc)
        self.farm.opened(rid, now)
        self.virts[svc.virt].opened(rid)
        if self.want_events:
            self.events.append(Bound(now, s.conn, svc.virt, rid, real.rip, rport,
                                     s.pbind, key_text, persist, via))

    def _watch(self, svc: ServiceView) -> int:
        """How many responses the switch must look into: the ServerHello, the first N for a
        passive cookie, the first one for insert and rewrite."""
        if svc.sslid:
            return 1
        if svc.cookie == "passive":
            return max(1, svc.pbind.rcount)
        if svc.cookie in ("insert", "rewrite"):
            return 1
        return 0

    def _refuse(self, s: Session, pkt: Packet, frame: bytes, now: float) -> Action:
        self._event(Refused(now, s.conn, Why.NO_REAL))
        self.layer7.client_resets += pkt.proto == TCP
        self._close(s, now, "reset", "rst")
        if pkt.proto != TCP:
            return Action(Verdict.DROP, Why.NO_REAL, client=self._f(frame))
        emit = ()
        if self.frames:
            emit = (("client", self._reset_for(pkt, frame)),)
        return Action(Verdict.RESET, Why.NO_REAL, client=self._f(frame), emit=emit)

    def _reset_for(self, pkt: Packet, frame: bytes) -> bytes:
        """The RST the switch sends back to a client it cannot serve."""
        ack = (pkt.seq + pkt.payload_len + (1 if pkt.flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        return rewrite.build_tcp(frame[:pkt.l3_off], 4 if len(pkt.src) == 4 else 6, pkt.dst,
                                 pkt.src, pkt.dport, pkt.sport, 0, ack, RST | ACK)

    # ---- forwarding -----------------------------------------------------------------------

    def _octets(self, s: Session, n: int) -> None:
        if n:
            self.farm.octets(s.real, n, s.last)
            if s.virt in self.virts:
                self.virts[s.virt].add_octets(s.real, n)

    def _to_real(self, s: Session, pkt: Packet, frame: bytes, *, handshake: bool = False,
                 payload: bytes | None = None) -> Action:
        """A client's packet toward its real; with delayed binding, the switch first opens the
        server leg (SYN) and sends the buffered request."""
        self._octets(s, pkt.payload_len)
        if not self.frames:
            return Action(Verdict.TO_REAL, real=s.real)
        src = s.pip or None
        emit: tuple[tuple[str, bytes], ...] = ()
        if handshake:
            l2 = frame[:pkt.l3_off]
            fam = 4 if len(pkt.src) == 4 else 6
            isn = (s.request_next - len(s.request) - 1) & 0xFFFFFFFF
            syn = rewrite.build_tcp(l2, fam, s.pip or s.conn.cip, s.rip, s.pport, s.rport,
                                    isn, 0, SYN)
            emit = (("server", syn),)
            payload = bytes(s.request)
            pkt_seq = (isn + 1) & 0xFFFFFFFF
            server = rewrite.nat(frame, pkt, src=src, dst=s.rip, sport=s.pport, dport=s.rport,
                                 seq=pkt_seq, payload=payload)
        else:
            seq = (pkt.seq + s.delta_c) & 0xFFFFFFFF if s.delta_c else None
            server = rewrite.nat(frame, pkt, src=src, dst=s.rip, sport=s.pport, dport=s.rport,
                                 seq=seq, payload=payload)
        client = frame
        if s.delta_s and pkt.flags & ACK:  # the client acknowledges the stream it was sent
            client = rewrite.nat(frame, pkt, ack=(pkt.ack + s.delta_s) & 0xFFFFFFFF)
        return Action(Verdict.TO_REAL, real=s.real, client=client, server=server, emit=emit)

    def _to_client(self, s: Session, pkt: Packet, frame: bytes,
                   payload: bytes | None = None) -> Action:
        """A real's packet toward the client; ``payload`` when the switch rewrote it."""
        if not self.frames:
            return Action(Verdict.TO_CLIENT, real=s.real)
        ack = (pkt.ack + s.delta_c) & 0xFFFFFFFF if s.delta_c and pkt.flags & ACK else None
        server = rewrite.nat(frame, pkt, src=s.rip, sport=s.rport, dst=s.pip or None,
                             dport=s.pport if s.pport != s.conn.cport else None, ack=ack)
        client = frame
        if payload is not None or s.delta_s_before:
            # the client sees the rewritten stream: later bytes shift by what was added
            seq = (pkt.seq + s.delta_s_before) & 0xFFFFFFFF if s.delta_s_before else None
            client = rewrite.nat(frame, pkt, seq=seq, payload=payload)
        return Action(Verdict.TO_CLIENT, real=s.real, client=client, server=server)

    # ---- real to client -------------------------------------------------------------------

    def _from_real(self, pkt: Packet, frame: bytes, now: float) -> Action:
        conn = Conn(pkt.proto, pkt.dst, pkt.dport, pkt.src, pkt.sport)
        s = self.sessions.get(conn)
        if s is None:
            return self._ftp_data(conn, pkt, frame, now, self.ingress, active=True)
        self._track(s, pkt, now, from_client=False)
        if s.real is None:  # the switch's own half of a delayed-binding handshake
            return Action(Verdict.LOCAL, client=self._f(frame))
        if s.unbound:
            s.unbound = False
            self.farm.response_time(s.real, max(0.0, now - s.bound_at))
        self._octets(s, pkt.payload_len)
        s.delta_s_before = s.delta_s
        payload = None
        if pkt.payload_len:
            svc = self.services.service(s.conn.vip, s.conn.vport)
            if s.watch and svc is not None:
                payload = self._inspect_response(s, svc, pkt, frame, now)
            elif s.ftp_control:
                payload = self._ftp_server_lines(s, pkt, frame, now)
        return self._to_client(s, pkt, frame, payload)

    def _inspect_response(self, s: Session, svc: ServiceView, pkt: Packet, frame: bytes,
                          now: float) -> bytes | None:
        """Learn a binding from a response (ServerHello, passive Set-Cookie) or write the
        switch's cookie into it.  Returns the rewritten payload, if any."""
        data = framing.payload(frame, pkt)
        if not s.response and not self._starts_response(svc, data):
            return None  # a continuation of a response we already read
        s.response += data
        del s.response[l7.RESPONSE_LIMIT:]
        resp = l7.response(svc, bytes(s.response))
        if resp.need is l7.Need.MORE and len(s.response) < l7.RESPONSE_LIMIT:
            return None
        s.response.clear()
        s.watch -= 1
        if resp.need is not l7.Need.DONE:
            return None
        if svc.sslid:
            if resp.sid and not resp.tls13:
                self._learn(s, svc, KeyKind.SSLID, resp.sid, resp.sid.hex(), now)
            return None
        if svc.cookie == "passive":
            if resp.cookie is not None:
                key = http.persist_value(resp.cookie, svc.pbind.offset, svc.pbind.length)
                if key:
                    self._learn(s, svc, KeyKind.COOKIE, key[:64], key.decode("latin-1"), now)
                    s.watch = 0
            return None
        head = data[:resp.head_len] if resp.head_len <= len(data) else None
        if head is None:
            return None
        code = self.codebook.of[s.real]
        if svc.cookie == "insert":
            if s.persist is Persist.HIT:
                return None  # the client already holds a valid cookie
            domain = f"{svc.hname}.{svc.dname}" if svc.hname and svc.dname else ""
            line = set_cookie_line(svc.pbind.name or "AlteonP", code, expire=svc.pbind.expire,
                                   now=now, domain=domain)
            new_head = http.add_header(head, line)
        else:
            new_head = http.replace_set_cookie_value(head, svc.pbind.name, code,
                                                     svc.pbind.offset, CODE_LEN)
            if new_head is None:
                return None
        s.delta_s += len(new_head) - len(head)
        self.counts["cookies " + svc.cookie] += 1
        return new_head + data[len(head):]

    def _starts_response(self, svc: ServiceView, data: bytes) -> bool:
        if svc.sslid:
            return data[:1] == b"\x16" or bool(data[:1]) and data[0] & 0x80 != 0
        return data[:5] == b"HTTP/"

    def _learn(self, s: Session, svc: ServiceView, kind: KeyKind, key: bytes, text: str,
               now: float) -> None:
        real = self.services.reals[s.real]
        old = self.persistence.lookup(kind, svc.pvsvc, key, now)
        if old is not None and old.real == real.code:
            self.persistence.touch(kind, svc.pvsvc, key, now, old)
            return
        if self.persistence.bind(kind, svc.pvsvc, key, real=real.code, now=now,
                                 timeout=svc.ptmout, sp=PORT_9_SP):
            self.counts["persistence new " + svc.pbind_name] += 1
            self._event(Learned(now, s.conn, svc.pbind_name, text, s.real))
            if s.persist is Persist.NONE:
                s.persist = Persist.NEW
                s.key = s.key or text

    # ---- FTP ------------------------------------------------------------------------------

    def _ftp_svc(self, s: Session) -> ServiceView | None:
        return self.services.ftp_data(s.conn.vip)

    def _ftp_lines(self, s: Session, data: bytes, *, from_client: bool):
        buf = s.lines_client if from_client else s.lines_server
        buf += data
        lines, rest = ftp.split_lines(bytes(buf))
        buf.clear()
        buf += rest[-FTP_LINE_BUFFER:]
        return lines

    def _ftp_client_lines(self, s: Session, pkt: Packet, frame: bytes, now: float) -> Action:
        """PORT / EPRT: the real will open a data connection to the address announced."""
        for line in self._ftp_lines(s, framing.payload(frame, pkt), from_client=True):
            r = ftp.parse_line(line, True)
            if r.ok and r.kind in (ftp.FtpKind.PORT, ftp.FtpKind.EPRT) and r.addr:
                self._expect(s, r.addr, r.port, now)
        return self._to_real(s, pkt, frame)

    def _ftp_server_lines(self, s: Session, pkt: Packet, frame: bytes,
                          now: float) -> bytes | None:
        """227 / 229: the client will open a data connection to the VIP's announced port.
        A 227 naming another address (the real's own) is rewritten to the VIP."""
        data = framing.payload(frame, pkt)
        whole = not s.lines_server  # the segment starts a line: it can be rewritten
        rewrite_to = None
        for line in self._ftp_lines(s, data, from_client=False):
            r = ftp.parse_line(line, False)
            if r.ok and r.kind in (ftp.FtpKind.PASV227, ftp.FtpKind.EPSV229):
                self._expect(s, s.conn.vip, r.port, now)
                if r.addr and r.addr != s.conn.vip and len(s.conn.vip) == len(r.addr):
                    rewrite_to = s.conn.vip
        if rewrite_to is None or not whole:
            return None
        new = _rewrite_lines(data, rewrite_to)
        s.delta_s += len(new) - len(data)
        return new

    def _expect(self, s: Session, addr: bytes, port: int, now: float) -> None:
        svc = self.services.service(s.conn.vip, s.conn.vport)
        kind, key = _ftp_key(addr, port)
        real = self.services.reals[s.real]
        if self.persistence.bind(kind, svc.pvsvc, key, real=real.code, now=now,
                                 timeout=svc.ptmout, sp=s.sp):
            self.counts["ftp data expectations"] += 1

    def _ftp_data(self, conn: Conn, pkt: Packet, frame: bytes, now: float, ingress: int, *,
                  active: bool) -> Action:
        """A data connection a control connection announced: the client opening one on the
        VIP (227/229), or, ``active``, the real opening one to the address a PORT named."""
        svc = self.services.ftp_data(conn.vip)
        missing = Why.NO_SESSION if active else Why.NO_SERVICE
        if svc is None or pkt.proto != TCP or not pkt.flags & SYN:
            return Action(Verdict.DROP, missing if svc is None else Why.NO_SESSION,
                          client=self._f(frame))
        kind, key = _ftp_key(conn.cip, conn.cport) if active else _ftp_key(conn.vip, conn.vport)
        e = self.persistence.lookup(kind, svc.pvsvc, key, now)
        real = self.services.by_code.get(e.real) if e is not None else None
        if real is None:
            return Action(Verdict.DROP, missing, client=self._f(frame))
        s = self._open(conn, svc, now, ingress, established=False)
        if s is None:
            return Action(Verdict.DROP, Why.SESSION_TABLE_FULL, client=self._f(frame))
        s.server_initiated = active
        self._bind_data(s, svc, real, (kind, svc.pvsvc, key), now)
        if active:
            s.unbound = False
            return self._to_client(s, pkt, frame)
        return self._to_real(s, pkt, frame)

    def _bind_data(self, s: Session, svc: ServiceView, real: RealView, binding,
                   now: float) -> None:
        s.pbind = "ftp"
        addr, port = binding[2][:-2], int.from_bytes(binding[2][-2:], "big")
        text = f"{ipaddress.ip_address(addr)}:{port}" if len(addr) == 4 else \
            f"[{ipaddress.ip_address(addr)}]:{port}"
        self.counts["persistence hits ftp"] += 1
        # the real's port is the data port it announced, or its port 20
        self._attach(s, svc, real.id, now, persist=Persist.HIT, key_text=text,
                     binding=binding, via="persist", rport=s.conn.vport)
        s.watch = 0

    # ---- time -----------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Run the aging sweeps that are due at ``now`` (the virtual clock)."""
        fast, slow = self.sessions.due(now)
        if not (fast or slow):
            return
        self.maint.current_sessions = len(self.sessions)
        self.maint.sample(now)
        if slow:
            self.sync()  # idle times are read from the fast path before aging
        stale = self.sessions.stale(now, slow=slow)
        mark = len(self.events)
        for s in stale:
            state = s.state.value if s.state is not TcpState.CLOSED else (
                "reset" if s.reset else "closed")
            self._close(s, now, state, "aged" if s.state is not TcpState.CLOSED else
                        ("rst" if s.reset else "fin"))
        if self.fast is not None:
            self._sweep_engine(now, slow, stale, mark)
        self.counts["persistence expired"] += self.persistence.expire(now)

    def _sweep_engine(self, now: float, slow: bool, stale: list[Session], mark: int) -> None:
        """The engine's share of a sweep: its stale sessions closed, their events merged with
        the slow path's in serial order (the order one table would have closed them in)."""
        engine = self.fast
        period = self.sessions.fast_period
        if not engine.sweep_begin(now, period, HALF_OPEN_SWEEPS * period, slow):
            return
        mine = self.events[mark:] if self.want_events else []
        del self.events[mark:]
        theirs = []
        while True:
            left = engine.sweep_step()
            if self.want_events:
                views = engine.compiled.services
                theirs += [(v.serial, event_of(v, key, views, self.services))
                           for v, key in engine.events()]
            engine.events_read()
            if not left:
                break
        merged = [(s.serial, e) for s, e in zip(stale, mine)] + theirs
        merged.sort(key=_first)
        self.events += [e for _, e in merged]
        self.maint.current_sessions = len(self.sessions)

    def _close(self, s: Session, now: float, state: str, why: str) -> None:
        self.sessions.remove(s)
        self._release(s)
        self.maint.current_sessions = len(self.sessions)
        if s.state is TcpState.HALF_OPEN and s.conn.proto == TCP:
            self.layer7.half_open -= 1
        if s.real is not None:
            self.farm.closed(s.real, now)
            if s.virt in self.virts:
                self.virts[s.virt].closed(s.real)
            if self.dam and s.pport != s.conn.cport:
                self.dam_ports.release(s.conn.cip, s.pport, s.rip, s.rport)
            if s.binding is not None:
                kind, vsvc, key = s.binding
                e = self.persistence.lookup(kind, vsvc, key, now)
                if e is not None:  # the binding lives ptmout past its last connection
                    self.persistence.touch(kind, vsvc, key, now, e)
        elif s.unbound and why == "aged":
            self.layer7.aged_dbind_sessions += 1
        self._event(Closed(now, s.conn, state, why))

    def clear_sessions(self, now: float) -> int:
        """``/oper/slb/clear``: drop every session (bindings stay)."""
        if self.fast is not None:
            self._take_all()
        gone = sorted(self.sessions.clear(), key=_serial_of)
        for s in gone:
            self.sessions.by_conn[s.conn] = s
            self._close(s, now, s.state.value, "cleared")
        return len(gone)

    def drain(self) -> list[Event]:
        out, self.events = self.events, []
        return out


class _EngineSessions:
    """The engine's sessions as the session table sees them (``session.Remote``)."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch

    def count(self) -> int:
        engine = self.switch.fast
        return engine.count() if engine is not None else 0

    def _session(self, rec) -> Session:
        sw = self.switch
        return session_of(rec, sw.fast.compiled.services, sw.services)

    def sessions(self) -> list[Session]:
        engine = self.switch.fast
        return [self._session(r) for r in engine.records()] if engine is not None else []

    def take(self, conn: Conn) -> Session | None:
        engine = self.switch.fast
        rec = engine.take(conn) if engine is not None else None
        if rec is None:
            return None
        s = self._session(rec)
        s.held = True  # its entry is held for the slow path now
        return s

    def peek(self, conn: Conn) -> Session | None:
        engine = self.switch.fast
        rec = engine.find(conn) if engine is not None else None
        return None if rec is None else self._session(rec)


def _first(pair: tuple) -> int:
    return pair[0]


def _serial_of(s: Session) -> int:
    return s.serial


def _frame(buf, off: int, length: int) -> bytes:
    return bytes(buf[off:off + length])


# drops and passes that /stats/slb/maint counts
_MAINT_FIELD = {
    Why.NOT_IP: "non_ip_frames", Why.MPLS: "non_ip_frames", Why.NOT_TCP_UDP: "non_tcp_ip_frames",
    Why.NO_SERVICE: "incorrect_vports", Why.VIP_DISABLED: "vip_not_up_drops",
}


def _ftp_key(addr: bytes, port: int) -> tuple[KeyKind, bytes]:
    """The persistence key of an announced FTP data endpoint."""
    return (KeyKind.FTP if len(addr) == 4 else KeyKind.FTP6), addr + port.to_bytes(2, "big")


def _rewrite_lines(data: bytes, vip: bytes) -> bytes:
    """``data`` with every complete 227 reply naming another address made to name ``vip``."""
    *lines, rest = data.split(b"\n")
    out = []
    for raw in lines:
        body = raw[:-1] if raw.endswith(b"\r") else raw
        end = raw[len(body):] + b"\n"
        r = ftp.parse_line(body, False)
        if r.ok and r.kind is ftp.FtpKind.PASV227 and r.addr != vip:
            body = ftp.rewrite_line(body, r, vip, r.port)
        out.append(body + end)
    return b"".join(out) + rest
