"""The capture walks' C code under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/csrc/capwalk_stress.c walks random, mutated and truncated pcap and pcapng captures, each
in a heap buffer of exactly its size and with columns of exactly the room promised, once whole
and once in stream windows: any out-of-bounds access, leak, undefined behaviour, frame outside
its record, or disagreement between the two walks fails."""
import pytest

from tests.sanitizers import SEEDS, build, run


@pytest.fixture(scope="module")
def stress_binary(tmp_path_factory):
    return build(tmp_path_factory.mktemp("asan"), "capwalk_stress", ["capwalk.c"])


@pytest.mark.parametrize("seed", SEEDS)
def test_stress_under_sanitizers(stress_binary, seed):
    done = run(stress_binary, "30000", seed)
    assert done.returncode == 0, done.stderr[-4000:]
    # every way a walk can stop on bad bytes was met, so the random captures reach them all
    assert "capwalk_stress: ok" in done.stdout and "14 of 14 kinds of stop" in done.stdout
