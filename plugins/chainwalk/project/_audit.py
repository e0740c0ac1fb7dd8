"""Istio's capture invariants, proved over every packet of a pod's ruleset.

The invariants (the proxy runs as ``proxy_uid``/``proxy_gid``, 1337 by default):

- ``outbound-capture``: an application's TCP connection to another host (leaving on
  ``eth0``) is redirected to the proxy (127.0.0.1: 15001, or 15053 for DNS), unless an
  exclusion returns it;
- ``inbound-capture``: a TCP connection arriving on ``eth0`` is redirected to port 15006
  (by nat, or handed to a transparent listener on 15006 by TPROXY), unless an exclusion
  returns it; it arrives from another network namespace, so without a mark (the kernel
  clears it crossing namespaces);
- ``proxy-not-captured``: the proxy's own connections to other hosts are never redirected
  to its outbound listener (which would loop).

An *exclusion* is a ``RETURN`` that names a port or a destination (``--dport``,
``--dports``, ``-d``; nftables: a ``return`` whose rule matches ``dport`` or ``daddr``
with ``==``): the packets it returns are listed, not counted as a break. Anything else
that escapes capture breaks the invariant, with a witness packet. An iptables ruleset's
packets are judged where their walk through nat ends; an nftables ruleset's (which has
no table of fixed name) at the end of the hook.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from .._errors import Location
from ..netfilter import Host, Packet, Ruleset, host_with
from ..netfilter._nft_model import Match, NftRule, NftRuleset, Payload
from ..netfilter._proof import exploration, outcome, parse_description
from ..netfilter._space import TPROXY_PORT, Decision, Piece, witness_packet

Status = Literal["holds", "broken"]
_EXCLUDING = ("dport", "dports", "destination-ports", "destination")


@dataclass(frozen=True)
class Finding:
    """One class of packets an invariant met: excluded (with the rule) or breaking it."""

    witness: Packet
    ending: Decision
    excluded: bool


@dataclass(frozen=True)
class Invariant:
    name: str
    status: Status
    findings: tuple[Finding, ...]


def audit(ruleset: Ruleset | NftRuleset, host: Host | None = None, proxy_uid: int = 1337,
          proxy_gid: int = 1337, family: int = 4) -> list[Invariant]:
    """Each invariant, holding or broken (raises ``CannotProve`` for what it cannot
    decide; ``family``: an nftables ruleset's, which holds both)."""
    host = host or host_with({"eth0": ("10.0.0.5/24",)})
    family = ruleset.family if isinstance(ruleset, Ruleset) else family
    app = f"tcp socket uid!={proxy_uid} gid!={proxy_gid} out=eth0"
    proxy = f"tcp uid={proxy_uid} gid={proxy_gid} out=eth0"
    lo = int(ipaddress.ip_address("127.0.0.1" if family == 4 else "::1"))
    return [
        _check(ruleset, host, family, "outbound-capture", "OUTPUT", app,
               lambda o, _: o[0] == "ACCEPT" and o[1] == lo),
        _check(ruleset, host, family, "inbound-capture", "PREROUTING", "tcp in=eth0 mark=0",
               lambda o, tproxy: o[0] == "ACCEPT" and 15006 in (o[2], tproxy)),
        _check(ruleset, host, family, "proxy-not-captured", "OUTPUT", proxy,
               lambda o, _: o[2] != 15001, exclusions=False),
    ]


def _tproxy_port(piece: Piece) -> int | None:
    return dict(piece[1]).get(TPROXY_PORT)


def _check(ruleset: Ruleset | NftRuleset, host: Host, family: int, name: str, hook: str,
           words: str, good: object, exclusions: bool = True) -> Invariant:
    assert callable(good)
    iptables = isinstance(ruleset, Ruleset)
    found = exploration(ruleset, host, hook,
                        parse_description(words, Location("<audit>", 1), family),
                        "nat" if iptables else "", family=family)
    ended = [(found.ending(d, piece), d, piece) for d, pieces in sorted(found.decisions.items())
             if d.table == "nat" for piece in pieces] if iptables else \
        found.hook_endings()
    findings = []
    for ending, decision, piece in ended:
        if good(outcome(decision, piece), _tproxy_port(piece)):
            continue
        packet = witness_packet(piece, found.universe, hook)
        findings.append(Finding(packet, ending, exclusions and _excludes(ruleset, ending)))
    broken = any(not f.excluded for f in findings)
    # One finding per ending: the classes a rule decides are many cubes, one witness says it.
    seen: set[tuple[Decision, bool]] = set()
    kept = []
    for f in findings:
        if (f.ending, f.excluded) not in seen:
            seen.add((f.ending, f.excluded))
            kept.append(f)
    return Invariant(name, "broken" if broken else "holds", tuple(kept))


def _excludes(ruleset: Ruleset | NftRuleset, ending: Decision) -> bool:
    if ending.target.upper() != "RETURN" or ending.rule == 0:
        return False
    chain = ruleset.chain(ending.table, ending.chain)
    if chain is None:
        return False
    rule = chain.rules[ending.rule - 1]
    if isinstance(rule, NftRule):
        return any(isinstance(s, Match) and s.op == "==" and isinstance(s.left, Payload) and
                   s.left.field in ("dport", "daddr") for s in rule.statements)
    return any(o.name in _EXCLUDING and not o.negated for m in rule.matches
               for o in m.options)
