"""Both backends agree: for every configuration Istio has both an iptables golden
(``../shared/istio-goldens``) and an nftables golden (``../shared/istio-goldens-nft``) for,
the same packets traced through either end the same way (disposition, final addresses and
ports, mark, TPROXY socket), on at least 200 packets per ruleset and family.

Differences by design are named in ``BY_DESIGN`` and asserted to be what they are, so that
one disappearing (or a new one appearing) fails the test.

Beyond the probes, the symbolic engine proves it over every packet, at OUTPUT and
PREROUTING, for each family: the twins give every packet the same outcome (verdict,
destination and port after NAT, packet and connection marks, TPROXY listener), except the one difference by
design the kernels' owner matches make (``NO_SOCKET``), which the proof finds exactly
where it says, each class's witness traced through both to show it. The probes include
packets without a socket, and every difference they find is that one.
"""

from __future__ import annotations

from itertools import product

import pytest
from nf_helpers import pod_host
from test_goldens import GOLDENS, group_by_family, restore_blocks

from chainwalk import ChainwalkError
from chainwalk._errors import Location
from chainwalk.netfilter import Packet, Ruleset, parse_text, trace
from chainwalk.netfilter._nft_model import NftRuleset
from chainwalk.netfilter._nft_parser import parse_nft_text
from chainwalk.netfilter._proof import Difference, differences, parse_description

NFT_GOLDENS = GOLDENS.parent / "istio-goldens-nft"
PROBES_PER_FAMILY = 200

# uids/gids the goldens name: Istio's proxy (1337), the uid-gid goldens' 3/4 and 1/2, an app;
# and no socket (a packet the kernel sends itself).
_OWNERS = ((1000, 1000), (1337, 1337), (1001, 1337), (1337, 1000), (3, 3), (4, 1), (0, 2),
           (None, None))
_DESTINATIONS = {
    4: ("10.0.0.9", "10.0.0.5", "127.0.0.1", "127.0.0.6", "1.1.1.1", "9.9.9.9", "10.96.0.10",
        "127.0.0.53", "169.254.7.127"),
    6: ("fd00::9", "fd00::5", "::1", "::6", "2001:db8::1", "fd01::99"),
}
_PORTS = (80, 53, 15001, 15006, 15008, 15020, 8080, 31000, 32000, 5000, 4000, 22, 15053)
_SOURCES = {4: ("10.0.0.9", "127.0.0.6", "10.1.2.3"), 6: ("fd00::9", "::6")}
_INTERFACES = ("eth0", "eth1", "lo")

#: Configurations whose twins differ by design, and how (beyond ``NO_SOCKET``).
BY_DESIGN: dict[str, str] = {}
#: The difference by design between every pair of twins that has it: at OUTPUT, a packet
#: without a socket matches iptables' ``-m owner ! --uid-owner 1337`` (xt_owner: with no
#: socket, a match whose every criterion is negated holds) but not nftables' ``meta skuid
#: != 1337`` (no socket: nothing to read, the rule does not match), so iptables returns it
#: where nftables goes on to later rules. docs/nftables.md says so.
NO_SOCKET = "OUTPUT, no socket: iptables' negated owner match holds, nftables' skuid does not"


def _packets(family: int) -> list[tuple[str, Packet]]:
    """At least PROBES_PER_FAMILY packets, spread over owners, destinations, ports and both
    protocols (output), and over sources, interfaces and ports (prerouting)."""
    own = "10.0.0.5" if family == 4 else "fd00::5"
    found: list[tuple[str, Packet]] = []
    for n, (owner, dst, port, proto) in enumerate(product(_OWNERS, _DESTINATIONS[family],
                                                          _PORTS, ("tcp", "udp"))):
        if n % 7 == 0 or (proto == "tcp" and n % 3 == 0):
            found.append(("OUTPUT", Packet(dst, port, proto, uid=owner[0], gid=owner[1])))
    for src, interface, port, proto in product(_SOURCES[family], _INTERFACES, _PORTS,
                                               ("tcp", "udp")):
        if interface == "lo" and not src.startswith(("127.", "::")):
            continue
        found.append(("PREROUTING", Packet(own, port, proto, src, in_interface=interface)))
    return found


