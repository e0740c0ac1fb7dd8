"""The kernel as judge: chainwalk's trace of a connection must be what Linux does with it.

For every probe, the same connection is made for real twice, in two identical pods:

1. the counter pass, in the counting pod, whose harness rules let only the connection's first
   packet through, gives the rules whose packet counters rose: exactly the rules chainwalk must
   report as hits;
2. the landing pass, in the landing pod, with the plain ruleset and listeners everywhere it
   could land, gives the outcome: the listener (port, address, peer, original destination)
   that received it in the pod ("delivered") or in the network ("sent"), or else the verdict
   the counters show ("rejected", "dropped") or none ("unroutable").

Then chainwalk traces the same packet (same source address and port the kernel chose) and
every difference is reported together, with the kernel's counters and chainwalk's hits.
"""

from __future__ import annotations

import pytest
from kernel_compare import judge
from kernel_probes import Probe, all_probes
from netns import Lab

pytestmark = pytest.mark.kernel

PROBES = all_probes()


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_chainwalk_traces_like_the_kernel(probe: Probe, lab: Lab) -> None:
    report = judge(probe, lab)
    if report is not None:
        pytest.fail(report, pytrace=False)
