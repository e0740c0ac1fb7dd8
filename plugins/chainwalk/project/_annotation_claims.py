"""What an annotation file claims, checked against the rules and the computed journeys.

Beyond naming a rule of the ruleset (``drift``), three fields of an annotation state
facts, and each is checked:

- ``scenario``: the scenario's journey meets the rule (the rule matches the first packet
  of one of its connections, in a pod that uses the ruleset);
- ``steps``: the numbers the article's figure gives the rule's moves are the computed
  ones: the moves, inside the pod they share, of the journeys of the file's
  ``article: {figure: [...]}`` scenarios, numbered as the ``overview`` view numbers
  them (the move into the rule's chain, then the rule's own move, each time);
- ``article``: rule N of the article's chain (``article: {rules: RULESET TABLE CHAIN}``)
  is this rule, or this rule narrowed by more criteria: same chain name, same target,
  and every criterion of the article's rule among this rule's.

Every problem of the file is reported, the format's with the claims'.
"""

from __future__ import annotations

from .._errors import ChainwalkError, Location, Problem
from ..journey import Journey
from ..netfilter import Rule, Ruleset
from ..render import Annotation, Annotations, computed_steps, moves_in_pod, shared_pod, traces_with
from ._annotations import REFS, drift
from ._project import Project


def annotation_problems(project: Project, stem: str) -> list[Problem]:
    """Every problem of ``rulesets/STEM.annotations.yaml``: its format, drift, and each
    claim that does not hold. Raises :class:`ChainwalkError` when the ruleset or the
    annotation file cannot be read at all."""
    ruleset = project.ruleset(stem)
    notes = project.annotations(stem)
    drifted = drift(notes, ruleset)
    problems = list(notes.problems) + [project.relocate(p) for p in drifted]
    gone = {p.location for p in drifted}
    live = [note for _, note in sorted(notes.notes.items()) if note.location not in gone]
    path = project.ruleset_path(stem)
    for note in live:
        if note.scenario:
            problems.extend(_scenario_claim(project, path, note))
    problems.extend(_steps_claims(project, path, notes, [n for n in live if n.steps]))
    problems.extend(_article_claims(project, notes, ruleset, [n for n in live if n.article]))
    return problems


def _journey(project: Project, scenario_id: str,
             where: Location) -> tuple[Journey | None, list[Problem]]:
    """The journey of ``scenario_id``, or the problem with naming it (none when the
    scenario file itself is broken: the check of the scenario files reports that)."""
    stem, _, _ = scenario_id.partition("/")
    if stem not in project.topology_stems():
        return None, [Problem(where, "the annotation names an unknown scenario", scenario_id,
                              "an id such as bookinfo/inbound (files: "
                              + ", ".join(project.topology_stems()) + ")")]
    try:
        project.scenarios(stem)
    except ChainwalkError:
        return None, []
    try:
        scenario = project.scenario(scenario_id)
    except ChainwalkError as e:
        return None, [Problem(where, "the annotation names an unknown scenario", scenario_id,
                              e.problems[0].expected or "a scenario id")]
    try:
        return project.journey(scenario), []
    except ChainwalkError:
        return None, []  # reported with the scenario's own checks


def _scenario_claim(project: Project, path: str, note: Annotation) -> list[Problem]:
    where = note.where("scenario") or note.location or Location("", 0)
    journey, problems = _journey(project, note.scenario, where)
    if journey is None:
        return problems
    scenario = project.scenario(note.scenario)
    for _, trace in traces_with(scenario, journey, path, edited=True):
        for step in trace.steps:
            if step.hit and (step.table, step.chain, step.text) == \
                    (note.table, note.chain, note.spec):
                return []
    return [Problem(where, f"the scenario's journey never meets this rule ({note.table} "
                    f"{note.chain}: {note.spec})", note.scenario,
                    "a scenario whose journey the rule matches")]


