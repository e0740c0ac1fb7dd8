"""Scenario files -> :class:`Scenario` values, with every problem at its file:line.

Two passes over a file: the JSON Schema checks shape and types (``_schema``); then
this module builds the model and checks what a schema cannot: that names refer to
pods, processes, services and ports that exist, that ruleset files exist and parse,
that what-ifs name rules that are there. Problems are collected, never raised one
at a time, so a file's author sees them all.

Defaults make the usual Istio pod one line: ``lo`` and ``eth0`` (the pod's
addresses as /32 or /128), an Envoy sidecar with uid/gid 1337 on the standard
ports, passthrough inbound delivery and ``ALLOW_ANY``. Ruleset paths are relative
to the rules/ folder, i.e. the folder above the scenario file's folder; paths
starting with ``./`` or ``../`` are relative to the scenario file itself. Either way a
path must resolve (symlinks included) inside the rules folder (``_files.confine``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._errors import ChainwalkError, Location, Problem
from .._files import confine, read_text, regular_file_size
from .._ruleset_cache import load_rules
from .._yaml import Doc, PathPart, load_yaml
from ..netfilter import Interface, Ruleset, family_of, host_address, is_local
from ..netfilter._policy_routing import policy_routing
from . import _model as model
from ._rulesets import rule_index
from ._schema import schema_problems
from ._world import build_world, pod_host

DEFAULT_HOP_LIMIT = 16
DEFAULT_UID = 1000
SCENARIO_SUFFIXES = (".yaml", ".yml")


def load_scenarios(path_or_folder: str | os.PathLike[str]) -> list[model.Scenario]:
    """Every scenario of a file, or of every ``*.yaml`` file in a folder (sorted).

    Raises :class:`ChainwalkError` listing every problem of every file.
    """
    files = scenario_files(path_or_folder)
    scenarios: list[model.Scenario] = []
    problems: list[Problem] = []
    for file in files:
        try:
            scenarios.extend(load_file(file))
        except ChainwalkError as e:
            problems.extend(e.problems)
    if problems:
        raise ChainwalkError(problems)
    return scenarios


def scenario_files(path_or_folder: str | os.PathLike[str]) -> list[str]:
    path = Path(path_or_folder)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.suffix in SCENARIO_SUFFIXES)
        if not files:
            raise ChainwalkError([Problem(Location(str(path), 0), "no scenario files",
                                          None, "*.yaml files in the folder")])
        return files
    return [str(path)]


def load_file(path: str) -> list[model.Scenario]:
    document = load_yaml(path)
    problems = schema_problems(document)
    if problems:
        raise ChainwalkError(problems)
    builder = _Builder(document)
    scenarios = builder.build()
    if builder.problems:
        raise ChainwalkError(sorted(builder.problems, key=lambda p: p.location))
    return scenarios


def parse_address(text: str) -> str | None:
    """The address in its canonical spelling, or ``None`` when it is not one."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def rules_folder(scenario_file: str) -> Path:
    return Path(scenario_file).resolve().parent.parent


