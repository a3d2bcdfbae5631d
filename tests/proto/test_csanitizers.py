"""The C frame decoder and L7 extractors under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/csrc/decode_stress.c feeds every cut of the frames, hellos, heads and lines of the other
tests, then mutated, spliced and random variants of them, to every entry point, each input in
a heap buffer of exactly its size: any read past it, any undefined behaviour or leak fails."""
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.proto import test_cdecode, test_cl7

ROOT = Path(__file__).resolve().parents[2]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
FRAME, TLS, HTTP, FTP = 1, 2, 3, 4


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def corpus_items() -> list[tuple[int, bytes]]:
    items = [(FRAME, f) for f, _, _ in test_cdecode.CASES.values()]
    items += [(FRAME, f) for f, _ in test_cdecode.TRUNCATION_FRAMES.values()]
    items += [(TLS, data) for data, _ in test_cl7.HELLOS.values()]
    items += [(TLS, data) for data in test_cl7.MALFORMED_HELLOS.values()]
    items += [(HTTP, test_cl7.REQUEST), (HTTP, test_cl7.RESPONSE)]
    items += [(FTP, line) for line, _, _ in test_cl7.FTP_LINES]
    return items


@pytest.fixture(scope="module")
def stress(tmp_path_factory):
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler")
    tmp = tmp_path_factory.mktemp("asan")
    out = tmp / "decode_stress"
    cmd = [cc, "-std=gnu11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", *SANITIZE,
           "-I", str(ROOT / "csrc"), str(ROOT / "tests/csrc/decode_stress.c"),
           str(ROOT / "csrc/decode.c"), str(ROOT / "csrc/l7.c"), "-o", str(out)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    if build.returncode != 0 and "san" in build.stderr.lower():
        pytest.skip(f"no sanitizer runtime: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    corpus = tmp / "corpus.bin"
    corpus.write_bytes(b"".join(struct.pack("<BI", kind, len(data)) + data
                                for kind, data in corpus_items()))
    return out, corpus


@pytest.mark.parametrize("seed", ["0x9E3779B97F4A7C15", "12345", "0xDEADBEEF"])
def test_stress_under_sanitizers(stress, seed):
    binary, corpus = stress
    env = {**os.environ, "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1",
           "UBSAN_OPTIONS": "print_stacktrace=1"}
    run = subprocess.run([str(binary), str(corpus), "20000", seed], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "decode_stress: ok" in run.stdout
