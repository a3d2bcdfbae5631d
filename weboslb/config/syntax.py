"""The lexical rules of an Alteon command line: ``/`` separates menu steps, blanks separate
arguments, double quotes group a string.

Web OS has no escape character, and real dumps hold strings like ``bannr "Exemple"Exemple"``.
A quote therefore closes a string only when a blank, a ``/`` (between steps) or the end of the
line follows it; any other quote is part of the string.  ``quote`` writes strings so that this
reading gives them back.
"""
from __future__ import annotations

import re

_BARE = re.compile(r'[^\s"/]+')


def _closing(text: str, start: int, stops: str) -> int:
    """Index of the quote closing the string opened at ``start``, or -1."""
    j = text.find('"', start + 1)
    while j != -1:
        if j + 1 == len(text) or text[j + 1].isspace() or text[j + 1] in stops:
            return j
        j = text.find('"', j + 1)
    return -1


def split_steps(text: str) -> list[str]:
    """``/c/slb/virt 1/service 80 http`` -> ["", "c", "slb", "virt 1", "service 80 http"]."""
    steps: list[str] = []
    start = i = 0
    at_token_start = True
    while i < len(text):
        ch = text[i]
        if ch == '"' and at_token_start:
            end = _closing(text, i, "/")
            if end == -1:
                break
            i = end + 1
            at_token_start = False
            continue
        if ch == "/":
            steps.append(text[start:i])
            start = i + 1
            at_token_start = True
        else:
            at_token_start = ch.isspace()
        i += 1
    steps.append(text[start:])
    return steps


def tokenize(text: str) -> list[str]:
    """Split one step into words; quotes are removed, an unclosed quote runs to the end."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == '"':
            end = _closing(text, i, "")
            if end == -1:
                words.append(text[i + 1:].rstrip())
                break
            words.append(text[i + 1:end])
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        words.append(text[i:j])
        i = j
    return words


def quote(text: str) -> str:
    return f'"{text}"'


def word_or_quote(text: str) -> str:
    """Bare when the word survives ``split_steps`` and ``tokenize`` unchanged."""
    return text if _BARE.fullmatch(text) else quote(text)


def representable(text: str) -> bool:
    """Whether ``quote(text)`` reads back as ``text`` (no quote followed by a blank or ``/``)."""
    return re.search(r'"[\s/]', text) is None and "\n" not in text and "\r" not in text


def last_step(text: str) -> tuple[str, str]:
    """Split ``a/b/cmd args`` into ("a/b", "cmd args"); ("", text) when there is no step."""
    steps = split_steps(text)
    if len(steps) == 1:
        return "", text
    head = text[: len(text) - len(steps[-1]) - 1]
    return head, steps[-1]
