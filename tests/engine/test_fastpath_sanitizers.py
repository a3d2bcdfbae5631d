"""The fast path's C code under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/csrc/flow_stress.c drives random flow operations and batches of well-formed, truncated,
mutated and random frames (each batch's buffer ends where its last frame does) against a model
of the rules; any out-of-bounds access, leak, undefined behaviour or disagreement fails."""
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


@pytest.fixture(scope="module")
def stress_binary(tmp_path_factory):
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("asan") / "flow_stress"
    aes = ["-maes"] if platform.machine().lower() in ("x86_64", "amd64") else []
    cmd = [cc, "-std=gnu11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", *SANITIZE, *aes,
           "-I", str(ROOT / "csrc"), str(ROOT / "tests/csrc/flow_stress.c"),
           str(ROOT / "csrc/flow.c"), str(ROOT / "csrc/mem.c"), "-o", str(out)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    if build.returncode != 0 and "san" in build.stderr.lower():
        pytest.skip(f"no sanitizer runtime: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    return out


@pytest.mark.parametrize("seed", ["0x9E3779B97F4A7C15", "12345", "0xDEADBEEF"])
def test_stress_under_sanitizers(stress_binary, seed):
    env = {**os.environ, "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1",
           "UBSAN_OPTIONS": "print_stacktrace=1"}
    run = subprocess.run([str(stress_binary), "300", seed], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "flow_stress: ok" in run.stdout
