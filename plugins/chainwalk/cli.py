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
import json
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
    from .netfilter import Branch, Ruleset, Step, Trace


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
    t.add_argument("--lenient", action="store_true",
                   help="follow what cannot be known (ipsets, sockets) both ways")
    t.add_argument("--explain-all", action="store_true",
                   help="evaluate every rule, even those the destination index rules out")
    t.add_argument("--family", type=int, choices=(4, 6),
                   help="address family of RULES (default: from its addresses, else 4)")
    t.add_argument("--json", action="store_true", help="print one JSON object")

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
    from ._ruleset_cache import load_ruleset

    result = trace_of(args, load_ruleset)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print(format_trace(result))
    return 0


def trace_of(args: argparse.Namespace, load: Callable[[str, int], Ruleset]) -> Trace:
    """The trace ``chainwalk trace`` prints for ``args``, through the ruleset ``load``
    gives for ``args.rules`` and the family (the CLI reads the file; the playground
    parses the text in the page). Raises :class:`ChainwalkError`."""
    from .netfilter import Packet, family_of, host_address, host_with, trace

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
    host = host_with({k: tuple(v) for k, v in addresses.items()}, forwarding=args.forwarding,
                     ipsets=ipsets, lenient=args.lenient)
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


def format_trace(result: Trace) -> str:
    """Lines in the style of the kernel's TRACE target, with the reasons added."""
    lines = []
    for n, branch in enumerate(result.branches, start=1):
        if len(result.branches) > 1:
            chance = ("unknown" if branch.probability is None
                      else f"{branch.probability:.4g}")
            lines.append(f"== branch {n} of {len(result.branches)} (probability {chance})")
            lines.extend(f"   assuming {a}" for a in branch.assumptions)
        for step in branch.steps:
            lines.append(_format_step(step))
        lines.append(f"=> {branch.disposition.upper()}: {_where(branch)}")
        shake = branch.handshake
        if shake is not None and shake.outcome != "completes":
            verb = "may not complete" if shake.outcome == "unknown" else "does not complete"
            lines.append(f"   but the connection {verb} ({shake.outcome}): {shake.reason}")
    return "\n".join(lines)


def _format_step(step: Step) -> str:
    if step.kind == "event":
        return f"   -- {step.text}"
    head = f"{step.table}:{step.chain}"
    if step.kind == "policy":
        return f"{head}:policy:{step.rule}:{step.result}"
    if step.kind == "return":
        return f"{head}:return:{step.rule}"
    if step.kind == "skipped":
        last = step.rule + step.count - 1
        return f"{head}:rules:{step.rule}-{last}:NO-MATCH   {step.reason}"
    if step.hit:
        if step.jump is not None:
            return f"{head}:rule:{step.rule}:{step.jump.upper()}:{step.target}   {step.text}"
        line = f"{head}:rule:{step.rule}:{step.target or '-'}   {step.text}"
        return line + (f"   [{step.effect}]" if step.effect else "")
    return f"{head}:rule:{step.rule}:NO-MATCH   {step.reason}"


def _where(branch: Branch) -> str:
    f = branch.final
    if branch.disposition == "delivered":
        if branch.tproxy:
            return f"transparent socket port {branch.tproxy[1]} (destination {f.dst}:{f.dport})"
        return f"local socket {f.dst}:{f.dport} (from {f.src}:{f.sport})"
    if branch.disposition == "sent":
        return f"leaves on {f.out_interface} to {f.dst}:{f.dport} (from {f.src}:{f.sport})"
    if branch.decided_by is not None:
        d = branch.decided_by
        return f"by {d.table}:{d.chain}:{d.kind}:{d.rule}"
    return branch.disposition


def _is_scenario_path(path: str) -> bool:
    return os.path.isdir(path) or path.endswith((".yaml", ".yml"))


def _check(args: argparse.Namespace) -> int:
    from ._ruleset_cache import load_ruleset

    problems: list[Problem] = []
    scenarios = 0
    for path in args.files:
        try:
            if not _is_scenario_path(path):
                load_ruleset(path)
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


def _run(args: argparse.Namespace) -> int:
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
