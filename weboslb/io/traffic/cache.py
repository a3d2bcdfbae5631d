"""The benchmark's capture, made once per generator version and kept in the user's cache."""
from __future__ import annotations

import os
from pathlib import Path

from weboslb.io.traffic.captures import bench_capture

VERSION = 1  # of what the generators write: part of the cached capture's name


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/weboslb`` (an absolute XDG_CACHE_HOME only), else ~/.cache/weboslb."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "weboslb"


def cached_bench_capture(packets: int = 1_000_000, seed: int = 1) -> Path:
    """The benchmark capture for ``packets`` and ``seed``, made once per generator version
    and kept in the cache directory; captures of other versions are removed."""
    directory = cache_dir()
    path = directory / f"bench-v{VERSION}-{packets}-s{seed}.pcap"
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("bench-v*-*-s*.pcap"):
        if not old.name.startswith(f"bench-v{VERSION}-"):
            try:
                old.unlink()
            except OSError:
                pass
    bench_capture(path, packets=packets, seed=seed)  # written beside, then renamed: atomic
    return path
