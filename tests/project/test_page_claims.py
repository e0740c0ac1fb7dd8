"""Claims in pages, inline and as blocks: proved over every packet when the page is
rendered; a false claim is a problem at its page line and column with the claim and a
counterexample traced; what cannot be decided is a problem too, never a silent pass."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from chainwalk.project import Project, Site

REPO = Path(__file__).resolve().parents[2]


def render(markdown: str, rules: Path = REPO / "rules",
           page: str = "docs/p.md") -> tuple[str, list[str]]:
    site = Site(Project(rules, rules.parent))
    site.begin_build()
    result = site.render_page(page, markdown)
    return result.markdown, [str(f) for f in result.findings]


def test_an_inline_claim_that_holds_is_ordinary_text() -> None:
    text, problems = render("Rule 10 is `chainwalk: never ISTIO_OUTPUT#10 in current`.\n"
                            "Rule 7 is `chainwalk: never ISTIO_OUTPUT#7 in current | dead` "
                            "`chainwalk: never ISTIO_OUTPUT#8 in current |`.\n")
    assert problems == []
    assert text == "Rule 10 is never reached.\nRule 7 is dead.\n"


def test_a_false_inline_claim_names_its_column_and_traces_a_counterexample() -> None:
    _, problems = render("intro\n\nRule 9 is `chainwalk: never ISTIO_OUTPUT#9 in current`.\n")
    assert len(problems) == 1
    first, *trace = problems[0].split("\n")
    assert first.startswith("docs/p.md:3:11: the claim 'never ISTIO_OUTPUT#9 in current' "
                            "does not hold: this packet matches it: "), first
    assert any(line.strip().startswith("nat:ISTIO_OUTPUT:rule:9:RETURN") for line in trace)
    assert trace[-1].strip().startswith("=> ")


def test_a_block_claim_is_a_checked_note() -> None:
    text, problems = render("```chainwalk\nview: claim\nruleset: current\n"
                            "claim: reached ISTIO_OUTPUT#9\nwhere: tcp out=eth0\n```\n")
    assert problems == []
    assert "✔ <strong>Checked when the site is built:</strong> nat ISTIO&#95;OUTPUT rule 9" \
        in text
    assert "is reached, for example by `tcp src=10.0.0.5 dst=10.0.0.1 sport=40000 dport=80 " \
        "uid=1000 gid=1337`" in text


def test_a_false_block_claim_stops_at_the_block() -> None:
    _, problems = render("text\n\n```chainwalk\nview: claim\nruleset: current\n"
                         "claim: every ISTIO_REDIRECT#1\nwhere: tcp out=eth0\n```\n")
    assert len(problems) == 1
    assert problems[0].startswith("docs/p.md:3:1: the claim 'every ISTIO_REDIRECT#1 in "
                                  "current where tcp out=eth0' does not hold: this packet "
                                  "ends at nat ISTIO_OUTPUT#1 RETURN instead: tcp ")


def test_a_return_ends_the_walk_where_a_person_says_it_does() -> None:
    _, problems = render("`chainwalk: every ISTIO_OUTPUT#6 in current where tcp uid=1337 "
                         "gid=1337 out=eth0 dport!=15020`\n")
    assert problems == []


def test_two_rulesets_that_differ_show_both_traces() -> None:
    _, problems = render("`chainwalk: same-as classic in current where tcp`\n")
    assert len(problems) == 1
    assert "-- in classic:" in problems[0] and "ends at nat" in problems[0]
    _, problems = render("`chainwalk: same-as classic in current where dport!=15008 "
                         "dport!=15020`\n")
    assert problems == []


@pytest.mark.parametrize(("claim", "message"), [
    ("sometimes ISTIO_OUTPUT#1 in current", "docs/p.md:1:1: unknown kind of claim: got "
     "'sometimes', expected one of never, reached, every, none, same-as"),
    ("never ISTIO_OUTPUT in current", "docs/p.md:1:1: never: not a rule: got 'ISTIO_OUTPUT'"),
    ("never ISTIO_OUTPUT#99 in current", "docs/p.md:1:1: current has no nat ISTIO_OUTPUT "
     "rule 99"),
    ("never ISTIO_OUTPUT#1 current", "docs/p.md:1:1: not a claim"),
    ("never ISTIO_OUTPUT#1 in current where tcp colour=red",
     "docs/p.md:1:55: not a term of a packet description: got 'colour=red'"),
])
def test_mistakes_in_a_claim(claim: str, message: str) -> None:
    _, problems = render(f"`chainwalk: {claim}`\n")
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_a_claim_it_cannot_decide_fails_loudly(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "rulesets" / "chance.rules").write_text(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n-A OUTPUT -m statistic --mode random --probability 0.5 "
        "-j RETURN\n-A OUTPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n", encoding="utf-8")
    _, problems = render("`chainwalk: never OUTPUT#2 in chance`\n", rules)
    assert problems == ["docs/p.md:1:1: the claim 'never OUTPUT#2 in chance' cannot be proved "
                        "(rules/rulesets/chance.rules:6:4: cannot prove: -m statistic)"]


def test_claims_inside_code_blocks_are_examples_not_claims() -> None:
    page = "````markdown\n`chainwalk: never ISTIO_OUTPUT#9 in current`\n````\n" \
           "``  `chainwalk: never ISTIO_OUTPUT#9 in current`  ``\n"
    text, problems = render(page)
    assert problems == [] and text == page


def test_chainwalk_reach_and_equiv(capsys: pytest.CaptureFixture[str]) -> None:
    from chainwalk.cli import main

    current = str(REPO / "rules" / "rulesets" / "current.rules")
    classic = str(REPO / "rules" / "rulesets" / "classic.rules")
    assert main(["reach", current, "--where", "tcp"]) == 0
    out = capsys.readouterr().out.split("\n")
    assert "nat:ISTIO_OUTPUT:rule:10:NEVER" in out
    assert any(line.startswith("nat:ISTIO_OUTPUT:rule:11:REACHED   e.g. tcp ") for line in out)
    assert main(["equiv", classic, current, "--where", "dport!=15008 dport!=15020"]) == 0
    assert main(["equiv", classic, current, "--where", "tcp uid=1337", "--json"]) == 1
    found = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert not found["same"] and {d["second"] for d in found["differences"]} == \
        {"nat ISTIO_OUTPUT#1 RETURN", "nat ISTIO_OUTPUT#6 RETURN"}
    assert main(["reach", current, "--where", "tcp uid=x"]) == 1
    assert capsys.readouterr().err.startswith("--where:1:5: uid: not an id or LOW-HIGH")


def test_what_if_claims() -> None:
    text, problems = render(
        "`chainwalk: without ISTIO_OUTPUT#3 in current then bookinfo/inbound loops | loops` "
        "`chainwalk: without ISTIO_OUTPUT#3 in current then bookinfo/inbound lands 15006 |` "
        "`chainwalk: without ISTIO_OUTPUT#6 in current then bookinfo/outbound unchanged |`\n")
    assert problems == [] and text == "loops\n"
    _, problems = render("`chainwalk: without ISTIO_OUTPUT#3 in current then bookinfo/inbound "
                         "delivered`\n")
    assert len(problems) == 1
    assert problems[0].startswith(
        "docs/p.md:1:1: the claim 'without ISTIO_OUTPUT#3 in current then bookinfo/inbound "
        "delivered' does not hold: the journey ends loop, its last connection lands on port "
        "15006: "), problems
    assert "    hop 1: productpage/productpage" in problems[0]
    _, problems = render("`chainwalk: without ISTIO_OUTPUT#3 in current then bookinfo/inbound "
                         "sideways`\n")
    assert problems[0].startswith("docs/p.md:1:1: without: not a what-if"), problems


def test_the_behaviour_view_lists_each_difference_once() -> None:
    text, problems = render("```chainwalk\nview: behaviour\nruleset: current\n"
                            "against: classic\n```\n")
    assert problems == []
    rows = [line for line in text.split("\n") if line.startswith("| `tcp ")]
    assert [row.split(" | ")[1:] for row in rows] == [
        ["nat ISTIO&#95;IN&#95;REDIRECT&#35;1 REDIRECT", "nat ISTIO&#95;OUTPUT&#35;1 RETURN |"],
        ["nat ISTIO&#95;IN&#95;REDIRECT&#35;1 REDIRECT", "nat ISTIO&#95;OUTPUT&#35;6 RETURN |"],
        ["nat ISTIO&#95;REDIRECT&#35;1 REDIRECT", "nat ISTIO&#95;OUTPUT&#35;1 RETURN |"]]
    text, problems = render("```chainwalk\nview: behaviour\nruleset: current\n"
                            "against: classic\nwhere: dport!=15008 dport!=15020\n```\n")
    assert problems == [] and "treat every one of them the same" in text


CLAIMS_PAGE = (
    "Rule 7 is `chainwalk: never ISTIO_OUTPUT#7 in current` "
    "`chainwalk: without ISTIO_OUTPUT#6 in current then bookinfo/outbound unchanged`.\n\n"
    "```chainwalk\nview: claim\nruleset: current\nclaim: reached ISTIO_OUTPUT#9\n"
    "where: tcp out=eth0\n```\n\n"
    "```chainwalk\nview: claim\nruleset: current\nhook: prerouting\n"
    "claim: every ISTIO_IN_REDIRECT#1\n"
    "where: tcp in=eth0 dport!=15008 dport!=15020 dport!=15021 dport!=15090\n```\n\n"
    "```chainwalk\nview: claim\nruleset: current\n"
    "claim: without ISTIO_OUTPUT#3 then bookinfo/inbound lands 15006\n```\n\n"
    "```chainwalk\nview: claim\nruleset: current\nclaim: same-as classic\n"
    "where: dport!=15008 dport!=15020\n```\n\n"
    "```chainwalk\nview: behaviour\nruleset: current\nagainst: classic\n```\n\n"
    "```chainwalk\nview: behaviour\nruleset: current\nagainst: classic\n"
    "where: dport!=15008 dport!=15020\n```\n")


def test_claims_are_written_in_the_pages_language_with_the_same_facts() -> None:
    english, problems = render(CLAIMS_PAGE)
    assert problems == []
    chinese, problems = render(CLAIMS_PAGE, page="docs/p.zh.md")
    assert problems == []
    assert english.startswith("Rule 7 is never reached changes it so.")
    assert chinese.startswith("Rule 7 is 永远走不到 会这样改变.")
    assert "✔ <strong>构建站点时已验证：</strong>" in chinese
    assert "Pod 发出的包" in chinese and "示例包" in chinese
    assert not re.search(r"Checked when|Proved over|example packet|ends in|reached", chinese)
    # The same code spans (packets, rulesets, descriptions), numbers and table rows.
    for pattern in (r"`[^`]+`", r"\d+", r"^\|.*$"):
        found = [re.findall(pattern, text, re.MULTILINE) for text in (english, chinese)]
        if pattern.startswith("^"):
            found = [[row.count(" | ") for row in rows] for rows in found]
        assert found[0] == found[1], pattern


# The ambient page's kind of claims: marks under masks (ztunnel's 0x539/0xfff, the
# connection mark 0x111/0xfff), at both hooks, in nat and mangle, and a what-if in mangle.
AMBIENT_CLAIMS = (
    "`chainwalk: never ISTIO_OUTPUT#6 in ambient where mark=0x539/0xfff`\n\n"
    "`chainwalk: every ISTIO_OUTPUT#6 in ambient where tcp socket mark!=0x539/0xfff "
    "mark!=0x111/0xfff out=eth0 dport!=53 dst!=169.254.7.127`\n\n"
    "```chainwalk\nview: claim\nruleset: ambient\ntable: mangle\nhook: prerouting\n"
    "claim: never ISTIO_PRERT#1\nwhere: mark!=0x539/0xfff\n```\n\n"
    "```chainwalk\nview: claim\nruleset: ambient\nhook: prerouting\n"
    "claim: never ISTIO_PRERT#2\nwhere: mark=0x539/0xfff\n```\n\n"
    "```chainwalk\nview: claim\nruleset: ambient\ntable: mangle\n"
    "claim: without ISTIO_OUTPUT#1 then ambient/outbound dropped\n```\n")
RESTORE = ("-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark "
           "--nfmask 0xffffffff --ctmask 0xffffffff\n")



def rules_changed(tmp_path: Path, ruleset: str, old: str, new: str) -> Path:
    """A copy of the rules folder whose ruleset file ``ruleset`` has ``old`` (once)
    replaced by ``new``."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    path = rules / "rulesets" / ruleset
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    return rules


