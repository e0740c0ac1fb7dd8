"""The differential fuzzer: random rulesets and probes, the kernel as judge.

Each seed names a case (fuzz_cases.random_case): a ruleset over raw, mangle, nat and filter
and a few probes. The kernel loads the ruleset (chainwalk must refuse what it refuses and
accept what it loads), then every probe is judged as the hand-written ones are
(kernel_compare.judge): the rules whose counters rose, exactly, in every table; where the
connection landed, with which addresses and ports. The landing pod lets a TCP connection's
later packets through (Lab.use's open_return_path), so the landing shows where the first
packet went even when the ruleset would drop the answer.

A disagreement is shrunk to a smallest ruleset and one probe that still disagree, and the
test fails with it and the seed that replays it. The normal run takes the fixed seeds and
one fresh seed (in the test's id); ``CHAINWALK_FUZZ_SEED=N`` runs seed N alone and
``CHAINWALK_FUZZ_MORE=K`` adds K fresh seeds (a long run).
"""

from __future__ import annotations

import os
import random
from hashlib import sha256
from pathlib import Path

import pytest
from fuzz_cases import IDENTITIES, FuzzCase, FuzzProbe, random_case, shrink
from kernel_compare import judge
from kernel_probes import Probe, Ruleset
from netns import HarnessError, Lab

from chainwalk._errors import ChainwalkError
from chainwalk.netfilter import parse_text

pytestmark = pytest.mark.kernel

FIXED_SEEDS = tuple(range(1, 21))
PROBES_PER_CASE = 20


def _seeds() -> list[int]:
    replay = os.environ.get("CHAINWALK_FUZZ_SEED")
    if replay:
        return [int(replay)]
    fresh = random.SystemRandom()
    more = int(os.environ.get("CHAINWALK_FUZZ_MORE", "0"))
    return [*FIXED_SEEDS, *(fresh.randrange(1 << 32) for _ in range(1 + more))]


SEEDS = _seeds()


class _Judge:
    """Judges cases in one lab, writing each ruleset to a file chainwalk reads."""

    def __init__(self, lab: Lab, workdir: Path) -> None:
        self.lab = lab
        self.workdir = workdir

    def ruleset(self, case: FuzzCase) -> Ruleset:
        text = case.ruleset()
        path = self.workdir / f"fuzz-{case.seed}-{sha256(text.encode()).hexdigest()[:12]}.rules"
        path.write_text(text)
        return Ruleset(f"fuzz-{case.seed}", path, IDENTITIES)

    def load(self, case: FuzzCase) -> str | None:
        """Load the case's ruleset: None when both load it or both refuse it (then there is
        nothing to probe: ``case`` gets no probes judged), else the disagreement."""
        text = case.ruleset()
        try:
            parse_text(text)
            chainwalk_error = None
        except ChainwalkError as e:
            chainwalk_error = str(e)
        try:
            self.lab.use(text, 4, open_return_path=True)
        except HarnessError as e:
            if chainwalk_error is None:
                return f"the kernel refuses the ruleset, chainwalk reads it: {e}"
            return None
        if chainwalk_error is not None:
            return f"the kernel loads the ruleset, chainwalk refuses it: {chainwalk_error}"
        return None

    def probe(self, case: FuzzCase, fuzz_probe: FuzzProbe) -> str | None:
        """The disagreement on one probe, or None."""
        p = fuzz_probe
        probe = Probe(self.ruleset(case), p.hook, p.proto, p.dst, p.dport, p.who, p.src,
                      p.sport)  # type: ignore[arg-type]
        try:
            return judge(probe, self.lab, open_return_path=True)
        except pytest.fail.Exception as e:  # chainwalk failed on a ruleset the kernel loads
            return str(e)

    def disagreement(self, case: FuzzCase) -> str | None:
        """The first disagreement of a case (loading, then each probe), or None."""
        refused = self.load(case)
        if refused is not None or not self._loaded(case):
            return refused
        for fuzz_probe in case.probes:
            found = self.probe(case, fuzz_probe)
            if found is not None:
                return found
        return None

    def _loaded(self, case: FuzzCase) -> bool:
        try:
            parse_text(case.ruleset())
        except ChainwalkError:
            return False
        return True


def _report(seed: int, small: FuzzCase, found: str) -> str:
    probe = small.probes[0] if small.probes else None
    return "\n".join([
        f"seed {seed}: chainwalk and the kernel disagree; minimized case:",
        small.ruleset().rstrip("\n"),
        f"probe: {probe.describe() if probe else '(loading the ruleset)'}",
        found,
        f"replay: CHAINWALK_FUZZ_SEED={seed} pytest tests/kernel/test_kernel_fuzz.py",
    ])


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed-{s}" for s in SEEDS])
def test_chainwalk_agrees_with_the_kernel_on_random_rulesets(
        seed: int, lab: Lab, tmp_path: Path) -> None:
    case = random_case(seed, PROBES_PER_CASE)
    judge_ = _Judge(lab, tmp_path)
    refused = judge_.load(case)
    if refused is not None:
        small = shrink(FuzzCase(seed, case.tables, ()),
                       lambda c: judge_.load(c) is not None)
        pytest.fail(_report(seed, small, judge_.load(small) or refused), pytrace=False)
    if not judge_._loaded(case):
        return  # both refuse it: agreed, nothing to probe
    for fuzz_probe in case.probes:
        found = judge_.probe(case, fuzz_probe)
        if found is None:
            continue
        single = FuzzCase(seed, case.tables, (fuzz_probe,))
        small = shrink(single, lambda c: judge_.disagreement(c) is not None)
        pytest.fail(_report(seed, small, judge_.disagreement(small) or found), pytrace=False)
