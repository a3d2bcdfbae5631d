"""The C table under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/csrc/pst_stress.c drives random operations (and bad arguments) on every key kind with
exactly-sized buffers; any out-of-bounds access, leak or undefined behaviour fails the run."""
import pytest

from tests.sanitizers import SEEDS, build, run


@pytest.fixture(scope="module")
def stress_binary(tmp_path_factory):
    return build(tmp_path_factory.mktemp("asan"), "pst_stress", ["pst.c", "mem.c"])


@pytest.mark.parametrize("seed", SEEDS)
def test_stress_under_sanitizers(stress_binary, seed):
    done = run(stress_binary, "1500", seed)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "pst_stress: ok" in done.stdout
