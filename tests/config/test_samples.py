"""The real Alteon files in ../shared/samples/alteon-configs: they load, they round-trip without
loss, and the one that is not a configuration dump says so in one line."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.helpers import SAMPLES
from weboslb.config import dump, yamlio

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared samples are absent")

CONFIG_DUMPS = ["GENERATED_Radware_F5-to-Alteon-Migrator_sample01.cfg",
                "netopsify_alteon-config-parser.cfg"]
INFO_DUMP = "netopsify_alteon-dump-parser_info-slb-dump.txt"


def sample(name: str) -> str:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"{name} is absent")
    return path.read_text()


def _words(text: str) -> set[str]:
    """Every command word and argument of a dump, without quotes and layout."""
    from weboslb.config.syntax import split_steps, tokenize

    out: set[str] = set()
    for line in text.splitlines():
        if line.strip() and not line.startswith(("/*", "script ")):
            for step in split_steps(line.strip()):
                out.update(w for w in tokenize(step) if w not in ("c", "cfg"))
    return out


@pytest.mark.parametrize("name", CONFIG_DUMPS)
def test_config_dumps_load_and_round_trip(name: str) -> None:
    text = sample(name)
    loaded = dump.read(text)
    assert loaded.config is not None and loaded.errors == []
    first = dump.write(loaded.config)
    again = dump.read(first)
    assert again.errors == [] and again.config == loaded.config
    assert dump.write(again.config) == first
    via_yaml = yamlio.read(yamlio.write(loaded.config))
    assert via_yaml.problems == [] and via_yaml.config == loaded.config
    # nothing is lost: every word of the original is still in the output, except the default
    # the writer leaves out, "ipver v4"
    assert _words(text) - _words(first) <= {"ipver", "v4"}


def test_radware_sample_keeps_its_unmodelled_sections() -> None:
    cfg = dump.read(sample(CONFIG_DUMPS[0])).config
    assert cfg is not None
    firsts = [b.splitlines()[0] for b in cfg.verbatim]
    assert "/c/slb/advhc/health http_basic HTTP" in firsts
    assert "/c/l3/route/ip4/add 10.10.30.0 255.255.255.0 10.10.20.1" in firsts
    assert cfg.slb.real["app01"].extra == ["shut psession"]
    assert cfg.slb.virt["vs_web_http"].service[80].extra == ["http/xforward ena"]
    assert cfg.slb.group["web_pool"].reals == ["web01", "web02"]
    assert cfg.slb.virt["vs_web_http"].service[80].ptmout == 30


def test_netopsify_sample_keeps_certificates_and_one_liners() -> None:
    cfg = dump.read(sample(CONFIG_DUMPS[1])).config
    assert cfg is not None
    pem = [b for b in cfg.verbatim if "-----BEGIN CERTIFICATE REQUEST-----" in b]
    assert len(pem) == 1 and pem[0].endswith("-----END CERTIFICATE REQUEST-----")
    assert cfg.slb.virt[1].service[1].pbind.mode == "sslid"  # from the one-line pbind
    assert cfg.slb.virt[2].service[443].group == 2


def test_info_dump_is_refused_in_one_line() -> None:
    loaded = dump.read(sample(INFO_DUMP))
    assert loaded.config is None
    assert [p.text(INFO_DUMP) for p in loaded.problems] == [
        f"{INFO_DUMP}:2: error: this is /info/slb/dump output (operational state), not a "
        "configuration dump"]


def test_samples_dir_is_computed_from_the_repo() -> None:
    assert SAMPLES.resolve() == (Path(__file__).resolve().parents[3] / "shared" / "samples"
                                 / "alteon-configs").resolve()
