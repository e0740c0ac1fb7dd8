"""The playground page in headless Chromium: chainwalk in Pyodide answers exactly what
``chainwalk trace --json`` answers, a shared link reproduces a trace, and a hostile
paste neither runs anything nor freezes the page. Pyodide is loaded once for the module
(one page); the load time and each trace's time go to tests/artifacts/playground.txt.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import ARTIFACTS, ROOT, Site

from chainwalk.cli import main
from chainwalk.netfilter._reasons import ENGLISH as ENGLISH_REASONS
from chainwalk.render import messages

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
GOLDENS = ROOT / ".." / "shared" / "istio-goldens"
# The page's packet fields, in the order the page writes their options.
FIELDS = [("hook", "--hook"), ("proto", "--proto"), ("src", "--src"), ("dst", "--dst"),
          ("sport", "--sport"), ("dport", "--dport"), ("uid", "--uid"), ("gid", "--gid"),
          ("mark", "--mark"), ("in", "--in"), ("out", "--out"), ("addr", "--addr")]
PROBES: list[dict[str, str]] = [
    {"dst": "10.0.0.9", "dport": "80", "uid": "1000", "src": "10.0.0.5"},
    {"dst": "10.0.0.9", "dport": "80", "uid": "1337", "src": "10.0.0.5"},
    {"dst": "10.0.0.9", "dport": "80", "uid": "1000", "gid": "1337", "src": "10.0.0.5"},
    {"dst": "10.0.0.5", "dport": "9080", "uid": "1337", "src": "10.0.0.5"},
    {"dst": "127.0.0.6", "dport": "15002", "uid": "1337", "addr": "eth0=10.0.0.5/24"},
    {"dst": "127.0.0.1", "dport": "15020", "uid": "1000"},
    {"dst": "10.96.0.10", "dport": "53", "proto": "udp", "uid": "1000", "src": "10.0.0.5"},
    {"hook": "prerouting", "src": "10.0.0.7", "dst": "10.0.0.5", "dport": "9080"},
    {"hook": "prerouting", "src": "10.0.0.7", "dst": "10.0.0.5", "dport": "15021",
     "in": "eth0", "sport": "51000"},
    {"dst": "10.0.0.9", "proto": "icmp", "src": "10.0.0.5", "mark": "0x539"},
    {"dst": "10.0.0.9", "dport": "443", "uid": "1000", "src": "10.0.0.5", "out": "eth0"},
]
SITE_RULESETS = sorted((ROOT / "rules" / "rulesets").glob("*.rules"))
GOLDEN_NAMES = ["basic.txt.golden", "dns.txt.golden"]
CJK = re.compile(r"[\u4e00-\u9fff]")
# The English of the engine's reasons, events and effects up to their first value.
ENGLISH_WORDS = {words for words in (text.split("{")[0].strip()
                                     for text in ENGLISH_REASONS.values()) if len(words) > 6}

# Set the form as a reader's paste would (one "input" event per field), in one call.
FILL = """([text, values]) => {
  const host = document.getElementById("chainwalk-playground");
  const fire = (node, value) => {
    if (node.value !== value) { node.value = value; }
    node.dispatchEvent(new Event("input", { bubbles: true }));
  };
  const select = host.querySelector("select[name=ruleset]");
  if (text !== null && select.value !== "") {
    select.value = "";
    select.dispatchEvent(new Event("change", { bubbles: true }));
  }
  if (text !== null) { fire(host.querySelector("textarea"), text); }
  for (const [name, value] of Object.entries(values)) {
    fire(host.querySelector(`[name=${name}]`), value);
  }
}"""
# The last trace shown, once it is the trace of these rules and options (and, given a
# request's number, one asked for after it).
SHOWN = """([text, argv, after]) => {
  const current = window.chainwalkPlayground && window.chainwalkPlayground.current;
  const host = document.getElementById("chainwalk-playground");
  const last = current && current.last;
  return host.dataset.state === "done" && last && last.rules === text &&
         JSON.stringify(last.options) === JSON.stringify(argv) &&
         Number(host.dataset.request || 0) > (after || 0);
}"""
RESULT = """() => {
  const last = window.chainwalkPlayground.current.last;
  const json = document.querySelector("#chainwalk-playground .cw-pg-json");
  return { json: json ? json.textContent : null, result: last.result, ms: last.ms,
           shownMs: last.shownMs, editedMs: last.editedMs, hash: location.hash };
}"""


def argv_of(values: dict[str, str]) -> list[str]:
    full = {"hook": "output", "proto": "tcp", **values}
    argv: list[str] = []
    for name, option in FIELDS:
        for item in (full.get(name, "").split() if name == "addr" else [full.get(name, "")]):
            if item:
                argv += [option, item]
    return argv


def cli_json(text: str, argv: list[str], tmp_path: Path) -> Any:
    path = tmp_path / "pasted.rules"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["trace", str(path), *argv, "--json"]) == 0
    return json.loads(out.getvalue())


class Page:
    """The playground open in one tab, what it logged, and where it asked to go."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport=WIDE)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requested: list[str] = []
        self.outside: list[str] = []
        self.page.on("console",
                     lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)
        started = time.monotonic()
        self.page.goto(url, wait_until="load")
        self.page.wait_for_selector("#chainwalk-playground[data-state=done]", timeout=120_000)
        self.load_seconds = time.monotonic() - started
        self.first: dict[str, Any] = self.page.evaluate(
            "window.chainwalkPlayground.current.last")
        self.page.evaluate("window.chainwalkPlayground.engineReady()")
        self.ready_seconds = time.monotonic() - started
        # Where the start went: ms since navigation for the page's marks, since the
        # worker's start for the worker's phases.
        self.timings: dict[str, int] = self.page.evaluate("window.chainwalkPlayground.timings()")

    def _route(self, route: Any) -> None:
        self.requested.append(route.request.url)
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def trace(self, text: str | None, values: dict[str, str]) -> dict[str, Any]:
        argv = argv_of(values)
        cleared = {name: "" for name, _ in FIELDS if name not in ("hook", "proto")}
        full = {**cleared, "hook": "output", "proto": "tcp", **values}
        asked = int(self.page.get_attribute("#chainwalk-playground", "data-request") or 0)
        self.page.evaluate(FILL, [text, full])
        shown = text if text is not None else self.page.evaluate(
            "document.querySelector('#chainwalk-playground textarea').value")
        self.page.wait_for_function(SHOWN, arg=[shown, argv, asked], timeout=60_000)
        return dict(self.page.evaluate(RESULT))

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def playground(browser: Any, project_site: Site) -> Iterator[Page]:
    opened = Page(browser, project_site.url + "playground/")
    try:
        yield opened
    finally:
        opened.close()