class _Builder:
    """Builds one file's model; appends to ``problems`` instead of raising."""

    def __init__(self, document: Doc) -> None:
        self.doc = document
        self.data: dict[str, Any] = document.data
        self.problems: list[Problem] = []
        self.stem = Path(document.path).stem
        # ruleset_file's answers: each value's path ("": none) and problems.
        self.ruleset_files: dict[str, tuple[str, list[Problem]]] = {}

    # -- helpers ---------------------------------------------------------------

    def at(self, *path: PathPart, key: bool = False) -> Location:
        return self.doc.at(path, key=key)

    def problem(self, where: Location, message: str, token: str | None = None,
                expected: str | None = None) -> None:
        self.problems.append(Problem(where, message, token, expected))

    def address(self, text: str, where: Location) -> str | None:
        found = parse_address(text)
        if found is None:
            self.problem(where, "not an IP address", text, "an address such as 10.0.0.11")
        return found

    # -- topology --------------------------------------------------------------

    def build(self) -> list[model.Scenario]:
        pods = tuple(self.pod(name, body or {}) for name, body in self.data["pods"].items())
        services = tuple(self.service(name, body, pods)
                         for name, body in (self.data.get("services") or {}).items())
        topology = model.Topology(self.stem, self.doc.path, pods, services)
        self.check_unique_addresses(topology)
        if self.problems:  # scenarios would only repeat the topology's problems
            return []
        return [s for name, body in self.data["scenarios"].items()
                if (s := self.scenario(topology, name, body)) is not None]

    def ruleset_file(self, value: str | None, where: Location) -> str:
        if value is None:
            return ""
        found = self.ruleset_files.get(value)
        if found is None:
            problems_before = len(self.problems)
            found = self.ruleset_files[value] = (
                self.find_ruleset_file(value, where), self.problems[problems_before:])
        else:  # the same value for another pod: the same answer, at this pod's line
            self.problems.extend(replace(p, location=where) for p in found[1])
        return found[0]

    def find_ruleset_file(self, value: str, where: Location, what: str = "ruleset") -> str:
        rules = rules_folder(self.doc.path)
        base = (Path(self.doc.path).resolve().parent if value.startswith(("./", "../"))
                else rules)
        try:
            path = confine(value, base, rules, where)
        except ChainwalkError as e:
            self.problems.extend(e.problems)
            return ""
        try:
            os.stat(path)
        except FileNotFoundError:
            self.problem(where, f"{what} file not found", value,
                         f"a file relative to {rules}")
            return ""
        except OSError as e:  # a name too long, a symlink loop...
            self.problem(where, f"cannot read the {what}: {e.strerror or e}", value,
                         f"a file relative to {rules}")
            return ""
        try:
            regular_file_size(path, value, what)
        except ChainwalkError as e:
            self.problems.extend(Problem(where, p.message, value, p.expected)
                                 for p in e.problems)
            return ""
        return str(path)

    def pod(self, name: str, body: dict[str, Any]) -> model.Pod:
        base = ("pods", name)
        addresses = [body["address"]] if "address" in body else list(body.get("addresses", []))
        address_paths: list[tuple[PathPart, ...]] = (
            [(*base, "address")] if "address" in body
            else [(*base, "addresses", i) for i in range(len(addresses))])
        parsed = [self.address(a, self.at(*p)) for a, p in zip(addresses, address_paths,
                                                                strict=True)]
        own = [a for a in parsed if a is not None]
        interfaces = self.interfaces(base, body, own)
        if not own:
            own = [str(ipaddress.ip_interface(a).ip) for i in interfaces if i.name != "lo"
                   for a in i.addresses]
        if not own:
            self.problem(self.at(*base, key=True), f"pod {name} has no address", None,
                         "address: 10.0.0.11 (or addresses, or interfaces)")
        rulesets = {}
        for key in ("ruleset", "ruleset6"):
            if key in body:
                rulesets[key] = (body[key], self.at(*base, key))
            elif key == "ruleset" and "ruleset" in self.data:
                rulesets[key] = (self.data["ruleset"], self.at("ruleset"))
            else:
                rulesets[key] = (None, self.at(*base, key=True))
        ruleset, ruleset_where = rulesets["ruleset"]
        ruleset6, ruleset6_where = rulesets["ruleset6"]
        sidecar = self.sidecar(base, body.get("sidecar", True))
        processes = tuple(self.process(base, pname, pbody or {})
                          for pname, pbody in (body.get("processes") or {}).items())
        pod = model.Pod(name, tuple(own), ruleset or "", self.ruleset_file(ruleset, ruleset_where),
                        interfaces, processes, sidecar, self.at(*base, key=True), ruleset6 or "",
                        self.ruleset_file(ruleset6, ruleset6_where), self.routing(base, body),
                        self.ipsets(base, body))
        self.check_listeners(pod)
        self.check_rulesets(pod)
        return pod

    def routing(self, base: tuple[PathPart, ...], body: dict[str, Any]
                ) -> tuple[str, str] | None:
        """The pod's ``ip rule``/``ip route`` dumps, found and checked (parsed) now."""
        given = body.get("routing")
        if given is None:
            return None
        before = len(self.problems)
        paths = tuple(self.find_ruleset_file(given[key], self.at(*base, "routing", key),
                                             "routing dump") for key in ("rules", "routes"))
        if len(self.problems) > before:
            return None
        try:
            policy_routing(read_text(paths[0], what="ip rule dump"), paths[0],
                           read_text(paths[1], what="ip route dump"), paths[1])
        except ChainwalkError as e:
            self.problems.extend(e.problems)
            return None
        return paths[0], paths[1]

    def ipsets(self, base: tuple[PathPart, ...], body: dict[str, Any]
               ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        found = []
        for name, members in (body.get("ipsets") or {}).items():
            good = [self.address(m, self.at(*base, "ipsets", name, i))
                    for i, m in enumerate(members)]
            found.append((name, tuple(m for m in good if m is not None)))
        return tuple(found)

    def interfaces(self, base: tuple[PathPart, ...], body: dict[str, Any],
                   own: list[str]) -> tuple[Interface, ...]:
        given: dict[str, list[str]] = body.get("interfaces") or {}
        result: dict[str, Interface] = {}
        for name, addresses in given.items():
            good = []
            for i, text in enumerate(addresses):
                try:
                    good.append(str(ipaddress.ip_interface(text)))
                except ValueError:
                    self.problem(self.at(*base, "interfaces", name, i), "not an address",
                                 text, "an address with prefix length such as 10.0.0.11/32")
            result[name] = Interface(name, tuple(good))
        if "lo" not in result:
            result = {"lo": Interface("lo", ("127.0.0.1/8", "::1/128")), **result}
        if "eth0" not in result:
            result["eth0"] = Interface("eth0", tuple(map(host_address, own)))
        return tuple(result.values())

    def sidecar(self, base: tuple[PathPart, ...], body: bool | dict[str, Any]
                ) -> model.Sidecar | None:
        if body is False:
            return None
        if body is True:
            return model.Sidecar(location=self.at(*base, key=True))
        kind = body.get("kind", "envoy")
        ztunnel = kind == "ztunnel"
        uid = body.get("uid", 0 if ztunnel else model.PROXY_ID)
        defaults = model.Sidecar()
        if ztunnel and ("interception" in body or "inbound-mode" in body
                        or "outbound-policy" in body):
            self.problem(self.at(*base, "sidecar", key=True), "ztunnel takes no "
                         "interception, inbound-mode or outbound-policy", None,
                         "kind, uid, gid, ports and mark")
        ports = body.get("ports", model.ZTUNNEL_PORTS if ztunnel else defaults.ports)
        return model.Sidecar(kind, uid, body.get("gid", uid), tuple(ports),
                             body.get("inbound-mode", defaults.inbound_mode),
                             body.get("outbound-policy", defaults.outbound_policy),
                             self.at(*base, "sidecar"),
                             body.get("mark", model.ZTUNNEL_MARK if ztunnel else 0),
                             ztunnel or body.get("interception") == "TPROXY")

    def process(self, base: tuple[PathPart, ...], name: str, body: dict[str, Any]) -> model.Process:
        where = self.at(*base, "processes", name, key=True)
        uid = body.get("uid", DEFAULT_UID)
        bind = ""
        if "bind" in body:
            found = self.address(body["bind"], self.at(*base, "processes", name, "bind"))
            # 0.0.0.0 and :: are how a program spells "every address".
            bind = "" if found in ("0.0.0.0", "::") or found is None else found
        return model.Process(name, uid, body.get("gid", uid), tuple(body.get("ports", ())),
                             tuple(body.get("udp-ports", ())), bind, where, body.get("mark", 0))

    def check_listeners(self, pod: model.Pod) -> None:
        taken: dict[tuple[str, int], str] = {}
        if pod.sidecar is not None:
            for port in pod.sidecar.ports:
                taken[("tcp", port)] = "the sidecar"
        host = pod_host(pod)
        for process in pod.processes:
            if process.bind and not is_local(host, process.bind):
                self.problem(self.at("pods", pod.name, "processes", process.name, "bind"),
                             f"not an address of pod {pod.name}", process.bind,
                             f"one of {', '.join(pod.addresses)}, 127.0.0.1 or 0.0.0.0")
            for protocol, ports in (("tcp", process.ports), ("udp", process.udp_ports)):
                for port in ports:
                    other = taken.get((protocol, port))
                    if other is not None:
                        self.problem(process.location or self.at("pods", pod.name),
                                     f"{protocol} port {port} of {process.name} is already "
                                     f"taken by {other} in pod {pod.name}", str(port),
                                     "a port nobody else in the pod listens on")
                    taken[(protocol, port)] = process.name

    def check_rulesets(self, pod: model.Pod) -> None:
        for path, family in ((pod.ruleset_path, 4), (pod.ruleset6_path, 6)):
            if path:
                try:
                    load_rules(path, family)
                except ChainwalkError as e:
                    self.problems.extend(e.problems)

    def service(self, name: str, body: dict[str, Any], pods: Sequence[model.Pod]) -> model.Service:
        base = ("services", name)
        vip = self.address(body["vip"], self.at(*base, "vip")) or "0.0.0.0"
        ports = list(body.get("ports", ()))
        if "port" in body:
            ports.insert(0, body["port"])
        if not ports:
            self.problem(self.at(*base, key=True), f"service {name} has no port", None,
                         "port: 9080 or ports: [9080]")
        by_name = {p.name: p for p in pods}
        endpoints = []
        for i, text in enumerate(body["endpoints"]):
            pod_name, _, port = text.partition(":")
            endpoint = model.Endpoint(pod_name, int(port) if port else None)
            where = self.at(*base, "endpoints", i)
            pod = by_name.get(pod_name)
            if pod is None:
                self.problem(where, f"service {name}: unknown pod", pod_name,
                             f"one of {', '.join(by_name)}")
            elif not any(family_of(a) == family_of(vip) for a in pod.addresses):
                self.problem(where, f"pod {pod_name} has no IPv{family_of(vip)} address "
                             f"for service {name}", pod_name, None)
            if endpoint.port is not None and not 1 <= endpoint.port <= 65535:
                self.problem(where, "not a port", port, "a port (1-65535)")
            endpoints.append(endpoint)
        return model.Service(name, vip, tuple(ports), tuple(endpoints), self.at(*base, key=True))

    def check_unique_addresses(self, topology: model.Topology) -> None:
        owner: dict[str, str] = {}
        for pod in topology.pods:
            for address in pod.addresses:
                if address in owner:
                    self.problem(pod.location or self.at("pods"), f"address {address} of pod "
                                 f"{pod.name} is already pod {owner[address]}'s", address,
                                 "one address per pod")
                owner[address] = pod.name
        for service in topology.services:
            if service.vip in owner:
                self.problem(self.at("services", service.name, "vip"), f"VIP of service "
                             f"{service.name} is pod {owner[service.vip]}'s address",
                             service.vip, "an address no pod has")

    # -- scenarios -------------------------------------------------------------

    def scenario(self, topology: model.Topology, name: str, body: dict[str, Any]
                 ) -> model.Scenario | None:
        count = len(self.problems)
        base = ("scenarios", name)
        request = self.request(topology, base, body)
        what_ifs = tuple(self.what_if(topology, (*base, "what-if", i), item)
                         for i, item in enumerate(body.get("what-if", ())))
        hop_limit = body.get("hop-limit", self.data.get("hop-limit", DEFAULT_HOP_LIMIT))
        if request is None or len(self.problems) > count:
            return None
        scenario = model.Scenario(f"{self.stem}/{name}", name, body["title"], topology, request,
                                  tuple(w for w in what_ifs if w is not None), model.Expectations(),
                                  body.get("description", ""), self.at(*base, key=True), hop_limit,
                                  body.get("zh", {}).get("title", ""))
        try:
            world = build_world(scenario)
        except ChainwalkError as e:
            self.problems.extend(e.problems)
            return None
        expectations = self.expectations(world.topology, world.rulesets, base,
                                         body.get("expect") or {})
        if len(self.problems) > count:
            return None
        return model.Scenario(scenario.id, name, scenario.title, topology, request,
                              scenario.what_ifs, expectations, scenario.description,
                              scenario.location, hop_limit, scenario.zh_title)

    def request(self, topology: model.Topology, base: tuple[PathPart, ...],
                body: dict[str, Any]) -> model.Request | None:
        where_from = self.at(*base, "from")
        pod_name, _, process_name = body["from"].partition("/")
        pod = topology.pod(pod_name)
        if pod is None:
            self.problem(where_from, "unknown pod", pod_name,
                         f"one of {', '.join(p.name for p in topology.pods)}")
            return None
        if not process_name:
            if len(pod.processes) != 1:
                self.problem(where_from, f"pod {pod_name} has {len(pod.processes)} processes: "
                             "name the client", body["from"],
                             f"'{pod_name}/PROCESS' with PROCESS one of "
                             f"{', '.join(p.name for p in pod.processes) or '(none: add one)'}")
                return None
            process_name = pod.processes[0].name
        elif pod.process(process_name) is None:
            self.problem(where_from, f"pod {pod_name} has no such process", process_name,
                         f"one of {', '.join(p.name for p in pod.processes) or '(none)'}")
            return None
        protocol = body.get("protocol", "tcp")
        target = self.target(topology, body["to"], self.at(*base, "to"))
        if target is None:
            return None
        dst, dport = target
        source = ""
        if "source" in body:
            where = self.at(*base, "source")
            found = self.address(body["source"], where)
            if found is None:
                return None
            if family_of(found) != family_of(dst):
                self.problem(where, "source and destination are of different address "
                             "families", found, f"an IPv{family_of(dst)} address")
                return None
            if not is_local(pod_host(pod), found):
                self.problem(where, f"not an address of pod {pod_name} (bind would fail)",
                             found, f"one of {', '.join(pod.addresses)} or 127.0.0.1")
                return None
            source = found
        return model.Request(pod_name, process_name, body["to"], dst, dport, protocol, source,
                             self.at(*base, key=True))

    def target(self, topology: model.Topology, text: str, where: Location
               ) -> tuple[str, int] | None:
        """``service[:port]``, ``localhost:port``, ``IP:port`` or ``[IPv6]:port``."""
        host, port_text = text, ""
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest.removeprefix(":")
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
        port: int | None = None
        if port_text:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                self.problem(where, "not a port", port_text, "a port (1-65535)")
                return None
            port = int(port_text)
        service = topology.service(host)
        if service is not None:
            if port is None:
                if len(service.ports) != 1:
                    self.problem(where, f"service {host} has several ports: name one", text,
                                 f"{host}:PORT with PORT one of "
                                 f"{', '.join(map(str, service.ports))}")
                    return None
                port = service.ports[0]
            elif port not in service.ports:
                self.problem(where, f"service {host} has no port {port}", str(port),
                             f"one of {', '.join(map(str, service.ports))}")
                return None
            return service.vip, port
        address = "127.0.0.1" if host == "localhost" else parse_address(host)
        if address is None:
            names = ", ".join(s.name for s in topology.services)
            self.problem(where, "unknown service", host,
                         f"one of {names}, or IP:port" if names else "IP:port")
            return None
        if port is None:
            self.problem(where, "a destination address needs a port", text,
                         f"{text}:PORT" if ":" not in text else f"[{text}]:PORT")
            return None
        return address, port

    def what_if(self, topology: model.Topology, path: tuple[PathPart, ...],
                item: dict[str, Any]) -> model.WhatIf | None:
        ((action, body),) = item.items()
        where = self.at(*path)
        pod_name: str = body.get("pod", "")
        pod = topology.pod(pod_name) if pod_name else None
        if pod_name and pod is None:
            self.problem(self.at(*path, action, "pod"), "unknown pod", pod_name,
                         f"one of {', '.join(p.name for p in topology.pods)}")
            return None
        if action in ("delete", "insert", "replace"):
            if not pod_name and not any(p.ruleset_path for p in topology.pods):
                self.problem(where, "no pod has rules to edit", None, "a pod with a ruleset")
                return None
            ref_key = "before" if action == "insert" else "rule"
            ref = body.get(ref_key)
            new_rule = body.get("rule") if action == "insert" else body.get("with")
            ref_where = self.at(*path, action, ref_key) if ref is not None else where
            return model.RuleEdit(pod_name, action, body.get("table", "nat"), body["chain"],
                                  ref if isinstance(ref, str) else None,
                                  ref if isinstance(ref, int) else None, new_rule, ref_where)
        assert pod is not None  # the schema requires pod for these
        if action == "ip-rule":
            if pod.routing_paths is None:
                self.problem(self.at(*path, action, "pod"), f"pod {pod_name} has no routing "
                             "dumps", pod_name, "a pod with routing: {rules, routes}")
                return None
            rules = read_text(pod.routing_paths[0], what="ip rule dump")
            if not any(line.split(":", 1)[0].strip() == str(body["delete"])
                       for line in rules.splitlines()):
                self.problem(self.at(*path, action, "delete"), f"pod {pod_name}'s ip rules "
                             "have no rule of this priority", str(body["delete"]),
                             "a priority that ip rule show prints")
                return None
            return model.IpRuleDelete(pod_name, body["delete"], where)
        if action == "uid":
            if pod.process(body["process"]) is None:
                self.problem(self.at(*path, action, "process"), f"pod {pod_name} has no such "
                             "process", body["process"],
                             f"one of {', '.join(p.name for p in pod.processes) or '(none)'}")
                return None
            return model.ProcessChange(pod_name, body["process"], body["uid"],
                                       body.get("gid", body["uid"]), where)
        if pod.sidecar is None:
            self.problem(self.at(*path, action, "pod"), f"pod {pod_name} has no sidecar",
                         pod_name, "a pod with a sidecar")
            return None
        return model.InboundModeChange(pod_name, body["mode"], where)

    def expectations(self, topology: model.Topology, rulesets: dict[str, Any],
                     base: tuple[PathPart, ...], body: dict[str, Any]) -> model.Expectations:
        path = (*base, "expect")
        receiver = body.get("receiver")
        if receiver is not None:
            self.check_receiver(topology, receiver, self.at(*path, "receiver"))
        hops = None
        if "hops" in body:
            hops = tuple(self.hop_expectation(topology, (*path, "hops", i), item)
                         for i, item in enumerate(body["hops"]))
        rules = tuple(self.rule_expectation(rulesets, (*path, "rules", i), item)
                      for i, item in enumerate(body.get("rules", ())))
        return model.Expectations(body.get("result"), receiver, hops,
                                  tuple(r for r in rules if r is not None), body.get("reason"),
                                  self.at(*path, key=True) if body else None,
                                  tuple((key, self.at(*path, key)) for key in body))

    def check_receiver(self, topology: model.Topology, text: str, where: Location) -> None:
        pod_name, _, rest = text.partition("/")
        process = rest.partition(":")[0]
        pod = topology.pod(pod_name)
        if pod is None:
            self.problem(where, "unknown pod", pod_name,
                         f"one of {', '.join(p.name for p in topology.pods)}")
            return
        names = [p.name for p in pod.processes]
        if pod.sidecar is not None:
            names.append(pod.sidecar.kind)
        if process not in names:
            self.problem(where, f"pod {pod_name} has no such process", process,
                         f"one of {', '.join(names) or '(none)'}")

    def hop_expectation(self, topology: model.Topology, path: tuple[PathPart, ...],
                        item: int | str | dict[str, Any]) -> model.HopExpectation:
        where = self.at(*path)
        if isinstance(item, int):
            return model.HopExpectation(port=item, location=where)
        if isinstance(item, str):
            if item in ("refused", "dropped"):
                return model.HopExpectation(outcome="refused" if item == "refused" else "dropped",
                                            location=where)
            self.check_receiver(topology, item, where)
            return model.HopExpectation(receiver=item, location=where)
        if "receiver" in item:
            self.check_receiver(topology, item["receiver"], self.at(*path, "receiver"))
        original = item.get("original")
        if original is not None:
            host = original.rpartition(":")[0].strip("[]")
            if parse_address(host) is None:
                self.problem(self.at(*path, "original"), "not an IP address", host,
                             "IP:port such as 10.0.0.12:9080")
            else:  # compare in canonical spelling, as the journey prints it
                canonical = parse_address(host) or host
                shown = f"[{canonical}]" if ":" in canonical else canonical
                original = f"{shown}:{int(original.rpartition(':')[2])}"
        return model.HopExpectation(item.get("port"), item.get("receiver"), original, where,
                                    item.get("outcome"))

    def rule_expectation(self, rulesets: dict[str, Any], path: tuple[PathPart, ...],
                         item: str | dict[str, Any]) -> model.RuleExpectation | None:
        where = self.at(*path)
        if isinstance(item, str):
            table, chain, number = item.split(":")
            expectation = model.RuleExpectation(table, chain, int(number), None, None, where)
        else:
            ref = item["rule"]
            expectation = model.RuleExpectation(item.get("table", ""), item["chain"],
                                                ref if isinstance(ref, int) else None,
                                                ref if isinstance(ref, str) else None,
                                                item.get("hop"), where)
        # The rule must exist in some pod's rules (after the what-ifs); a spec is
        # stored in normal form so the check compares like with like.
        first_problem: ChainwalkError | None = None
        for ruleset in rulesets.values():
            tables = [expectation.table] if expectation.table else [
                "raw", "mangle", "nat", "filter", "security"] if isinstance(
                ruleset, Ruleset) else [t.name for t in ruleset.tables]
            for table in tables:
                if ruleset.chain(table, expectation.chain) is None:
                    continue
                ref = expectation.spec if expectation.spec is not None else expectation.number
                assert ref is not None
                try:
                    index = rule_index(ruleset, table, expectation.chain, ref, where)
                except ChainwalkError as e:
                    first_problem = first_problem or e
                    continue
                if expectation.spec is not None:
                    spec = ruleset.chain(table, expectation.chain).rules[index].spec
                    return model.RuleExpectation(table, expectation.chain, None, spec,
                                                 expectation.hop, where)
                return expectation
        if first_problem is not None:
            self.problems.extend(first_problem.problems)
        else:
            self.problem(where, f"no pod's ruleset has a chain {expectation.chain}"
                         + (f" in table {expectation.table}" if expectation.table else ""),
                         expectation.chain, "a chain of the pods' rules")
        return None
