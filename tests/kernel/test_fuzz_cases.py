"""The fuzzer's own parts, without the kernel: a seed names one case, and shrinking keeps
what makes a case fail and nothing else."""

from __future__ import annotations

from fuzz_cases import FuzzCase, random_case, shrink


def test_a_seed_names_one_case() -> None:
    assert random_case(7, 5) == random_case(7, 5)
    assert random_case(7, 5).ruleset() != random_case(8, 5).ruleset()
    assert len(random_case(7, 5).probes) == 5


def _drops_by_address(case: FuzzCase) -> bool:
    return any("-j DROP" in rule.target and any("-d " in part for part in rule.parts)
               for table in case.tables for rule in table.rules)


def test_shrinking_keeps_only_what_fails() -> None:
    seed = next(s for s in range(1, 500) if _drops_by_address(random_case(s, 1)))
    small = shrink(random_case(seed, 1), _drops_by_address, budget=10_000)
    assert _drops_by_address(small)
    (table,) = small.tables
    (rule,) = table.rules
    assert len(rule.parts) == 1 and "-d " in rule.parts[0]
    assert all(policy == "ACCEPT" for _, policy in table.policies)