def _report(line: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "playground.txt", "a", encoding="utf-8") as out:
        out.write(line + "\n")
    print(line)


def _rulesets() -> list[tuple[str, str]]:
    found = [(p.name, p.read_text(encoding="utf-8")) for p in SITE_RULESETS]
    for name in GOLDEN_NAMES:  # Istio's goldens, beside the repository when present
        if (GOLDENS / name).is_file():
            found.append((name, (GOLDENS / name).read_text(encoding="utf-8")))
    return found


def test_the_page_s_json_is_the_cli_s(playground: Page, tmp_path: Path) -> None:
    rulesets = _rulesets()
    assert len([n for n, _ in rulesets if n.endswith(".rules")]) >= 5
    times: list[float] = []
    shown: list[float] = []
    edited: list[float] = []
    probes = 0
    for name, text in rulesets:
        for values in PROBES:
            got = playground.trace(text, values)
            assert "trace" in got["result"], (name, values, got["result"])
            expected = cli_json(text, argv_of(values), tmp_path)
            assert json.loads(got["json"]) == expected, (name, values)
            assert got["result"]["trace"] == expected
            times.append(got["ms"])
            shown.append(got["shownMs"])
            edited.append(got["editedMs"])
            probes += 1
    assert probes >= 50
    assert playground.errors == [] and playground.outside == []
    _report(f"The playground opened (new context): its first trace shown (computed when the "
            f"site was built: {bool(playground.first.get('built'))}) after "
            f"{playground.load_seconds:.2f} s, the engine ready after "
            f"{playground.ready_seconds:.2f} s; where it went: {playground.timings}")
    _report(f"{probes} traces over {len(rulesets)} rulesets: engine median "
            f"{statistics.median(times):.0f} ms, max {max(times):.0f} ms; shown after the "
            f"debounce median {statistics.median(shown):.0f} ms, max {max(shown):.0f} ms; "
            f"after the edit median {statistics.median(edited):.0f} ms, "
            f"max {max(edited):.0f} ms")


