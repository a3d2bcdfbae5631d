"""Round-trip properties over configs drawn from the command tree: dump, YAML, and diff."""
from __future__ import annotations

from copy import deepcopy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.config.helpers import configs, field_values, obj
from weboslb.config import dump, yamlio
from weboslb.config.menu import Menu, walk
from weboslb.config.model import Config

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(configs())
def test_dump_load_dump_is_stable_and_lossless(config: Config) -> None:
    text = dump.write(config)
    loaded = dump.read(text)
    assert loaded.errors == []
    assert loaded.config == config
    assert dump.write(loaded.config) == text


@SETTINGS
@given(configs())
def test_yaml_round_trip_is_lossless(config: Config) -> None:
    text = yamlio.write(config)
    loaded = yamlio.read(text)
    assert loaded.problems == []
    assert loaded.config == config
    assert yamlio.write(loaded.config) == text


@SETTINGS
@given(configs())
def test_yaml_to_dump_to_yaml_keeps_everything(config: Config) -> None:
    via_yaml = yamlio.read(yamlio.write(config)).config
    assert via_yaml is not None
    back = dump.read(dump.write(via_yaml)).config
    assert back == config
    assert yamlio.write(back) == yamlio.write(config)


@st.composite
def edited(draw: Any) -> tuple[Config, Config]:
    """A config and a copy changed as a console user would: set values, add and delete."""
    old = draw(configs())
    new = deepcopy(old)
    for _ in range(draw(st.integers(1, 6))):
        nodes = list(walk(new))
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        menu: Menu = node.menu
        action = draw(st.sampled_from(["set", "add", "del"]))
        indexed = [m for m in menu.menus if m.indexed]
        if action == "set" and menu.fields:
            fld = menu.fields[draw(st.integers(0, len(menu.fields) - 1))]
            value = draw(field_values(menu, fld))
            if value is not None:
                setattr(node.obj, fld.attribute, value)
        elif action == "add" and indexed:
            sub = indexed[draw(st.integers(0, len(indexed) - 1))]
            held = getattr(node.obj, sub.attribute)
            key = draw(st.integers(1, 9))
            if key not in held:
                child = draw(obj(sub, key))
                child.extra = []
                held[key] = child
        elif action == "del" and indexed:
            sub = indexed[draw(st.integers(0, len(indexed) - 1))]
            held = getattr(node.obj, sub.attribute)
            if held:
                held.pop(sorted(held, key=str)[0])
    return old, new


@SETTINGS
@given(edited())
def test_diff_is_the_script_from_applied_to_pending(pair: tuple[Config, Config]) -> None:
    old, new = pair
    patch = dump.diff(new, old)
    assert (patch == "") == (new == old)
    loaded = dump.read(dump.write(old) + patch)
    assert loaded.errors == []
    assert loaded.config == new
