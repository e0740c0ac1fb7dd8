"""The package's names are imported from their modules on first use (their resolving is
tested with the renderers' in ``tests/test_lazy_names.py``): checking an iptables ruleset
loads neither the trace, the nftables parser nor the journeys (unless it has an annotation
file, whose claims are checked against the journeys)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# A ruleset without an annotation file beside it.
RULESET = Path(__file__).resolve().parents[2] / "rules" / "rulesets" / "dns.rules"


def test_check_loads_the_parser_only() -> None:
    code = ("import sys; from chainwalk.cli import main; status = main(['check', sys.argv[1]]); "
            "print(status, sorted(m for m in sys.modules if m.startswith('chainwalk.')))")
    out = subprocess.run([sys.executable, "-c", code, str(RULESET)], capture_output=True,
                         text=True, check=True).stdout.splitlines()[-1]
    assert out.startswith("0 ")
    assert "chainwalk.netfilter._parser" in out
    for absent in ("chainwalk.netfilter._trace", "chainwalk.netfilter._compile",
                   "chainwalk.netfilter._nft_parser", "chainwalk.netfilter._nft_model",
                   "chainwalk.journey", "chainwalk.render"):
        assert f"'{absent}'" not in out


def test_every_module_and_target_the_parser_knows_has_a_behaviour() -> None:
    from chainwalk.netfilter._compile import _MODULES
    from chainwalk.netfilter._extensions import MODULES, TARGETS
    from chainwalk.netfilter._targets import ACTIONS

    assert set(ACTIONS) == set(TARGETS)
    assert set(_MODULES) == set(MODULES)
