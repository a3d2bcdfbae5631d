"""The mirror's batch calls in C under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/csrc/pst_wire_stress.c copies a changing table to a learner with pst_export,
pst_export_journal, pst_import and the sweep, checks that the learner holds exactly the
teacher's live bindings after each drain, and feeds pst_import short, bit-flipped and random
blocks in exactly-sized buffers: any out-of-bounds access, leak or undefined behaviour fails."""
import pytest

from tests.sanitizers import SEEDS, build, run


@pytest.fixture(scope="module")
def stress_binary(tmp_path_factory):
    return build(tmp_path_factory.mktemp("asan"), "pst_wire_stress", ["pst.c", "mem.c"])


@pytest.mark.parametrize("seed", SEEDS)
def test_wire_stress_under_sanitizers(stress_binary, seed):
    done = run(stress_binary, "1500", seed)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "pst_wire_stress: ok" in done.stdout
