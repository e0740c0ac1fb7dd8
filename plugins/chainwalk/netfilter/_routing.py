"""The routing decisions netfilter's hooks depend on (``ip route get``).

Without policy routing dumps (``Host.routing``), a namespace here has connected routes
for its interfaces' prefixes, the local routes of its addresses (all of 127.0.0.0/8 is
local), and a default route out of ``Host.default_interface``. That is what a Kubernetes
pod has. With them, every question goes to the rules and tables of the dumps
(``_policy_routing.lookup``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from . import _values as v
from ._packet import Host
from ._policy_routing import PolicyRouting, RouteDecision, lookup
from ._reasons import Reason, because

_LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")
T = TypeVar("T")


@dataclass(slots=True, unsafe_hash=True)
class Route:
    interface: str | None  # None: no route (unreachable)
    source: str  # preferred source address
    local: bool
    decision: RouteDecision | None = None  # what policy routing decided, when it ran


# A trace asks the same few routing questions again and again (each route_output also asks
# is_local); a Host is immutable, so the answers are kept in its cache, up to this many.
_REMEMBERED = 4096


def _remember(host: Host, key: tuple[object, ...], answer: T) -> T:
    if len(host._cache) >= _REMEMBERED:
        host._cache.clear()
    host._cache[key] = answer
    return answer


def is_local(host: Host, address: str) -> bool:
    known = host._cache.get(("local", address))
    if known is not None:
        return bool(known)
    return _remember(host, ("local", address), _is_local(host, address))


def _is_local(host: Host, address: str) -> bool:
    addr = v.ip(address)
    if addr.version == 4 and addr in _LOOPBACK4:
        return True
    return any(a.ip == addr for _, a in host.addresses(addr.version))


def route_output(host: Host, destination: str, mark: int = 0, source: str = "") -> Route:
    """Where a locally generated packet to ``destination`` goes, and its source address
    (``source``: the packet's, when it has one; only policy rules with ``from`` read it)."""
    policy = host.policy_routing(v.family_of(destination)) if host.routing else None
    if policy is not None:
        key: tuple[object, ...] = ("policy-route", destination, mark, source)
        known = host._cache.get(key)
        if isinstance(known, Route):
            return known
        return _remember(host, key, _policy_output(host, policy, destination, mark, source))
    known = host._cache.get(("route", destination, mark))
    if isinstance(known, Route):
        return known
    return _remember(host, ("route", destination, mark), _route_output(host, destination, mark))


def _policy_output(host: Host, policy: PolicyRouting, destination: str, mark: int,
                   source: str) -> Route:
    decision = lookup(policy, destination, source=source, mark=mark, iif="lo")
    if decision.outcome == "local":
        return Route("lo", decision.source, True, decision)
    if decision.outcome != "unicast":
        return Route(None, "", False, decision)
    return Route(decision.interface, decision.source or _interface_source(
        host, decision.interface or "", destination, decision.route.via
        if decision.route else ""), False, decision)


def _interface_source(host: Host, interface: str, destination: str, gateway: str) -> str:
    """The source a route without ``src`` gives (inet_select_addr): the interface's address
    whose subnet holds the gateway (or the destination), else its first, else any
    global address."""
    family = v.family_of(destination)
    target = v.ip(gateway or destination)
    own = [a for name, a in host.addresses(family) if name == interface]
    for a in own:
        if target in a.network:
            return str(a.ip)
    if own:
        return str(own[0].ip)
    return masquerade_address(host, interface, family) or ""


def route_input(host: Host, destination: str, source: str, mark: int, interface: str
                ) -> Route:
    """Where a packet arriving on ``interface`` goes: ``local`` (INPUT), out of an
    interface (FORWARD), or nowhere (``interface`` None)."""
    policy = host.policy_routing(v.family_of(destination)) if host.routing else None
    if policy is None:
        if input_is_local(host, destination, mark):
            return Route("lo", destination, True)
        return Route(route_output(host, destination, mark).interface, "", False)
    decision = lookup(policy, destination, source=source, mark=mark, iif=interface)
    return Route("lo" if decision.outcome == "local" else decision.interface, "",
                 decision.outcome == "local", decision)


def _route_output(host: Host, destination: str, mark: int) -> Route:
    addr = v.ip(destination)
    pairs = host.addresses(addr.version)
    if is_local(host, destination) or _marked_local(host, mark):
        # The local route's preferred source: the lo address covering 127/8; for an
        # interface's address, the primary address of its subnet on that interface
        # (``local 10.0.0.6 dev eth0 src 10.0.0.5`` for a secondary 10.0.0.6).
        for name, a in pairs:
            if name == "lo" and addr in a.network:
                return Route("lo", str(a.ip), True)
        owner = next((name for name, a in pairs if a.ip == addr), None)
        for name, a in pairs:
            if name == owner and addr in a.network:
                return Route("lo", str(a.ip), True)
        return Route("lo", destination, True)
    for name, a in pairs:
        if name != "lo" and addr in a.network:
            return Route(name, str(a.ip), False)
    for name, a in pairs:
        if name == host.default_interface:
            return Route(name, str(a.ip), False)
    if host.interface(host.default_interface) is not None:
        return Route(host.default_interface, "", False)
    return Route(None, "", False)


def primary_address(host: Host, interface: str, family: int) -> str | None:
    key = ("primary", interface, family)
    if key in host._cache:
        return host._cache[key]  # type: ignore[return-value]
    return _remember(host, key, _primary_address(host, interface, family))


def _primary_address(host: Host, interface: str, family: int) -> str | None:
    for name, a in host.addresses(family):
        if name == interface:
            return str(a.ip)
    if interface == "lo":
        return "127.0.0.1" if family == 4 else "::1"
    return None


def masquerade_address(host: Host, interface: str, family: int) -> str | None:
    """The source MASQUERADE gives a packet leaving on ``interface``: its first address of
    global scope, else the first of any interface (inet_select_addr); a loopback address
    has host scope, so a packet leaving on lo takes another interface's address."""
    found = [(name, str(a.ip)) for name, a in host.addresses(family) if not a.ip.is_loopback]
    return next((address for name, address in found if name == interface),
                found[0][1] if found else None)


def _marked_local(host: Host, mark: int) -> bool:
    return any(mark & mask == value for value, mask in host.local_marks)


@lru_cache(maxsize=4096)
def is_loopback(address: str) -> bool:
    return bool(address) and v.ip(address).is_loopback


def martian(source: str, destination: str, interface: str | None) -> Reason | None:
    """Why the kernel refuses a loopback address on another interface, or ``None``.

    With ``route_localnet`` off (the default), 127.0.0.0/8 and ::1 never leave
    ``lo`` and are never accepted from another interface: such a packet is dropped
    by routing (a "martian").
    """
    if interface == "lo" or interface is None:
        return None
    if is_loopback(source):
        return because("martian.source", address=source, interface=interface)
    if is_loopback(destination):
        return because("martian.destination", address=destination, interface=interface)
    return None


def input_is_local(host: Host, destination: str, mark: int) -> bool:
    return is_local(host, destination) or _marked_local(host, mark)