def test_the_first_trace_is_computed_when_the_site_is_built(playground: Page,
                                                           tmp_path: Path) -> None:
    """Opened without a link, the page shows its default state's trace before Pyodide has
    started: the site computed it when it was built, with the engine the worker runs,
    and it is the CLI's answer for the same ruleset and options."""
    first = playground.first
    assert first["built"] is True and first["name"] == "current.rules"
    text = (ROOT / "rules" / "rulesets" / "current.rules").read_text(encoding="utf-8")
    assert first["rules"] == text
    assert first["result"]["trace"] == cli_json(text, first["options"], tmp_path)
    assert first["options"] == argv_of({"src": "10.0.0.5", "dst": "10.0.0.9", "dport": "80",
                                        "uid": "1000"})


# The words of the trace table's "where" and "why" cells that the layout broke across
# two lines (a chain name, an address, an arrow); the rule's own text may break anywhere.
BROKEN_WORDS = """() => {
  const broken = [];
  for (const row of document.querySelectorAll("#chainwalk-playground .cw-pg-steps tr")) {
    const cells = row.querySelectorAll("td");
    if (cells.length < 4) continue;  // an event's row: one cell across the table
    for (const cell of [cells[0], cells[3]]) {
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const word of node.data.matchAll(/\\S+/g)) {
          const range = document.createRange();
          range.setStart(node, word.index);
          range.setEnd(node, word.index + word[0].length);
          const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
          if (tops.size > 1) broken.push(word[0]);
        }
      }
    }
  }
  return broken;
}"""


def test_the_trace_table_breaks_no_name_or_address(playground: Page) -> None:
    """At 1440 wide, the table's "where" and "why" cells wrap between words only: a chain
    name (ISTIO_REDIRECT) or an address and its arrow stay whole."""
    text = (ROOT / "rules" / "rulesets" / "current.rules").read_text(encoding="utf-8")
    playground.trace(text, PROBES[0])  # through ISTIO_OUTPUT to ISTIO_REDIRECT
    rows = playground.page.eval_on_selector_all("#chainwalk-playground .cw-pg-steps tr",
                                                "rows => rows.length")
    assert rows > 10
    assert playground.page.evaluate(BROKEN_WORDS) == []


def test_the_page_starts_its_engine_from_its_head(playground: Page) -> None:
    """The playground's page loads its script from its <head> (once: the theme's
    diagrams.js finds it there), and the script starts the engine as it runs, before
    the page's own data and its first trace."""
    page = playground.page
    assert page.locator("head script[data-chainwalk-playground-start]").count() == 1
    scripts = [u for u in playground.requested if urlsplit(u).path.endswith("/playground.js")]
    assert len(scripts) == 1, scripts
    assert playground.timings["worker started"] < playground.timings["first trace shown"]
    assert playground.timings["engine ready"] > playground.timings["worker started"]
    assert playground.timings["snapshot"] == "made"  # a new context: none to restore
    # Served as application/wasm, so that Chromium compiles it while it streams in and
    # keeps the compiled code with the cached copy.
    wasm = page.evaluate("""async () => (await fetch(new URL("../js/pyodide/pyodide.asm.wasm",
      location.href), { method: "HEAD" })).headers.get("content-type")""")
    assert wasm == "application/wasm"


