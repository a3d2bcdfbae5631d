"""Smoke runs of the C fuzz targets (csrc/fuzz/) under AddressSanitizer and UndefinedBehavior-
Sanitizer: each target, built with cc and csrc/fuzz/standalone.c, replays its committed corpus
(csrc/fuzz/corpus/TARGET: seeds and regression inputs) and then tens of thousands of mutations
drawn from a fixed seed, in a few seconds.  Any out-of-bounds access, leak, undefined behaviour
or broken property (a FUZZ_CHECK) fails the run, and every outcome the target counts - each
status of each parser, each way a capture walk stops, each table result - must be reached, so
that the smoke run keeps going as deep as it did when it was written.

Long runs are tools/fuzz.sh's (libFuzzer with clang, or this driver for as long as asked)."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.sanitizers import ROOT, SANITIZE, compiler, run

FUZZ = ROOT / "csrc" / "fuzz"
SEED = "20240611"
# Mutations per smoke run: tens of thousands; fewer for pst_ops and engine, whose every
# execution is a whole sequence of table operations (each compared with the reference table)
# or a whole switch with its conversations.
MUTATIONS = {"decode": 50000, "tls": 50000, "http": 40000, "ftp": 50000, "capwalk": 30000,
             "pst_import": 30000, "pst_ops": 8000, "engine": 1500}


def targets() -> dict[str, tuple[int, list[str]]]:
    """csrc/fuzz/targets.txt: name -> (longest mutant, csrc files it links)."""
    out = {}
    for line in (FUZZ / "targets.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, max_len, *sources = line.split()
            out[name] = (int(max_len), sources)
    return out


def _flags() -> list[str]:
    aes = ["-maes"] if platform.machine().lower() in ("x86_64", "amd64") else []
    return ["-std=gnu11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", *SANITIZE, *aes,
            "-I", str(ROOT / "csrc")]


def _compile(cc: str, src: Path, obj: Path) -> subprocess.CompletedProcess:
    return subprocess.run([cc, *_flags(), "-c", str(src), "-o", str(obj)], capture_output=True,
                          text=True, check=False)


def _checked(done: subprocess.CompletedProcess) -> None:
    if done.returncode != 0 and "san" in done.stderr.lower():
        pytest.skip(f"no sanitizer runtime: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def binaries(tmp_path_factory) -> dict[str, Path]:
    """Every target, linked from objects compiled once each (two compilers at a time)."""
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("fuzz")
    table = targets()
    sources = {FUZZ / "standalone.c"} | {FUZZ / f"fuzz_{t}.c" for t in table}
    sources |= {ROOT / "csrc" / s for _, srcs in table.values() for s in srcs}
    objs = {src: out / f"{src.parent.name}_{src.stem}.o" for src in sources}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in pool.map(lambda s: _compile(cc, s, objs[s]), sorted(sources)):
            _checked(done)
    bins = {}
    for t, (_, srcs) in table.items():
        bins[t] = out / f"fuzz_{t}"
        link = [cc, *SANITIZE, str(objs[FUZZ / f"fuzz_{t}.c"]), str(objs[FUZZ / "standalone.c"]),
                *(str(objs[ROOT / "csrc" / s]) for s in srcs), "-lm", "-o", str(bins[t])]
        _checked(subprocess.run(link, capture_output=True, text=True, check=False))
    return bins


def _smoke(binary: Path, target: str, seed: str, crashes: Path) -> subprocess.CompletedProcess:
    max_len, _ = targets()[target]
    return run(binary, "-n", str(MUTATIONS[target]), "-s", seed, "-m", str(max_len), "-o",
               str(crashes), str(FUZZ / "corpus" / target))


def test_every_target_has_a_smoke_run_and_a_corpus():
    table = targets()
    assert set(table) == set(MUTATIONS)
    for t in table:
        assert (FUZZ / f"fuzz_{t}.c").is_file()
        assert any((FUZZ / "corpus" / t).iterdir()), f"no committed corpus for {t}"


@pytest.mark.parametrize("target", sorted(MUTATIONS))
def test_smoke_run(binaries, target, tmp_path):
    done = _smoke(binaries[target], target, SEED, tmp_path)
    report = done.stderr[-6000:]
    assert done.returncode == 0, report
    assert not list(tmp_path.iterdir()), f"a failing input was kept: {report}"
    runs = re.search(r"standalone: ok: (\d+) executions \((\d+) corpus inputs", done.stdout)
    assert runs, done.stdout
    assert int(runs[1]) == int(runs[2]) + MUTATIONS[target]
    reached = re.search(rf"fuzz_{target}: reached (\d+) of (\d+) outcomes:(.*)", done.stderr)
    assert reached, report
    missed = [kv.split("=")[0] for kv in reached[3].split() if kv.endswith("=0")]
    assert reached[1] == reached[2], f"{target} never reached: {', '.join(missed)}"


def test_mutations_follow_the_seed(binaries, tmp_path):
    """The same seed gives the same run on every machine; another seed another run."""
    def outcomes(seed: str) -> str:
        done = run(binaries["tls"], "-n", "3000", "-s", seed, str(FUZZ / "corpus" / "tls"))
        assert done.returncode == 0, done.stderr[-3000:]
        return re.search(r"reached .*", done.stderr)[0]

    assert outcomes("7") == outcomes("7")
    assert outcomes("7") != outcomes("8")


CANARY = r"""
#define FUZZ_NAME "fuzz_canary"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_CHECK(size < 4 || memcmp(data, "boom", 4) != 0, "the canary sang");
    if (size >= 5 && memcmp(data, "heap!", 5) == 0) {
        uint8_t *copy = fz_copy(data, size);
        volatile uint8_t past = copy[size];    /* one byte past the input */
        (void)past;
        free(copy);
    }
    return 0;
}
"""


@pytest.mark.parametrize("word, report", [(b"boom", "check failed"),
                                          (b"heap!", "heap-buffer-overflow")])
def test_a_failing_input_is_reported_and_kept(tmp_path, word, report):
    """What a finding looks like: the report, a non-zero exit, and the input in a crash file."""
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "fuzz_canary.c"
    src.write_text(CANARY)
    binary = tmp_path / "canary"
    _checked(subprocess.run([cc, *_flags(), "-I", str(FUZZ), str(src), str(FUZZ / "standalone.c"),
                             "-o", str(binary)], capture_output=True, text=True, check=False))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a").write_bytes(b"harmless")
    (corpus / "b").write_bytes(word + b" and more")
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    done = run(binary, "-n", "10", "-o", str(crashes), str(corpus))
    assert done.returncode != 0
    assert report in done.stderr
    kept = list(crashes.iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("crash-")
    assert kept[0].read_bytes() == word + b" and more"
    assert f"written to {kept[0]}" in done.stderr


def test_fuzz_sh_runs_a_target_for_the_time_asked(tmp_path):
    """tools/fuzz.sh without libFuzzer: the standalone driver, for about the seconds asked."""
    if compiler() is None:
        pytest.skip("no C compiler")
    listed = subprocess.run([str(ROOT / "tools" / "fuzz.sh"), "list"], capture_output=True,
                            text=True, check=True).stdout.split()
    assert listed == list(targets())
    (tmp_path / "corpus" / "ftp").mkdir(parents=True)   # no seed corpus to make
    env = {**os.environ, "FUZZ_ENGINE": "standalone", "FUZZ_BUILD": str(tmp_path),
           "CC": compiler()}
    done = subprocess.run([str(ROOT / "tools" / "fuzz.sh"), "ftp", "1"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    if done.returncode != 0 and "san" in done.stderr.lower() and "error:" in done.stderr:
        pytest.skip("no sanitizer runtime")
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"standalone: ok: \d+ executions", done.stdout)
    assert "fuzz_ftp: reached" in done.stderr


def test_seed_script_makes_a_corpus_for_every_target(tmp_path):
    """tools/fuzz_seeds.py --small: built seeds for every target, no samples needed."""
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz_seeds.py"), "--out",
                           str(tmp_path), "--small"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    for t in targets():
        assert len(list((tmp_path / t).iterdir())) >= 4, t
