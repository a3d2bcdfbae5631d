"""Configuration files with every kind of mistake, through ``weboslb config check``.

Each mistake is one line a user reads: FILE:LINE: error: the menu path it concerns and what is
wrong, then a count; a file that holds no configuration at all says so and loads nothing.  No
input, however hostile (nesting thousands deep, an alias bomb, binary junk), gets a traceback,
a hang or unbounded memory.  The same files refused by ``weboslb replay -c`` and ``weboslb
cli --config`` are one line too, with exit status 2.
"""
from __future__ import annotations

import pytest

from weboslb.main import main

YAML = """\
slb:
  on: true
  real:
    1: {ena: true, rip: 10.0.1.11}
    2: {ena: true, rip: 10.0.1.12}
  group:
    1: {metric: roundrobin, reals: [1, 2]}
  virt:
    1:
      ena: true
      vip: 192.0.2.100
      service:
        80: {app: http, group: 1, pbind: clientip}
"""
DUMP = """\
script start "Alteon AD4" 4  /**** DO NOT EDIT THIS LINE!
/c/slb
\ton
/c/slb/real 1
\tena
\trip 10.0.1.11
/c/slb/group 1
\tadd 1
/c/slb/virt 1
\tena
\tvip 192.0.2.100
/c/slb/virt 1/service 80
\tgroup 1
\tpbind clientip
/
script end  /**** DO NOT EDIT THIS LINE!
"""


def y(old: str, new: str) -> str:
    assert old in YAML
    return YAML.replace(old, new, 1)


def d(old: str, new: str) -> str:
    assert old in DUMP
    return DUMP.replace(old, new, 1)


LAUGHS = "[" + ", ".join(["x"] * 10) + "]"
for _level in range(9):  # nine levels of ten aliases each: 10**10 items if ever expanded
    LAUGHS = f"&l{_level} {LAUGHS}, " + ", ".join([f"*l{_level}"] * 9)
    LAUGHS = f"[{LAUGHS}]"
NOTHING = "nothing loaded"

