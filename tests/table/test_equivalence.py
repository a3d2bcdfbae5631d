"""Random operation sequences give the same results on the C table and on the reference.

Small capacities and journals, a small key pool and a slowly moving clock make collisions,
full tables, evictions, expiry and journal gaps common."""
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from weboslb.table import CTable, Entry, JournalGap, KeyBatch, Policy, RefTable

SSL_KEYS = st.binary(min_size=1, max_size=4) | st.sampled_from([bytes(32), b"\xff" * 32])
IPV4_KEYS = st.sampled_from([bytes([10, 0, 0, i]) for i in range(12)])


def both(fn):
    """Run fn on both tables; both must return the same thing or raise the same error."""
    def outcome(table):
        try:
            return ("ok", fn(table))
        except (JournalGap, ValueError) as exc:
            return ("raised", type(exc).__name__, str(exc))
    return outcome


class TablePair(RuleBasedStateMachine):
    @initialize(kind=st.sampled_from(["ipv4", "sslid"]),
                capacity=st.sampled_from([1, 2, 4, 8]),
                policy=st.sampled_from(list(Policy)),
                journal=st.sampled_from([0, 2, 8]))
    def create(self, kind, capacity, policy, journal):
        self.kind = kind
        self.keys = IPV4_KEYS if kind == "ipv4" else SSL_KEYS
        self.c = CTable(kind, capacity, policy=policy, journal=journal)
        self.ref = RefTable(kind, capacity, policy=policy, journal=journal)
        self.now = 0

    def same(self, fn):
        check = both(fn)
        a, b = check(self.c), check(self.ref)
        assert a == b, (a, b)
        return a

    @rule(dt=st.integers(0, 7))
    def advance(self, dt):
        self.now += dt

    @rule(data=st.data(), n=st.integers(1, 6), persistent=st.booleans(),
          timeout=st.sampled_from([0, 3, 10]))
    def get_or_create_many(self, data, n, persistent, timeout):
        keys = data.draw(st.lists(self.keys, min_size=n, max_size=n))
        vsvc = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
        reals = data.draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
        batch = KeyBatch.of(self.kind, keys, vsvc)
        self.same(lambda t: tuple(map(list, t.get_or_create_many(
            batch, reals=reals, now=self.now, timeout=timeout, persistent=persistent))))

    @rule(data=st.data())
    def lookups(self, data):
        keys = data.draw(st.lists(self.keys, min_size=1, max_size=6))
        batch = KeyBatch.of(self.kind, keys, data.draw(st.integers(0, 1)))
        self.same(lambda t: list(t.lookup_many(batch, now=self.now)))
        self.same(lambda t: t.lookup(keys[0], now=self.now))

    @rule(data=st.data(), journal=st.booleans(), persistent=st.booleans())
    def put(self, data, journal, persistent):
        e = Entry(key=data.draw(self.keys), vsvc=data.draw(st.integers(0, 1)),
                  real=data.draw(st.integers(0, 9)), sp=data.draw(st.integers(0, 9)),
                  flags=int(persistent) | data.draw(st.sampled_from([0, 0x10, 0x80])),
                  created=self.now, last_used=max(0, self.now - data.draw(st.integers(0, 5))),
                  timeout=data.draw(st.sampled_from([0, 4, 20])))
        self.same(lambda t: t.put(e, now=self.now, journal=journal))

    @rule(data=st.data())
    def delete(self, data):
        key, vsvc = data.draw(self.keys), data.draw(st.integers(0, 1))
        self.same(lambda t: t.delete(key, vsvc=vsvc))

    @rule(work=st.integers(0, 10))
    def expire(self, work):
        self.same(lambda t: t.expire(self.now, max_work=work))

    @rule(back=st.integers(0, 10), limit=st.integers(0, 5))
    def read_journal(self, back, limit):
        seq = max(0, self.c.journal_head - back)
        self.same(lambda t: t.updates_since(seq, limit=limit))

    @rule(persistent_only=st.booleans(), clear=st.booleans())
    def iterate(self, persistent_only, clear):
        self.same(lambda t: list(t.entries(persistent_only=persistent_only, clear_pending=clear)))

    @precondition(lambda self: self.now % 5 == 0)
    @rule()
    def clear(self):
        self.same(lambda t: t.clear())

    @invariant()
    def agree(self):
        if not hasattr(self, "c"):
            return
        self.c.check()
        self.ref.check()
        strip = dict(memory_bytes=None, index_slots=None, probe_mean=None, probe_max=None,
                     hash=None)
        c = self.c.stats(probes=False).__class__(**{**vars_of(self.c.stats(probes=False)),
                                                    **strip})
        assert c == self.ref.stats()
        assert self.c.journal_head == self.ref.journal_head
        assert list(self.c.entries()) == list(self.ref.entries())


def vars_of(stats):
    return {f: getattr(stats, f) for f in stats.__dataclass_fields__}


TablePair.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_tables_agree = TablePair.TestCase
