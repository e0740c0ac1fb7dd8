"""Rendering a site's pages: every block of every page, and the checks that hold for
the whole rules folder whether a page shows them or not.

``Site.render_page`` replaces each block of a page by its view's Markdown and
collects what went wrong; ``Site.check`` then validates everything under rules/
(every ruleset parses, every scenario's expectations hold, every annotation still
names a rule and what its fields claim holds) and warns about scenarios no page shows. A :class:`Finding` is a problem together with the blocks that show the
thing it is about, so a message names both the page line and the rules file line.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import ChainwalkError, Location, Problem
from ..journey import Journey, Scenario
from ..netfilter import Chain
from ..netfilter._correspondence import correspondence
from ..render import (
    ENGLISH,
    PLACEHOLDER_START,
    SYN_BYTES,
    UNSEARCHED_VIEWS,
    Block,
    Language,
    Messages,
    Numbering,
    Request,
    caption,
    chains_flowchart,
    check_steps,
    count_journeys,
    coverage,
    diff_table,
    fenced,
    find_blocks,
    find_inline_claims,
    hops_table,
    journey_key,
    journeys_table,
    legend,
    listing,
    md_code,
    md_text,
    messages,
    moves_in_pod,
    no_pod_problem,
    overview,
    page_language,
    parse_request,
    playground_state,
    protocol_note,
    result_line,
    rules_table,
    ruleset_changes,
    sequence,
    shared_pod,
    tables_aside,
    trace_table,
    traces_with,
    try_it,
    unsearched,
)
from ..render._claims import DEFAULT_HOST, behaviour_table, claim_note, describe, inline_text
from ..render._correspondence import correspondence_table
from ..render._listing import count_nft_journeys, nft_listing
from ._annotation_claims import annotation_problems
from ._annotations import drift
from ._claims import behaviour_rows, check_claim, host_from, make_claim, parse_inline
from ._project import RULESETS, Project, is_nft

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


def _indent(text: str, indent: str) -> list[str]:
    return [indent + line if line else "" for line in text.rstrip("\n").split("\n")]


class Site:
    """Renders pages from one :class:`Project`.

    ``fence_escapes``: whether the Mermaid fence the pages' Markdown goes through
    HTML-escapes a diagram's source (superfences' own format, Zensical's native fence)
    or writes it into the page as it is (mermaid2's). The views escape what a diagram
    holds for the latter; for the former it is unescaped, so that the page holds it
    escaped once either way.

    ``playground``: the URL of the site's playground page from the site's root (empty:
    none); a journey's diagram or trace table is then followed by a "try it" link that
    opens its first connection there.
    """

    def __init__(self, project: Project, fence_escapes: bool = False,
                 playground: str = "") -> None:
        self.project = project
        self.fence_escapes = fence_escapes
        self.playground = playground
        self.shown: dict[str, list[Location]] = {}  # scenario id / ruleset -> blocks
        # The blocks read by this build and the one before: a block that an edit moved
        # or changed is read again, and the old one forgotten a build later.
        self._requests: dict[Block, Request | ChainwalkError] = {}
        self._requests_before: dict[Block, Request | ChainwalkError] = {}

    def begin_build(self) -> None:
        self.project.begin_build()
        self.shown = {}
        self._requests_before, self._requests = self._requests, {}

    # -- pages ------------------------------------------------------------------
    def render_page(self, page: str, markdown: str, html_tables: bool = False,
                    show_problems: bool = False,
                    language: Language | None = None) -> PageResult:
        """``markdown`` with its blocks replaced; problems name ``page`` and its lines.
        The blocks are written in ``language``, by default the page file's
        (``PAGE.zh.md``: Chinese, see ``render.page_language``).

        With ``html_tables``, each generated table that ``render.table_html`` can write is
        a placeholder line in ``markdown`` instead, and its HTML is in ``tables``: the
        caller puts it in place of the placeholder's paragraph once Markdown is HTML.
        With ``show_problems`` (for a caller that sees one page at a time, not the whole
        site, so runs no :meth:`check`), a block that cannot be rendered becomes an
        admonition listing its problems (else it becomes nothing: the caller reports
        them), and so does a block showing a scenario whose expectations do not hold,
        above what it renders.
        """
        msg = messages(language or page_language(page))
        blocks, problems = find_blocks(markdown, page)
        result = PageResult(page, markdown, [Finding(p) for p in problems])
        html_tables = html_tables and PLACEHOLDER_START not in markdown
        lines = markdown.split("\n")
        self._inline_claims(page, lines, result, msg)
        claim_problems = list(result.findings[len(problems):])
        out: list[str] = []
        position = 0
        for block in blocks:
            out.extend(lines[position:block.start])
            position = block.end
            before = len(result.findings)
            text = self._block(block, result, msg)
            if show_problems and len(result.findings) > before:
                text = problems_admonition(result.findings[before:])
            elif show_problems and self._expectations(block, result):
                text = problems_admonition(result.findings[before:], shown=True) + "\n" + text
            if html_tables:
                text = tables_aside(text, result.tables)
            out.extend(["", *_indent(text, block.indent), ""] if text else [])
        out.extend(lines[position:])
        if show_problems and claim_problems:  # the page's claims that do not hold
            out.extend(["", problems_admonition(claim_problems)])
        result.markdown = "\n".join(out)
        return result

    def _inline_claims(self, page: str, lines: list[str], result: PageResult,
                       msg: Messages) -> None:
        """Check each inline claim of the page and put its text in its place."""
        for found in reversed(find_inline_claims("\n".join(lines))):
            where = found.where(page)
            try:
                claim = parse_inline(found.body, where)
                self.shown.setdefault(f"ruleset {claim.ruleset}", []).append(where)
                check_claim(self.project, claim)
                text = md_text(inline_text(claim, msg))
            except ChainwalkError as e:
                result.findings.extend(Finding(p) for p in e.problems)
                text = md_text(found.body.partition("|")[2].strip() or found.body)
            line = lines[found.line]
            start = found.start
            if not text and line[:start].endswith(" "):  # a claim that shows nothing
                start -= 1
            lines[found.line] = line[:start] + text + line[found.end:]

    def _claim(self, block: Block, request: Request, msg: Messages) -> str:
        kind, _, argument = request.claim.strip().partition(" ")
        claim = make_claim(kind, argument.strip(), request.ruleset, block.where,
                           request.where, table=request.table or DEFAULT_TABLE,
                           hook=request.hook, host=request.host or DEFAULT_HOST)
        return claim_note(check_claim(self.project, claim), msg)

    def _behaviour(self, block: Block, request: Request, msg: Messages) -> str:
        """How two rulesets treat packets differently, proved over every packet."""
        table = request.table or DEFAULT_TABLE
        claim = make_claim("same-as", request.against, request.ruleset, block.where,
                           request.where, table=table, hook=request.hook,
                           host=request.host or DEFAULT_HOST)
        rows = behaviour_rows(self.project, claim)
        return behaviour_table(request.against, request.ruleset, rows, request.where,
                               request.hook, table, msg)

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
        found = self._requests.get(block) or self._requests_before.get(block)
        if found is None:
            try:
                found = parse_request(block)
            except ChainwalkError as e:
                found = e
        self._requests[block] = found
        if isinstance(found, ChainwalkError):
            raise found
        return found

    def _block(self, block: Block, result: PageResult, msg: Messages) -> str:
        try:
            request = self._request(block)
        except ChainwalkError as e:
            result.findings.extend(Finding(p) for p in e.problems)
            result.blocks.append((block, None))
            return ""
        result.blocks.append((block, request))
        for key in (request.scenario, request.highlight, request.then):
            if key:
                self.shown.setdefault(key, []).append(block.where)
        for key in (request.ruleset, request.against):
            if key:
                self.shown.setdefault(f"ruleset {key}", []).append(block.where)
        if request.topology:
            self.shown.setdefault(f"topology {request.topology}", []).append(block.where)
        if request.view == "behaviour":
            try:
                return unsearched(self._behaviour(block, request, msg), request.view)
            except ChainwalkError as e:
                result.findings.extend(Finding(p, (block.where,)) for p in e.problems)
                return ""
        if request.view == "claim":  # proved at the block's place (its problems name it)
            try:
                return self._claim(block, request, msg)
            except ChainwalkError as e:
                result.findings.extend(Finding(p) for p in e.problems)
                return ""
        try:
            rendered = self.project.memo(("block", request, self.fence_escapes, msg.language,
                                          self.playground),
                                         lambda: self.render(request, msg))
        except ChainwalkError as e:
            result.findings.extend(Finding(p, (block.where,)) for p in e.problems)
            return ""
        result.warnings.extend(Finding(self.project.relocate(w), (block.where,))
                               for w in rendered.warnings)
        for topology in rendered.topologies:
            self.shown.setdefault(f"topology {topology}", []).append(block.where)
        if request.view in UNSEARCHED_VIEWS:
            return unsearched(rendered.markdown, request.view)
        return rendered.markdown

    # -- views ------------------------------------------------------------------
    def render(self, request: Request, msg: Messages = ENGLISH) -> Rendered:
        view = request.view
        if view in ("sequence", "trace"):
            scenario = self.project.scenario(request.scenario)
            journey = self.project.journey(scenario)
            numbering = Numbering(scenario, journey, self.project.ruleset_at)
            state = playground_state(scenario, journey) if self.playground else None
            link = "" if state is None else "\n" + try_it(state, self.playground, msg) + "\n"
            if view == "sequence":
                # Without JavaScript there is no drawing: the trace table stands in.
                fallback = ('<div class="chainwalk-nojs" data-search-exclude="" markdown>\n\n'
                            + hops_table(journey, False, numbering, msg) + "\n</div>\n")
                return Rendered(caption(scenario.title_in(msg.language))
                                + self._diagram(sequence(scenario, journey, numbering, msg))
                                + "\n" + fallback + "\n" + result_line(journey, msg) + link)
            return Rendered(trace_table(journey, request.reasons, numbering, msg) + link)
        if view == "overview":
            return self._overview(request, msg)
        if view == "rules":
            return Rendered(self._rules(request, msg))
        if view == "chains":
            return self._chains(request, msg)
        if view == "listing":
            return self._listing(request, msg)
        if view == "coverage":
            return self._coverage(request, msg)
        if view == "compare":
            return self._compare(request, msg)
        if view == "correspondence":
            return self._correspondence(request, msg)
        return self._diff(request, msg)

    def _diagram(self, source: str) -> str:
        return fenced("mermaid", html.unescape(source) if self.fence_escapes else source)

    def _table(self, stem: str, table: str) -> None:
        ruleset = self.project.ruleset(stem)
        if ruleset.table(table) is None:
            path = self.project.shown(self.project.ruleset_path(stem))
            names = ", ".join(t.name for t in ruleset.tables) or "none"
            raise ChainwalkError([Problem(Location(path, 0), f"{stem} has no table {table}",
                                          table, f"one of its tables ({names})")])

    def _chain(self, stem: str, table: str, name: str) -> Chain:
        """The chain ``name`` of ``table`` of the ruleset ``stem``; a problem naming its
        chains when there is none."""
        self._table(stem, table)
        ruleset = self.project.ruleset(stem)
        found = ruleset.table(table)
        chain = ruleset.chain(table, name)
        if chain is None:
            assert found is not None
            names = ", ".join(c.name for c in found.chains)
            raise ChainwalkError([Problem(found.location or Location(ruleset.source, 0),
                                          f"{stem} has no chain {name} in table {table}",
                                          name, f"one of {names}")])
        return chain

    def _rules(self, request: Request, msg: Messages) -> str:
        table = request.table or DEFAULT_TABLE
        chain = self._chain(request.ruleset, table, request.chain)
        ruleset = self.project.ruleset(request.ruleset)
        notes = self.project.annotations(request.ruleset)
        problems = drift(notes, ruleset)
        if problems:
            raise ChainwalkError(problems)
        named = (note.scenario for note in notes.in_chain(table, chain.name))
        return rules_table(chain, table, ruleset.family, notes,
                           self._titles(named, msg.language), msg)

    def _titles(self, ids: Iterable[str], language: Language) -> dict[str, str]:
        """The titles in ``language`` of the scenarios ``ids`` names (an unknown id is
        left out: the checks of the rules folder report it)."""
        titles = {}
        for scenario_id in ids:
            if scenario_id:
                try:
                    scenario = self.project.scenario(scenario_id)
                except ChainwalkError:
                    continue
                titles[scenario_id] = scenario.title_in(language)
        return titles

    def _runs(self, topology: str) -> list[tuple[Scenario, Journey]]:
        return [(s, self.project.journey(s)) for s in self.project.scenarios(topology)]

    def _chains(self, request: Request, msg: Messages) -> Rendered:
        table = request.table or DEFAULT_TABLE
        self._table(request.ruleset, table)
        ruleset = self.project.ruleset(request.ruleset)
        if not request.highlight:
            return Rendered(self._diagram(chains_flowchart(ruleset, table)))
        scenario = self.project.scenario(request.highlight)
        journey = self.project.journey(scenario)
        path = self.project.ruleset_path(request.ruleset)
        traces = list(traces_with(scenario, journey, path, request.pod))
        if not traces:
            where = f" in pod {request.pod}" if request.pod else ""
            raise ChainwalkError([Problem(
                scenario.location or Location(scenario.topology.path, 0),
                f"scenario {scenario.id} does not cross {request.ruleset}{where}: none of its "
                "hops runs in a pod with that ruleset", request.highlight,
                f"a scenario whose pods use rulesets/{request.ruleset}.rules")])
        steps = [step for _, found in traces for step in found.steps]
        hops = sorted({hop.number for hop, _ in traces})
        where = msg("chains.in-pod", pod=md_code(request.pod)) if request.pod else ""
        note = msg("chains.highlighted", title=md_text(scenario.title_in(msg.language)),
                   where=where,
                   hops=msg("chains.hops" if len(hops) > 1 else "chains.hop",
                            numbers=", ".join(map(str, hops))))
        return Rendered(self._diagram(chains_flowchart(ruleset, table, steps)) + "\n"
                        + note + "\n", scenarios=[scenario.id])

    def _overview(self, request: Request, msg: Messages) -> Rendered:
        first = self.project.scenario(request.scenario)
        then = self.project.scenario(request.then)
        journeys = [self.project.journey(first), self.project.journey(then)]
        pod_name = request.pod or shared_pod(*journeys)
        if pod_name is None:
            raise no_pod_problem(first, then)
        moves = moves_in_pod(pod_name, journeys)
        pod = first.topology.pod(pod_name)
        if pod is None or not moves:
            raise no_pod_problem(first, then)
        problems: list[Problem] = []
        if pod.ruleset_path:
            stem = self.project.shown(pod.ruleset_path).rsplit("/", 1)[-1]
            problems = check_steps(moves, self.project.annotations(stem.removesuffix(".rules")))
        if problems:
            raise ChainwalkError(problems)
        caption = msg("overview.caption", pod=md_code(pod_name))
        return Rendered(self._diagram(overview(moves, msg)) + "\n" + caption + "\n\n"
                        + legend(moves, msg), scenarios=[first.id, then.id])

    def _listing(self, request: Request, msg: Messages) -> Rendered:
        if is_nft(request.ruleset):
            return self._nft_listing(request, msg)
        table = request.table or DEFAULT_TABLE
        self._table(request.ruleset, table)
        ruleset = self.project.ruleset(request.ruleset)
        header = msg("listing.header", table=table, file=md_code(request.ruleset + ".rules"))
        note = protocol_note(ruleset, table, msg)
        note = msg("prose.joiner") + note if note else ""
        if not request.topology:
            return Rendered(msg("listing.zero", header=header, note=note) + "\n\n"
                            + fenced("text", listing(ruleset, table)))
        runs = self._runs(request.topology)
        path = self.project.ruleset_path(request.ruleset)
        counters = count_journeys(runs, path, table)
        counted = sum(1 for s, j in runs if any(traces_with(s, j, path)))
        text = msg("listing.counted", header=header, counted=counted,
                   topology=md_code(request.topology), bytes=SYN_BYTES, note=note)
        return Rendered(text + "\n\n" + fenced("text", listing(ruleset, table, counters)),
                        topologies=[request.topology])

    def _nft_listing(self, request: Request, msg: Messages) -> Rendered:
        ruleset = self.project.nft_ruleset(request.ruleset)
        header = msg("listing.nft-header", file=md_code(request.ruleset))
        if not request.topology:
            return Rendered(msg("listing.zero", header=header, note="") + "\n\n"
                            + fenced("text", nft_listing(ruleset)))
        runs = self._runs(request.topology)
        path = self.project.ruleset_path(request.ruleset)
        counted = sum(1 for s, j in runs if any(traces_with(s, j, path)))
        text = msg("listing.nft-counted", header=header, counted=counted,
                   topology=md_code(request.topology), bytes=SYN_BYTES)
        return Rendered(text + "\n\n" + fenced("text", nft_listing(
            ruleset, count_nft_journeys(runs, path))), topologies=[request.topology])

    def _correspondence(self, request: Request, msg: Messages) -> Rendered:
        """An iptables chain's rules against an nftables chain's, each rule's witness
        traced through both; a rule whose packet ends differently is also a warning."""
        table = request.table or DEFAULT_TABLE
        chain = self._chain(request.ruleset, table, request.chain)
        ruleset = self.project.ruleset(request.ruleset)
        path = self.project.shown(self.project.ruleset_path(request.ruleset))
        other = self.project.nft_ruleset(request.against)
        other_chain = request.against_chain or request.chain
        if not any(t.chain(other_chain) for t in other.tables):
            other_path = self.project.shown(self.project.ruleset_path(request.against))
            names = ", ".join(sorted({c.name for t in other.tables for c in t.chains}))
            raise ChainwalkError([Problem(Location(other_path, 0), f"{request.against} has "
                                          f"no chain {other_chain}", other_chain,
                                          f"one of its chains ({names}), named by "
                                          "against_chain")])
        hook = request.hook.upper()
        rows = correspondence(ruleset, table, request.chain, other, other_chain,
                              host_from(request.host or DEFAULT_HOST, Location(path, 0)),
                              hook, request.where, Location(path, 0))
        warnings = [Problem(chain.rules[row.rule - 1].location or Location(path, 0),
                            f"{request.chain} rule {row.rule}: its packet "
                            f"({describe(row.witness)}) ends differently in "
                            f"{request.against}") for row in rows
                    if row.witness is not None and not row.agrees]
        return Rendered(correspondence_table(ruleset, request.ruleset + ".rules", table,
                                             request.chain, other, request.against,
                                             other_chain, rows, request.where,
                                             request.hook, msg),
                        warnings=warnings)

    def _coverage(self, request: Request, msg: Messages) -> Rendered:
        runs = self._runs(request.topology)
        if request.ruleset:
            paths = [self.project.ruleset_path(request.ruleset)]
        else:  # the pods' own files, by path (rulesets/v2/current.rules is not current)
            paths = sorted({p.ruleset_path for s, _ in runs for p in s.topology.pods
                            if p.ruleset_path} | {p.ruleset6_path for s, _ in runs
                                                  for p in s.topology.pods if p.ruleset6_path})
        folder = self.project.rules_dir / RULESETS
        rulesets = [(Path(p).relative_to(folder).as_posix().removesuffix(".rules")
                     if Path(p).is_relative_to(folder) else self.project.shown(p),
                     p, self.project.ruleset_at(p)) for p in paths]
        found = coverage(request.topology, runs, rulesets, request.table, msg)
        return Rendered(found.markdown, warnings=found.uncovered,
                        topologies=[request.topology])

    def _diff(self, request: Request, msg: Messages) -> Rendered:
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
                    changed.append((scenario.title_in(msg.language), *pair))
        return Rendered(diff_table(request.against, request.ruleset, changes, changed, msg))

    def _compare(self, request: Request, msg: Messages) -> Rendered:
        """The scenarios of the same name in two topologies, their journeys side by side."""
        others = {s.name: s for s in self.project.scenarios(request.versus)}
        rows: list[tuple[str, Journey | str, Journey | str]] = [
            (s.title_in(msg.language), self.project.journey(s),
             self.project.journey(others[s.name]))
            for s in self.project.scenarios(request.topology) if s.name in others]
        if not rows:
            where = self.project.shown(self.project.scenario_file(request.topology))
            raise ChainwalkError([Problem(Location(where, 0), f"{request.topology} and "
                                          f"{request.versus} have no scenario name in common",
                                          None, "scenarios of the same name in both files")])
        return Rendered(journeys_table(msg("compare.header", left=md_code(request.topology),
                                           right=md_code(request.versus)), rows, msg) + "\n",
                        topologies=[request.versus])

    # -- the whole folder ---------------------------------------------------------
    def check(self) -> tuple[list[Finding], list[Finding]]:
        """Problems and warnings about everything under rules/ (after the pages)."""
        findings: list[Finding] = []
        warnings: list[Finding] = []
        for stem in self.project.topology_stems():
            shown = tuple(self.shown.get(f"topology {stem}", ()))
            try:
                scenarios = self.project.scenarios(stem)
            except ChainwalkError as e:
                findings.extend(Finding(p, shown) for p in e.problems)
                continue
            for scenario in scenarios:
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
                problems = annotation_problems(self.project, stem)
            except ChainwalkError as e:
                problems = list(e.problems)
            findings.extend(Finding(p, shown) for p in problems)
        return findings, warnings


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


def unique(findings: list[Finding]) -> list[Finding]:
    """Each problem once, with every block that shows what it is about; sorted."""
    merged: dict[Problem, list[Location]] = {}
    for finding in findings:
        places = merged.setdefault(finding.problem, [])
        places.extend(p for p in finding.shown_at if p not in places)
    out = [Finding(problem, tuple(sorted(places))) for problem, places in merged.items()]
    return sorted(out, key=lambda f: (f.shown_at[:1], f.problem.location, str(f)))