def test_a_site_ruleset_by_name_and_a_what_if(playground: Page, tmp_path: Path) -> None:
    page = playground.page
    page.select_option("#chainwalk-playground select[name=ruleset]", "current.rules")
    text = (ROOT / "rules" / "rulesets" / "current.rules").read_text(encoding="utf-8")
    got = playground.trace(None, PROBES[0])
    assert got["result"]["trace"] == cli_json(text, argv_of(PROBES[0]), tmp_path)
    assert got["result"]["trace"]["final"]["dport"] == 15001
    # Remove the rule that sent the packet to ISTIO_REDIRECT: the trace is the CLI's
    # for the file without it.
    hit = got["result"]["trace"]["hits"][-2]
    line = next(r["line"] for r in got["result"]["rule_lines"]
                if (r["table"], r["chain"], r["rule"]) == (hit["table"], hit["chain"],
                                                           hit["rule"]))
    page.click(f'#chainwalk-playground tr[data-rule="{hit["table"]}:{hit["chain"]}:'
               f'{hit["rule"]}"] button.cw-pg-remove')
    lines = text.split("\n")
    lines[line - 1] = "# removed: " + lines[line - 1]
    edited = "\n".join(lines)
    page.wait_for_function(SHOWN, arg=[edited, argv_of(PROBES[0])], timeout=60_000)
    after = page.evaluate(RESULT)
    assert after["result"]["trace"] == cli_json(edited, argv_of(PROBES[0]), tmp_path)
    assert after["result"]["trace"]["hits"] != got["result"]["trace"]["hits"]
    page.wait_for_selector("#chainwalk-playground .cw-pg-svg svg")  # the flowchart
    overflowing = page.evaluate("""() => [document.documentElement,
        ...document.querySelectorAll("#chainwalk-playground .cw-pg-steps, .cw-pg-svg, pre")]
      .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !==
                   "auto").map(e => e.className || e.tagName)""")
    assert overflowing == [], "wider than the column at 1440"
    folder = ARTIFACTS / "project"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "playground-1440-light.png"), full_page=True)


def test_a_shared_link_reproduces_the_trace(playground: Page, browser: Any,
                                            project_site: Site) -> None:
    text = (ROOT / "rules" / "rulesets" / "classic.rules").read_text(encoding="utf-8")
    values = PROBES[3]
    got = playground.trace(text + "\n# an edit, kept in the link\n", values)
    playground.page.wait_for_function("(h) => location.hash === h && h.startsWith('#s=')",
                                      arg=got["hash"])
    link = playground.page.evaluate("location.href")
    assert len(urlsplit(link).fragment) < len(text)  # compressed
    again = Page(browser, link)
    try:
        _report(f"A shared link in a new tab (browser cache cold: a new context): "
                f"{again.load_seconds:.2f} s to its trace shown; where it went: "
                f"{again.timings}")
        reproduced = again.page.evaluate(RESULT)
        assert reproduced["json"] == got["json"]
        assert again.page.evaluate("document.querySelector('#chainwalk-playground textarea')"
                                   ".value") == text + "\n# an edit, kept in the link\n"
        assert again.page.input_value("#chainwalk-playground [name=uid]") == values["uid"]
        assert again.errors == [] and again.outside == []
        # The link's state went nowhere: every request stayed on the site, none holds it.
        assert not [url for url in again.requested if "s=" in url]
    finally:
        again.close()


HOSTILE = """# <script>window.__pwned = 1</script>
*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -m comment --comment "<img src=x onerror=window.__pwned=2>" -j ACCEPT
-A OUTPUT -p tcp --dport <img/src/onerror=window.__pwned=3> -j ACCEPT
COMMIT
"""


