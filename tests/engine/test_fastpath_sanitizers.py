"""The fast path's C code under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/csrc/flow_stress.c drives random flow operations and batches of well-formed, truncated,
mutated and random frames (each batch's buffer ends where its last frame does) against a model
of the rules; any out-of-bounds access, leak, undefined behaviour or disagreement fails.
tests/csrc/eng_stress.c drives the engine the same way with whole conversations (TLS hellos,
HTTP heads and cookies split, reordered, cut and mutated), sweeps, takeovers and DAM ports,
checking the engine's invariants after every step."""
import pytest

from tests.sanitizers import SEEDS, build, run


@pytest.fixture(scope="module")
def stress_binary(tmp_path_factory):
    return build(tmp_path_factory.mktemp("asan"), "flow_stress", ["flow.c", "mem.c"])


@pytest.mark.parametrize("seed", SEEDS)
def test_stress_under_sanitizers(stress_binary, seed):
    done = run(stress_binary, "300", seed)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "flow_stress: ok" in done.stdout


@pytest.fixture(scope="module")
def engine_binary(tmp_path_factory):
    return build(tmp_path_factory.mktemp("asan"), "eng_stress",
                 ["eng.c", "eng_farm.c", "eng_l7.c", "flow.c", "pst.c", "l7.c", "mem.c"],
                 libs=("m",))


@pytest.mark.parametrize("seed", SEEDS)
def test_engine_stress_under_sanitizers(engine_binary, seed):
    done = run(engine_binary, "3000", seed)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "eng_stress: ok" in done.stdout