# name: (file name, content, the lines printed after the problems' own, or NOTHING)
MISTAKES = {
    # YAML that is no configuration
    "YAML empty": ("c.yaml", "", ["1: error: the file holds no configuration"], NOTHING),
    "YAML tab indentation": (
        "c.yaml", y("    1: {ena: true, rip: 10.0.1.11}", "\t1: {ena: true, rip: 10.0.1.11}"),
        ["4: error: YAML syntax: found character '\\t' that cannot start any token (while "
         "scanning for the next token)"], NOTHING),
    "YAML bracket left open": (
        "c.yaml", y("reals: [1, 2]}", "reals: [1, 2}"),
        ["7: error: YAML syntax: expected ',' or ']', but got '}' (while parsing a flow "
         "sequence)"], NOTHING),
    "YAML cut short": ("c.yaml", "slb: [\n", [
        "2: error: YAML syntax: expected the node content, but found '<stream end>' (while "
        "parsing a flow node)"], NOTHING),
    "YAML list at the top": ("c.yaml", "- slb\n- real\n", [
        "1: error: expected a mapping of menus (sys, l3, slb, verbatim) at the top"], NOTHING),
    "YAML NUL byte": ("c.yaml", "slb:\n  on: true\x00\n", [
        "2: error: YAML: character #x0000 is not allowed (special characters are not "
        "allowed)"], NOTHING),
    "YAML Latin-1 bytes": ("c.yaml", b"slb:\n  real:\n    1: {rip: 10.0.1.11, name: caf\xe9}\n",
                           ["3: error: not a text file (invalid UTF-8)"], NOTHING),
    "YAML nested 5000 deep": ("c.yaml", "x: " + "[" * 5000 + "]" * 5000 + "\n",
                              ["1: error: YAML nested deeper than 64 levels"], NOTHING),
    "YAML mappings nested 100 deep": (
        "c.yaml", "slb:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(100)),
        ["65: error: YAML nested deeper than 64 levels"], NOTHING),
    # YAML with mistakes in it
    "YAML unknown menu": ("c.yaml", YAML + "  bogus: 1\n", [
        "14: error: /cfg/slb: unknown key 'bogus'; expected one of: on, adv, sync, real, "
        "group, pip, port, virt"], 1),
    "YAML misspelt attribute": ("c.yaml", y("rip: 10.0.1.11}", "rip: 10.0.1.11, wieght: 3}"), [
        "4: error: /cfg/slb/real 1: unknown key 'wieght'; expected one of: ena, ipver, rip, "
        "name, weight, maxcon, tmout, backup, inter, retry, restr, addports, extra"], 1),
    "YAML word for a number": ("c.yaml", y("rip: 10.0.1.11}", "rip: 10.0.1.11, weight: heavy}"),
                               ["4: error: /cfg/slb/real 1: weight: expected a number <1-48>, "
                                "got 'heavy'"], 1),
    "YAML number out of range": ("c.yaml", y("rip: 10.0.1.11}", "rip: 10.0.1.11, weight: 60}"),
                                 ["4: error: /cfg/slb/real 1: weight 60 out of range 1-48"], 1),
    "YAML address out of range": ("c.yaml", y("rip: 10.0.1.11}", "rip: 300.0.1.11}"),
                                  ["4: error: /cfg/slb/real 1: rip 300.0.1.11 is not an IP "
                                   "address"], 1),
    "YAML address with a mask": ("c.yaml", y("vip: 192.0.2.100", "vip: 192.0.2.100/24"),
                                 ["11: error: /cfg/slb/virt 1: vip 192.0.2.100/24 is not an IP "
                                  "address"], 1),
    "YAML key twice": (
        "c.yaml", y("    2: {ena: true, rip: 10.0.1.12}", "    1: {ena: true, rip: 10.0.1.12}"),
        ["5: error: /cfg/slb/real: duplicate key 1",
         "7: error: /cfg/slb/group 1: real 2 does not exist"], 2),
    "YAML index out of range": (
        "c.yaml", y("    1: {ena: true, rip: 10.0.1.11}", "    5000: {ena: true, rip: 10.0.1.11}"),
        ["4: error: /cfg/slb/real 5000: index 5000 out of range 1-256",
         "7: error: /cfg/slb/group 1: real 1 does not exist"], 2),
    "YAML virtual port out of range": (
        "c.yaml", y("        80: ", "        70000: "),
        ["13: error: /cfg/slb/virt 1/service 70000: virtual port 70000 out of range 2-65534",
         "13: error: /cfg/slb/virt 1/service 70000: rport 70000 out of range 0,1,5-65534"], 2),
    "YAML group that does not exist": ("c.yaml", y("group: 1, pbind", "group: 7, pbind"), [
        "13: error: /cfg/slb/virt 1/service 80: group 7 does not exist"], 1),
    "YAML real that does not exist": ("c.yaml", y("reals: [1, 2]", "reals: [1, 9]"), [
        "7: error: /cfg/slb/group 1: real 9 does not exist"], 1),
    "YAML unknown choice": ("c.yaml", y("metric: roundrobin", "metric: fastest"), [
        "7: error: /cfg/slb/group 1: metric: expected roundrobin|leastconns|minmisses|hash|"
        "response|bandwidth|phash, got 'fastest'"], 1),
    "YAML unknown persistence mode": ("c.yaml", y("pbind: clientip", "pbind: magic"), [
        "13: error: /cfg/slb/virt 1/service 80: pbind: expected clientip|cookie|sslid|disable, "
        "got 'magic'"], 1),
    "YAML python object tag": ("c.yaml", 'slb: !!python/object:os.system "echo hi"\n',
                               ["1: error: /cfg/slb: expected a mapping"], 1),
    "YAML alias bomb as a value": (
        "c.yaml", f"slb:\n  real:\n    1:\n      rip: 10.0.0.1\n      name: {LAUGHS}\n",
        ["5: error: /cfg/slb/real 1: name: expected a string, got a list"], 1),
    "YAML alias bomb as a key": (
        "c.yaml", f"slb:\n  real:\n    1:\n      rip: 10.0.0.1\n      ? {LAUGHS}\n      : x\n",
        ["5: error: /cfg/slb/real 1: a key must be a word or a number, got a list"], 1),
    # Alteon dump scripts
    "dump address cut short": ("c.cfg", d("rip 10.0.1.11", "rip 10.0.1"), [
        "6: error: /cfg/slb/real 1: rip 10.0.1 is not an IP address"], 1),
    "dump argument missing": ("c.cfg", d("\tadd 1", "\tadd"), [
        "7: warning: /cfg/slb/group 1: has no settings and is removed on apply",
        "8: error: /cfg/slb/group 1: add: expected a number or name <1-256|name>",
        "13: error: /cfg/slb/virt 1/service 80: group 1 does not exist"], 2),
    "dump argument too many": ("c.cfg", d("\ton\n", "\ton extra words\n"), [
        "3: error: /cfg/slb: on: takes no argument, got 'extra words'"], 1),
    "dump index out of range": ("c.cfg", d("/c/slb/real 1\n", "/c/slb/real 99999\n"), [
        "4: error: /cfg/slb/real 99999: index 99999 out of range 1-256",
        "8: error: /cfg/slb/group 1: real 1 does not exist"], 2),
    "dump unknown choice": ("c.cfg", d("pbind clientip", "pbind bogus"), [
        "14: error: /cfg/slb/virt 1/service 80: pbind: expected clientip|cookie|sslid|disable, "
        "got 'bogus'"], 1),
    "dump misspelt menu": ("c.cfg", d("/c/slb/real 1\n", "/c/slb/reel 1\n"), [
        "4: warning: /cfg/slb: unknown command 'reel' kept verbatim",
        "8: error: /cfg/slb/group 1: real 1 does not exist"], 1),
    "dump command outside a menu": ("c.cfg", "\tena\n/c/slb\n", [
        "1: error: command outside any menu: expected a '/c/...' menu path line before 'ena'"],
        1),
    "dump value 2 MB long": (
        "c.cfg", '/c/slb/real 1\n\trip 10.0.0.1\n\tname "' + "a" * 2_000_000 + '"\n',
        ['3: error: /cfg/slb/real 1: name "' + "a" * 76 + "... is longer than 31 characters"],
        1),
    "dump of operational state": ("c.txt", "4: IP4 1.4.222.10,   00:03:b2:78:08:05, vname x\n", [
        "1: error: this is /info/slb/dump output (operational state), not a configuration "
        "dump"], NOTHING),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_every_mistake_is_a_line_naming_file_line_and_menu_path(tmp_path, name, capsys):
    file, content, lines, outcome = MISTAKES[name]
    path = tmp_path / file
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert main(["config", "check", str(path)]) == 1
    out, err = capsys.readouterr()
    end = (f"{path}: {NOTHING}" if outcome == NOTHING else
           f"{path}: {outcome} error{'s' * (outcome != 1)}")
    assert out.splitlines() == [f"{path}:{line}" for line in lines] + [end]
    assert err == ""


@pytest.mark.parametrize("name", ["YAML nested 5000 deep", "YAML alias bomb as a value",
                                  "dump argument missing"])
def test_replay_and_the_console_refuse_a_bad_config_in_one_line(tmp_path, name, capsys):
    file, content, lines, _ = MISTAKES[name]
    path = tmp_path / file
    path.write_text(content)
    assert main(["replay", "-q", "-c", str(path), str(tmp_path / "none.pcap")]) == 2
    err = capsys.readouterr().err.splitlines()
    errors = [f"{path}:{line}" for line in lines if ": error: " in line]
    reason = "the config does not apply (errors above)"
    assert err == errors + [f"weboslb replay: {path}: {reason}"]
    assert main(["cli", "--config", str(path), "-c", "/info/sys"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"weboslb cli: {path}: not loaded (see 'weboslb config check {path}')"
    assert "Traceback" not in "\n".join(err)