def test_a_hostile_paste_runs_nothing(playground: Page) -> None:
    page = playground.page
    got = playground.trace(HOSTILE, PROBES[0])
    problems = page.locator("#chainwalk-playground .cw-pg-problems li").all_text_contents()
    assert any("<img/src/onerror=window.__pwned=3>" in p for p in problems), problems
    assert got["result"]["problems"][0]["line"] == 5
    fine = HOSTILE.replace("-A OUTPUT -p tcp --dport <img/src/onerror=window.__pwned=3> "
                           "-j ACCEPT\n", "")
    got = playground.trace(fine, PROBES[0])
    assert "<img src=x" in page.locator("#chainwalk-playground .cw-pg-steps").inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#chainwalk-playground img, #chainwalk-playground script").count() == 0
    # Links that are not the playground's: ignored, the form keeps its state.
    for fragment in ("#s=%3Cscript%3E", "#s=AAAA", "#s=q1YqSsxLL04tUrJSKs7MS1eqBQA"):
        page.evaluate("(f) => { location.hash = f; }", fragment)
        page.wait_for_selector("#chainwalk-playground[data-state=done]")
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_a_crafted_link_is_only_data(playground: Page, browser: Any,
                                     project_site: Site) -> None:
    """A link's state naming no ruleset of the site ("__proto__") with a hostile text."""
    fine = HOSTILE.replace("-A OUTPUT -p tcp --dport <img/src/onerror=window.__pwned=3> "
                           "-j ACCEPT\n", "")
    state = {"ruleset": "__proto__", "text": fine, "dst": "10.0.0.9", "src": "10.0.0.5",
             "uid": "<script>window.__pwned=4</script>"}
    encoded = playground.page.evaluate(
        "(s) => window.chainwalkPlayground.encodeState(s)", state)
    crafted = Page(browser, project_site.url + "playground/#s=" + encoded)
    try:
        page = crafted.page
        assert page.evaluate("document.querySelector('#chainwalk-playground textarea')"
                             ".value") == fine
        assert page.input_value("#chainwalk-playground select[name=ruleset]") == ""
        usage = page.inner_text("#chainwalk-playground .cw-pg-usage")
        assert "<script>window.__pwned=4</script>" in usage
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert crafted.errors == [] and crafted.outside == []
    finally:
        crafted.close()


def _huge(rules: int) -> str:
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [f"-A OUTPUT -d 10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}/32 -p tcp -m tcp "
              f"--dport {n % 60000 + 1} -m comment --comment \"rule {n} <b>x</b>\" -j ACCEPT"
              for n in range(rules)]
    return "\n".join([*lines, "COMMIT", ""])


def test_a_huge_paste_never_freezes_the_page(playground: Page) -> None:
    page = playground.page
    huge = _huge(60_000)  # about 6 MB
    assert len(huge) > 5_000_000
    page.evaluate(FILL, [huge, {name: "" for name, _ in FIELDS if name not in
                                ("hook", "proto")} | {"dst": "10.0.0.9", "dport": "80",
                                                      "src": "10.0.0.5"}])
    # (Chromium lays out a 6 MB textarea in seconds, as after a reader's paste.)
    page.wait_for_selector("#chainwalk-playground[data-state=running]", timeout=60_000)
    time.sleep(1.5)  # the worker is parsing: the page answers at once meanwhile
    started = time.monotonic()
    assert page.evaluate("() => 1 + 1") == 2
    assert time.monotonic() - started < 0.5
    if page.get_attribute("#chainwalk-playground", "data-state") == "running":
        page.click("#chainwalk-playground .cw-pg-status button")
        page.wait_for_selector("#chainwalk-playground[data-state=stopped]", timeout=5_000)
        assert "Cancelled" in page.inner_text("#chainwalk-playground .cw-pg-status")
    # Megabytes are no link: the address holds no state rather than a huge one.
    page.wait_for_function("() => location.hash === ''", timeout=30_000)
    assert "Too large" in page.inner_text("#chainwalk-playground .cw-pg-status")
    # The time bound stops a trace that runs too long, and a new engine takes the next.
    page.evaluate("window.chainwalkPlayground.current.limitMs = 200")
    page.evaluate(FILL, [huge + "\n", {}])
    page.wait_for_selector("#chainwalk-playground[data-state=running]", timeout=60_000)
    page.wait_for_selector("#chainwalk-playground[data-state=stopped]", timeout=60_000)
    assert "ran longer than 0.2 s" in page.inner_text("#chainwalk-playground .cw-pg-status")
    page.evaluate("window.chainwalkPlayground.current.limitMs = 10000")
    text = SITE_RULESETS[0].read_text(encoding="utf-8")
    got = playground.trace(text, PROBES[0])
    assert "trace" in got["result"]
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_a_deep_chain_ends_in_bounded_time(playground: Page, tmp_path: Path) -> None:
    depth = 3000
    lines = ["*filter", ":OUTPUT ACCEPT [0:0]"] + [f":C{n} - [0:0]" for n in range(depth)]
    lines += ["-A OUTPUT -j C0"] + [f"-A C{n} -j C{n + 1}" for n in range(depth - 1)]
    text = "\n".join([*lines, "COMMIT", ""])
    values = {"dst": "10.0.0.9", "dport": "80", "src": "10.0.0.5"}
    path = tmp_path / "pasted.rules"
    path.write_text(text, encoding="utf-8")
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        status = main(["trace", str(path), *argv_of(values), "--json"])
    got = playground.trace(text, values)
    if status == 0:
        assert got["result"]["trace"] == json.loads(out.getvalue())
    else:
        assert [p["message"].replace("pasted.rules", str(path))
                for p in got["result"]["problems"]] == err.getvalue().splitlines()