def _outcome(ruleset: Ruleset | NftRuleset, hook: str, packet: Packet) -> tuple[object, ...]:
    host = pod_host()
    try:
        branch = trace(ruleset, packet, host, hook).main
    except ChainwalkError as e:
        return ("error", str(e).split(": ", 1)[-1])
    f = branch.final
    return (branch.disposition, f.src, f.sport, f.dst, f.dport, f.mark, branch.tproxy)


def _configs() -> list[object]:
    if not NFT_GOLDENS.is_dir() or not GOLDENS.is_dir():
        return [pytest.param(None, id="no-goldens", marks=pytest.mark.skip(
            reason="../shared/istio-goldens and istio-goldens-nft are absent"))]
    names = sorted({p.name for p in GOLDENS.glob("*.golden")}
                   & {p.name for p in NFT_GOLDENS.glob("*.golden")})
    return [pytest.param(name, id=name) for name in names]


def test_at_least_200_packets_per_family() -> None:
    assert len(_packets(4)) >= PROBES_PER_FAMILY
    assert len(_packets(6)) >= PROBES_PER_FAMILY


@pytest.mark.parametrize("name", _configs())
def test_iptables_and_nftables_twins_agree(name: str) -> None:
    iptables_text = (GOLDENS / name).read_text()
    nft = parse_nft_text((NFT_GOLDENS / name).read_text(), name)
    if any(not value[:1].isdigit() for value in _owner_values(nft)):
        pytest.skip(f"{name} names owners by name (resolved by the system, not the file)")
    differences: list[str] = []
    compared = 0
    for group in group_by_family(restore_blocks(iptables_text)):
        iptables = parse_text(group.text(iptables_text), name, family=group.family)
        for hook, packet in _packets(group.family):
            a, b = _outcome(iptables, hook, packet), _outcome(nft, hook, packet)
            compared += 1
            if a != b and hook == "OUTPUT" and packet.uid is None:
                by_design = _proved(name).get(group.family, [])
                assert by_design, f"{name}: a difference without a socket the proof did " \
                    f"not find: {packet}: iptables {a}, nftables {b}"
                continue
            if a != b:
                differences.append(f"{hook} {packet.protocol} {packet.src or '-'} -> "
                                   f"{packet.dst}:{packet.dport} uid {packet.uid} gid "
                                   f"{packet.gid} in {packet.in_interface}: iptables {a}, "
                                   f"nftables {b}")
    assert compared >= PROBES_PER_FAMILY
    if name in BY_DESIGN:
        assert differences, f"{name}: the difference by design is gone ({BY_DESIGN[name]})"
        return
    assert not differences, f"{name}: {len(differences)} of {compared} differ:\n" + \
        "\n".join(differences[:15])


def _owner_values(ruleset: NftRuleset) -> list[str]:
    from chainwalk.netfilter._nft_model import Match, Meta

    found: list[str] = []
    for table in ruleset.tables:
        for chain in table.chains:
            for rule in chain.rules:
                for s in rule.statements:
                    if isinstance(s, Match) and s.left in (Meta("skuid"), Meta("skgid")):
                        found.extend(s.right if isinstance(s.right, tuple) else
                                     [str(s.right)])
    return found



_PROOFS: dict[str, dict[int, list[Difference]]] = {}


def _proved(name: str) -> dict[int, list[Difference]]:
    """For each family, the classes of packets the twins treat differently (proved over
    every packet at OUTPUT and PREROUTING; made once per configuration)."""
    if name not in _PROOFS:
        iptables_text = (GOLDENS / name).read_text()
        nft = parse_nft_text((NFT_GOLDENS / name).read_text(), name)
        found: dict[int, list[Difference]] = {}
        for group in group_by_family(restore_blocks(iptables_text)):
            iptables = parse_text(group.text(iptables_text), name, family=group.family)
            for hook in ("OUTPUT", "PREROUTING"):
                every = parse_description("", Location("<every packet>", 1, 1), group.family)
                found.setdefault(group.family, []).extend(
                    differences(iptables, nft, pod_host(), hook, every, None, limit=10_000,
                                family=group.family))
        _PROOFS[name] = found
    return _PROOFS[name]


