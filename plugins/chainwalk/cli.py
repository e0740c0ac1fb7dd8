"""The ``chainwalk`` command: the engine for anyone's own ruleset.

``chainwalk trace RULES ...`` follows one packet; ``chainwalk run
SCENARIO_FILE[#name]`` follows a scenario's request through its pods;
``chainwalk check FILES...`` validates rulesets, and for scenario files (``.yaml``,
or folders of them) also runs every scenario and checks its expectations. Errors
are printed as ``file:line:column: message`` and give exit status 1; a usage error
gives 2.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from ._errors import ChainwalkError, Problem, bounded
from .netfilter._values import MAX_ID, MAX_U32

if TYPE_CHECKING:
    from .netfilter import Host, Ruleset, Trace
    from .netfilter._nft_model import NftRuleset


def _number(limit: int) -> Callable[[str], int]:
    """An option's number: decimal or 0x hex ASCII digits, from 0 to ``limit``."""
    def parse(text: str) -> int:
        digits = text[2:] if text[:2].lower() == "0x" else text
        base = 16 if digits is not text else 10
        valid = digits.isascii() and digits.isalnum() and len(digits) <= 20
        try:
            value = int(digits, base) if valid else -1
        except ValueError:
            value = -1
        if not 0 <= value <= limit:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a number from 0 to {limit}")
        return value
    parse.__name__ = "number"  # what argparse calls the type in its messages
    return parse


_PORT = _number(65535)
_ID = _number(MAX_ID)
_MARK = _number(MAX_U32)
# The connection states a trace's packet can be in (conntrack's --ctstate but SNAT and
# DNAT, which describe a connection's NAT rather than a packet).
_CTSTATES = ("NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED")
# What a terminal would act on rather than show: C0 and C1 controls but newline (ESC
# starts its escape sequences) but tab, and the bidirectional overrides that reorder text.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with every character a terminal would act on shown escaped (``\\x1b``)."""
    return _TERMINAL_CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


def _print(text: str, *, error: bool = False) -> None:
    print(terminal_safe(text), file=sys.stderr if error else sys.stdout)


def _addr(text: str) -> tuple[str, str]:
    name, eq, address = text.partition("=")
    if not eq or not name or not address:
        raise argparse.ArgumentTypeError(f"{text!r}: expected IF=ADDRESS/PREFIX, "
                                         "e.g. eth0=10.0.0.5/24")
    return name, address


_FORMATS = ("auto", "iptables", "nft")