def test_other_pages_never_ask_for_pyodide_and_try_it_opens_the_playground(
        browser: Any, project_site: Site, tmp_path: Path) -> None:
    """Pages without a playground load none of it; a journey's "try it" link opens its
    first connection in the playground (by instant navigation), traced as the CLI does."""
    context = browser.new_context(viewport=WIDE)
    try:
        page = context.new_page()
        asked: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        for path in ("", "cli/", "cases/same-pod/"):
            page.goto(project_site.url + path, wait_until="load")
            page.wait_for_timeout(300)
        assert not [u for u in asked if "pyodide" in u or "/playground/" in u], asked
        link = page.locator(".chainwalk-try a").first
        link.wait_for(state="visible")
        href = link.get_attribute("href")
        assert href is not None and href.startswith(project_site.url + "playground/#s=")
        page.evaluate("window.__stayed = true")
        link.click()
        page.wait_for_selector("#chainwalk-playground[data-state=done]", timeout=120_000)
        assert page.evaluate("window.__stayed") is True, "the link reloaded the page"
        state = page.evaluate("""() => {
          const host = document.getElementById("chainwalk-playground");
          const values = {};
          for (const input of host.querySelectorAll("[name]")) values[input.name] = input.value;
          return values;
        }""")
        assert state["ruleset"] == "current.rules" and state["uid"] == "1000"
        values = {name: state[name] for name, _ in FIELDS if state.get(name)}
        text = (ROOT / "rules" / "rulesets" / state["ruleset"]).read_text(encoding="utf-8")
        page.wait_for_function(SHOWN, arg=[text, argv_of(values)], timeout=60_000)
        got = page.evaluate(RESULT)
        assert got["result"]["trace"] == cli_json(text, argv_of(values), tmp_path)
        assert errors == []
    finally:
        context.close()


def cli_run(path: Path, name: str) -> Any:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", f"{path}#{name}", "--json"]) == 0
    return json.loads(out.getvalue())