@pytest.mark.parametrize(("old", "new", "failure", "witness", "failing"), [
    # nat OUTPUT captures ztunnel's own (marked) connections, and those of mark 0x538 not
    ("-p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001",
     "-p tcp -m mark ! --mark 0x538/0xfff -j REDIRECT --to-ports 15001",
     "1:1: the claim 'never ISTIO_OUTPUT#6 in ambient where mark=0x539/0xfff' does not "
     "hold: this packet matches it: ", "mark=0x539", ["1:1", "3:1"]),
    # the connection mark for more than ztunnel's packets: a mask of 0xff, not 0xfff
    ("-m mark --mark 0x539/0xfff -j CONNMARK", "-m mark --mark 0x39/0xff -j CONNMARK",
     "5:1: the claim 'never ISTIO_PRERT#1 in ambient where mark!=0x539/0xfff' does not "
     "hold: this packet matches it: ", "mark=0x39", ["5:1"]),
    ("! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT",
     "! --dport 15008 -j REDIRECT",
     "14:1: the claim 'never ISTIO_PRERT#2 in ambient where mark=0x539/0xfff' does not "
     "hold: this packet matches it: ", "mark=0x539", ["14:1"]),
    # a second restore: deleting the first no longer breaks the handshake
    (RESTORE, RESTORE * 2,
     "22:1: the claim 'without ISTIO_OUTPUT#1 in ambient then ambient/outbound dropped' "
     "does not hold: the journey ends delivered, its last connection lands on port 8000",
     "hop 3: httpbin/ztunnel", ["22:1"]),
])
def test_ambient_mark_claims_fail_when_the_rules_change(
        tmp_path: Path, old: str, new: str, failure: str, witness: str,
        failing: list[str]) -> None:
    assert render(AMBIENT_CLAIMS)[1] == []
    rules = rules_changed(tmp_path, "ambient.rules", old, new)
    _, problems = render(AMBIENT_CLAIMS, rules)
    claims = {p.split(": ", 1)[0].removeprefix("docs/p.md:"): p for p in problems
              if "the claim" in p.split("\n")[0]}
    assert sorted(claims) == failing, problems
    first, *trace = claims[failing[0]].split("\n")
    assert first.startswith("docs/p.md:" + failure), first
    assert witness in claims[failing[0]], claims[failing[0]]
    assert trace, "a failed claim shows the packet's walk or the changed journey"


