"""Rendering a site's pages: every block of every page, and the checks that hold for
the whole rules folder whether a page shows them or not.

``Site.render_page`` replaces each block of a page by its view's Markdown and
collects what went wrong; ``Site.check`` then validates everything under rules/
(every ruleset parses, every annotation still names a rule, every scenario's
expectations hold, every annotation's scenario exists) and warns about scenarios no
page shows. A :class:`Finding` is a problem together with the blocks that show the
thing it is about, so a message names both the page line and the rules file line.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .._errors import ChainwalkError, Location, Problem
from ..journey import Journey, Scenario
from ._annotations import drift
from ._blocks import Block, Request, find_blocks, parse_request
from ._chains import chains_flowchart
from ._coverage import coverage
from ._diff import diff_table, journey_key, ruleset_changes
from ._escape import longest_backticks, md_code, md_text
from ._html import TABLE, table_html
from ._journeys import traces_with
from ._listing import SYN_BYTES, count_journeys, listing
from ._project import Project
from ._rules import rules_table
from ._sequence import sequence
from ._trace import trace_table

DEFAULT_TABLE = "nat"


@dataclass(frozen=True)
class Finding:
    """A problem, and the page blocks that show what it is about."""

    problem: Problem
    shown_at: tuple[Location, ...] = ()

    def __str__(self) -> str:
        if not self.shown_at or self.shown_at[0] == self.problem.location:
            return str(self.problem)
        text = f"{self.shown_at[0]}: {self.problem}"
        if len(self.shown_at) > 1:
            text += " (also shown at " + ", ".join(map(str, self.shown_at[1:])) + ")"
        return text


@dataclass
class Rendered:
    """A block's Markdown, the warnings it raises and what it shows."""

    markdown: str
    warnings: list[Problem] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    topologies: list[str] = field(default_factory=list)


@dataclass
class PageResult:
    page: str
    markdown: str
    findings: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    blocks: list[tuple[Block, Request | None]] = field(default_factory=list)
    # With html_tables: the HTML of each table that ``markdown`` holds a placeholder for.
    tables: dict[str, str] = field(default_factory=dict)


def _fence(kind: str, body: str) -> str:
    ticks = "`" * max(3, longest_backticks(body) + 1)
    return f"{ticks}{kind}\n{body}{'' if body.endswith(chr(10)) else chr(10)}{ticks}\n"


def _indent(text: str, indent: str) -> list[str]:
    return [indent + line if line else "" for line in text.rstrip("\n").split("\n")]