def test_a_journey_and_its_what_if_are_the_cli_s_run(playground: Page, tmp_path: Path) -> None:
    """A scenario of the site, then the same file with the caller running as uid 1337:
    the page's JSON is what `chainwalk run FILE#inbound --json` prints for that file."""
    page = playground.page
    scenario = "#chainwalk-playground [name=scenario]"
    page.select_option("#chainwalk-playground [name=mode]", "journey")
    page.wait_for_selector(f"{scenario} option[value='bookinfo/inbound']", state="attached")
    page.select_option(scenario, "bookinfo/inbound")
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    text = (rules / "scenarios" / "bookinfo.yaml").read_text(encoding="utf-8")
    asked = ["journey", "scenarios/bookinfo.yaml", "inbound"]
    page.wait_for_function(SHOWN, arg=[text, asked], timeout=60_000)
    got = page.evaluate(RESULT)
    assert json.loads(got["json"]) == cli_run(rules / "scenarios" / "bookinfo.yaml", "inbound")
    page.wait_for_selector("#chainwalk-playground .cw-pg-svg svg")  # the sequence diagram
    edited = text.replace("processes: {productpage: {ports: [9080]}}",
                          "processes: {productpage: {uid: 1337, ports: [9080]}}")
    assert edited != text
    page.fill("#chainwalk-playground textarea", edited)
    page.wait_for_function(SHOWN, arg=[edited, asked], timeout=60_000)
    got = page.evaluate(RESULT)
    (rules / "scenarios" / "bookinfo.yaml").write_text(edited, encoding="utf-8")
    expected = cli_run(rules / "scenarios" / "bookinfo.yaml", "inbound")
    assert json.loads(got["json"]) == expected
    assert expected["hops"][0]["uid"] == 1337
    assert playground.errors == [] and playground.outside == []
    page.select_option("#chainwalk-playground [name=mode]", "packet")


CORRUPT_SNAPSHOTS = """() => new Promise((resolve, reject) => {
  const opened = indexedDB.open("chainwalk-playground-snapshots", 1);
  opened.onerror = () => reject(opened.error);
  opened.onsuccess = () => {
    const transaction = opened.result.transaction("snapshots", "readwrite");
    const store = transaction.objectStore("snapshots");
    const keys = store.getAllKeys();
    keys.onsuccess = () => {
      for (const key of keys.result) { store.put(new Uint8Array(4096).fill(7), key); }
    };
    transaction.oncomplete = () => { opened.result.close(); resolve(keys.result); };
    transaction.onerror = () => reject(transaction.error);
  };
})"""


def _reloaded(page: Any, text: str, tmp_path: Path) -> dict[str, Any]:
    """The page reloaded with a pasted text's trace in its address: how the engine
    started, once the trace is shown, which must be the CLI's."""
    started = time.monotonic()
    page.reload(wait_until="load")
    page.wait_for_function(SHOWN, arg=[text, argv_of(PROBES[0])], timeout=120_000)
    shown = time.monotonic() - started
    assert page.evaluate(RESULT)["result"]["trace"] == cli_json(text, argv_of(PROBES[0]),
                                                                tmp_path)
    page.evaluate("window.chainwalkPlayground.engineReady()")
    timings: dict[str, Any] = page.evaluate("window.chainwalkPlayground.timings()")
    timings["shown"] = shown
    return timings


def test_a_reload_restores_python_s_memory_or_starts_as_before(playground: Page,
                                                               tmp_path: Path) -> None:
    """The page again in the same tab (the browser's cache warm): Python is restored
    from the snapshot the first visit kept; a snapshot that cannot be restored is the
    normal start (a new snapshot made). Either way the trace is the CLI's. The time to
    the trace shown goes to the report (a goal, not a timed assertion)."""
    page = playground.page
    text = SITE_RULESETS[0].read_text(encoding="utf-8")
    playground.trace(text, PROBES[0])
    restored = _reloaded(page, text, tmp_path)
    assert restored["snapshot"] == "restored"
    _report(f"The playground reloaded (cache warm): {restored['shown']:.2f} s to its trace "
            f"shown, the engine ready {restored['engine ready'] / 1000:.2f} s after "
            f"navigation (the page's mark); where it went: {restored}")
    assert len(page.evaluate(CORRUPT_SNAPSHOTS)) == 1  # the last snapshot only
    fallback = _reloaded(page, text, tmp_path)
    assert fallback["snapshot"].startswith("failed: "), fallback
    _report(f"The playground reloaded with a damaged snapshot: the engine ready "
            f"{fallback['engine ready'] / 1000:.2f} s after navigation; {fallback}")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert playground.errors == [] and playground.outside == []


