"""The rules folder as the views read it: rulesets, annotations, scenario files and the
journeys they lead to, each computed once per version of the files it read.

Every computation runs under :meth:`Project.memo`, which records the files it read
(and the files read by the computations it called) and keeps the result, or the
error, until one of those files changes. A file's version is its SHA-256, computed
again only when its size or modification time changes; ``begin_build`` forgets the
modification times seen, so each build looks at the folder afresh and an unchanged
input is never evaluated twice, however many builds a ``mkdocs serve`` session runs.
It also forgets the results that the build before did not use (a block that was edited
or removed, a renamed scenario), so a long session keeps only what its pages show.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from .._errors import ChainwalkError, Location, Problem
from .._files import confine, read_text
from .._ruleset_cache import load_rules, load_ruleset
from .._versions import digest
from ..journey import Journey, Scenario, check_scenario, load_scenarios, run_scenario
from ..netfilter import Ruleset
from ..netfilter._nft_model import NftRuleset
from ..render import EMPTY, Annotations
from ..render._blocks import NFT_SUFFIX
from ._annotations import read_annotations

T = TypeVar("T")
RULESETS = "rulesets"
SCENARIOS = "scenarios"
SCENARIO_SUFFIXES = (".yaml", ".yml")


def is_nft(name: str) -> bool:
    """Whether a block's ruleset name (``current.nft``) names an nftables ruleset."""
    return name.endswith(NFT_SUFFIX)


@dataclass(slots=True)
class _Entry:
    """A computation's result (or error), the version of each file it read and the
    computations it called."""

    deps: tuple[tuple[str, str | None], ...]
    value: Any
    error: ChainwalkError | None
    calls: tuple[tuple[Any, ...], ...]


