"""Why a rule did not match, what a matter of chance is, what the trace reports happening
(``event.*``, with policy routing's decisions ``route.*`` and martians ``martian.*``) and
what a matched rule's target did (``effect.*``), as data: a :class:`Reason` is a code and
the values it names; its words come from a template per code.

``ENGLISH`` is the one table of English templates: ``str(reason)`` (the CLI, the JSON,
error messages) fills it in, and the renderers' English catalog takes its ``reason.CODE``
texts from it; other languages' catalogs hold the same codes with the same ``{names}``.
A value may itself be a reason (``assumed not: {choice}``), written in the same language.
Reasons are built only for a rule that does not match, an event or a target's effect (in
place of the f-string each used to be), so the trace's hot path is as cheap as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

ReasonCode = Literal[
    # iptables base criteria
    "source.in-negated", "source.not-in", "destination.in-negated", "destination.not-in",
    "in.none", "out.none", "in.other", "in.other-negated", "out.other", "out.other-negated",
    "protocol", "protocol.negated", "fragment",
    # iptables match modules
    "sport", "sport.negated", "dport", "dport.negated", "ports", "ports.negated",
    "tcp-option", "tcp-flags", "tcp-flags.negated",
    "owner.uid-name", "owner.gid-name", "owner.no-socket", "owner.socket-exists",
    "owner.uid", "owner.uid.negated", "owner.gid", "owner.gid.negated",
    "no-connection", "mark", "mark.negated", "ctmark", "ctmark.negated",
    "ctstate", "ctstate.negated", "ctproto", "ctproto.negated", "ct-address", "ct-port",
    "ctstatus", "ctstatus.negated", "ctdir",
    "addrtype.source", "addrtype.source.negated", "addrtype.destination",
    "addrtype.destination.negated",
    "statistic.random", "statistic.random.negated", "statistic.every",
    "statistic.every.negated",
    "iprange.source", "iprange.source.negated", "iprange.destination",
    "iprange.destination.negated",
    "ipset.unknown", "ipset.in", "ipset.not-in",
    "socket.unknown", "socket.none", "socket.wildcard", "socket.not-transparent",
    "icmp",
    # the trace
    "index", "assumed-not",
    # nftables expressions
    "nft.not-ipv4", "nft.not-ipv6", "nft.not-protocol", "nft.no-socket", "nft.no-input",
    "nft.no-output", "nft.no-connection", "nft.numgen-read", "nft.compare",
    "nft.set-unknown", "nft.owner-name", "nft.in", "nft.not-in", "nft.numgen",
    # a TCP handshake (trace's with_handshake)
    "handshake.assumptions", "handshake.no-source", "handshake.answer-unfollowable",
    "handshake.owner", "handshake.reply-leaves", "handshake.reply", "handshake.ack-unfollowable",
    "handshake.ack", "handshake.completes", "handshake.by",
    # the journey engine: why a journey ends, what a hop notes
    "journey.loop", "journey.accepts", "journey.sidecar", "journey.hop-limit", "journey.hop",
    "hop.handshake", "hop.fork", "hop.kube-proxy", "hop.leaves", "hop.no-receiver",
    "hop.martian", "hop.rejected", "hop.unroutable", "hop.queued", "hop.not-forwarded",
    "hop.dropped", "hop.refused.udp", "hop.refused.tcp",
    "decided.policy", "decided.rule", "decided.rule-effect",
    "service.no-address", "sidecar.answers",
    "envoy.inbound-loop", "envoy.localhost", "envoy.passthrough", "envoy.outbound-loop",
    "envoy.endpoint", "envoy.only-endpoint", "envoy.registry-only", "envoy.allow-any",
    "ztunnel.no-tunnel", "ztunnel.hbone", "ztunnel.inbound-loop", "ztunnel.inbound",
    "ztunnel.outbound-loop", "ztunnel.unknown-service", "ztunnel.service", "ztunnel.hbone-to",
    "ztunnel.direct",
    # what the trace reports happening (event steps), policy routing's decision, a
    # martian, and what a matched rule's target did (Step.effect)
    "event.untracked-namespace", "event.reroute-postrouting", "event.connection-nat.destination",
    "event.connection-nat.source", "event.reroute-refused", "event.reroute-martian",
    "event.rerouted", "event.no-route", "event.no-route-decided", "event.martian",
    "event.route", "event.route-decided", "event.sent", "event.loopback",
    "event.input-martian", "event.input-route", "event.tproxy-not-local",
    "event.input-no-route", "event.delivered", "event.delivered-transparent",
    "event.not-forwarding", "event.forwarded",
    "route.no-rule", "route.outcome", "route.route",
    "martian.source", "martian.destination",
    "effect.mark", "effect.no-connection", "effect.ctmark", "effect.ctmark-saved",
    "effect.mark-restored", "effect.has-conntrack", "effect.has-connection", "effect.notrack",
    "effect.untracked", "effect.zone", "effect.redirect-no-address", "effect.destination",
    "effect.masquerade-no-address", "effect.source", "effect.source-random",
    "effect.tproxy-no-listener", "effect.tproxy-not-transparent", "effect.tproxy",
    "effect.tproxy-socket", "effect.jump", "effect.goto", "effect.stops", "effect.no-element",
    "effect.then",
]
REASON_CODES: tuple[ReasonCode, ...] = get_args(ReasonCode)

ENGLISH: dict[ReasonCode, str] = {
    "source.in-negated": "source {address} is in {network}, rule wants it outside",
    "source.not-in": "source {address} is not in {network}",
    "destination.in-negated": "destination {address} is in {network}, rule wants it outside",
    "destination.not-in": "destination {address} is not in {network}",
    "in.none": "no incoming interface at {hook}, rule wants {wanted}",
    "out.none": "no outgoing interface at {hook}, rule wants {wanted}",
    "in.other": "arrives on {interface}, rule wants {wanted}",
    "in.other-negated": "arrives on {interface}, rule wants any interface but {wanted}",
    "out.other": "leaves on {interface}, rule wants {wanted}",
    "out.other-negated": "leaves on {interface}, rule wants any interface but {wanted}",
    "protocol": "protocol {protocol}, rule wants {wanted}",
    "protocol.negated": "protocol {protocol}, rule wants not {wanted}",
    "fragment": "not a non-first fragment, rule wants -f",
    "sport": "source port {port}, rule wants {wanted}",
    "sport.negated": "source port {port} is {wanted}, rule wants any but {wanted}",
    "dport": "destination port {port}, rule wants {wanted}",
    "dport.negated": "destination port {port} is {wanted}, rule wants any but {wanted}",
    "ports": "ports {sport}/{dport}, rule wants {wanted}",
    "ports.negated": "ports {sport}/{dport}, rule wants not {wanted}",
    "tcp-option": "the packet carries no TCP option {option}, rule wants it",
    "tcp-flags": "TCP flags {flags}, rule wants {wanted} of {mask}",
    "tcp-flags.negated": "TCP flags {flags}, rule wants not {wanted} of {mask}",
    "owner.uid-name": "whether the socket owner is uid {name!r} (a name: its id is known "
                      "only on the node)",
    "owner.gid-name": "whether the socket owner is gid {name!r} (a name: its id is known "
                      "only on the node)",
    "owner.no-socket": "no local socket, rule wants a socket owner",
    "owner.socket-exists": "a local socket exists, rule wants none",
    "owner.uid": "socket owner uid {uid}, rule wants {wanted}",
    "owner.uid.negated": "socket owner uid {uid}, rule wants any uid but {wanted}",
    "owner.gid": "socket owner gid {gid}, rule wants {wanted}",
    "owner.gid.negated": "socket owner gid {gid}, rule wants any gid but {wanted}",
    "no-connection": "the packet has no connection (untracked, or in raw before conntrack "
                     "has seen it)",
    "mark": "packet mark {mark}, rule wants {wanted}",
    "mark.negated": "packet mark {mark}, rule wants not {wanted}",
    "ctmark": "connection mark {mark}, rule wants {wanted}",
    "ctmark.negated": "connection mark {mark}, rule wants not {wanted}",
    "ctstate": "connection state {states}, rule wants {wanted}",
    "ctstate.negated": "connection state {states}, rule wants not {wanted}",
    "ctproto": "connection protocol {protocol}, rule wants {wanted}",
    "ctproto.negated": "connection protocol {protocol}, rule wants not {wanted}",
    "ct-address": "{option} {address}, rule wants {wanted}",
    "ct-port": "{option} {port}, rule wants {wanted}",
    "ctstatus": "connection status NONE, rule wants {wanted}",
    "ctstatus.negated": "connection status NONE, rule wants not {wanted}",
    "ctdir": "the first packet travels in the ORIGINAL direction, rule wants REPLY",
    "addrtype.source": "source {address} is {kind}, rule wants {wanted}",
    "addrtype.source.negated": "source {address} is {kind}, rule wants not {wanted}",
    "addrtype.destination": "destination {address} is {kind}, rule wants {wanted}",
    "addrtype.destination.negated": "destination {address} is {kind}, rule wants not "
                                    "{wanted}",
    "statistic.random": "random, probability {probability}",
    "statistic.random.negated": "not random, probability {probability}",
    "statistic.every": "every {every}th packet (which one depends on earlier packets)",
    "statistic.every.negated": "not every {every}th packet (which one depends on earlier "
                               "packets)",
    "iprange.source": "source {address}, rule wants {wanted}",
    "iprange.source.negated": "source {address}, rule wants outside {wanted}",
    "iprange.destination": "destination {address}, rule wants {wanted}",
    "iprange.destination.negated": "destination {address}, rule wants outside {wanted}",
    "ipset.unknown": "membership of ipset {set} (not in the ruleset file)",
    "ipset.in": "{key} is in ipset {set}",
    "ipset.not-in": "{key} is not in ipset {set}",
    "socket.unknown": "whether a local socket takes the packet (not in the file)",
    "socket.none": "no local socket for {protocol} {address}",
    "socket.wildcard": "the socket for {protocol} {address} listens on any address, which "
                       "the match ignores without --nowildcard",
    "socket.not-transparent": "the socket for {protocol} {address} is not transparent, rule "
                              "wants --transparent",
    "icmp": "a {protocol} connection's first packet, rule wants ICMP type {wanted}",
    "index": "destination {address} is not the -d of these {count} rules (index)",
    "assumed-not": "assumed not: {choice}",
    "nft.not-ipv4": "not an IPv4 packet",
    "nft.not-ipv6": "not an IPv6 packet",
    "nft.not-protocol": "not a {wanted} packet ({protocol})",
    "nft.no-socket": "no local socket",
    "nft.no-input": "no input interface",
    "nft.no-output": "no output interface",
    "nft.no-connection": "the packet has no connection yet",
    "nft.numgen-read": "numgen is read by its map",
    "nft.compare": "{value} is not {op} {wanted}",
    "nft.set-unknown": "{value} in set @{set} (its elements are not in the file)",
    "nft.owner-name": "{value} is the owner a name stands for",
    "nft.in": "{value} is {wanted}",
    "nft.not-in": "{value} is not {wanted}",
    "nft.numgen": "numgen random mod {modulus} gives {value}",
    "handshake.assumptions": "the first packet's way depends on assumptions",
    "handshake.no-source": "the packet has no source address to answer",
    "handshake.answer-unfollowable": "the answer cannot be followed: {error}",
    "handshake.owner": "the answer's fate depends on the owner of the answering socket, "
                       "which the file does not say",
    "handshake.reply-leaves": "the answer (SYN-ACK) leaves on {interface} to {destination} "
                              "instead of coming back to the local client",
    "handshake.reply": "the answer (SYN-ACK) is {disposition}{by}",
    "handshake.ack-unfollowable": "the client's ACK cannot be followed: {error}",
    "handshake.ack": "the client's ACK is {disposition}{by}",
    "handshake.completes": "the answer and the client's ACK both get through",
    "handshake.by": " by {where}",
    "journey.loop": "hop {number} reaches {listener} in pod {pod} with original destination "
                    "{original} again, as hop {first} did: the same connection would repeat "
                    "forever",
    "journey.accepts": "{listener} in pod {pod} accepts the connection (original destination "
                       "{original})",
    "journey.sidecar": "{listener} in pod {pod}: {decision}",
    "journey.hop-limit": "{limit} hops without reaching an application (the hop limit); the "
                         "last reached {listener} in pod {pod}",
    "journey.hop": "hop {number}: {reason}",
    "hop.handshake": "the connection from {source} never completes: {reason} ({outcome})",
    "hop.fork": "the rules fork on something unknown ({count} branches); the first is "
                "followed",
    "hop.kube-proxy": "the cluster network (kube-proxy) translates service {service} "
                      "{address} to its first endpoint {pod} {endpoint}",
    "hop.leaves": "leaves pod {pod} on {interface} to {destination} from {source}",
    "hop.no-receiver": "{leaves}: no pod or service of the topology has {address}",
    "hop.martian": "{leaves}: it comes back to the pod on eth0 with the pod's own address as "
                   "source, which the kernel drops (martian source)",
    "hop.rejected": "rejected in pod {pod}{how}",
    "hop.unroutable": "no route in pod {pod} to {destination}",
    "hop.queued": "queued to user space in pod {pod}{how}: what a queue program does is not "
                  "modelled",
    "hop.not-forwarded": "pod {pod} does not own {destination} and does not forward",
    "hop.dropped": "dropped in pod {pod}{how}",
    "hop.refused.udp": "nothing listens on {protocol} {address} in pod {pod} (ICMP port "
                       "unreachable)",
    "hop.refused.tcp": "nothing listens on {protocol} {address} in pod {pod} (the kernel "
                       "answers with RST)",
    "decided.policy": " by the policy of {table}:{chain}",
    "decided.rule": " by {table}:{chain}:{rule} ({text})",
    "decided.rule-effect": " by {table}:{chain}:{rule} ({text}): {effect}",
    "service.no-address": "service {service}'s first endpoint {endpoint} has no IPv{family} "
                          "address",
    "sidecar.answers": "{listener} answers itself",
    "envoy.inbound-loop": "virtualInbound blackholes original port {port} ({original}): it "
                          "would come back to itself",
    "envoy.localhost": "inbound mode localhost: delivers {original} to {address}",
    "envoy.passthrough": "inbound mode passthrough: connects to the original destination "
                         "{original} from {source}",
    "envoy.outbound-loop": "virtualOutbound blackholes original port {port} ({original}): it "
                           "would come back to itself",
    "envoy.endpoint": "{service} {original}: the first of {count} endpoints (Envoy would "
                      "balance over all; the first is shown), {pod} at {address}",
    "envoy.only-endpoint": "{service} {original}: its only endpoint, {pod} at {address}",
    "envoy.registry-only": "REGISTRY_ONLY: {original} is not a known service "
                           "(BlackHoleCluster)",
    "envoy.allow-any": "ALLOW_ANY: {original} is not a known service; passed through "
                       "(PassthroughCluster)",
    "ztunnel.no-tunnel": "ztunnel HBONE: no tunnelled connection to deliver",
    "ztunnel.hbone": "ztunnel HBONE: delivers the tunnelled connection to {target} from the "
                     "client's address {client} (transparent)",
    "ztunnel.inbound-loop": "ztunnel inbound refuses original port {port} ({original}): it "
                            "would come back to itself",
    "ztunnel.inbound": "ztunnel inbound: connects to {original} from the peer's address "
                       "{peer} (transparent)",
    "ztunnel.outbound-loop": "ztunnel outbound refuses original port {port} ({original}): it "
                             "would come back to itself",
    "ztunnel.unknown-service": "{original} is not a known service",
    "ztunnel.service": "{service} {original}: endpoint {pod} at {address}",
    "ztunnel.hbone-to": "ztunnel outbound: {what}, an ambient pod: HBONE to {address}",
    "ztunnel.direct": "ztunnel outbound: {what}; connected to directly",
    "event.untracked-namespace": "nat is not consulted: no rule makes the kernel track "
                                 "connections",
    "event.reroute-postrouting": "from POSTROUTING on the packet leaves on {interface}",
    "event.connection-nat.destination": "conntrack's NAT: destination {old} -> {new}",
    "event.connection-nat.source": "conntrack's NAT: source {old} -> {new}",
    "event.reroute-refused": "rerouted after {table} OUTPUT: {decision}: dropped",
    "event.reroute-martian": "rerouted after {table} OUTPUT: {martian}: dropped",
    "event.rerouted": "rerouted after {table} OUTPUT to {interface} (the rest of OUTPUT still "
                      "sees -o {previous})",
    "event.no-route": "no route to {destination}",
    "event.no-route-decided": "no route to {destination} ({decision})",
    "event.martian": "routing: {martian}: the connection fails",
    "event.route": "routing: {destination} leaves on {interface}, source {source}",
    "event.route-decided": "routing: {destination} leaves on {interface}, source {source} "
                           "({decision})",
    "event.sent": "sent on {interface} to {destination}",
    "event.loopback": "loops back through lo; nat is not consulted again for this connection",
    "event.input-martian": "input routing: {martian}: dropped",
    "event.input-route": "input routing: {decision}",
    "event.tproxy-not-local": "TPROXY assigned the packet to a socket, but routing does not "
                              "deliver it locally: dropped",
    "event.input-no-route": "input routing: no route to {destination}: dropped",
    "event.delivered": "delivered to a local socket {address}",
    "event.delivered-transparent": "delivered to a transparent socket on port {port}",
    "event.not-forwarding": "{destination} is not local and forwarding is off: dropped",
    "event.forwarded": "forwarded on {interface} to {destination}",
    "route.no-rule": "no rule gives a route",
    "route.outcome": "rule {priority} ({rule}): {outcome}",
    "route.route": "rule {priority} ({rule}): {route}",
    "martian.source": "source {address} is a loopback address and cannot use {interface}",
    "martian.destination": "destination {address} is a loopback address and cannot use "
                           "{interface}",
    "effect.mark": "mark {before} -> {after}",
    "effect.no-connection": "ignored: the packet has no connection",
    "effect.ctmark": "connection mark -> {mark}",
    "effect.ctmark-saved": "connection mark -> {mark} (saved from the packet)",
    "effect.mark-restored": "mark -> {mark} (restored from the connection)",
    "effect.has-conntrack": "ignored: the packet already has conntrack settings",
    "effect.has-connection": "ignored: the packet already has a connection",
    "effect.notrack": "connection not tracked: nat will not see it",
    "effect.untracked": "connection not tracked",
    "effect.zone": "conntrack zone {zone}",
    "effect.redirect-no-address": "{interface} has no address to redirect to",
    "effect.destination": "destination {old} -> {new}",
    "effect.masquerade-no-address": "{interface} has no address to masquerade as",
    "effect.source": "source {old} -> {new}",
    "effect.source-random": "source {old} -> {new} (a port drawn at random from {low}-{high})",
    "effect.tproxy-no-listener": "no listener on {address}: TPROXY drops the packet",
    "effect.tproxy-not-transparent": "the listener is not transparent on {address}: TPROXY "
                                     "drops the packet",
    "effect.tproxy": "to the transparent socket on port {port} (destination kept), mark "
                     "{mark}",
    "effect.tproxy-socket": "to the transparent socket on port {port}",
    "effect.jump": "jump {chain}",
    "effect.goto": "goto {chain}",
    "effect.stops": "{reason}: the rule stops",
    "effect.no-element": "no element of the map matches",
    "effect.then": "{first}; {then}",
}

#: A language's template of a code.
Templates = Callable[[ReasonCode], str]


@dataclass(slots=True)
class Reason:
    """Why a criterion does not hold (or what a choice is): ``code`` and the values its
    template names. Not changed once made; not ``frozen`` because a frozen dataclass
    takes three times as long to make, and the trace makes one per rule that does not
    match (see bench/README.md)."""

    code: ReasonCode
    values: dict[str, object]
    # str(self), made once: a chance's description is written into every branch's
    # assumptions as the trace runs.
    _english: str | None = field(default=None, init=False, repr=False, compare=False)

    def text(self, template: Templates = ENGLISH.__getitem__) -> str:
        """The reason in the words of ``template`` (English by default)."""
        values = {name: value.text(template) if isinstance(value, Reason) else value
                  for name, value in self.values.items()}
        return template(self.code).format(**values)

    def __str__(self) -> str:
        if self._english is None:
            self._english = self.text()
        return self._english


def because(code: ReasonCode, /, **values: object) -> Reason:
    """The reason ``code`` with its values: ``because("protocol", protocol="tcp", ...)``."""
    return Reason(code, values)


#: How many reasons a check keeps (see :class:`KeptReasons`).
REASONS_KEPT = 64


class KeptReasons(dict[Hashable, Reason]):
    """A check's reasons, made once per value read (a few values recur: the packet's
    interface, protocol, uid): ``reasons[value]`` is ``make(value)``, made on the first
    lookup and kept (up to ``REASONS_KEPT``). ``make``'s reason must depend on ``value``
    alone."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[Any], Reason]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, value: Hashable) -> Reason:
        if len(self) >= REASONS_KEPT:
            self.clear()
        reason = self[value] = self.make(value)
        return reason