def test_the_chinese_page_traces_in_chinese(browser: Any, project_site: Site,
                                            tmp_path: Path) -> None:
    """/zh/playground/: the same engine and answers, the page's own words in Chinese (the
    catalog's playground.ui.* keys), no English label left."""
    chinese = Page(browser, project_site.url + "zh/playground/")
    try:
        page = chinese.page
        text = (ROOT / "rules" / "rulesets" / "current.rules").read_text(encoding="utf-8")
        got = chinese.trace(text, PROBES[0])
        assert got["result"]["trace"] == cli_json(text, argv_of(PROBES[0]), tmp_path)
        words = messages("zh").texts
        form = page.inner_text("#chainwalk-playground form")
        status = page.inner_text("#chainwalk-playground .cw-pg-status")
        headers = page.eval_on_selector_all("#chainwalk-playground th",
                                            "cells => cells.map(c => c.textContent)")
        assert words["playground.ui.packet"] in form and words["playground.ui.field.dst"] in form
        assert status.startswith(words["playground.ui.traced"].split("{")[0])
        assert headers[:5] == [words[f"playground.ui.column.{name}"]
                               for name in ("where", "result", "rule", "why", "what-if")]
        english = {text.strip() for key, text in messages("en").texts.items()
                   if key.startswith("playground.ui.") and text != words[key]}
        shown = form + "\n" + status + "\n" + "\n".join(headers)
        assert [text for text in english if text in shown] == []
        # The trace's table, its events, reasons and effects in Chinese (the JSON stays
        # the CLI's): none of the English the JSON holds for them is shown.
        table = page.inner_text("#chainwalk-playground .cw-pg-steps") + "\n" + \
            page.inner_text("#chainwalk-playground .cw-pg-verdict")
        events = page.eval_on_selector_all("#chainwalk-playground tr.cw-pg-event td",
                                           "cells => cells.map(c => c.textContent)")
        assert events and all(CJK.search(event) for event in events), events
        steps = got["result"]["trace"]["steps"]
        worded = [step.get(key) for step in steps for key in ("reason", "effect")
                  if step.get(key)] + [step["text"] for step in steps if step["kind"] == "event"]
        assert len(worded) > 10
        assert [words for words in worded if words in table] == []
        assert [words for words in ENGLISH_WORDS if words in table] == []
        assert CJK.search(page.inner_text("#chainwalk-playground .cw-pg-verdict"))
        # The scenario list names each scenario by its Chinese title (zh: {title: ...}).
        page.select_option("#chainwalk-playground [name=mode]", "journey")
        page.wait_for_selector("#chainwalk-playground [name=scenario] "
                               "option[value='bookinfo/inbound']", state="attached",
                               timeout=60_000)
        options = page.eval_on_selector_all(
            "#chainwalk-playground select[name=scenario] option",
            "options => options.map(o => o.textContent)")
        assert "bookinfo/inbound: productpage 调用 reviews；reviews 的 sidecar 接收（步骤 1-8）" \
            in options, options
        assert not any("productpage calls reviews" in option for option in options), options
        # The journey's result and why, in Chinese too (its JSON stays the CLI's).
        bookinfo = (ROOT / "rules" / "scenarios" / "bookinfo.yaml").read_text(encoding="utf-8")
        page.wait_for_function(SHOWN, arg=[bookinfo, ["journey", "scenarios/bookinfo.yaml",
                                                      "inbound"]], timeout=60_000)
        verdict = page.inner_text("#chainwalk-playground .cw-pg-verdict")
        journey = page.evaluate(RESULT)["result"]["journey"]
        assert CJK.search(verdict) and journey["reason"] not in verdict, verdict
        assert journey["result"] not in verdict, verdict
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "playground-zh-1440.png"))
        assert chinese.errors == [] and chinese.outside == []
    finally:
        chinese.close()