OWN = "mark=0x539/0xfff"  # ztunnel's sockets' mark, under the mask istio-cni tests
APP_TCP = ("every ISTIO_OUTPUT#6 in ambient where tcp socket mark!=0x539/0xfff "
           "mark!=0x111/0xfff out=eth0 dport!=53 dst!=169.254.7.127")
INBOUND = ("every ISTIO_PRERT#2 in ambient where tcp mark!=0x539/0xfff src!=169.254.7.127 "
           "dst!=127.0.0.1 dport!=15008")
DNS_TCP = ("every ISTIO_OUTPUT#3 in ambient where tcp socket mark!=0x539/0xfff "
           "dst!=127.0.0.1 dst!=169.254.7.127 dport=53")


def test_the_ambient_pages_claims_hold() -> None:
    for page in ("docs/ambient.md", "docs/ambient.zh.md"):
        text, problems = render((REPO / page).read_text(encoding="utf-8"), page=page)
        assert problems == [] and "chainwalk:" not in text


@pytest.mark.parametrize(("old", "new", "broken"), [
    ("-A ISTIO_PRERT -m mark --mark 0x539/0xfff", "-A ISTIO_PRERT -m mark --mark 0x538/0xfff",
     {f"reached ISTIO_PRERT#1 in ambient where {OWN}",
      "never ISTIO_PRERT#1 in ambient where mark!=0x539/0xfff"}),
    ("-p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001",
     "-p tcp -m tcp --dport 80 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001",
     {APP_TCP}),
    ("-p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001",
     "-p tcp -j REDIRECT --to-ports 15001", {f"never ISTIO_OUTPUT#6 in ambient where {OWN}"}),
    ("! -o lo -p udp", "-o eth1 -p udp",
     {"every ISTIO_OUTPUT#2 in ambient where udp socket mark!=0x539/0xfff out=eth0 dport=53"}),
    ("-p udp -m mark ! --mark 0x539/0xfff -m udp --dport 53 -j REDIRECT",
     "-p udp -m udp --dport 53 -j REDIRECT", {f"never ISTIO_OUTPUT#2 in ambient where {OWN}"}),
    ("-m tcp --dport 53 -m mark", "-m tcp --dport 54 -m mark", {APP_TCP, DNS_TCP}),
    ("--dport 53 -m mark ! --mark 0x539/0xfff -j REDIRECT", "--dport 53 -j REDIRECT",
     {f"never ISTIO_OUTPUT#3 in ambient where {OWN}"}),
    ("-A ISTIO_OUTPUT -d 169.254.7.127/32", "-A ISTIO_OUTPUT -d 169.254.7.128/32",
     {APP_TCP, DNS_TCP, "every ISTIO_OUTPUT#1 in ambient where tcp dst=169.254.7.127"}),
    ("-A ISTIO_PRERT -s 169.254.7.127/32", "-A ISTIO_PRERT -s 169.254.7.128/32",
     {INBOUND, "every ISTIO_PRERT#1 in ambient where tcp src=169.254.7.127"}),
    ("! --dport 15008 -m mark", "-m mark", {"never ISTIO_PRERT#2 in ambient where tcp dport=15008"}),
    ("! --dport 15008 -m mark ! --mark 0x539/0xfff", "! --dport 15008",
     {f"never ISTIO_PRERT#2 in ambient where {OWN}"}),
    ("! --dport 15008 -m mark", "--dport 8000 -m mark", {INBOUND}),
    (RESTORE, RESTORE * 2, {"without ISTIO_OUTPUT#1 in ambient then ambient/outbound dropped"}),
])
def test_each_claim_of_the_ambient_page_fails_when_its_rule_changes(
        tmp_path: Path, old: str, new: str, broken: set[str]) -> None:
    rules = rules_changed(tmp_path, "ambient.rules", old, new)
    for page in ("docs/ambient.md", "docs/ambient.zh.md"):
        markdown = (REPO / page).read_text(encoding="utf-8")
        _, problems = render(markdown, rules, page)
        failed = {m.group(1) for p in problems
                  if (m := re.search(r"the claim '([^']+)' does not hold", p))}
        assert failed == broken, problems