def _load_rules(path: str, family: int | None, fmt: str) -> Ruleset | NftRuleset:
    """An iptables ruleset (through the one cache) or an nftables one (``nft -f`` input,
    ``nft list ruleset`` output or its JSON), by ``fmt`` or by the file's first line."""
    from ._ruleset_cache import load_rules, load_ruleset

    if fmt == "auto":
        return load_rules(path, family)  # the cache's one reading of the first line
    if fmt == "iptables":
        return load_ruleset(path, family)
    from ._files import read_text
    from .netfilter._nft_parser import parse_nft_text

    return parse_nft_text(read_text(path, what="ruleset"), path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainwalk", description="Trace packets through iptables rulesets exactly as "
        "netfilter would.")
    parser.add_argument("--version", action="version", version=f"chainwalk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("trace", help="follow one packet through a ruleset",
                       description="Follow the first packet of a connection through RULES "
                       "(an iptables-save or iptables-restore file).")
    t.add_argument("rules", metavar="RULES")
    t.add_argument("--hook", choices=("output", "prerouting"), default="output",
                   help="where the packet starts: sent by a local process (output, default) "
                   "or arriving on an interface (prerouting)")
    t.add_argument("--proto", choices=("tcp", "udp", "icmp"), default="tcp")
    t.add_argument("--src", default="", help="source address (default: chosen by routing "
                   "from --addr; required with --hook prerouting)")
    t.add_argument("--dst", required=True, help="destination address")
    t.add_argument("--dport", type=_PORT)
    t.add_argument("--sport", type=_PORT,
                   help="source port (default: an ephemeral port, 40000)")
    t.add_argument("--in", dest="in_interface", metavar="IF",
                   help="incoming interface for --hook prerouting (default eth0)")
    t.add_argument("--out", dest="out_interface", metavar="IF",
                   help="force the outgoing interface (default: chosen by routing)")
    t.add_argument("--uid", type=_ID, help="uid owning the local socket")
    t.add_argument("--gid", type=_ID, help="gid owning the local socket (default: --uid)")
    t.add_argument("--mark", type=_MARK, default=0)
    t.add_argument("--ctstate", default="NEW", type=str.upper, choices=_CTSTATES,
                   help="connection state of the packet (default NEW: nat is consulted)")
    t.add_argument("--addr", type=_addr, action="append", default=[], metavar="IF=ADDR/LEN",
                   help="an address of this host, e.g. eth0=10.0.0.5/24 (repeatable; lo has "
                   "127.0.0.1/8 and ::1 unless given; by default eth0 holds --src for "
                   "output and --dst for prerouting)")
    t.add_argument("--forwarding", action="store_true", help="the host forwards packets")
    t.add_argument("--ipset", action="append", default=[], metavar="NAME=ADDR[,ADDR...]",
                   help="members of an ipset the rules use (repeatable)")
    t.add_argument("--routing", nargs=2, metavar=("IP_RULE_DUMP", "IP_ROUTE_DUMP"),
                   help="policy routing from the host's `ip rule show` and `ip route show "
                   "table all` (`ip -6 ...` for IPv6) output; without it: a pod's routes")
    t.add_argument("--socket", action="append", default=[],
                   metavar="PROTO:ADDR:PORT[,transparent][,mark=N]",
                   help="a local listening socket, for -m socket and TPROXY (repeatable)")
    t.add_argument("--lenient", action="store_true",
                   help="follow what cannot be known (ipsets, sockets) both ways")
    t.add_argument("--explain-all", action="store_true",
                   help="evaluate every rule, even those the destination index rules out")
    t.add_argument("--family", type=int, choices=(4, 6),
                   help="address family of RULES (default: from its addresses, else 4)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.add_argument("--format", choices=_FORMATS, default="auto",
                   help="the ruleset's format (default: detected from its first line)")

    r = sub.add_parser("run", help="follow a scenario's request through its pods",
                       description="Run the scenarios of SCENARIO_FILE (or only the one "
                       "named after #) and print each journey.")
    r.add_argument("scenario", metavar="SCENARIO_FILE[#name]")
    view = r.add_mutually_exclusive_group()
    view.add_argument("--text", dest="view", action="store_const", const="text",
                      help="hops, rules and outcome as text (default)")
    view.add_argument("--json", dest="view", action="store_const", const="json",
                      help="one JSON object per journey (a list when there are several)")
    view.add_argument("--mermaid", dest="view", action="store_const", const="mermaid",
                      help="a Mermaid sequenceDiagram")

    c = sub.add_parser("check", help="validate rulesets and scenario files",
                       description="Parse every file and report every problem; scenario "
                       "files (.yaml/.yml, or folders of them) are also run and their "
                       "expectations checked.")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--format", choices=_FORMATS, default="auto",
                   help="the rulesets' format (default: detected from each first line)")

    for name, text in (("reach", "which rules some packet matches, proved over every packet"),
                       ("equiv", "whether two rulesets treat every packet the same")):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ": the "
                           "rules are evaluated on sets of packets (netfilter._proof).")
        p.add_argument("rules", nargs=1 if name == "reach" else 2, metavar="RULES")
        p.add_argument("--where", default="", help="the packets: words such as "
                       "'tcp uid!=1337 out=eth0' (default: every packet)")
        p.add_argument("--hook", choices=("output", "prerouting"), default="output")
        p.add_argument("--table", help="iptables: raw, mangle, nat (default) or filter; "
                       "nftables: reach lists a table's rules (default: every table's), "
                       "and equiv compares the outcome of the whole hook")
        p.add_argument("--family", type=int, choices=(4, 6),
                       help="the address family an nftables ruleset is proved for "
                       "(default: the iptables ruleset's, else 4)")
        p.add_argument("--addr", type=_addr, action="append", default=[],
                       metavar="IF=ADDR/LEN", help="an address of the host (repeatable; "
                       "default eth0=10.0.0.5/24; lo has 127.0.0.1/8 and ::1)")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    a = sub.add_parser("audit", help="check Istio's capture invariants over every packet",
                       description="Istio's capture invariants of a pod's ruleset, proved "
                       "over every packet: outbound and inbound TCP captured unless excluded, "
                       "the proxy's own connections never captured.")
    a.add_argument("rules", metavar="RULES")
    a.add_argument("--proxy-uid", type=_ID, default=1337)
    a.add_argument("--proxy-gid", type=_ID, default=1337)
    a.add_argument("--addr", type=_addr, action="append", default=[], metavar="IF=ADDR/LEN",
                   help="an address of the pod (default eth0=10.0.0.5/24)")
    a.add_argument("--family", type=int, choices=(4, 6),
                   help="the address family an nftables ruleset is audited for (default 4)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; a reader that goes away (``| head -1``) ends it quietly with the
    status of a program killed by SIGPIPE (Python's recipe: stdout pointed at /dev/null so
    that the flush at exit cannot fail again)."""
    try:
        try:
            status = _command(argv)
        finally:  # also before argparse's SystemExit (--help, usage errors)
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return status


def run() -> NoReturn:
    """The ``chainwalk`` command: :func:`main`, then the process ends without tearing down
    what it built. Freeing a large ruleset's million objects one by one at exit takes
    about as long as parsing them, and the operating system reclaims them at once."""
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _command(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "trace":
        check_trace_arguments(parser, args)
    try:
        if args.command == "trace":
            return _trace(args)
        if args.command == "run":
            return _run(args)
        if args.command in ("reach", "equiv"):
            return _prove(args)
        if args.command == "audit":
            return _audit(args)
        return _check(args)
    except ChainwalkError as e:
        _print(str(e), error=True)
        return 1


def check_trace_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What ``trace``'s options cannot say alone (``parser.error`` exits with status 2)."""
    if args.proto == "icmp" and (args.dport is not None or args.sport is not None):
        parser.error("--dport and --sport: ICMP has no ports")
    if args.hook == "prerouting" and not args.src:
        parser.error("--src is required with --hook prerouting (where the packet "
                     "comes from)")


def _trace(args: argparse.Namespace) -> int:
    result = trace_of(args, lambda path, family: _load_rules(path, family, args.format))
    if args.json:
        import json

        print(json.dumps(result.to_dict(), indent=2))
    else:
        from .render._trace_text import format_trace

        _print(format_trace(result))
    return 0


def trace_of(args: argparse.Namespace,
             load: Callable[[str, int], Ruleset | NftRuleset]) -> Trace:
    """The trace ``chainwalk trace`` prints for ``args``, through the ruleset ``load``
    gives for ``args.rules`` and the family (the CLI reads the file; the playground
    parses the text in the page). Raises :class:`ChainwalkError`."""
    from .netfilter import Packet, family_of, host_address, host_with, trace
    from .netfilter._packet import Socket
    from .netfilter._policy_routing import load_policy_routing

    hook = args.hook.upper()
    dport = args.dport or 0
    sport = args.sport or 0
    family = args.family or family_of(args.dst)
    ruleset = load(args.rules, family)
    addresses: dict[str, list[str]] = {}
    for name, address in args.addr:
        addresses.setdefault(name, []).append(address if "/" in address else
                                              host_address(address))
    if "eth0" not in addresses:
        own = args.src if hook == "OUTPUT" else args.dst
        if own and not own.startswith("127.") and own != "::1":
            addresses["eth0"] = [host_address(own)]
        else:
            addresses["eth0"] = []
    ipsets = None
    if args.ipset:
        ipsets = {}
        for item in args.ipset:
            name, _, members = item.partition("=")
            ipsets[name] = tuple(m for m in members.split(",") if m)
    routing = (load_policy_routing(args.routing[0], args.routing[1], family),
               ) if args.routing else ()
    sockets = tuple(Socket.parse(text) for text in args.socket) if args.socket else None
    host = host_with({k: tuple(v) for k, v in addresses.items()}, forwarding=args.forwarding,
                     ipsets=ipsets, lenient=args.lenient, routing=routing, sockets=sockets)
    gid = args.gid if args.gid is not None else args.uid
    packet = Packet(args.dst, dport, args.proto, args.src, sport,
                    args.in_interface if hook == "PREROUTING" else None, args.out_interface,
                    args.uid if hook == "OUTPUT" else None, gid if hook == "OUTPUT" else None,
                    (), args.mark, 0, args.ctstate.upper())
    result = trace(ruleset, packet, host, hook, explain_all=args.explain_all,
                   with_handshake=True)
    if any(not branch.final.src for branch in result.branches):
        raise ChainwalkError("no source address: give --src, or the address of the "
                             "interface the packet leaves on with --addr IF=ADDR/LEN")
    return result


def _is_scenario_path(path: str) -> bool:
    return os.path.isdir(path) or path.endswith((".yaml", ".yml"))


def _check(args: argparse.Namespace) -> int:
    problems: list[Problem] = []
    scenarios = 0
    for path in args.files:
        try:
            if not _is_scenario_path(path):
                _load_rules(path, None, args.format)
                problems.extend(_annotation_problems(path))
                continue
            from .journey import check_scenario, load_scenarios, run_scenario

            for scenario in load_scenarios(path):
                scenarios += 1
                problems.extend(check_scenario(scenario, run_scenario(scenario)))
        except ChainwalkError as e:
            problems.extend(e.problems)
    counted = f"{len(args.files)} file(s)" + (f", {scenarios} scenario(s)" if scenarios else "")
    if problems:
        problems = list(bounded(problems))
        _print("\n".join(map(str, problems)), error=True)
        total = sum(p.more or 1 for p in problems)  # "and N more" stands for N
        _print(f"{total} problem(s) in {counted}", error=True)
        return 1
    _print(f"{counted} OK")
    return 0


def _prove(args: argparse.Namespace) -> int:
    import json

    from ._errors import Location
    from .netfilter import Ruleset
    from .netfilter._proof import differences, parse_description, reach
    from .render._claims import describe

    rulesets = [_load_rules(path, None, "auto") for path in args.rules]
    iptables = [r for r in rulesets if isinstance(r, Ruleset)]
    family = iptables[0].family if iptables else args.family or 4
    table = args.table
    if len(iptables) == len(rulesets):  # iptables only: a table of the hook, nat by default
        table = table or "nat"
        if table not in ("raw", "mangle", "nat", "filter"):
            raise ChainwalkError([Problem(Location("--table", 1, 1), "not an iptables table",
                                          table, "raw, mangle, nat or filter")])
    elif table is not None and args.command == "reach" and rulesets[0].table(table) is None:
        raise ChainwalkError([Problem(Location("--table", 1, 1), "no such table in "
                                      f"{args.rules[0]}", table, "the name of one of its tables")])
    host = _host(args.addr)
    description = parse_description(args.where, Location("--where", 1, 1), family)
    hook = args.hook.upper()
    if args.command == "reach":
        found = reach(rulesets[0], host, hook, description, table, family)
        if args.json:
            print(json.dumps({"rules": [
                {"table": r.table, "chain": r.chain, "rule": r.rule, "status": r.status,
                 "witness": describe(r.witness) if r.witness else None} for r in found]},
                indent=2))
            return 0
        for r in found:
            example = f"   e.g. {describe(r.witness)}" if r.witness else ""
            _print(f"{r.table}:{r.chain}:rule:{r.rule}:{r.status.upper()}{example}")
        return 0
    diffs = differences(rulesets[0], rulesets[1], host, hook, description, table,
                        family=family)
    where = f"in {table}" if table else f"at {args.hook}"
    if args.json:
        print(json.dumps({"same": not diffs, "differences": [
            {"witness": describe(d.witness), "first": str(d.mine), "second": str(d.theirs)}
            for d in diffs]}, indent=2))
        return 0 if not diffs else 1
    if not diffs:
        _print(f"the same: every described packet ends alike {where}")
        return 0
    for d in diffs:
        _print(f"{describe(d.witness)}: {d.mine} in {args.rules[0]}, {d.theirs} in "
               f"{args.rules[1]}")
    return 1


def _host(pairs: list[tuple[str, str]]) -> Host:
    from .netfilter import host_with

    addresses: dict[str, tuple[str, ...]] = {}
    for name, address in pairs or [("eth0", "10.0.0.5/24")]:
        addresses[name] = (*addresses.get(name, ()), address)
    return host_with(addresses)


def _audit(args: argparse.Namespace) -> int:
    import json

    from .project._audit import audit
    from .render._claims import describe

    found = audit(_load_rules(args.rules, None, "auto"), _host(args.addr), args.proxy_uid, args.proxy_gid,
                  args.family or 4)
    if args.json:
        print(json.dumps({"invariants": [
            {"name": i.name, "status": i.status, "findings": [
                {"witness": describe(f.witness), "ends": str(f.ending),
                 "excluded": f.excluded} for f in i.findings]} for i in found]}, indent=2))
    else:
        for invariant in found:
            _print(f"{invariant.name}: {invariant.status.upper()}")
            for f in invariant.findings:
                what = "excluded" if f.excluded else "BREAKS IT"
                _print(f"   {what}: {describe(f.witness)} ends at {f.ending}")
    return 1 if any(i.status == "broken" for i in found) else 0


def _annotation_problems(path: str) -> list[Problem]:
    """The problems of the annotation file beside the ruleset ``path``, if it has one:
    with every claim checked when the ruleset lies in a rules folder's ``rulesets/``
    (its scenarios are then at hand), else its format and drift."""
    if not os.path.basename(path).endswith(".rules") or not os.path.isfile(
            path.removesuffix(".rules") + ".annotations.yaml"):
        return []  # (and the journeys, the renderers and pathlib are not even loaded)
    from pathlib import Path

    from .project import Project, drift
    from .project._annotation_claims import annotation_problems
    from .project._annotations import read_annotations

    ruleset = Path(path)
    notes = ruleset.with_name(ruleset.name.removesuffix(".rules") + ".annotations.yaml")
    folder = next((p for p in ruleset.resolve().parents if p.name == "rulesets"), None)
    if folder is not None:
        stem = ruleset.resolve().relative_to(folder).as_posix().removesuffix(".rules")
        return sorted(annotation_problems(Project(folder.parent, os.getcwd()), stem),
                      key=lambda p: p.location)
    from ._files import read_text
    from ._ruleset_cache import load_ruleset

    found = read_annotations(read_text(notes, str(notes), "annotation file"), str(notes))
    return sorted([*found.problems, *drift(found, load_ruleset(path))],
                  key=lambda p: p.location)


def _run(args: argparse.Namespace) -> int:
    import json

    from .project import journeys_of
    from .render import format_mermaid, format_text, journey_to_dict

    path, _, name = args.scenario.partition("#")
    journeys = journeys_of(path, name)
    view = args.view or "text"
    if view == "json":
        data = [journey_to_dict(j, s) for s, j in journeys]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2))
    elif view == "mermaid":
        _print("\n\n".join(format_mermaid(j, s) for s, j in journeys))
    else:
        _print("\n\n".join(format_text(j, s) for s, j in journeys))
    return 0