class Site:
    """Renders pages from one :class:`Project`.

    ``fence_escapes``: whether the Mermaid fence the pages' Markdown goes through
    HTML-escapes a diagram's source (superfences' own format, Zensical's native fence)
    or writes it into the page as it is (mermaid2's). The views escape what a diagram
    holds for the latter; for the former it is unescaped, so that the page holds it
    escaped once either way.
    """

    def __init__(self, project: Project, fence_escapes: bool = False) -> None:
        self.project = project
        self.fence_escapes = fence_escapes
        self.shown: dict[str, list[Location]] = {}  # scenario id / ruleset -> blocks
        self._requests: dict[Block, Request | ChainwalkError] = {}  # blocks read before

    def begin_build(self) -> None:
        self.project.begin_build()
        self.shown = {}

    # -- pages ------------------------------------------------------------------
    def render_page(self, page: str, markdown: str, html_tables: bool = False,
                    show_problems: bool = False) -> PageResult:
        """``markdown`` with its blocks replaced; problems name ``page`` and its lines.

        With ``html_tables``, each generated table that :func:`table_html` can write is
        a placeholder line in ``markdown`` instead, and its HTML is in ``tables``: the
        caller puts it in place of the placeholder's paragraph once Markdown is HTML.
        With ``show_problems`` (for a caller that sees one page at a time, not the whole
        site, so runs no :meth:`check`), a block that cannot be rendered becomes an
        admonition listing its problems (else it becomes nothing: the caller reports
        them), and so does a block showing a scenario whose expectations do not hold,
        above what it renders.
        """
        blocks, problems = find_blocks(markdown, page)
        result = PageResult(page, markdown, [Finding(p) for p in problems])
        html_tables = html_tables and _PLACEHOLDER_START not in markdown
        lines = markdown.split("\n")
        out: list[str] = []
        position = 0
        for block in blocks:
            out.extend(lines[position:block.start])
            position = block.end
            before = len(result.findings)
            text = self._block(block, result)
            if show_problems and len(result.findings) > before:
                text = problems_admonition(result.findings[before:])
            elif show_problems and self._expectations(block, result):
                text = problems_admonition(result.findings[before:], shown=True) + "\n" + text
            if html_tables:
                text = _tables_aside(text, result.tables)
            out.extend(["", *_indent(text, block.indent), ""] if text else [])
        out.extend(lines[position:])
        result.markdown = "\n".join(out)
        return result

    def _expectations(self, block: Block, result: PageResult) -> bool:
        """Add to ``result`` the problems of the expectations of the scenarios ``block``
        shows; whether there were any."""
        request = result.blocks[-1][1] if result.blocks else None
        found = False
        for key in (request.scenario, request.highlight) if request else ():
            if not key:
                continue
            try:
                problems = self.project.expectation_problems(self.project.scenario(key))
            except ChainwalkError as e:
                problems = list(e.problems)
            result.findings.extend(Finding(p, (block.where,)) for p in problems)
            found = found or bool(problems)
        return found

    def _request(self, block: Block) -> Request:
        """The block's parameters (read once per block text and place)."""
        found = self._requests.get(block)
        if found is None:
            try:
                found = parse_request(block)
            except ChainwalkError as e:
                found = e
            self._requests[block] = found
        if isinstance(found, ChainwalkError):
            raise found
        return found

    def _block(self, block: Block, result: PageResult) -> str:
        try:
            request = self._request(block)
        except ChainwalkError as e:
            result.findings.extend(Finding(p) for p in e.problems)
            result.blocks.append((block, None))
            return ""
        result.blocks.append((block, request))
        for key in (request.scenario, request.highlight):
            if key:
                self.shown.setdefault(key, []).append(block.where)
        for key in (request.ruleset, request.against):
            if key:
                self.shown.setdefault(f"ruleset {key}", []).append(block.where)
        if request.topology:
            self.shown.setdefault(f"topology {request.topology}", []).append(block.where)
        try:
            rendered = self.project.memo(("block", request, self.fence_escapes),
                                         lambda: self.render(request))
        except ChainwalkError as e:
            result.findings.extend(Finding(p, (block.where,)) for p in e.problems)
            return ""
        result.warnings.extend(Finding(self.project.relocate(w), (block.where,))
                               for w in rendered.warnings)
        for topology in rendered.topologies:
            self.shown.setdefault(f"topology {topology}", []).append(block.where)
        return rendered.markdown

    # -- views ------------------------------------------------------------------
    def render(self, request: Request) -> Rendered:
        view = request.view
        if view in ("sequence", "trace"):
            scenario = self.project.scenario(request.scenario)
            journey = self.project.journey(scenario)
            if view == "sequence":
                return Rendered(self._diagram(sequence(scenario, journey)) + "\n"
                                + _result_line(journey))
            return Rendered(trace_table(scenario, journey, request.reasons))
        if view == "rules":
            return Rendered(self._rules(request))
        if view == "chains":
            return self._chains(request)
        if view == "listing":
            return self._listing(request)
        if view == "coverage":
            return self._coverage(request)
        return self._diff(request)

    def _diagram(self, source: str) -> str:
        return _fence("mermaid", html.unescape(source) if self.fence_escapes else source)

    def _table(self, stem: str, table: str) -> None:
        ruleset = self.project.ruleset(stem)
        if ruleset.table(table) is None:
            path = self.project.shown(self.project.ruleset_path(stem))
            names = ", ".join(t.name for t in ruleset.tables) or "none"
            raise ChainwalkError([Problem(Location(path, 0), f"{stem} has no table {table}",
                                          table, f"one of its tables ({names})")])

    def _rules(self, request: Request) -> str:
        table = request.table or DEFAULT_TABLE
        self._table(request.ruleset, table)
        ruleset = self.project.ruleset(request.ruleset)
        found = ruleset.table(table)
        chain = ruleset.chain(table, request.chain)
        if chain is None:
            assert found is not None
            names = ", ".join(c.name for c in found.chains)
            raise ChainwalkError([Problem(found.location or Location(ruleset.source, 0),
                                          f"{request.ruleset} has no chain {request.chain} in "
                                          f"table {table}", request.chain,
                                          f"one of {names}")])
        notes = self.project.annotations(request.ruleset)
        problems = drift(notes, ruleset)
        if problems:
            raise ChainwalkError(problems)
        return rules_table(chain, table, ruleset.family, notes)

    def _runs(self, topology: str) -> list[tuple[Scenario, Journey]]:
        return [(s, self.project.journey(s)) for s in self.project.scenarios(topology)]

    def _chains(self, request: Request) -> Rendered:
        table = request.table or DEFAULT_TABLE
        self._table(request.ruleset, table)
        ruleset = self.project.ruleset(request.ruleset)
        if not request.highlight:
            return Rendered(self._diagram(chains_flowchart(ruleset, table)))
        scenario = self.project.scenario(request.highlight)
        journey = self.project.journey(scenario)
        path = self.project.ruleset_path(request.ruleset)
        traces = list(traces_with(scenario, journey, path))
        if not traces:
            raise ChainwalkError([Problem(
                scenario.location or Location(scenario.topology.path, 0),
                f"scenario {scenario.id} does not cross {request.ruleset}: none of its hops "
                "runs in a pod with that ruleset", request.highlight,
                f"a scenario whose pods use rulesets/{request.ruleset}.rules")])
        steps = [step for _, found in traces for step in found.steps]
        hops = sorted({hop.number for hop, _ in traces})
        note = (f"Highlighted: the chains and rules that {md_code(scenario.id)} crosses "
                f"(hop{'s' if len(hops) > 1 else ''} {', '.join(map(str, hops))}).")
        return Rendered(self._diagram(chains_flowchart(ruleset, table, steps)) + "\n"
                        + note + "\n", scenarios=[scenario.id])

    def _listing(self, request: Request) -> Rendered:
        table = request.table or DEFAULT_TABLE
        self._table(request.ruleset, table)
        ruleset = self.project.ruleset(request.ruleset)
        header = f"`iptables -t {table} -L -v -n` of {md_code(request.ruleset + '.rules')}"
        if not request.topology:
            return Rendered(f"{header}, counters zero:\n\n" + _fence("text", listing(
                ruleset, table)))
        runs = self._runs(request.topology)
        path = self.project.ruleset_path(request.ruleset)
        counters = count_journeys(runs, path, table)
        counted = sum(1 for s, j in runs if any(traces_with(s, j, path)))
        text = (f"{header}, with the counters the {counted} scenarios of "
                f"{md_code(request.topology)} that cross it would leave: each connection "
                f"counts one packet (its first, a TCP SYN, taken as {SYN_BYTES} bytes) in every "
                "rule it matched and every policy that applied.")
        return Rendered(text + "\n\n" + _fence("text", listing(ruleset, table, counters)),
                        topologies=[request.topology])

    def _coverage(self, request: Request) -> Rendered:
        runs = self._runs(request.topology)
        if request.ruleset:
            stems = [request.ruleset]
        else:
            paths = sorted({p.ruleset_path for s, _ in runs for p in s.topology.pods
                            if p.ruleset_path} | {p.ruleset6_path for s, _ in runs
                                                  for p in s.topology.pods if p.ruleset6_path})
            stems = [self.project.shown(p).rsplit("/", 1)[-1].removesuffix(".rules")
                     for p in paths]
        rulesets = [(stem, self.project.ruleset_path(stem), self.project.ruleset(stem))
                    for stem in stems]
        found = coverage(request.topology, runs, rulesets, request.table)
        return Rendered(found.markdown, warnings=found.uncovered,
                        topologies=[request.topology])

    def _diff(self, request: Request) -> Rendered:
        old = self.project.ruleset(request.against)
        new = self.project.ruleset(request.ruleset)
        changes = ruleset_changes(old, new, request.table)
        old_path = self.project.ruleset_path(request.against)
        new_path = self.project.ruleset_path(request.ruleset)
        changed: list[tuple[str, Journey | str, Journey | str]] = []
        for stem in self.project.topology_stems():
            for scenario in self.project.scenarios(stem):
                uses = {p.ruleset_path for p in scenario.topology.pods}
                if old_path not in uses and new_path not in uses:
                    continue
                base = self.project.journey(scenario)
                swap = (old_path, new_path) if old_path in uses else (new_path, old_path)
                try:
                    other: Journey | str = self.project.journey(scenario, swap)
                except ChainwalkError as e:
                    other = "cannot run: " + "; ".join(self.project.relocate(p).message
                                                       for p in e.problems)
                pair = (base, other) if swap[0] == old_path else (other, base)
                if isinstance(other, str) or journey_key(base) != journey_key(other):
                    changed.append((scenario.id, *pair))
        return Rendered(diff_table(request.against, request.ruleset, changes, changed))

    # -- the whole folder ---------------------------------------------------------
    def check(self) -> tuple[list[Finding], list[Finding]]:
        """Problems and warnings about everything under rules/ (after the pages)."""
        findings: list[Finding] = []
        warnings: list[Finding] = []
        scenario_ids: set[str] = set()
        broken: set[str] = set()
        for stem in self.project.topology_stems():
            shown = tuple(self.shown.get(f"topology {stem}", ()))
            try:
                scenarios = self.project.scenarios(stem)
            except ChainwalkError as e:
                findings.extend(Finding(p, shown) for p in e.problems)
                broken.add(stem)
                continue
            for scenario in scenarios:
                scenario_ids.add(scenario.id)
                where = tuple(self.shown.get(scenario.id, ())) or shown
                try:
                    problems = self.project.expectation_problems(scenario)
                except ChainwalkError as e:
                    problems = list(e.problems)
                findings.extend(Finding(p, where) for p in problems)
                if not where:
                    location = scenario.location or Location(scenario.topology.path, 0)
                    warnings.append(Finding(self.project.relocate(Problem(
                        location, f"scenario {scenario.id} is shown on no page")), ()))
        for stem in self.project.ruleset_stems():
            shown = tuple(self.shown.get(f"ruleset {stem}", ()))
            try:
                ruleset = self.project.ruleset(stem)
                notes = self.project.annotations(stem)
            except ChainwalkError as e:
                findings.extend(Finding(p, shown) for p in e.problems)
                continue
            findings.extend(Finding(p, shown) for p in drift(notes, ruleset))
            for note in notes.notes.values():
                if note.scenario and note.scenario not in scenario_ids and \
                        note.scenario.partition("/")[0] not in broken:
                    findings.append(Finding(Problem(
                        note.location or Location(notes.path, 0),
                        "the annotation names an unknown scenario", note.scenario,
                        "an id such as bookinfo/inbound"), shown))
        return findings, warnings


