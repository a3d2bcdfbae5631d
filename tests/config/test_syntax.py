"""The lexical rules of a command line: steps, words, tolerant quotes."""
from __future__ import annotations

import pytest

from weboslb.config.syntax import last_step, quote, representable, split_steps, tokenize, \
    word_or_quote


@pytest.mark.parametrize("text, steps", [
    ("/c/slb/real 1", ["", "c", "slb", "real 1"]),
    ("/cfg/slb/real 1/rip 1.1.1.1/ena", ["", "cfg", "slb", "real 1", "rip 1.1.1.1", "ena"]),
    ('/c/slb/group 1/content "/test/x"', ["", "c", "slb", "group 1", 'content "/test/x"']),
    ('/c/x/name "a"/ena', ["", "c", "x", 'name "a"', "ena"]),
    ('/c/x/bannr "Exemple"Exemple"', ["", "c", "x", 'bannr "Exemple"Exemple"']),
    ('/c/x/name "open/ended', ["", "c", "x", 'name "open/ended']),
    ("rip 1.1.1.1", ["rip 1.1.1.1"]),
    ("/", ["", ""]),
])
def test_split_steps(text: str, steps: list[str]) -> None:
    assert split_steps(text) == steps


@pytest.mark.parametrize("text, words", [
    ('pbind cookie passive "JSESSIONID" 1 64 disable',
     ["pbind", "cookie", "passive", "JSESSIONID", "1", "64", "disable"]),
    ('bannr "Exemple"Exemple"', ["bannr", 'Exemple"Exemple']),
    ('name ""', ["name", ""]),
    ('name "two words"  x', ["name", "two words", "x"]),
    ('name "unclosed words', ["name", "unclosed words"]),
    ("  add\t1  ", ["add", "1"]),
    ('content "/a b/"', ["content", "/a b/"]),
])
def test_tokenize(text: str, words: list[str]) -> None:
    assert tokenize(text) == words


@pytest.mark.parametrize("value", ['a"b', 'Exemple"Exemple', '"lead', 'trail"', '', ' sp ',
                                   'a/b', '"'])
def test_quoted_strings_read_back(value: str) -> None:
    assert representable(value)
    assert tokenize(f"name {quote(value)}") == ["name", value]
    assert split_steps(f"/c/x/name {quote(value)}/ena")[-1] == "ena"


@pytest.mark.parametrize("value", ['a" b', 'x"/y', "two\nlines"])
def test_unrepresentable_strings_are_detected(value: str) -> None:
    assert not representable(value)


def test_word_or_quote() -> None:
    assert word_or_quote("testpass") == "testpass"
    assert word_or_quote("two words") == '"two words"'
    assert word_or_quote("") == '""'
    assert word_or_quote("a/b") == '"a/b"'


def test_last_step() -> None:
    assert last_step("shut psession") == ("", "shut psession")
    assert last_step("http/xforward ena") == ("http", "xforward ena")
    assert last_step('a/b/path "/x/y"') == ("a/b", 'path "/x/y"')
