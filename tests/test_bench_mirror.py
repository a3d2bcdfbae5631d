"""`weboslb bench mirror`: two switch processes over loopback, the JSON record, the lag
arithmetic, and clean argument errors."""
import json
import subprocess
import sys

import pytest

from weboslb.bench.mirror import BenchError, capacity_for, lags_ms, percentile

FIELDS = {"bulk_entries", "bulk_eps", "baseline_eps", "ratio", "lag_p50_ms", "lag_p99_ms",
          "baseline_entries", "lag_updates", "lag_rate", "lag_max_ms", "repeat"}


def weboslb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "weboslb", *args], capture_output=True,
                          text=True, timeout=300)


def test_a_small_run_reports_every_figure():
    run = weboslb("bench", "mirror", "--entries", "30K", "--baseline-entries", "3K",
                  "--repeat", "1", "--rate", "20K", "--seconds", "0.25", "--json")
    assert run.returncode == 0, run.stderr
    r = json.loads(run.stdout)
    assert set(r) == FIELDS
    assert (r["bulk_entries"], r["baseline_entries"], r["repeat"]) == (30_000, 3_000, 1)
    assert r["lag_updates"] == 5_000 and r["lag_rate"] == 20_000
    assert r["bulk_eps"] > 0 and r["baseline_eps"] > 0
    assert r["ratio"] == pytest.approx(r["bulk_eps"] / r["baseline_eps"])
    assert 0 < r["lag_p50_ms"] <= r["lag_p99_ms"] <= r["lag_max_ms"]


def test_the_text_report_names_the_targets():
    run = weboslb("bench", "mirror", "--entries", "5K", "--baseline-entries", "1K",
                  "--repeat", "1", "--rate", "5K", "--seconds", "0.1")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["bulk", "baseline", "ratio", "lag"]
    assert "5,000 persistent entries" in lines[0] and "target: p99 <= 5 ms" in lines[3]


@pytest.mark.parametrize("args,message", [
    (["--batch", "0"], "--batch within 1..65536"),
    (["--repeat", "0"], "--repeat must be at least 1"),
    (["--seconds", "0"], "--seconds must be within 0..600"),
    (["--entries", "lots"], "not a number of entries: 'lots'"),
])
def test_bad_arguments_are_one_line_errors(args, message):
    run = weboslb("bench", "mirror", *args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_each_binding_lags_until_the_first_read_that_applied_it():
    # written: 3 bindings at t=100, 2 more at t=200; the standby held 7 records before
    written = [(100, 3), (200, 5)]
    applied = [(0, 7), (150, 9), (260, 10), (300, 12)]
    assert lags_ms(written, applied) == [50e-6, 50e-6, 160e-6, 100e-6, 100e-6]
    with pytest.raises(BenchError, match="binding 5 of the lag run was never applied"):
        lags_ms([(100, 6)], applied)


def test_percentiles_and_capacity():
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0 and percentile([3.0], 0.99) == 3.0
    assert capacity_for(1_000_000) == 1 << 20 and capacity_for(1 << 20) == 1 << 20
    assert capacity_for(1_200_000) == 1 << 21 and capacity_for(5) == 1024