# -- claims over an nftables ruleset (docs/nftables.md) ---------------------------------

NFT_PAGES = ("docs/nftables.md", "docs/nftables.zh.md")
NFT_OUTPUT = "add rule inet istio-proxy-nat istio-output "


def test_the_nftables_pages_claims_hold() -> None:
    for page in NFT_PAGES:
        text, problems = render((REPO / page).read_text(encoding="utf-8"), page=page)
        assert problems == [] and "chainwalk:" not in text


@pytest.mark.parametrize(("old", "new", "broken"), [
    # the proxy's uid no longer returned: its connections go on to be captured
    (NFT_OUTPUT + "meta skuid 1337 counter return", NFT_OUTPUT + "meta skuid 1338 counter return",
     {"every istio-output#8 in current.nft where tcp uid=1337 out=eth0 dport!=15020",
      "same-as current.nft in current where socket"}),
    # nft's owner rule made to hold without a socket, as iptables' does: no difference left
    (NFT_OUTPUT + "oifname lo meta skuid != 1337 counter return",
     NFT_OUTPUT + "oifname lo counter return",
     {"never istio-output#7 in current.nft where no-socket"}),
    # an inbound port left out of the redirect
    ("add rule inet istio-proxy-nat istio-in-redirect meta l4proto tcp counter redirect",
     "add rule inet istio-proxy-nat istio-in-redirect tcp dport != 9080 counter redirect",
     {"every istio-in-redirect#1 in current.nft where tcp in=eth0 dport!=15008 dport!=15020 "
      "dport!=15021 dport!=15090", "same-as current.nft in current",
      "same-as current.nft in current where socket"}),  # (the proxy's own, to its pod's IP)
])
def test_each_nft_claim_fails_when_its_rule_changes(tmp_path: Path, old: str, new: str,
                                                    broken: set[str]) -> None:
    rules = rules_changed(tmp_path, "current.nft", old, new)
    for page in NFT_PAGES:
        markdown = (REPO / page).read_text(encoding="utf-8")
        _, problems = render(markdown, rules, page)
        failed = {m.group(1) for p in problems
                  if (m := re.search(r"the claim '([^']+)' does not hold", p))}
        assert failed == broken, problems


