"""``weboslb bench adversarial``: its JSON records and text report on a small run (timings are
the benchmark's business; the tests check what the run reports and that its keys collide)."""
from __future__ import annotations

import json

import pytest

from weboslb.bench import adversarial
from weboslb.main import main

FIELDS = {"key", "entries", "op", "hash", "crafted_against", "random_ns", "crafted_ns",
          "slowdown", "probe_mean_random", "probe_mean_crafted", "probe_max_crafted",
          "naive_probe_mean", "target", "met"}
SMALL = ["--entries", "1K", "--queries", "16K", "--repeat", "2"]


def test_json_records_every_kind_and_op_with_its_slowdown(capsys):
    assert main(["bench", "adversarial", *SMALL, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["key"], r["op"]) for r in records] == [
        (k, op) for k in adversarial.KINDS for op in ("lookup", "insert")]
    for r in records:
        assert set(r) == FIELDS and r["entries"] == 1024
        assert r["slowdown"] == pytest.approx(r["crafted_ns"] / r["random_ns"])
        assert r["met"] == (r["slowdown"] <= r["target"] == 2.0)
        assert r["naive_probe_mean"] >= 1024 / 4  # the keys do collide without a key
        assert r["probe_mean_crafted"] < 2.0  # ... and do not with one
        assert r["hash"] in ("aes", "siphash")


def test_text_report_names_the_target_and_the_worst_case(capsys):
    assert main(["bench", "adversarial", *SMALL, "--key", "cookie", "--hash", "siphash"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("weboslb bench adversarial: crafted vs random keys, C table "
                               "hash siphash (random seed), 16,000 lookups, best of 2")
    assert [line.split()[:3] for line in lines[2:4]] == [["cookie", "1,024", "lookup"],
                                                        ["cookie", "1,024", "insert"]]
    assert lines[-1].startswith("Target (issue 8): crafted keys at most 2x slower than random "
                                "ones with the keyed hash: worst ")
    assert lines[-1].endswith((" met", "NOT met"))


@pytest.mark.parametrize("args,message", [
    (["--entries", "128K"], "weboslb bench: --entries 131,072: at most 65,536"),
    (["--repeat", "0"], "weboslb bench: --batch and --repeat must be at least 1"),
])
def test_bad_arguments_are_one_line_errors(args, message, capsys):
    assert main(["bench", "adversarial", *args]) == 2
    assert capsys.readouterr().err == message + "\n"


@pytest.mark.parametrize("value,message", [("1000", "entries 1000: not a power of two"),
                                           ("lots", "not a number of entries: 'lots'")])
def test_entries_must_be_a_power_of_two(value, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "adversarial", "--entries", value])
    assert exc.value.code == 2 and message in capsys.readouterr().err
