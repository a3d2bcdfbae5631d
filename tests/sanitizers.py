"""Building and running C test drivers under AddressSanitizer and UndefinedBehaviorSanitizer:
one recipe for every sanitizer test (the table, the decoders, the fast path)."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
SEEDS = ["0x9E3779B97F4A7C15", "12345", "0xDEADBEEF"]


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def build(out_dir: Path, driver: str, sources: list[str], libs: tuple[str, ...] = ()) -> Path:
    """Compile tests/csrc/<driver>.c with csrc/<sources> (and -l<libs>) under the
    sanitizers; skip the test when there is no compiler or no sanitizer runtime."""
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler")
    out = out_dir / driver
    aes = ["-maes"] if platform.machine().lower() in ("x86_64", "amd64") else []
    cmd = [cc, "-std=gnu11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", *SANITIZE, *aes,
           "-I", str(ROOT / "csrc"), str(ROOT / "tests" / "csrc" / f"{driver}.c"),
           *(str(ROOT / "csrc" / s) for s in sources), *(f"-l{lib}" for lib in libs),
           "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 and "san" in done.stderr.lower():
        pytest.skip(f"no sanitizer runtime: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr
    return out


def run(binary: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1",
           "UBSAN_OPTIONS": "print_stacktrace=1"}
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env,
                          timeout=300)