@pytest.mark.parametrize("name", _configs())
def test_iptables_and_nftables_twins_are_proved_alike(name: str) -> None:
    """Over every packet: the same outcome, but for the classes ``NO_SOCKET`` names, each
    shown by its witness's traces."""
    nft = parse_nft_text((NFT_GOLDENS / name).read_text(), name)
    if any(not value[:1].isdigit() for value in _owner_values(nft)):
        pytest.skip(f"{name} names owners by name (resolved by the system, not the file)")
    iptables_text = (GOLDENS / name).read_text()
    proved = _proved(name)
    assert set(proved) == {g.family for g in group_by_family(restore_blocks(iptables_text))}
    for group in group_by_family(restore_blocks(iptables_text)):
        iptables = parse_text(group.text(iptables_text), name, family=group.family)
        for d in proved[group.family]:
            # NO_SOCKET: an iptables RETURN of a rule whose owner match is all negated...
            assert d.witness.uid is None and d.witness.in_interface is None, (NO_SOCKET, d)
            assert d.mine.target == "RETURN", (NO_SOCKET, d)
            chain = iptables.chain(d.mine.table, d.mine.chain)
            assert chain is not None
            owner = chain.rules[d.mine.rule - 1].match("owner")
            assert owner is not None and all(o.negated for o in owner.options), (NO_SOCKET, d)
            # ...and the kernel-exact traces of the witness end apart, as the proof says.
            a = _outcome(iptables, "OUTPUT", d.witness)
            b = _outcome(nft, "OUTPUT", d.witness)
            assert a != b, (name, d)
    if name in BY_DESIGN:
        return
    # Only NO_SOCKET: with a socket, the twins agree on every packet (no other class).
    for group in group_by_family(restore_blocks(iptables_text)):
        iptables = parse_text(group.text(iptables_text), name, family=group.family)
        socket = parse_description("socket", Location("<with a socket>", 1, 1), group.family)
        assert differences(iptables, nft, pod_host(), "OUTPUT", socket, None,
                           family=group.family) == []


def test_the_difference_by_design_is_found_and_stated() -> None:
    """The proof finds NO_SOCKET in current.rules and current.nft (whose page states it),
    and nowhere with a socket."""
    from nf_helpers import REPO

    from chainwalk._ruleset_cache import load_rules

    current = load_rules(str(REPO / "rules/rulesets/current.rules"), None)
    nft = load_rules(str(REPO / "rules/rulesets/current.nft"), None)
    assert isinstance(current, Ruleset) and isinstance(nft, NftRuleset)
    every = parse_description("", Location("-", 1, 1))
    found = differences(current, nft, pod_host(), "OUTPUT", every, None)
    assert found and {str(d.mine) for d in found} == {"nat ISTIO_OUTPUT#5 RETURN"}
    assert all(d.witness.uid is None for d in found)
    page = (REPO / "docs/nftables.md").read_text()
    assert "`meta skuid != 1337` does not match a packet without a\nsocket where " \
        "`-m owner ! --uid-owner 1337` does" in page


@pytest.mark.parametrize("name", _configs())
def test_audit_says_the_same_of_both_twins(name: str) -> None:
    """Istio's capture invariants, audited over every packet, hold or break alike for the
    iptables golden and its nftables twin, with as many findings; where owners are named
    by name, both refuse."""
    from chainwalk.netfilter._space import CannotProve
    from chainwalk.project._audit import audit

    iptables_text = (GOLDENS / name).read_text()
    nft = parse_nft_text((NFT_GOLDENS / name).read_text(), name)
    for group in group_by_family(restore_blocks(iptables_text)):
        iptables = parse_text(group.text(iptables_text), name, family=group.family)
        found = []
        for rules in (iptables, nft):
            try:
                found.append([(i.name, i.status, len(i.findings))
                              for i in audit(rules, pod_host(), family=group.family)])
            except CannotProve as e:
                assert "(a name" in e.reason, e.reason  # an owner by name: both refuse
                found.append([("cannot prove", "", 0)])
        assert found[0] == found[1], (name, group.family)
        assert found[0][0][0] == "outbound-capture" or \
            any(not value[:1].isdigit() for value in _owner_values(nft))