# Text Markdown leaves alone, none of which is part of another ("-1-" is not in "-10-").
TABLE_PLACEHOLDER = "CHAINWALK-TABLE-{}-END"
_PLACEHOLDER_START = TABLE_PLACEHOLDER.partition("{")[0]


def _tables_aside(text: str, tables: dict[str, str]) -> str:
    """``text`` with each table it holds as a block of its own set aside in ``tables``."""

    def aside(found: re.Match[str]) -> str:
        start, end = found.start(), found.end()
        alone = (start == 0 or text.endswith("\n\n", 0, start)) and text[end:end + 1] in ("", "\n")
        html = table_html(found.group()) if alone else None
        if html is None:
            return found.group()
        placeholder = TABLE_PLACEHOLDER.format(len(tables))
        tables[placeholder] = html
        return placeholder + "\n"

    return TABLE.sub(aside, text)


def failure_admonition(title: str, intro: str, problems: str) -> str:
    """A Markdown ``failure`` admonition: ``intro``, then ``problems`` (one a line) as a
    code block, so that nothing in a message is read as Markdown or HTML."""
    listing = "\n".join("        " + line for line in problems.splitlines())
    return f'!!! failure "{title}"\n\n    {intro}\n\n{listing}\n\n'


def problems_admonition(findings: list[Finding], shown: bool = False) -> str:
    """A block's problems: in place of the block, or (``shown``) above what it shows."""
    if shown:
        title, intro = ("chainwalk: what this block shows no longer holds",
                        "The expectations of its scenario fail:")
    else:
        title, intro = ("chainwalk: this block could not be rendered",
                        "Fix these and the block renders:")
    return failure_admonition(title, intro, "\n".join(str(f) for f in unique(findings)))


def _result_line(journey: Journey) -> str:
    return f"**Result: {md_text(journey.result)}.** {md_text(journey.reason)}\n"


def unique(findings: list[Finding]) -> list[Finding]:
    """Each problem once, with every block that shows what it is about; sorted."""
    merged: dict[Problem, list[Location]] = {}
    for finding in findings:
        places = merged.setdefault(finding.problem, [])
        places.extend(p for p in finding.shown_at if p not in places)
    out = [Finding(problem, tuple(sorted(places))) for problem, places in merged.items()]
    return sorted(out, key=lambda f: (f.shown_at[:1], f.problem.location, str(f)))
