"""The C frame decoder and L7 extractors under AddressSanitizer and UndefinedBehaviorSanitizer.

tests/csrc/decode_stress.c feeds every cut of the frames, hellos, heads and lines of the other
tests, then mutated, spliced and random variants of them, to every entry point, each input in
a heap buffer of exactly its size: any read past it, any undefined behaviour or leak fails."""
import struct

import pytest

from tests.proto import test_cdecode, test_cl7
from tests.sanitizers import SEEDS, build, run

FRAME, TLS, HTTP, FTP = 1, 2, 3, 4


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
    tmp = tmp_path_factory.mktemp("asan")
    binary = build(tmp, "decode_stress", ["decode.c", "l7.c"])
    corpus = tmp / "corpus.bin"
    corpus.write_bytes(b"".join(struct.pack("<BI", kind, len(data)) + data
                                for kind, data in corpus_items()))
    return binary, corpus


@pytest.mark.parametrize("seed", SEEDS)
def test_stress_under_sanitizers(stress, seed):
    binary, corpus = stress
    done = run(binary, str(corpus), "20000", seed)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "decode_stress: ok" in done.stdout
