"""The site's own build fails, with `mkdocs build --strict`, when an annotation's claim
about a rule stops holding (the example of issue 12)."""

from __future__ import annotations

from pathlib import Path

from plugin_helpers import edit, run_cli, site_copy


def _failed_build(tmp_path: Path, file: str, old: str, new: str) -> tuple[Path, str]:
    """A copy of the site with ``old`` replaced by ``new`` in ``file``, whose strict build
    fails; the copy and the build's error output."""
    site = site_copy(tmp_path / "site-copy")
    edit(site / file, old, new)
    result = run_cli(site, "build", "--strict", "-d", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    return site, result.stderr


def test_a_false_annotation_fails_the_sites_strict_build(tmp_path: Path) -> None:
    _, stderr = _failed_build(
        tmp_path, "rules/rulesets/current.annotations.yaml",
        "      article: 9\n      steps: [10, 11]\n      scenario: bookinfo/outbound",
        "      article: 4\n      steps: [14, 15]\n      scenario: bookinfo/localhost")
    claims = [line for line in stderr.splitlines()
              if "rules/rulesets/current.annotations.yaml:" in line]
    assert len(claims) == 4, stderr  # the steps also at the home page's figure
    for said in ("the article's rule 4", "number this rule's moves otherwise",
                 "the scenario's journey never meets this rule"):
        assert any(said in line for line in claims), stderr
    assert not (tmp_path / "out" / "index.html").exists()


def test_a_false_claim_in_a_page_fails_the_sites_strict_build(tmp_path: Path) -> None:
    """"Rule 5 is never reached" stated of the rule that returns the application's in-pod
    connections: the build names the page, line and column, and traces a packet."""
    site, stderr = _failed_build(
        tmp_path, "docs/article-errata.md",
        "`chainwalk: never ISTIO_OUTPUT#5 in classic | never reached`",
        "`chainwalk: never ISTIO_OUTPUT#3 in classic | never reached`")
    lines = (site / "docs" / "article-errata.md").read_text(encoding="utf-8").split("\n")
    line = next(n for n, text in enumerate(lines, 1) if "ISTIO_OUTPUT#3 in classic" in text)
    column = lines[line - 1].index("`chainwalk: never ISTIO_OUTPUT#3") + 1
    assert f"docs/article-errata.md:{line}:{column}: the claim 'never ISTIO_OUTPUT#3 in " \
        "classic' does not hold: this packet matches it: " in stderr, stderr
    assert "nat:ISTIO_OUTPUT:rule:3:RETURN" in stderr


def test_a_claim_over_an_nft_ruleset_fails_the_sites_strict_build(tmp_path: Path) -> None:
    """The nftables page proves that the proxy's connections are returned by
    ``meta skuid 1337 counter return``: with the uid changed in current.nft, the build
    fails at that claim, in both languages, with a packet traced through the nft rules."""
    _, stderr = _failed_build(tmp_path, "rules/rulesets/current.nft",
                              "istio-output meta skuid 1337 counter return",
                              "istio-output meta skuid 1338 counter return")
    for page in ("docs/nftables.md:", "docs/nftables.zh.md:"):
        assert any(page in line and "the claim 'every istio-output#8 in current.nft "
                   "where tcp uid=1337 out=eth0 dport!=15020' does not hold" in line
                   for line in stderr.splitlines()), stderr
    assert "this packet ends at istio-proxy-nat istio-redirect#1 redirect instead: tcp " \
        "src=10.0.0.5 dst=10.0.0.1" in stderr, stderr
