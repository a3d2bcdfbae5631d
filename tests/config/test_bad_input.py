"""Bad input never raises: any text loads into problems (and maybe a config) and validates."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weboslb.config import dump, yamlio
from weboslb.config.store import Store
from weboslb.config.model import Config

_WORDS = ["/c", "/cfg", "/c/slb", "slb", "real", "1", "web", "group", "virt", "service", "80",
          "http", "pbind", "cookie", "passive", "insert", "rewrite", '"J"', "64", "ena", "dis",
          "add", "rem", "del", "..", "/", "\t", "    ", '"', "rip", "10.0.0.1", "-----BEGIN",
          "-----END", "script", "start", "/*", "l3", "vrrp", "vr", "track", "sync", "peer",
          "state", "e", "adv", "direct", "pip", "ssl", "x/y", "apply", "diff", "if", "on",
          "metric", "hash", "backup", "r1", "g2", "weight", "-5", "99999", "sslid", "cur"]
LINES = st.lists(st.lists(st.sampled_from(_WORDS), max_size=6).map(" ".join), max_size=12)
YAML_ATOMS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.sampled_from(_WORDS)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(_WORDS + ["extra", "verbatim"]),
                                            inner, max_size=4)),
    max_leaves=20)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _apply(config: Config | None) -> None:
    if config is not None:
        store = Store(Config())
        store.pending = config
        store.apply()
        dump.write(config)
        yamlio.write(config)


@SETTINGS
@given(LINES)
def test_any_dump_text_loads_without_raising(lines: list[str]) -> None:
    loaded = dump.read("\n".join(lines))
    assert all(p.line > 0 for p in loaded.problems)
    _apply(loaded.config)


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_at_all(text: str) -> None:
    _apply(dump.read(text).config)
    _apply(yamlio.read(text).config)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["sys", "l3", "slb", "verbatim", "x"]), YAML_ATOMS,
                       max_size=3))
def test_any_yaml_shape_loads_without_raising(data: dict) -> None:  # type: ignore[type-arg]
    import yaml

    loaded = yamlio.read(yaml.safe_dump(data))
    assert all(p.line > 0 for p in loaded.problems)
    _apply(loaded.config)
