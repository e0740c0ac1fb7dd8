"""The kernel as judge of the nftables trace: each probe's connection is made for real in
pods whose rules were loaded with ``nft -f`` (the counting pass and the landing pass of
``test_kernel_trace``), then traced by ``chainwalk trace`` on the same file; the rules whose
counters rose must be chainwalk's hits, and the connection must land where chainwalk says.

Rulesets: four of Istio's sidecar nftables goldens (read from ``../shared`` when present),
two of its TPROXY goldens (``tproxy ip to :15006``, ``meta mark set 1337``, ``ct mark set
mark``: the pods route mark 1337 locally and their listeners are transparent), four of its
ambient goldens (marks, ct marks, ct zones, route chains; probed also from a socket marked
0x539 as ztunnel's are) and ``nft-maps.nft`` (named sets, verdict maps over
concatenations, a route chain, reject, ct marks).

Also here: the writer's normal form is what ``nft -a list ruleset`` prints, and reading
``nft -j list ruleset`` gives the same model, for every golden nft can load.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from kernel_compare import failure_report, hit_problems, outcome_problems, run_chainwalk
from kernel_probes import (
    APP,
    PROXY,
    PROXY_GID,
    ZTUNNEL,
    Identity,
    Probe,
    _istio6_probes,
    _istio_probes,
)
from netns import (
    GATEWAY_IP,
    POD_IP,
    REMOTE_HOST,
    HarnessError,
    land,
    listening_sockets,
    trace_first_packet,
)
from nft_lab import NftLab, NftRuleset, read_nft_counters

from chainwalk.netfilter._nft_parser import parse_nft_text
from chainwalk.netfilter._nft_writer import write_nft_ruleset
from kernel_requirement import cannot_run, network_namespace, require_kernel

pytestmark = pytest.mark.kernel

HERE = Path(__file__).parent
GOLDENS = HERE.parents[1] / ".." / "shared" / "istio-goldens-nft"
UID3 = Identity("uid3", 3, 3)  # the proxy of the uid-gid goldens (uids 3, 4; gids 1, 2)
GID2 = Identity("gid2", 1001, 2)


def _golden(name: str, *who: Identity) -> NftRuleset:
    return NftRuleset(f"nft-{name}", GOLDENS / f"{name}.golden", who)


SIDECAR = (
    _golden("inbound-ports-include", APP, PROXY, PROXY_GID),
    _golden("ipnets", APP, PROXY),
    _golden("dns-uid-gid", APP, UID3, GID2),
    _golden("drop-invalid", APP, PROXY),
)
TPROXY = (
    _golden("tproxy", APP, PROXY),
    _golden("inbound-ports-tproxy", APP, PROXY),
)
AMBIENT = _golden("ambient-default", APP, PROXY, ZTUNNEL)
AMBIENT_VARIANTS = (  # what differs from ambient-default: DNS capture off, interfaces, ingress
    _golden("ambient-dns_pod_disabled_and_on_globally", APP, ZTUNNEL),
    _golden("ambient-virtual_interfaces", APP, ZTUNNEL),
    _golden("ambient-ingress", APP, ZTUNNEL),
)
MAPS = NftRuleset("nft-maps", HERE / "rulesets" / "nft-maps.nft", (APP, PROXY))


def _maps_probes() -> list[Probe]:
    rs = MAPS
    outbound = [(GATEWAY_IP, 80), (GATEWAY_IP, 5555), ("172.16.0.7", 9000), (GATEWAY_IP, 443),
                (GATEWAY_IP, 22), (GATEWAY_IP, 15020), (REMOTE_HOST, 80), ("192.168.7.7", 443),
                (POD_IP, 8443), ("127.0.0.1", 443), (GATEWAY_IP, 81)]
    probes = [Probe(rs, "output", "tcp", dst, port, who) for who in rs.identities
              for dst, port in outbound]
    probes += [Probe(rs, "output", "udp", dst, port, who) for who in rs.identities
               for dst, port in ((GATEWAY_IP, 53), (GATEWAY_IP, 8125), (REMOTE_HOST, 53))]
    probes += [Probe(rs, "prerouting", "tcp", POD_IP, port)
               for port in (1111, 2222, 8080, 15021, 9090)]
    probes.append(Probe(rs, "prerouting", "tcp", POD_IP, 8080, src=REMOTE_HOST))
    return probes


def _probes() -> list[Probe]:
    if not GOLDENS.is_dir():
        return _maps_probes()
    probes = [p for rs in SIDECAR for p in _istio_probes(rs)]
    probes += _istio6_probes(SIDECAR[2])  # dns-uid-gid writes IPv6 rules too
    probes += [p for rs in TPROXY for p in _istio_probes(rs)]
    probes += [p for rs in (AMBIENT, *AMBIENT_VARIANTS) for p in _istio_probes(rs)
               if p.hook == "prerouting" or p.who != PROXY]
    return probes + _maps_probes()


PROBES = _probes()


def _require_nft() -> None:
    require_kernel()
    if shutil.which("nft") is None:
        cannot_run("comparing with the kernel's nftables needs nft (Debian package nftables)")


@pytest.fixture(scope="module")
def nft_lab() -> Iterator[NftLab]:
    _require_nft()
    try:
        lab = NftLab.create(tag=f"{os.getpid() % 10_000}n")
    except (HarnessError, OSError) as e:
        cannot_run(f"cannot create network namespaces: {e}")
    try:
        yield lab
    finally:
        lab.destroy()


def test_enough_probes_over_enough_rulesets() -> None:
    if not GOLDENS.is_dir():
        pytest.skip("../shared/istio-goldens-nft is absent: only nft-maps is probed")
    assert len(PROBES) >= 800
    assert len({p.ruleset.name for p in PROBES}) >= 11
    assert any(p.who.mark for p in PROBES)  # ztunnel's marked sockets


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_chainwalk_traces_nftables_like_the_kernel(probe: Probe, nft_lab: NftLab) -> None:
    nft_lab.use(probe.ruleset.text)
    with ExitStack() as listening:
        if "tproxy" in probe.ruleset.text:
            # nft's tproxy statement goes on to the rule's counter only when it found a
            # transparent socket: the counting pod listens as the landing pod does.
            client = probe.client(nft_lab.counting)
            for sock in listening_sockets(nft_lab.counting.pod, client, sorted(probe.pod_ports)):
                listening.enter_context(sock)
        first = trace_first_packet(nft_lab.counting, probe.client(nft_lab.counting),
                                   read_nft_counters)
    landing = land(nft_lab.landing, probe.client(nft_lab.landing), probe.pod_ports,
                   probe.network_ports)
    walk = run_chainwalk(probe, first.client)
    # only rules with a counter can be judged by their counters
    walk = replace(walk, hits=frozenset(r for r in walk.hits if r in first.counters.text))
    problems = hit_problems(first.counters, walk) + outcome_problems(probe, first, landing,
                                                                     walk)
    if problems:
        pytest.fail(failure_report(probe, first, landing, walk, problems), pytrace=False)


def _loadable_goldens() -> list[Path]:
    return sorted(GOLDENS.glob("*.golden")) if GOLDENS.is_dir() else []


def test_the_writer_prints_what_nft_lists_and_json_reads_alike() -> None:
    _require_nft()
    files = [*_loadable_goldens(), HERE / "rulesets" / "nft-maps.nft"]
    compared = 0
    for path in files:
        # a namespace of its own: table handles count on across flushes
        with network_namespace(f"cw-nftlist-{os.getpid()}") as ns:
            loaded = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", str(path)],
                                    capture_output=True, text=True, check=False)
            if loaded.returncode != 0:
                # undeclared sets or group names this machine lacks: nft cannot load them
                assert "No such file" in loaded.stderr or "does not exist" in loaded.stderr, \
                    loaded.stderr
                continue
            listing = subprocess.run(["ip", "netns", "exec", ns, "nft", "-a", "list",
                                      "ruleset"], capture_output=True, text=True,
                                     check=True).stdout
            as_json = subprocess.run(["ip", "netns", "exec", ns, "nft", "-j", "list",
                                      "ruleset"], capture_output=True, text=True,
                                     check=True).stdout
            model = parse_nft_text(path.read_text(), str(path))
            if not model.tables or not any(s.elements for t in model.tables for s in t.sets):
                # named sets list in the kernel's order: compared as models only
                assert write_nft_ruleset(model, handles=True) == listing, path
            assert parse_nft_text(listing, "listing") == model, path
            assert parse_nft_text(as_json, "json") == model, path
            compared += 1
    assert compared >= (46 if GOLDENS.is_dir() else 1)


def test_the_nft_listing_view_is_what_nft_lists_with_those_counters(tmp_path: Path) -> None:
    """The nftables page's listing (``current.nft`` with the Bookinfo journeys' counters),
    loaded with ``nft -f`` (which sets each counter to the numbers it gives), is printed
    back by ``nft list ruleset`` byte for byte."""
    from chainwalk.project import Project, Site
    from chainwalk.render import Request

    _require_nft()
    repo = HERE.parents[1]
    site = Site(Project(repo / "rules", repo))
    site.begin_build()
    markdown = site.render(Request("listing", ruleset="current.nft",
                                   topology="bookinfo-nft")).markdown
    listed = markdown.split("```text\n", 1)[1].split("```", 1)[0]
    assert "counter packets 0 bytes 0" in listed and "counter packets 3 bytes 180" in listed
    path = tmp_path / "listed.nft"
    path.write_text(listed, encoding="utf-8")
    with network_namespace(f"cw-nftview-{os.getpid()}") as ns:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", str(path)],
                       capture_output=True, text=True, check=True)
        printed = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "ruleset"],
                                 capture_output=True, text=True, check=True).stdout
    assert printed == listed
