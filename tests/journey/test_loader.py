"""Scenario files: the shipped ones load; bad input is reported at its file:line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from journey_helpers import RULES, scenario_file

from chainwalk import ChainwalkError
from chainwalk.journey import (
    DEFAULT_SIDECAR_PORTS,
    InboundModeChange,
    ProcessChange,
    RuleEdit,
    load_scenarios,
)

Write = Callable[..., Path]

SITE_IDS = {
    "bookinfo/inbound", "bookinfo/outbound", "bookinfo/same-pod", "bookinfo/localhost",
    "bookinfo/cross-pod", "bookinfo/excluded-15090", "bookinfo/excluded-15020",
    "bookinfo/excluded-15021", "bookinfo/localhost-inbound-mode", "bookinfo/uid-1337",
    "bookinfo/validation-probe", "bookinfo/validation-probe-other-uid",
    "bookinfo/no-127-0-0-6-rule", "bookinfo/no-uid-return", "bookinfo/no-uid-gid-return",
    "dns/dns-capture", "classic/inbound", "classic/outbound", "classic/same-pod",
    "classic/excluded-22",
}

OK_SCENARIO = """\
ok:
  title: a call
  from: client
  to: server:9080
"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ChainwalkError) as caught:
        load_scenarios(path)
    return [str(p) for p in caught.value.problems]


def one_problem(path: Path) -> str:
    found = problems_of(path)
    assert len(found) == 1, found
    return found[0]


# -- the shipped files ------------------------------------------------------------------


def test_every_id_the_site_references_exists() -> None:
    ids = {s.id for s in load_scenarios(RULES / "scenarios")}
    assert ids >= SITE_IDS, SITE_IDS - ids


def test_defaults_make_the_usual_istio_pod() -> None:
    (scenario, *_) = load_scenarios(RULES / "scenarios" / "bookinfo.yaml")
    pod = scenario.topology.pod("reviews")
    assert pod is not None and pod.sidecar is not None
    assert [i.name for i in pod.interfaces] == ["lo", "eth0"]
    assert pod.interfaces[1].addresses == ("10.0.0.12/32",)
    assert (pod.sidecar.uid, pod.sidecar.gid) == (1337, 1337)
    assert pod.sidecar.ports == DEFAULT_SIDECAR_PORTS
    assert pod.sidecar.inbound_mode == "passthrough"
    assert pod.sidecar.outbound_policy == "ALLOW_ANY"
    assert pod.ruleset == "rulesets/current.rules"
    assert pod.ruleset_path == str(RULES / "rulesets" / "current.rules")
    process = pod.process("reviews")
    assert process is not None and (process.uid, process.gid, process.ports) == (1000, 1000,
                                                                                  (9080,))


def test_ids_are_file_stem_and_name(write: Write) -> None:
    path = write(scenario_file(OK_SCENARIO), "mine")
    (scenario,) = load_scenarios(path)
    assert scenario.id == "mine/ok" and scenario.name == "ok"
    assert scenario.request.dst == "10.96.0.12" and scenario.request.dport == 9080
    assert scenario.location is not None and scenario.location.line == 12
    assert scenario.zh_title == ""  # optional: only a Chinese page showing it needs it
    (titled,) = load_scenarios(write(scenario_file(OK_SCENARIO.replace(
        "  from:", "  zh: {title: 一次调用}\n  from:")), "titled"))
    assert titled.title_in("zh") == "一次调用" and titled.title_in("en") == "a call"


def test_a_folder_loads_every_yaml_file(write: Write, rules_dir: Path) -> None:
    write(scenario_file(OK_SCENARIO), "a")
    write(scenario_file(OK_SCENARIO), "b")
    assert [s.id for s in load_scenarios(rules_dir / "scenarios")] == ["a/ok", "b/ok"]


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    assert "no scenario files" in one_problem(tmp_path)


def test_what_ifs_are_read(write: Write) -> None:
    path = write(scenario_file("""\
        w:
          title: what-ifs
          from: client/app
          to: server
          what-if:
            - delete: {chain: ISTIO_OUTPUT, rule: 3}
            - insert: {pod: client, chain: ISTIO_OUTPUT, before: 1, rule: -p tcp -j RETURN}
            - replace: {pod: server, table: nat, chain: ISTIO_REDIRECT, rule: 1,
                        with: -p tcp -j REDIRECT --to-ports 15002}
            - uid: {pod: client, process: app, uid: 1337}
            - inbound-mode: {pod: server, mode: localhost}
        """))
    (scenario,) = load_scenarios(path)
    delete, insert, replace, uid, mode = scenario.what_ifs
    assert delete == RuleEdit("", "delete", "nat", "ISTIO_OUTPUT", None, 3)
    assert insert == RuleEdit("client", "insert", "nat", "ISTIO_OUTPUT", None, 1,
                              "-p tcp -j RETURN")
    assert isinstance(replace, RuleEdit) and replace.new_rule is not None
    assert uid == ProcessChange("client", "app", 1337, 1337)
    assert mode == InboundModeChange("server", "localhost")
    assert delete.describe() == "every pod: delete nat ISTIO_OUTPUT rule 3"