def tproxy_claims() -> str:
    """The TPROXY page's packet claims (its claim blocks over every packet), as a page."""
    page = (REPO / "docs" / "tproxy.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```chainwalk\nview: claim\n(?:(?!```).)*?```\n", page, re.S)
    found = [block for block in blocks if "without" not in block]
    assert len(found) == 3, found
    return "\n".join(found)


@pytest.mark.parametrize(("old", "new", "failing", "witness"), [
    # one more port left to the application: its connections are not handed to Envoy
    ("-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN\n",
     "-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN\n"
     "-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j RETURN\n",
     ["every ISTIO_TPROXY#1"], "dport=8080"),
    # marked packets no longer return first: TPROXY takes them again
    ("-A ISTIO_INBOUND -p tcp -m mark --mark 0x539 -j RETURN\n", "",
     ["none ISTIO_TPROXY#1"], "mark=0x539"),
    # new connections diverted as if established
    ("--ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT", "--ctstate NEW,ESTABLISHED -j ISTIO_DIVERT",
     ["every ISTIO_TPROXY#1", "never ISTIO_DIVERT#1"], "ISTIO_DIVERT"),
])
def test_tproxy_page_claims_fail_when_the_rules_change(
        tmp_path: Path, old: str, new: str, failing: list[str], witness: str) -> None:
    page = tproxy_claims()
    assert render(page)[1] == []
    _, problems = render(page, rules_changed(tmp_path, "tproxy.rules", old, new))
    broken = sorted(m.group(1) for p in problems
                    if (m := re.search(r"the claim '(\w+ \S+)", p)) is not None)
    assert len(broken) == len(problems), problems
    assert broken == failing, problems
    assert witness in problems[0], problems[0]


def test_mistakes_in_a_claim_over_an_nft_ruleset() -> None:
    _, problems = render(
        "x `chainwalk: without istio-output#1 in current.nft then bookinfo/outbound "
        "unchanged` y\n\nz `chainwalk: every istio-output#99 in current.nft`\n")
    assert sorted(problems) == [
        "docs/p.md:1:3: a what-if edits iptables rulesets only: got 'current.nft', expected "
        "an iptables ruleset's stem",
        "docs/p.md:3:3: current.nft has no istio-proxy-nat istio-output rule 99: got "
        "'istio-output#99', expected a rule of istio-proxy-nat istio-output"], problems