class Project:
    """Inputs under ``rules_dir``; paths in messages are shown relative to ``root``."""

    def __init__(self, rules_dir: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
        self.rules_dir = Path(rules_dir).resolve()
        self.root = Path(root).resolve()
        self._versions: dict[str, tuple[int, int, str]] = {}
        self._seen: dict[str, str | None] = {}
        self._paths: dict[tuple[str, str, str], str] = {}  # _inside's answers, this build
        self._memo: dict[tuple[Any, ...], _Entry] = {}
        self._reads: set[str] = set()
        self._calls: set[tuple[Any, ...]] = set()  # what the running computation called
        self._used: set[tuple[Any, ...]] = set()  # what this build used
        self.evaluations = 0  # how many computations ran (not served from the memo)

    # -- files and their versions ---------------------------------------------
    def begin_build(self) -> None:
        """Look at the files afresh, and forget what the last build did not use (call
        once per build)."""
        self._seen = {}
        self._paths = {}
        if self._used:
            self._memo = {k: e for k, e in self._memo.items() if k in self._used}
        self._used = set()

    def version(self, path: str) -> str | None:
        """The file's SHA-256 (``None``: missing), computed when its size or mtime changes."""
        if path in self._seen:
            return self._seen[path]
        try:
            st = os.stat(path)
        except OSError:
            self._versions.pop(path, None)
            self._seen[path] = None
            return None
        known = self._versions.get(path)
        if known is None or known[:2] != (st.st_mtime_ns, st.st_size):
            known = (st.st_mtime_ns, st.st_size, digest(path))
            self._versions[path] = known
        self._seen[path] = known[2]
        return known[2]

    def versions_read(self) -> dict[str, str | None]:
        """The version of every file and folder this build looked at: all it depends on."""
        return dict(self._seen)

    def touch(self, path: str) -> None:
        """Record that the running computation depends on ``path``."""
        self._reads.add(path)

    def shown(self, path: str) -> str:
        """``path`` relative to the project root, for messages."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path

    def relocate(self, problem: Problem) -> Problem:
        """``problem`` with its paths (location and message) relative to the root."""
        loc = problem.location
        prefix = str(self.root) + os.sep
        return replace(problem, location=replace(loc, path=self.shown(loc.path)),
                       message=problem.message.replace(prefix, ""))

    def memo(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """``compute()`` once per version of the files it reads."""
        self._calls.add(key)
        entry = self._memo.get(key)
        if entry is not None and all(self.version(p) == v for p, v in entry.deps):
            self._reads.update(p for p, _ in entry.deps)
            self._use(key)
            if entry.error is not None:
                raise entry.error
            return entry.value  # type: ignore[no-any-return]
        outer, self._reads = self._reads, set()
        outer_calls, self._calls = self._calls, set()
        value: Any = None
        error: ChainwalkError | None = None
        self.evaluations += 1
        try:
            value = compute()
        except ChainwalkError as e:
            error = ChainwalkError([self.relocate(p) for p in e.problems])
        finally:  # whatever it raised, the computation that called this one goes on
            reads, calls = self._reads, self._calls
            self._reads, self._calls = outer | reads, outer_calls
        self._memo[key] = _Entry(tuple((p, self.version(p)) for p in sorted(reads)), value,
                                 error, tuple(calls))
        self._used.add(key)
        if error is not None:
            raise error
        return value  # type: ignore[no-any-return]

    def _use(self, key: tuple[Any, ...]) -> None:
        """Mark ``key`` used by this build, and what it called (a result taken from the
        memo keeps the results it was computed from)."""
        waiting = [key]
        while waiting:
            found = waiting.pop()
            if found not in self._used:
                self._used.add(found)
                entry = self._memo.get(found)
                if entry is not None:
                    waiting.extend(entry.calls)

    def _all_files(self) -> list[str]:
        found: list[str] = []
        for folder, dirs, files in os.walk(self.rules_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(folder, f) for f in sorted(files)
                         if not f.startswith("."))
        return found

    def _read(self, path: str, what: str) -> str:
        self.touch(path)
        shown = self.shown(path)
        if self.version(path) is None:
            raise ChainwalkError([Problem(Location(shown, 0), f"no {what} file {shown}")])
        return read_text(path, shown, what)

    # -- paths ----------------------------------------------------------------
    def _inside(self, folder: str, stem: str, suffix: str) -> str:
        found = self._paths.get((folder, stem, suffix))
        if found is not None:
            return found
        base = self.rules_dir / folder
        path = confine(f"{stem}{suffix}", base, self.rules_dir,
                       Location(self.shown(str(base)), 0))
        self._paths[(folder, stem, suffix)] = found = str(path)
        return found

    def ruleset_path(self, stem: str) -> str:
        """``rulesets/STEM.rules``, or ``rulesets/NAME.nft`` for a name with that suffix."""
        return self._inside(RULESETS, stem, "" if is_nft(stem) else ".rules")

    def scenario_file(self, stem: str) -> str:
        for suffix in SCENARIO_SUFFIXES:
            path = self._inside(SCENARIOS, stem, suffix)
            if self.version(path) is not None:
                return path
        return self._inside(SCENARIOS, stem, SCENARIO_SUFFIXES[0])

    def ruleset_stems(self) -> list[str]:
        folder = self.rules_dir / RULESETS
        self.touch(str(folder))
        return sorted(p.stem for p in folder.glob("*.rules")) if folder.is_dir() else []

    def topology_stems(self) -> list[str]:
        folder = self.rules_dir / SCENARIOS
        self.touch(str(folder))
        if not folder.is_dir():
            return []
        return sorted({p.stem for p in folder.iterdir() if p.suffix in SCENARIO_SUFFIXES
                       and not p.name.startswith(".")})

    # -- inputs ---------------------------------------------------------------
    def ruleset(self, stem: str) -> Ruleset:
        if is_nft(stem):
            raise ChainwalkError([Problem(Location(self.shown(self.ruleset_path(stem)), 0),
                                          f"{stem} is an nftables ruleset; this reads "
                                          "iptables rulesets only", stem,
                                          "an iptables ruleset's stem, e.g. current")])
        return self.ruleset_at(self.ruleset_path(stem))

    def nft_ruleset(self, name: str) -> NftRuleset:
        """The nftables ruleset ``rulesets/NAME`` (``name`` ends with ``.nft``)."""
        path = self.ruleset_path(name)

        def parse() -> NftRuleset:
            self.touch(path)
            shown = self.shown(path)
            if self.version(path) is None:
                raise ChainwalkError([Problem(Location(shown, 0), f"no ruleset file {shown}")])
            found = load_rules(path)
            if not isinstance(found, NftRuleset):
                raise ChainwalkError([Problem(Location(shown, 1), f"{shown} holds iptables "
                                              "rules", "iptables-save output",
                                              "nftables rules (nft -f input or nft list "
                                              "ruleset output)")])
            return found
        return self.memo(("nft ruleset", path), parse)

    def ruleset_at(self, path: str) -> Ruleset:
        def parse() -> Ruleset:
            self.touch(path)
            if self.version(path) is None:
                raise ChainwalkError([Problem(Location(self.shown(path), 0),
                                              f"no ruleset file {self.shown(path)}")])
            return load_ruleset(path)
        return self.memo(("ruleset", path), parse)

    def annotations(self, stem: str) -> Annotations:
        # (Its own path, confined: a symlink to a file outside is refused, like a ruleset.)
        path = self._inside(RULESETS, stem, ".annotations.yaml")

        def parse() -> Annotations:
            self.touch(path)
            if self.version(path) is None:
                return EMPTY
            return read_annotations(self._read(path, "annotation"), self.shown(path))
        return self.memo(("annotations", path), parse)

    def scenarios(self, stem: str) -> list[Scenario]:
        """The scenarios of ``rules/scenarios/<stem>.yaml``, in file order."""
        path = self.scenario_file(stem)

        def load() -> list[Scenario]:
            self.touch(path)
            if self.version(path) is None:
                raise ChainwalkError([Problem(Location(self.shown(path), 0),
                                              f"no scenario file {self.shown(path)}")])
            try:
                found: list[Scenario] = load_scenarios(path)
            except ChainwalkError:
                for other in self._all_files():  # the error may be in any file it read
                    self.touch(other)
                raise
            for scenario in found:
                for pod in scenario.topology.pods:
                    for dep in (pod.ruleset_path, pod.ruleset6_path,
                                *(pod.routing_paths or ())):
                        if dep:
                            self.touch(dep)
            return found
        return self.memo(("scenarios", path), load)

    def scenario(self, scenario_id: str) -> Scenario:
        stem, _, name = scenario_id.partition("/")
        found = self.scenarios(stem)
        for scenario in found:
            if scenario.name == name:
                return scenario
        names = ", ".join(s.name for s in found)
        raise ChainwalkError([Problem(Location(self.shown(self.scenario_file(stem)), 0),
                                      f"no scenario {name!r} in {stem}", name,
                                      f"one of {names}")])

    def journey(self, scenario: Scenario, swap: tuple[str, str] | None = None) -> Journey:
        """The scenario's journey; with ``swap=(a, b)``, pods whose ruleset file is ``a``
        use ``b`` instead (what the diff view asks)."""
        def run() -> Journey:
            self.scenarios(scenario.id.partition("/")[0])  # depend on the file and rules
            if swap is None:
                return run_scenario(scenario)
            pods = tuple(replace(p, ruleset_path=swap[1]) if p.ruleset_path == swap[0] else p
                         for p in scenario.topology.pods)
            for dep in swap:
                self.touch(dep)
            return run_scenario(replace(scenario, topology=replace(scenario.topology,
                                                                   pods=pods)))
        return self.memo(("journey", scenario.id, swap), run)

    def expectation_problems(self, scenario: Scenario) -> list[Problem]:
        def check() -> list[Problem]:
            return [self.relocate(p) for p in check_scenario(scenario,
                                                             self.journey(scenario))]
        return self.memo(("check", scenario.id), check)