def _steps_claims(project: Project, path: str, notes: Annotations,
                  stepped: list[Annotation]) -> list[Problem]:
    if not stepped:
        return []
    refs = notes.refs
    if refs is None or not refs.figure:
        first = stepped[0]
        return [Problem(first.where("steps") or Location(notes.path, 0),
                        "steps need the journeys the figure numbers", None,
                        f"a top-level '{REFS}: {{figure: [SCENARIO, SCENARIO]}}' entry")]
    where = refs.location or Location(notes.path, 0)
    journeys = []
    problems: list[Problem] = []
    for scenario_id in refs.figure:
        journey, found = _journey(project, scenario_id, where)
        problems.extend(found)
        if journey is not None:
            journeys.append(journey)
    if problems or len(journeys) != len(refs.figure):
        return problems
    pod_name = refs.pod or (shared_pod(*journeys) if len(journeys) == 2 else None) or \
        (journeys[0].hops[-1].receiver_pod if journeys[0].hops else None)
    scenario = project.scenario(refs.figure[0])
    pod = scenario.topology.pod(pod_name) if pod_name else None
    if pod is None or pod.ruleset_path != path:
        shown = project.shown(path)
        return [Problem(where, f"the figure's journeys do not meet in a pod that uses "
                        f"{shown}", ", ".join(refs.figure),
                        "journeys (inbound, then outbound) through a pod with this ruleset")]
    computed = computed_steps(moves_in_pod(pod.name, journeys))
    for note in stepped:
        numbers = computed.get((note.chain, note.spec), []) if note.table == "nat" else []
        if list(note.steps) != numbers:
            said = "never move a connection by this rule" if not numbers else \
                "number this rule's moves otherwise"
            problems.append(Problem(
                note.where("steps") or where,
                f"the figure's journeys ({', '.join(refs.figure)}) {said} ({note.table} "
                f"{note.chain}: {note.spec})", str(list(note.steps)),
                f"steps: {numbers}" if numbers else "no steps field"))
    return problems


def _criteria(rule: Rule) -> set[tuple[str, str, tuple[str, ...], bool]]:
    return {(m.module, o.name, o.values, o.negated) for m in rule.matches for o in m.options}


def _article_claims(project: Project, notes: Annotations, mine: Ruleset,
                    numbered: list[Annotation]) -> list[Problem]:
    if not numbered:
        return []
    refs = notes.refs
    if refs is None or not refs.chain:
        first = numbered[0]
        return [Problem(first.where("article") or Location(notes.path, 0),
                        "article numbers need the article's chain", None,
                        f"a top-level '{REFS}: {{rules: RULESET TABLE CHAIN}}' entry")]
    where = refs.location or Location(notes.path, 0)
    try:
        chain = project.ruleset(refs.ruleset).chain(refs.table, refs.chain)
    except ChainwalkError as e:
        return [Problem(where, f"{REFS}: the article's ruleset cannot be read", refs.ruleset,
                        e.problems[0].message)]
    if chain is None:
        return [Problem(where, f"{REFS}: {refs.ruleset} has no chain {refs.chain} in table "
                        f"{refs.table}", refs.chain, "the article's chain")]
    problems = []
    for note in numbered:
        at = note.where("article") or where
        here = mine.chain(note.table, note.chain)
        rule = next((r for r in here.rules if r.spec == note.spec), None) if here else None
        if rule is None:
            continue  # drift, reported
        for number in note.article:
            if not 1 <= number <= len(chain.rules):
                problems.append(Problem(at, f"the article's {refs.chain} has no rule {number}",
                                        str(number), f"1 to {len(chain.rules)}"))
                continue
            theirs = chain.rules[number - 1]
            if note.chain != refs.chain or rule.target != theirs.target or \
                    not _criteria(theirs) <= _criteria(rule):
                problems.append(Problem(
                    at, f"the article's rule {number} ({refs.chain}: {theirs.spec}) is not this "
                    f"rule ({note.chain}: {note.spec})", str(number),
                    "the number of the article's rule with this target and criteria"))
    return problems
