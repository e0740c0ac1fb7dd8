"""The ``chainwalk`` command's ``trace`` and ``check``: output, exit codes, and errors that
are messages (file:line:column, usage), never tracebacks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chainwalk import __version__
from chainwalk.cli import main

REPO = Path(__file__).resolve().parents[1]
CLASSIC = str(REPO / "rules" / "rulesets" / "classic.rules")
CURRENT = str(REPO / "rules" / "rulesets" / "current.rules")
NFT = str(REPO / "rules" / "rulesets" / "current.nft")
POD = ["--addr", "eth0=10.0.0.5/24"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- trace -------------------------------------------------------------------------------

def test_trace_prints_kernel_trace_style_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "trace", CLASSIC, "--dst", "10.0.0.9", "--dport", "8080",
                         "--uid", "1000", *POD)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "   -- routing: 10.0.0.9 leaves on eth0, source 10.0.0.5"
    assert "nat:OUTPUT:rule:1:JUMP:ISTIO_OUTPUT   -p tcp -j ISTIO_OUTPUT" in lines
    assert "nat:ISTIO_OUTPUT:rule:1:NO-MATCH   source 10.0.0.5 is not in 127.0.0.6/32" in lines
    assert "nat:ISTIO_OUTPUT:rule:9:JUMP:ISTIO_REDIRECT   -j ISTIO_REDIRECT" in lines
    assert ("nat:ISTIO_REDIRECT:rule:1:REDIRECT   -p tcp -j REDIRECT --to-ports 15001   "
            "[destination 10.0.0.9:8080 -> 127.0.0.1:15001]") in lines
    assert "nat:POSTROUTING:policy:1:ACCEPT" in lines
    assert lines[-1] == "=> DELIVERED: local socket 127.0.0.1:15001 (from 10.0.0.5:40000)"


def test_trace_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trace", CLASSIC, "--dst", "10.0.0.9", "--dport", "8080",
                       "--uid", "1000", "--json", *POD)
    assert code == 0
    data = json.loads(out)
    assert {"hits", "steps", "verdict", "final", "disposition", "branches"} <= set(data)
    assert (data["verdict"], data["disposition"]) == ("ACCEPT", "delivered")
    assert (data["final"]["dst"], data["final"]["dport"]) == ("127.0.0.1", 15001)
    assert [(h["chain"], h["rule"], h["target"]) for h in data["hits"]] == [
        ("OUTPUT", 1, "ISTIO_OUTPUT"), ("ISTIO_OUTPUT", 9, "ISTIO_REDIRECT"),
        ("ISTIO_REDIRECT", 1, "REDIRECT")]
    assert data["packet"]["uid"] == 1000 and data["packet"]["gid"] == 1000
    assert len(data["branches"]) == 1 and data["branches"][0]["probability"] == 1.0
    assert data["steps"] == data["branches"][0]["steps"]


def test_trace_inbound(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trace", CURRENT, "--hook", "prerouting", "--src", "10.0.0.9",
                       "--dst", "10.0.0.5", "--dport", "9080", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["hook"] == "PREROUTING"
    assert (data["final"]["dst"], data["final"]["dport"], data["final"]["in"]) == (
        "10.0.0.5", 15006, "eth0")


def test_trace_envoy_gid_defaults_to_uid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trace", CLASSIC, "--dst", "10.0.0.5", "--dport", "9080",
                       "--uid", "1337", "--src", "10.0.0.5")
    assert code == 0
    assert "nat:ISTIO_OUTPUT:rule:2:JUMP:ISTIO_IN_REDIRECT" in out
    assert out.splitlines()[-1].startswith("=> DELIVERED: local socket 127.0.0.1:15006")


def test_trace_prints_every_branch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = write(tmp_path, "svc.rules", "*nat\n-A OUTPUT -p tcp -m statistic --mode random "
                  "--probability 0.25 -j DNAT --to-destination 10.1.0.1\n"
                  "-A OUTPUT -m set --match-set peers dst -j RETURN\nCOMMIT\n")
    code, out, _ = run(capsys, "trace", rules, "--dst", "10.96.0.1", "--dport", "80",
                       "--uid", "0", "--lenient", *POD)
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("== branch")]
    assert headers == ["== branch 1 of 3 (probability 0.25)",
                       "== branch 2 of 3 (probability unknown)",
                       "== branch 3 of 3 (probability unknown)"]
    assert "   assuming nat:OUTPUT:1: random, probability 0.25000000000" in out.splitlines()
    assert sum(line.startswith("=> ") for line in out.splitlines()) == 3


def test_trace_ipset_members_from_the_command_line(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    rules = write(tmp_path, "set.rules",
                  "*filter\n-A OUTPUT -m set --match-set peers dst -j REJECT\nCOMMIT\n")
    code, out, _ = run(capsys, "trace", rules, "--dst", "10.0.0.9", "--uid", "0",
                       "--ipset", "peers=10.0.0.0/24", *POD)
    assert code == 0
    assert out.splitlines()[-1] == "=> REJECTED: by filter:OUTPUT:rule:1"


def test_trace_with_an_unknown_ipset_and_no_lenient_is_an_error(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = write(tmp_path, "set.rules",
                  "*filter\n-A OUTPUT -m set --match-set peers dst -j REJECT\nCOMMIT\n")
    code, out, err = run(capsys, "trace", rules, "--dst", "10.0.0.9", "--uid", "0")
    assert (code, out) == (1, "")
    assert err.startswith(f"{rules}:2:4: cannot decide membership of ipset peers")


# -- check -------------------------------------------------------------------------------

def test_check_passes_good_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", CLASSIC, CURRENT)
    assert (code, out, err) == (0, "2 file(s) OK\n", "")


def test_check_reports_every_problem_of_every_file(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.rules", "*nat\n-A OUTPUT -m nosuch -j RETURN\n"
                "-A OUTPUT -p tcp --dport 99999 -j RETURN\n-A OUTPUT -j NOWHERE\nCOMMIT\n")
    worse = write(tmp_path, "worse.rules", "*nat\n-A OUTPUT -j RETURN\n")
    code, out, err = run(capsys, "check", CLASSIC, bad, worse)
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert [line.split(": ")[0] for line in lines[:-1]] == [
        f"{bad}:2:14", f"{bad}:3:26", f"{bad}:4:4", f"{worse}:1:1"]
    assert lines[0] == (f"{bad}:2:14: unknown match module: got 'nosuch', expected one of "
                        "addrtype, comment, connmark, conntrack, icmp, iprange, mark, multiport, "
                        "owner, set, socket, state, statistic, tcp, udp")
    assert lines[1] == (f"{bad}:3:26: bad value for --dport: got '99999', expected a port from "
                        "0 to 65535")
    assert lines[-1] == "4 problem(s) in 3 file(s)"


def test_check_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.rules")
    code, _, err = run(capsys, "check", missing)
    assert code == 1
    assert err.startswith(f"{missing}: cannot read the ruleset")


# -- errors: messages, never tracebacks ---------------------------------------------------

USAGE_ERRORS = [
    pytest.param([], "the following arguments are required: COMMAND", id="no-command"),
    pytest.param(["nosuch"], "invalid choice: 'nosuch'", id="unknown-command"),
    pytest.param(["trace", CLASSIC], "the following arguments are required: --dst",
                 id="missing-dst"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--dport", "http"],
                 "argument --dport: 'http': expected a number from 0 to 65535",
                 id="dport-not-a-number"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--dport", "70000"],
                 "argument --dport: '70000': expected a number from 0 to 65535",
                 id="port-out-of-range"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--dport", "9" * 5000],
                 "argument --dport: '999", id="port-of-5000-digits"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--dport", "\u0668\u0660"],
                 "argument --dport: '\u0668\u0660': expected a number", id="port-in-other-digits"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--uid", "-5"],
                 "argument --uid: '-5': expected a number from 0 to 4294967294", id="negative-uid"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--mark", "-1"],
                 "argument --mark: '-1': expected a number from 0 to 4294967295",
                 id="negative-mark"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--ctstate", "BOGUS"],
                 "argument --ctstate: invalid choice: 'BOGUS'", id="bad-ctstate"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--proto", "icmp", "--dport", "80"],
                 "--dport and --sport: ICMP has no ports", id="icmp-with-a-port"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--hook", "prerouting"],
                 "--src is required with --hook prerouting", id="prerouting-without-src"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--hook", "input"],
                 "argument --hook: invalid choice: 'input'", id="bad-hook"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--proto", "sctp"],
                 "argument --proto: invalid choice: 'sctp'", id="bad-protocol"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--addr", "eth0"],
                 "argument --addr: 'eth0': expected IF=ADDRESS/PREFIX", id="bad-addr"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--family", "5"],
                 "argument --family: invalid choice: 5", id="bad-family"),
    pytest.param(["check"], "the following arguments are required: FILE", id="check-no-files"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE_ERRORS)
def test_bad_arguments_are_a_usage_error(capsys: pytest.CaptureFixture[str], argv: list[str],
                                         message: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: chainwalk")
    assert message in err
    assert "Traceback" not in err


INPUT_ERRORS = [
    pytest.param(["trace", "/nonexistent/x.rules", "--dst", "10.0.0.9"],
                 "/nonexistent/x.rules: cannot read the ruleset", id="missing-rules"),
    pytest.param(["trace", str(REPO / "rules"), "--dst", "10.0.0.9"],
                 f"{REPO / 'rules'}: cannot read the ruleset", id="rules-is-a-directory"),
    pytest.param(["trace", CLASSIC, "--dst", "not-an-ip"],
                 "packet dst 'not-an-ip' is not an IP address", id="bad-dst"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--src", "10.0.0.300"],
                 "interface eth0: '10.0.0.300/32' is not an address", id="bad-src"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9"],
                 "no source address: give --src, or the address of the interface",
                 id="no-source-address"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--src", "fd00::1"],
                 "packet src and dst are of different address families", id="mixed-families"),
    pytest.param(["trace", CLASSIC, "--dst", "10.0.0.9", "--addr", "eth0=10.0.0.5/99"],
                 "interface eth0: '10.0.0.5/99' is not an address", id="bad-host-address"),
    pytest.param(["trace", CLASSIC, "--dst", "fd00::9"],
                 f"{CLASSIC}:20:20: an IPv4 address in an IPv6 ruleset: got '127.0.0.6/32'",
                 id="ipv4-rules-read-as-ipv6"),
    pytest.param(["trace", CLASSIC, "--dst", "fd00::9", "--family", "4"],
                 "an IPv6 packet cannot cross the IPv4 ruleset", id="packet-of-the-other-family"),
    *(pytest.param([command, *files, "--table", "istio-proxy-nat"], "--table:1:1: not an "
                   "iptables table: got 'istio-proxy-nat', expected raw, mangle, nat or filter",
                   id=f"{command}-table-of-nft") for command, files in (
                       ("reach", [CURRENT]), ("equiv", [CLASSIC, CURRENT]))),
    pytest.param(["reach", NFT, "--table", "nat"], "--table:1:1: no such table in "
                 f"{NFT}: got 'nat', expected the name of one of its tables", id="reach-nft-table"),
]


@pytest.mark.parametrize(("argv", "message"), INPUT_ERRORS)
def test_bad_input_is_an_error_message(capsys: pytest.CaptureFixture[str], argv: list[str],
                                       message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(message)
    assert "Traceback" not in err


def test_proofs_read_nftables(capsys: pytest.CaptureFixture[str]) -> None:
    """reach, equiv and audit take an nftables file as they take an iptables one."""
    code, out, _ = run(capsys, "reach", NFT, "--where", "tcp uid=1000 out=eth0")
    assert code == 0
    assert "istio-proxy-nat:istio-redirect:rule:1:REACHED   e.g. tcp" in out
    assert "istio-proxy-nat:istio-inbound:rule:1:NEVER" in out
    code, out, _ = run(capsys, "equiv", CURRENT, NFT, "--where", "socket")
    assert (code, out) == (0, "the same: every described packet ends alike at output\n")
    code, out, _ = run(capsys, "equiv", CURRENT, NFT, "--where", "no-socket", "--json")
    found = json.loads(out)
    assert code == 1 and found["differences"]
    assert {d["first"] for d in found["differences"]} == {"nat ISTIO_OUTPUT#5 RETURN"}
    code, out, _ = run(capsys, "audit", NFT)
    assert code == 0 and out.startswith("outbound-capture: HOLDS\n")


def test_an_nft_proof_refuses_what_it_cannot_decide(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    rules = write(tmp_path, "lb.nft", "add table ip t\n"
                  "add chain ip t out { type nat hook output priority -100 ; }\n"
                  "add rule ip t out tcp dport 80 numgen random mod 2 vmap "
                  "{ 0 : accept, 1 : drop }\n")
    code, out, err = run(capsys, "reach", rules)
    assert (code, out) == (1, "")
    assert err.startswith(f"{rules}:3:")
    assert "cannot prove: the expression numgen random" in err
    assert "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"chainwalk {__version__}\n"


def test_python_dash_m_chainwalk(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.rules", "*nat\n-A OUTPUT -j NOWHERE\n")
    done = subprocess.run([sys.executable, "-m", "chainwalk", "check", bad], capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].startswith(f"{bad}:1:1: table nat is never committed")
    assert "Traceback" not in done.stderr


# -- closed outputs ------------------------------------------------------------------------

CLOSED_READER_COMMANDS = {
    "trace": ["trace", CLASSIC, "--dst", "10.0.0.9", "--dport", "8080", "--uid", "1000", *POD],
    "trace-json": ["trace", CLASSIC, "--dst", "10.0.0.9", "--uid", "1000", "--json", *POD],
    "run-json": ["run", str(REPO / "rules" / "scenarios" / "classic.yaml"), "--json"],
    "check": ["check", CLASSIC],
}


@pytest.mark.parametrize("argv", CLOSED_READER_COMMANDS.values(), ids=CLOSED_READER_COMMANDS)
def test_a_reader_that_went_away_ends_the_command_quietly(argv: list[str]) -> None:
    # stdout is a pipe whose reader is gone before the first write (as after `| head -1`):
    # no traceback, and the status of a program killed by SIGPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "chainwalk", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (128 + signal.SIGPIPE, "")


def test_help_for_a_reader_that_went_away_is_quiet() -> None:
    # argparse writes --help itself and ignores a failed write: quiet, status 0.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "chainwalk", "--help"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


ROUTING = REPO / "tests" / "fixtures" / "routing"
AMBIENT = str(REPO / "rules" / "rulesets" / "ambient.rules")


def test_trace_with_routing_dumps_reports_the_routing_decisions(
        capsys: pytest.CaptureFixture[str]) -> None:
    # ztunnel's connection into its pod, from the client's address: its answer needs the
    # connection mark restored and the fwmark 0x111/0xfff rule's table 100.
    argv = ["trace", AMBIENT, "--dst", "10.0.0.5", "--dport", "8080", "--src", "10.0.0.99",
            "--mark", "0x539", "--uid", "0", "--json", "--routing",
            str(ROUTING / "pod.ip-rule"), str(ROUTING / "pod.ip-route")]
    code, out, _ = run(capsys, *argv)
    result = json.loads(out)
    assert code == 0 and result["disposition"] == "delivered"
    assert [(r["rule"], r["outcome"]) for r in result["routing"]] == [(0, "local"), (0, "local")]
    assert result["handshake"]["outcome"] == "completes"
    code, out, _ = run(capsys, *argv[:-3])
    assert code == 0 and "routing" not in json.loads(out)


def test_trace_socket_decides_tproxy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = write(tmp_path, "t.rules", "*mangle\n-A PREROUTING -p tcp -j TPROXY --on-port 15006 "
                  "--tproxy-mark 0x539/0xffffffff\nCOMMIT\n")
    base = ["trace", rules, "--hook", "prerouting", "--src", "10.0.0.9", "--dst", "10.0.0.5",
            "--dport", "8080"]
    code, out, _ = run(capsys, *base, "--socket", "tcp:0.0.0.0:15006,transparent")
    assert code == 0 and out.splitlines()[-1].startswith("=> DELIVERED: transparent socket")
    code, out, _ = run(capsys, *base, "--socket", "tcp:0.0.0.0:15006")
    assert code == 0 and out.splitlines()[-1].startswith("=> DROPPED")
    code, _, err = run(capsys, *base, "--socket", "tcp:0.0.0.0:15006,sideways")
    assert code == 1 and "unknown flag 'sideways'" in err


def test_trace_reports_a_bad_routing_dump(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    bad = write(tmp_path, "node.ip-rule", "0:\tfrom all lookup local\n100:\tfrom all lookup 7\n")
    code, _, err = run(capsys, "trace", CLASSIC, "--dst", "10.0.0.9", "--dport", "80",
                       "--src", "10.0.0.5", "--routing", bad, str(ROUTING / "pod.ip-route"))
    assert code == 1
    assert err.strip() == (f"{bad}:2:22: the rule looks up table 7, which "
                           f"{ROUTING / 'pod.ip-route'} does not have: got '7', expected a table "
                           "of the route dump (100, 133, 254, 255) or the dump of ip route show "
                           "table all")
