"""`weboslb bench`: the documented JSON records, the text report, and clean argument errors."""
import json
import subprocess
import sys

import pytest

FIELDS = {"table", "op", "key", "entries", "ops_per_s", "ns_per_op", "ratio_vs_dict",
          "bytes_per_entry"}


def weboslb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "weboslb", *args], capture_output=True,
                          text=True, timeout=300)


def test_json_records_cover_every_table_op_and_key():
    run = weboslb("bench", "lookup", "--entries", "2K", "--key", "ipv4", "cookie",
                  "--queries", "8K", "--repeat", "1", "--json")
    assert run.returncode == 0, run.stderr
    records = json.loads(run.stdout)
    assert all(set(r) == FIELDS for r in records)
    seen = {(r["table"], r["op"], r["key"]) for r in records}
    assert seen == {(t, op, k) for t in ("c-batch", "c-per-key", "py-ref", "dict")
                    for op in ("lookup", "insert") for k in ("ipv4", "cookie")}
    for r in records:
        assert r["entries"] == 2000
        assert r["ns_per_op"] > 0 and r["ops_per_s"] == pytest.approx(1e9 / r["ns_per_op"])
        assert r["bytes_per_entry"] > 0
        base = next(d for d in records
                    if d["table"] == "dict" and d["op"] == r["op"] and d["key"] == r["key"])
        assert r["ratio_vs_dict"] == pytest.approx(base["ns_per_op"] / r["ns_per_op"])
    c = next(r for r in records if r["table"] == "c-batch" and r["key"] == "ipv4")
    # a 2048-entry IPv4 table: 5/4 x 2048 16-byte slots, 16-byte entries, a journal of 1024
    # 8-byte records
    assert c["bytes_per_entry"] == pytest.approx((2560 * 16 + 2048 * 16 + 1024 * 8) / 2000)


def test_quick_text_report():
    run = weboslb("bench", "--quick")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("weboslb bench lookup")
    assert sum(" c-batch " in line for line in lines) == 4  # 2 sizes x lookup/insert


@pytest.mark.parametrize("args,message", [
    (["--entries", "lots"], "not a number of entries: 'lots'"),
    (["--entries", "0"], "entries 0 out of range"),
    (["--key", "md5"], "invalid choice: 'md5'"),
    (["--batch", "0"], "--batch and --repeat must be at least 1"),
])
def test_bad_arguments_are_one_line_errors(args, message):
    run = weboslb("bench", "lookup", *args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_bench_fastpath_json_records():
    import json as _json
    import subprocess as _sp
    import sys as _sys

    run = _sp.run([_sys.executable, "-m", "weboslb", "bench", "fastpath", "--frames", "20K",
                   "--connections", "1K", "--repeat", "1", "--json"],
                  capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    records = _json.loads(run.stdout)
    assert [r["path"] for r in records] == ["c-batch", "py-loop"]
    assert all(r["frames"] == 20_000 and r["fast_frames"] == 20_000 for r in records)
    assert records[0]["ratio_vs_python"] > 0 and records[1]["ratio_vs_python"] is None