def test_a_rule_spec_is_matched_by_meaning(write: Write) -> None:
    # Written in another order than iptables-save prints it, without -m tcp.
    path = write(scenario_file("""\
        w:
          title: spec
          from: client
          to: server
          what-if:
            - delete: {chain: ISTIO_OUTPUT, rule: -o lo -s 127.0.0.6/32 -j RETURN}
          expect:
            rules: [{chain: ISTIO_INBOUND, rule: -p tcp --dport 15021 -j RETURN}]
        """))
    (scenario,) = load_scenarios(path)
    (rule,) = scenario.expectations.rules
    assert (rule.table, rule.spec) == ("nat", "-p tcp -m tcp --dport 15021 -j RETURN")


# -- bad input: one clear problem at the right line ---------------------------------------


@pytest.mark.parametrize(("scenario", "line", "words"), [
    ("from: nobody\nto: server", 14, ["unknown pod", "'nobody'", "client, server"]),
    ("from: client/ghost\nto: server", 14, ["no such process", "'ghost'", "one of app"]),
    ("from: client\nto: nowhere:80", 15, ["unknown service", "'nowhere'", "one of server"]),
    ("from: client\nto: server:81", 15, ["service server has no port 81", "one of 9080"]),
    ("from: client\nto: 10.0.0.12", 15, ["needs a port", "10.0.0.12:PORT"]),
    ("from: client\nto: server\nsource: 10.9.9.9", 16, ["not an address of pod client"]),
    ("from: client\nto: server\nprotocol: sctp", 16, ["protocol: wrong value", "'sctp'",
                                                      "tcp or udp"]),
    ("from: client\nto: server\nwhat-if:\n  - delete: {chain: ISTIO_OUTPUT, rule: -j ACCEPT}",
     17, ["no such rule in nat ISTIO_OUTPUT", "'-j ACCEPT'", "1: -p tcp"]),
    ("from: client\nto: server\nwhat-if:\n  - delete: {chain: NOPE, rule: 1}",
     17, ["no chain NOPE in table nat", "ISTIO_OUTPUT"]),
    ("from: client\nto: server\nwhat-if:\n  - delete: {chain: ISTIO_REDIRECT, rule: 5}",
     17, ["has 1 rules", "'5'", "from 1 to 1"]),
    ("from: client\nto: server\nwhat-if:\n  - insert: {chain: ISTIO_OUTPUT, rule: -j NOWHERE}",
     17, ["rule '-j NOWHERE'"]),
    ("from: client\nto: server\nwhat-if:\n  - uid: {pod: client, process: ghost, uid: 1}",
     17, ["no such process", "'ghost'"]),
    ("from: client\nto: server\nwhat-if:\n  - uid: {pod: ghost, process: app, uid: 1}",
     17, ["unknown pod", "'ghost'"]),
    ("from: client\nto: server\nwhat-if:\n  - chmod: {pod: client}", 17,
     ["unknown key", "'chmod'", "delete, inbound-mode, insert, ip-rule, replace, uid"]),
    ("from: client\nto: server\nexpect: {receiver: server/ghost}", 16,
     ["no such process", "'ghost'", "app, envoy"]),
    ("from: client\nto: server\nexpect: {rules: [nat:NOPE:1]}", 16,
     ["no pod's ruleset has a chain NOPE"]),
    ("from: client\nto: server\nexpect: {result: fine}", 16,
     ["result: wrong value", "'fine'", "delivered, loop"]),
    ("from: client\nto: server\nexpect: {hops: [15001, 2.5]}", 16,
     ["hops.1: not allowed here", "a listener port"]),
    ("from: client\nto: server\nhop-limit: many", 16, ["hop-limit: wrong value", "'many'"]),
    ("to: server", 12, ["missing key 'from'"]),
    ("from: client\nto: server\nzh: {}", 16, ["missing key 'title'",
                                                     "{title: ...}"]),
    ("from: client\nto: server\nzh: {title: ' '}", 16, ["zh.title: wrong value"]),
])
def test_a_bad_scenario_names_its_line(write: Write, scenario: str, line: int,
                                       words: list[str]) -> None:
    path = write(scenario_file("bad:\n  title: bad\n" + "\n".join(
        "  " + s for s in scenario.splitlines()) + "\n"))
    problem = one_problem(path)
    assert problem.startswith(f"{path}:{line}:"), problem
    for word in words:
        assert word in problem, problem


