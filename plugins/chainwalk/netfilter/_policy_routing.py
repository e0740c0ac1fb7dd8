"""Policy routing from a node's dumps: ``ip rule show`` and ``ip route show table all``.

Parsing turns the two dumps into a :class:`PolicyRouting` (every problem of both files
collected as ``file:line:column``; a rule naming a table the route dump lacks is one of
them), and :func:`lookup` answers a routing question as the kernel's ``fib_lookup`` does:
the rules in priority order, each whose selectors hold looking up its table, the longest
matching prefix of that table deciding (``throw``, or no route, goes on to the next rule).

Nothing here knows about Istio: TPROXY's ``fwmark 1337 lookup 133`` and ambient's
``fwmark 0x111/0xfff lookup 100`` are rules like any other.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from .._errors import ChainwalkError, Location, Problem
from .._files import read_text
from . import _values as v
from ._reasons import Reason, because

RouteType = Literal["unicast", "local", "broadcast", "anycast", "multicast", "blackhole",
                    "unreachable", "prohibit", "throw"]
RuleAction = Literal["lookup", "blackhole", "unreachable", "prohibit"]
#: What a lookup decides: deliver here, send out an interface, or refuse.
Outcome = Literal["local", "unicast", "blackhole", "unreachable", "prohibit", "no-route"]

_ROUTE_TYPES: Final = ("unicast", "local", "broadcast", "anycast", "multicast", "blackhole",
                       "unreachable", "prohibit", "throw")
# Table names iproute2 knows without /etc/iproute2/rt_tables, and their numbers.
_TABLE_NAMES: Final = {"local": "255", "main": "254", "default": "253", "unspec": "0"}
# The table the kernel creates empty: a rule may name it though no route is in it.
_ALWAYS_PRESENT: Final = frozenset({"253"})
# Route attributes that change nothing a lookup decides: each takes one value.
_ROUTE_INFO: Final = frozenset({"proto", "scope", "metric", "pref", "expires", "mtu",
                                "advmss", "rtt", "rttvar", "realm", "realms", "hoplimit",
                                "initcwnd", "initrwnd", "window", "features", "quickack",
                                "congctl", "fastopen_no_cookie", "ttl-propagate", "error",
                                "nhid", "tos", "dsfield", "weight"})
_ROUTE_FLAGS: Final = frozenset({"linkdown", "onlink", "pervasive", "offload", "trap",
                                 "notify", "dead", "rt_offload", "rt_trap", "cache"})
_RULE_ACTIONS: Final = ("lookup", "table", "blackhole", "unreachable", "prohibit")


@dataclass(frozen=True, slots=True)
class IpRule:
    """One line of ``ip rule show``: selectors, then what to do."""

    priority: int
    action: RuleAction
    table: str = ""  # the table's number (or its name from rt_tables), for lookup
    invert: bool = False  # ``not``: the action applies when the selectors do NOT hold
    source: str = ""  # ``from`` prefix; empty: all
    destination: str = ""  # ``to`` prefix; empty: all
    fwmark: tuple[int, int] | None = None  # value, mask
    iif: str = ""
    oif: str = ""
    suppress_prefixlength: int | None = None
    text: str = ""
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class IpRoute:
    """One line of ``ip route show table all``."""

    type: RouteType
    prefix: str  # network in CIDR form (``default`` is 0.0.0.0/0 or ::/0)
    table: str = "254"
    dev: str = ""
    via: str = ""
    src: str = ""
    metric: int = 0
    text: str = ""
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class PolicyRouting:
    """The rules and the routing tables of one address family of a network namespace."""

    family: int
    rules: tuple[IpRule, ...]
    tables: tuple[tuple[str, tuple[IpRoute, ...]], ...]  # (table, its routes), as dumped
    source: str = ""

    def table(self, name: str) -> tuple[IpRoute, ...]:
        return next((routes for table, routes in self.tables if table == name), ())


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """What policy routing decided, and which rule and route decided it."""

    outcome: Outcome
    interface: str | None
    source: str
    rule: IpRule | None
    route: IpRoute | None

    def describe(self) -> Reason:
        """The decision as a ``route.*`` reason (the trace's events name it)."""
        if self.rule is None:
            return because("route.no-rule")
        if self.route is None:
            return because("route.outcome", priority=self.rule.priority, rule=self.rule.text,
                           outcome=self.outcome)
        return because("route.route", priority=self.rule.priority, rule=self.rule.text,
                       route=self.route.text)

    def to_dict(self) -> dict[str, object]:
        return {"outcome": self.outcome, "interface": self.interface, "source": self.source,
                "rule": self.rule.priority if self.rule else None,
                "rule_text": self.rule.text if self.rule else None,
                "table": self.rule.table if self.rule else None,
                "route": self.route.text if self.route else None}


# -- parsing ------------------------------------------------------------------------------

def _tokens(line: str) -> Iterator[tuple[str, int]]:
    for m in re.finditer(r"\S+", line):
        yield m.group(), m.start() + 1


def _table_id(text: str) -> str:
    return _TABLE_NAMES.get(text, text)


def _prefix(text: str, family: int) -> str:
    if text in ("all", "default"):
        return "0.0.0.0/0" if family == 4 else "::/0"
    network = ipaddress.ip_network(text, strict=False)
    if network.version != family:
        raise ValueError(f"an IPv{network.version} prefix in an IPv{family} dump")
    return str(network)


class _Reader:
    """The tokens of one line, and the problems found in it."""

    def __init__(self, line: str, source: str, number: int, problems: list[Problem]) -> None:
        self.tokens = list(_tokens(line))
        self.line, self.source, self.number, self.problems = line, source, number, problems
        self.position = 0

    def next(self) -> tuple[str, int] | None:
        if self.position >= len(self.tokens):
            return None
        token = self.tokens[self.position]
        self.position += 1
        return token

    def value(self, keyword: str, column: int, expected: str) -> tuple[str, int] | None:
        token = self.next()
        if token is None:
            self.problem(column, f"{keyword} needs a value", None, expected)
        return token

    def problem(self, column: int, message: str, token: str | None, expected: str) -> None:
        self.problems.append(Problem(Location(self.source, self.number, column), message,
                                     token, expected))

    def missing(self, message: str, expected: str) -> None:
        """A problem at the end of the line: what it lacks."""
        self.problem(len(self.line) + 1, message, None, expected)


def _readers(text: str, source: str, problems: list[Problem]
             ) -> Iterator[tuple[_Reader, str, int]]:
    """A reader of each line that is neither blank nor a comment, past the line's first
    token, and that token and its column."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            reader = _Reader(line, source, number, problems)
            first = reader.next()
            assert first is not None
            yield reader, *first


def parse_ip_rules(text: str, source: str, family: int, problems: list[Problem]
                   ) -> list[IpRule]:
    """The rules of an ``ip rule show`` dump (problems appended to ``problems``)."""
    rules: list[IpRule] = []
    for r, token, column in _readers(text, source, problems):
        if not re.fullmatch(r"\d+:", token) or int(token[:-1]) > v.MAX_U32:
            r.problem(column, "a rule starts with its priority", token,
                      "a priority such as 32766:")
            continue
        fields: dict[str, object] = {"priority": int(token[:-1])}
        action: RuleAction | None = None
        ok = True
        while (item := r.next()) is not None:
            word, col = item
            if word == "not":
                fields["invert"] = True
            elif word in ("from", "to"):
                got = r.value(word, col, "a prefix or all")
                if got is None:
                    ok = False
                    break
                try:
                    fields["source" if word == "from" else "destination"] = _prefix(got[0], family)
                except ValueError as e:
                    r.problem(got[1], f"{word}: {e}" if "dump" in str(e) else
                              f"{word}: not a prefix", got[0], "an address, a prefix or all")
                    ok = False
            elif word == "fwmark":
                got = r.value(word, col, "a mark such as 0x111/0xfff")
                if got is None:
                    ok = False
                    break
                try:
                    fields["fwmark"] = v.mark_bits(v.mark(got[0]))
                except ValueError:
                    r.problem(got[1], "fwmark: not a mark", got[0], "a mark such as 0x111/0xfff")
                    ok = False
            elif word in ("iif", "oif"):
                got = r.value(word, col, "an interface name")
                if got is None:
                    ok = False
                    break
                fields[word] = got[0]
            elif word == "suppress_prefixlength":
                got = r.value(word, col, "a prefix length")
                if got is None or not got[0].isdigit():
                    if got is not None:
                        r.problem(got[1], "suppress_prefixlength: not a number", got[0],
                                  "a prefix length")
                    ok = False
                    break
                fields["suppress_prefixlength"] = int(got[0])
            elif word in ("lookup", "table"):
                got = r.value(word, col, "a table number or name")
                if got is None:
                    ok = False
                    break
                action = "lookup"
                fields["table"] = _table_id(got[0])
                fields["table_column"] = got[1]
            elif word in ("blackhole", "unreachable", "prohibit"):
                action = word  # type: ignore[assignment]
            elif word in ("proto", "protocol"):
                if r.value(word, col, "a protocol name") is None:
                    ok = False
                    break
            elif word == "[detached]":
                pass
            else:
                r.problem(col, "unknown rule selector or action", word,
                          "not, from, to, fwmark, iif, oif, lookup, suppress_prefixlength, "
                          "blackhole, unreachable or prohibit")
                ok = False
                break
        if not ok:
            continue
        if action is None:
            r.missing("the rule does not say what to do",
                      "lookup TABLE, blackhole, unreachable or prohibit")
            continue
        table_column = fields.pop("table_column", 1)
        location = Location(source, r.number, int(table_column))  # type: ignore[call-overload]
        text_after = r.line.split(":", 1)[1].strip()
        rules.append(IpRule(action=action, text=text_after, location=location,
                            **fields))  # type: ignore[arg-type]
    return rules


def parse_ip_routes(text: str, source: str, family: int, problems: list[Problem]
                    ) -> list[IpRoute]:
    """The routes of an ``ip route show table all`` dump (``ip -6 ...`` for IPv6)."""
    routes: list[IpRoute] = []
    for r, word, column in _readers(text, source, problems):
        route_type: RouteType = "unicast"
        if word in _ROUTE_TYPES:
            route_type = word  # type: ignore[assignment]
            got = r.next()
            if got is None:
                r.missing("the route has no destination", "a prefix or default")
                continue
            word, column = got
        if word != "default" and (":" in word) != (family == 6):
            continue  # ``ip route show table all`` lists some routes of the other family
        try:
            prefix = _prefix(word, family)
        except ValueError as e:
            r.problem(column, f"not a route's destination ({e})" if "dump" in str(e) else
                      "not a route's destination", word,
                      "a route type, a prefix or default")
            continue
        fields: dict[str, object] = {}
        ok = True
        while (item := r.next()) is not None:
            key, col = item
            if key in _ROUTE_FLAGS:
                continue
            if key in ("dev", "via", "src", "table") or key in _ROUTE_INFO:
                got = r.value(key, col, f"the route's {key}")
                if got is None:
                    ok = False
                    break
                value, vcol = got
                if key in ("via", "src"):
                    if key == "via" and value in ("inet", "inet6"):
                        got = r.value(key, vcol, "an address")
                        if got is None:
                            ok = False
                            break
                        value, vcol = got
                    try:
                        v.ip(value)
                    except ValueError:
                        r.problem(vcol, f"{key}: not an address", value, "an IP address")
                        ok = False
                        continue
                    fields[key] = value
                elif key == "dev":
                    fields["dev"] = value
                elif key == "table":
                    fields["table"] = _table_id(value)
                elif key == "metric":
                    if not value.isdigit():
                        r.problem(vcol, "metric: not a number", value, "a number")
                        ok = False
                        continue
                    fields["metric"] = int(value)
            elif key == "nexthop":
                r.problem(col, "multipath routes are not modelled", key,
                          "a route with one via and dev")
                ok = False
                break
            else:
                r.problem(col, "unknown route attribute", key,
                          "dev, via, src, table, proto, scope, metric or another attribute "
                          "ip route show prints")
                ok = False
                break
        if not ok:
            continue
        if route_type in ("unicast", "local", "broadcast", "anycast") and not fields.get("dev"):
            r.missing(f"a {route_type} route needs its interface", "dev NAME")
            continue
        routes.append(IpRoute(route_type, prefix, text=r.line.strip(),
                              location=Location(source, r.number, 1),
                              **fields))  # type: ignore[arg-type]
    return routes


def policy_routing(rules_text: str, rules_source: str, routes_text: str, routes_source: str,
                   family: int = 4) -> PolicyRouting:
    """Both dumps as one :class:`PolicyRouting`; every problem of both raised at once."""
    problems: list[Problem] = []
    rules = parse_ip_rules(rules_text, rules_source, family, problems)
    routes = parse_ip_routes(routes_text, routes_source, family, problems)
    if not rules and not problems:
        problems.append(Problem(Location(rules_source, 0), "no rule in the dump", None,
                                "the output of ip rule show"))
    tables: dict[str, list[IpRoute]] = {}
    for route in routes:
        tables.setdefault(route.table, []).append(route)
    for rule in rules:
        if rule.action == "lookup" and rule.table not in tables and (
                rule.table not in _ALWAYS_PRESENT):
            problems.append(Problem(
                rule.location or Location(rules_source, 0),
                f"the rule looks up table {rule.table}, which {routes_source} does not have",
                rule.table, f"a table of the route dump ({', '.join(sorted(tables)) or 'none'})"
                " or the dump of ip route show table all"))
    if problems:
        raise ChainwalkError(problems)
    ordered = tuple(sorted(rules, key=lambda rule: rule.priority))
    return PolicyRouting(family, ordered, tuple((k, tuple(r)) for k, r in tables.items()),
                         rules_source)


def load_policy_routing(rules_path: str, routes_path: str, family: int = 4) -> PolicyRouting:
    """:func:`policy_routing` of two files (unreadable files are errors naming them)."""
    return policy_routing(read_text(rules_path, what="ip rule dump"), rules_path,
                          read_text(routes_path, what="ip route dump"), routes_path, family)


# -- lookup -------------------------------------------------------------------------------

def _within(address: str, prefix: str) -> bool:
    if not prefix:
        return True
    network = ipaddress.ip_network(prefix)
    if network.prefixlen == 0:
        return True
    return bool(address) and v.ip(address) in network


def _rule_holds(rule: IpRule, destination: str, source: str, mark: int, iif: str,
                oif: str) -> bool:
    holds = (_within(destination, rule.destination) and _within(source, rule.source)
             and (rule.fwmark is None or mark & rule.fwmark[1] == rule.fwmark[0])
             and (not rule.iif or rule.iif == iif) and (not rule.oif or rule.oif == oif))
    return holds != rule.invert


def _best_route(routes: tuple[IpRoute, ...], destination: str) -> IpRoute | None:
    address = v.ip(destination)
    best: IpRoute | None = None
    best_key = (-1, 0)
    for route in routes:
        if route.type == "multicast":
            continue
        network = ipaddress.ip_network(route.prefix)
        if address not in network:
            continue
        key = (network.prefixlen, -route.metric)
        if key > best_key:
            best, best_key = route, key
    return best


def lookup(routing: PolicyRouting, destination: str, *, source: str = "", mark: int = 0,
           iif: str = "lo", oif: str = "") -> RouteDecision:
    """Where ``destination`` goes (fib_lookup). ``iif`` is ``lo`` for a locally generated
    packet, as in the kernel. A unicast route without ``src`` leaves the source empty:
    the caller picks the interface's address."""
    for rule in routing.rules:
        if not _rule_holds(rule, destination, source, mark, iif, oif):
            continue
        if rule.action != "lookup":
            return RouteDecision(rule.action, None, "", rule, None)
        route = _best_route(routing.table(rule.table), destination)
        if route is None or route.type == "throw":
            continue
        if rule.suppress_prefixlength is not None and (
                ipaddress.ip_network(route.prefix).prefixlen <= rule.suppress_prefixlength):
            continue
        if route.type in ("local", "broadcast", "anycast"):
            return RouteDecision("local", "lo", route.src or destination, rule, route)
        if route.type in ("blackhole", "unreachable", "prohibit"):
            return RouteDecision(route.type, None, "", rule, route)
        return RouteDecision("unicast", route.dev, route.src, rule, route)
    return RouteDecision("no-route", None, "", None, None)
