"""The one ruleset cache: parsed once per file content, one model per file, bounded."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainwalk import ChainwalkError, _ruleset_cache
from chainwalk._ruleset_cache import DerivedCache, load_rules, load_ruleset
from chainwalk.netfilter import Ruleset

RULES = Path(__file__).resolve().parents[1] / "rules" / "rulesets"
CURRENT = (RULES / "current.rules").read_text(encoding="utf-8")
NO_ADDRESSES = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" \
    "-A OUTPUT -p tcp -j REJECT\nCOMMIT\n"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths the cache parses, in order (the cache starts empty)."""
    _ruleset_cache.clear()
    seen: list[str] = []
    real = _ruleset_cache.parse_text

    def counting(text: str, path: str = "<input>", family: int | None = None) -> Ruleset:
        seen.append(path)
        return real(text, path, family)

    monkeypatch.setattr(_ruleset_cache, "parse_text", counting)
    yield seen
    _ruleset_cache.clear()


def models_of(path: Path) -> int:
    """How many parsed models of ``path`` are alive."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Ruleset) and o.source == str(path))


def test_a_file_is_parsed_once_per_content(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "r.rules"
    path.write_text(CURRENT)
    first = load_ruleset(str(path), 4)
    assert load_ruleset(str(path), 4) is first
    stat = path.stat()
    # Same size and modification time, other content: the content decides.
    path.write_text(CURRENT.replace("15090", "15091"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = load_ruleset(str(path), 4)
    assert changed is not first
    inbound = changed.chain("nat", "ISTIO_INBOUND")
    assert inbound is not None and "15091" in " ".join(r.spec for r in inbound.rules)
    assert parses == [str(path), str(path)]


def test_a_new_version_of_a_file_replaces_the_old_one(tmp_path: Path,
                                                       parses: list[str]) -> None:
    path = tmp_path / "r.rules"
    for save in range(5):
        path.write_text(CURRENT.replace("15090", str(20000 + save)))
        load_ruleset(str(path), 4)
    assert models_of(path) == 1
    assert len(parses) == 5


def test_at_most_kept_files_are_kept(tmp_path: Path, parses: list[str]) -> None:
    paths = [tmp_path / f"{n}.rules" for n in range(_ruleset_cache.KEPT + 1)]
    for path in paths:
        path.write_text(CURRENT)
        load_ruleset(str(path), 4)
    load_ruleset(str(paths[-1]), 4)  # still kept
    load_ruleset(str(paths[0]), 4)  # the least recently used: parsed again
    assert parses == [*map(str, paths), str(paths[0])]
    assert models_of(paths[1]) == 0


def test_a_file_that_does_not_parse_is_not_parsed_again(tmp_path: Path,
                                                         parses: list[str]) -> None:
    path = tmp_path / "bad.rules"
    path.write_text("*nat\n-A NOWHERE -j RETURN\nCOMMIT\n")
    for _ in range(3):
        with pytest.raises(ChainwalkError, match=f"{path}:2"):
            load_ruleset(str(path), 4)
    assert parses == [str(path)]


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.rules"
    path.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ChainwalkError, match=r"latin1.rules:1:6: invalid UTF-8"):
        load_ruleset(str(path))
    with pytest.raises(ChainwalkError, match="cannot read the ruleset"):
        load_ruleset(str(tmp_path / "missing.rules"))


def test_one_model_serves_the_family_asked_for_and_the_family_read(
        tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "r.rules"
    path.write_text(CURRENT)
    assert load_ruleset(str(path)) is load_ruleset(str(path), 4)
    assert parses == [str(path)]


def test_a_file_without_addresses_is_what_the_family_makes_it(tmp_path: Path,
                                                               parses: list[str]) -> None:
    path = tmp_path / "r.rules"
    path.write_text(NO_ADDRESSES)
    six = load_ruleset(str(path), 6)
    read = load_ruleset(str(path))
    assert (six.family, read.family) == (6, 4)
    assert six != read  # REJECT's default reply differs between the families


def test_values_computed_from_a_model_go_when_it_leaves_the_cache(tmp_path: Path,
                                                                   parses: list[str]) -> None:
    path = tmp_path / "r.rules"
    path.write_text(CURRENT)
    derived: DerivedCache[str, Ruleset] = DerivedCache(8)
    derived.put("model", load_ruleset(str(path), 4))
    assert derived.get("model") is load_ruleset(str(path), 4)
    path.write_text(CURRENT.replace("15090", "15091"))
    load_ruleset(str(path), 4)
    assert derived.get("model") is None
    assert models_of(path) == 1


def test_a_derived_cache_is_bounded() -> None:
    derived: DerivedCache[int, int] = DerivedCache(3)
    for n in range(10):
        derived.put(n, n)
    assert len(derived.values) <= 3
    assert derived.get(9) == 9


def test_only_a_regular_file_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.rules"
    os.mkfifo(fifo)
    with pytest.raises(ChainwalkError, match=r"cannot read the ruleset .*: it is a FIFO"):
        load_ruleset(str(fifo))


def test_a_file_of_either_format_is_read_and_decoded_once(
        tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    read, decode = _ruleset_cache.read_bytes, _ruleset_cache.decode

    def reading(path: str, *args: object, **kwargs: object) -> bytes:
        calls.append("read")
        return read(path, *args, **kwargs)  # type: ignore[arg-type]

    def decoding(data: bytes, shown: str) -> str:
        calls.append("decode")
        return decode(data, shown)

    monkeypatch.setattr(_ruleset_cache, "read_bytes", reading)
    monkeypatch.setattr(_ruleset_cache, "decode", decoding)
    iptables, nft = tmp_path / "r.rules", tmp_path / "r.nft"
    iptables.write_text(CURRENT)
    nft.write_text("table inet t {\n  chain out { type filter hook output priority 0; }\n}\n")
    first = load_rules(str(iptables))
    assert calls == ["read", "decode"] and parses == [str(iptables)]
    calls.clear()
    assert load_rules(str(iptables)) is first and load_ruleset(str(iptables)) is first
    assert calls == ["read", "read"]  # cached bytes: nothing decoded, nothing parsed again
    calls.clear()
    model = load_rules(str(nft))
    assert not isinstance(model, Ruleset) and calls == ["read", "decode"]
    calls.clear()
    assert load_rules(str(nft)) is model and calls == ["read"]
    assert parses == [str(iptables)]


def test_a_cached_error_is_raised_again_by_either_loader(tmp_path: Path,
                                                         parses: list[str]) -> None:
    path = tmp_path / "bad.rules"
    path.write_text("*nat\n-A NOWHERE -j RETURN\nCOMMIT\n")
    for load in (load_rules, load_ruleset, load_rules):
        with pytest.raises(ChainwalkError, match=f"{path}:2"):
            load(str(path))
    assert parses == [str(path)]