@pytest.mark.parametrize(("topology", "line", "words"), [
    ("pods:\n  a:\n    address: 10.0.0.1\n    ruleset: rulesets/missing.rules\n", 4,
     ["ruleset file not found", "'rulesets/missing.rules'"]),
    ("pods:\n  a:\n    address: 10.0.0.300\n", 3, ["not an IP address", "'10.0.0.300'"]),
    ("pods:\n  a:\n    processes: {p: {uid: x}}\n", 3, ["uid: wrong value", "'x'",
                                                       "a uid or gid"]),
    ("pods:\n  a: {address: 10.0.0.1, processes: {p: {ports: [70000]}}}\n", 2,
     ["ports.0: wrong value", "'70000'", "1-65535"]),
    ("pods:\n  a: {address: 10.0.0.1, colour: red}\n", 2, ["unknown key", "'colour'",
                                                         "address, addresses"]),
    ("pods:\n  a: {address: 10.0.0.1}\n  a: {address: 10.0.0.2}\n", 3, ["duplicate key",
                                                                         "'a'"]),
    ("pods:\n  a: {address: 10.0.0.1, processes: {p: {ports: [15001]}}}\n", 2,
     ["tcp port 15001 of p is already taken by the sidecar"]),
    ("pods:\n  a: {}\n", 2, ["pod a has no address"]),
    ("pods:\n  a: {address: 10.0.0.1}\nservices:\n  s: {vip: 10.96.0.1, port: 80, "
     "endpoints: [ghost]}\n", 4, ["unknown pod", "'ghost'"]),
    ("pods:\n  a: {address: 10.0.0.1}\nservices:\n  s: {vip: 10.0.0.1, port: 80, "
     "endpoints: [a]}\n", 4, ["VIP of service s is pod a's address"]),
    ("pods:\n  Bad_Name: {address: 10.0.0.1}\n", 2, ["bad name", "'Bad_Name'"]),
    ("pods:\n  a: {address: 10.0.0.1\n", 3, ["invalid YAML"]),
])
def test_a_bad_topology_names_its_line(write: Write, topology: str, line: int,
                                       words: list[str]) -> None:
    path = write(topology + "scenarios:\n  s: {title: t, from: a, to: 10.0.0.1:80}\n")
    found = problems_of(path)
    assert any(p.startswith(f"{path}:{line}:") and all(w in p for w in words)
               for p in found), found


def test_a_bad_ruleset_reports_the_ruleset_files_line(write: Write, rules_dir: Path) -> None:
    (rules_dir / "broken.rules").write_text("*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j NOWHERE\n"
                                            "COMMIT\n")
    path = write("ruleset: broken.rules\npods:\n  a: {address: 10.0.0.1}\n"
                 "scenarios:\n  s: {title: t, from: a, to: 10.0.0.1:80}\n")
    found = problems_of(path)
    assert any(p.startswith(f"{rules_dir / 'broken.rules'}:3:") for p in found), found


def test_every_problem_of_a_file_is_reported_at_once(write: Write) -> None:
    path = write(scenario_file("""\
        a: {title: t, from: ghost, to: server}
        b: {title: t, from: client, to: nowhere:1}
        c: {title: t, from: client, to: server, source: 10.9.9.9}
        """))
    found = problems_of(path)
    assert [int(p.split(":")[1]) for p in found] == [12, 13, 14], found


def test_every_structural_problem_is_reported_at_once(write: Write) -> None:
    # Structure is checked first, for the whole file; meaning only once it is sound.
    path = write(scenario_file("""        a: {title: t, from: ghost, to: server, protocol: sctp}
        b: {title: t, from: client, to: server, hop-limit: 0}
        """))
    found = problems_of(path)
    assert [int(p.split(":")[1]) for p in found] == [12, 13], found


def test_problems_of_several_files_are_all_reported(write: Write, rules_dir: Path) -> None:
    write(scenario_file("a: {title: t, from: ghost, to: server}"), "one")
    write(scenario_file("a: {title: t, from: client, to: ghost:1}"), "two")
    found = problems_of(rules_dir / "scenarios")
    assert len(found) == 2 and "one.yaml" in found[0] and "two.yaml" in found[1], found


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    assert "cannot read" in one_problem(tmp_path / "nothing.yaml")
