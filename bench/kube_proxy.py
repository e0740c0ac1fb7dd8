"""Generate a kube-proxy-style ruleset (iptables mode), as ``iptables-save`` prints it.

The shape follows what kube-proxy's iptables proxier (Kubernetes 1.28 and later)
writes with ``iptables-restore``, read back with ``iptables-save``:

* ``nat``: ``PREROUTING`` and ``OUTPUT`` jump to ``KUBE-SERVICES``, which holds one
  ``-d VIP/32 -p PROTO -m comment --comment "ns/svc:port cluster IP" -m PROTO --dport P
  -j KUBE-SVC-HASH`` per service port, then the ``addrtype LOCAL`` jump to
  ``KUBE-NODEPORTS`` as its last rule. A ``KUBE-SVC-*`` chain masquerades traffic from
  outside the pod CIDR, then picks an endpoint with ``-m statistic --mode random
  --probability 1/n`` (the last endpoint unconditionally); a ``KUBE-SEP-*`` chain marks
  hairpin traffic for masquerading and DNATs to the endpoint. NodePort services get a
  ``KUBE-NODEPORTS`` rule and a ``KUBE-EXT-*`` chain. ``KUBE-POSTROUTING`` masquerades
  what ``KUBE-MARK-MASQ`` marked with 0x4000.
* ``filter``: kube-proxy's and kubelet's fixed chains (``KUBE-FORWARD``,
  ``KUBE-FIREWALL``...), which a forwarded packet crosses.
* ``mangle``: the canary chains.

Chain names are kube-proxy's: ``KUBE-SVC-`` + the first 16 characters of
base32(sha256(service port name + protocol)); ``KUBE-SEP-`` hashes the endpoint too.
Like kube-proxy, with more than 1,000 endpoints ("large cluster mode") the
per-endpoint rules carry no comment. ``iptables-save`` prints ``--or-mark`` /
``--xor-mark`` as ``--set-xmark`` and quotes any comment that is not a plain word.

The output is a function of the parameters alone (seeded ``random.Random``), so two
runs give the same file byte for byte. Usage::

    python bench/kube_proxy.py --services 5000 --endpoints 3 -o /tmp/kube.rules
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import random
import sys
from dataclasses import dataclass

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")  # kubeadm's default service CIDR
POD_CIDR = ipaddress.ip_network("10.244.0.0/14")  # wide enough for 200,000+ endpoints
NODE_PORTS = range(30000, 32768)  # the default --service-node-port-range
LARGE_CLUSTER_ENDPOINTS = 1000  # kube-proxy's largeClusterEndpointsThreshold
MASQ_MARK = "0x4000"

_PORTS = (80, 443, 8080, 8443, 9090, 3000, 5432, 6379, 9200, 15021)
_TARGET_PORTS = (8080, 8443, 9000, 3000, 5000, 8000, 80, 443)
_PORT_NAMES = ("http", "https", "grpc", "metrics", "tcp", "web", "api")


@dataclass(frozen=True)
class Service:
    name: str  # the service port name, "namespace/service:port"
    protocol: str  # tcp or udp
    vip: str
    port: int
    target_port: int
    endpoints: tuple[str, ...]
    node_port: int | None

    @property
    def svc_chain(self) -> str:
        return "KUBE-SVC-" + _hash(self.name + self.protocol)

    @property
    def ext_chain(self) -> str:
        return "KUBE-EXT-" + _hash(self.name + self.protocol)

    def sep_chain(self, endpoint: str) -> str:
        return "KUBE-SEP-" + _hash(self.name + self.protocol + f"{endpoint}:{self.target_port}")


def _hash(text: str) -> str:
    """kube-proxy's portProtoHash: base32 of the SHA-256, first 16 characters."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def _probability(n: int) -> str:
    """What iptables-save prints for kube-proxy's ``--probability 1/n``.

    kube-proxy writes ``%0.10f``; the kernel stores ``lround(p * 2**31)``, and
    iptables-save prints that back with 11 decimals (1/3 -> ``0.33333333349``).
    """
    written = float(f"{1.0 / n:0.10f}")
    stored = int(written * 0x80000000 + 0.5)
    return f"{stored / 0x80000000:.11f}"


def _quote(text: str) -> str:
    """Quote like iptables-save's xtables_save_string: anything but [A-Za-z0-9_-]."""
    if text and all(c.isascii() and (c.isalnum() or c in "_-") for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def services(count: int, endpoints: int, seed: int = 1, node_port_every: int = 20,
             udp_every: int = 25) -> list[Service]:
    """``count`` service ports with ``endpoints`` endpoints each, drawn from ``seed``."""
    rng = random.Random(seed)
    if count > SERVICE_CIDR.num_addresses - 2:
        raise ValueError(f"at most {SERVICE_CIDR.num_addresses - 2} services")
    if count * endpoints > POD_CIDR.num_addresses - 2:
        raise ValueError(f"at most {POD_CIDR.num_addresses - 2} endpoints in all")
    vips = rng.sample(range(2, SERVICE_CIDR.num_addresses - 1), count)  # .1 is kubernetes'
    pods = rng.sample(range(1, POD_CIDR.num_addresses - 1), count * endpoints)
    node_ports = iter(NODE_PORTS)
    out = []
    for i in range(count):
        name = (f"ns-{rng.randrange(200):03d}/svc-{i:05d}-{rng.randrange(1 << 16):04x}:"
                f"{rng.choice(_PORT_NAMES)}")
        udp = udp_every > 0 and i % udp_every == udp_every - 1
        node_port = None
        if node_port_every > 0 and i % node_port_every == 0 and not udp:
            node_port = next(node_ports, None)
        eps = tuple(str(POD_CIDR.network_address + pods[i * endpoints + k])
                    for k in range(endpoints))
        out.append(Service(name, "udp" if udp else "tcp",
                           str(SERVICE_CIDR.network_address + vips[i]),
                           53 if udp else rng.choice(_PORTS),
                           53 if udp else rng.choice(_TARGET_PORTS), eps, node_port))
    return out


def generate(count: int = 5000, endpoints: int = 3, seed: int = 1, *, node_port_every: int = 20,
             udp_every: int = 25, comments: bool | None = None) -> str:
    """The whole ``iptables-save`` text. ``comments=None``: as kube-proxy decides."""
    svcs = services(count, endpoints, seed, node_port_every, udp_every)
    if comments is None:
        comments = count * endpoints <= LARGE_CLUSTER_ENDPOINTS
    header = (f"# Generated by bench/kube_proxy.py: kube-proxy iptables mode, {count} services "
              f"x {endpoints} endpoints, seed {seed}")
    return "".join((header + "\n", _mangle(), _filter(), _nat(svcs, comments)))


def _table(name: str, builtins: tuple[str, ...], chains: dict[str, list[str]]) -> str:
    lines = [f"*{name}"]
    lines += [f":{chain} ACCEPT [0:0]" for chain in builtins]
    lines += [f":{chain} - [0:0]" for chain in sorted(c for c in chains if c not in builtins)]
    # iptables-save prints the built-in chains' rules first, then user chains by name.
    for chain in (*builtins, *sorted(c for c in chains if c not in builtins)):
        lines += [f"-A {chain} {rule}" for rule in chains.get(chain, ())]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _mangle() -> str:
    return _table("mangle", ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
                  {"KUBE-IPTABLES-HINT": [], "KUBE-KUBELET-CANARY": [],
                   "KUBE-PROXY-CANARY": []})


def _filter() -> str:
    new = "-m conntrack --ctstate NEW"
    return _table("filter", ("INPUT", "FORWARD", "OUTPUT"), {
        "INPUT": [
            f'{new} -m comment --comment "kubernetes load balancer firewall" '
            "-j KUBE-PROXY-FIREWALL",
            '-m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
            f'{new} -m comment --comment "kubernetes externally-visible service portals" '
            "-j KUBE-EXTERNAL-SERVICES",
            "-j KUBE-FIREWALL",
        ],
        "FORWARD": [
            f'{new} -m comment --comment "kubernetes load balancer firewall" '
            "-j KUBE-PROXY-FIREWALL",
            '-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
            f'{new} -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
            f'{new} -m comment --comment "kubernetes externally-visible service portals" '
            "-j KUBE-EXTERNAL-SERVICES",
        ],
        "OUTPUT": [
            f'{new} -m comment --comment "kubernetes load balancer firewall" '
            "-j KUBE-PROXY-FIREWALL",
            f'{new} -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
            "-j KUBE-FIREWALL",
        ],
        "KUBE-EXTERNAL-SERVICES": [],
        "KUBE-FIREWALL": [
            '! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet '
            'connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
        ],
        "KUBE-FORWARD": [
            "-m conntrack --ctstate INVALID -j DROP",
            f'-m comment --comment "kubernetes forwarding rules" -m mark --mark '
            f"{MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
            '-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack '
            "--ctstate RELATED,ESTABLISHED -j ACCEPT",
        ],
        "KUBE-KUBELET-CANARY": [],
        "KUBE-NODEPORTS": [],
        "KUBE-PROXY-CANARY": [],
        "KUBE-PROXY-FIREWALL": [],
        "KUBE-SERVICES": [],
    })


def _nat(svcs: list[Service], comments: bool) -> str:
    portals = '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
    chains: dict[str, list[str]] = {
        "PREROUTING": [portals],
        "OUTPUT": [portals],
        "POSTROUTING": ['-m comment --comment "kubernetes postrouting rules" '
                        "-j KUBE-POSTROUTING"],
        "KUBE-KUBELET-CANARY": [],
        "KUBE-PROXY-CANARY": [],
        "KUBE-MARK-MASQ": [f"-j MARK --set-xmark {MASQ_MARK}/{MASQ_MARK}"],
        "KUBE-POSTROUTING": [
            f"-m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
            f"-j MARK --set-xmark {MASQ_MARK}/0x0",  # what --xor-mark 0x4000 is saved as
            '-m comment --comment "kubernetes service traffic requiring SNAT" '
            "-j MASQUERADE --random-fully",
        ],
        "KUBE-NODEPORTS": [],
        "KUBE-SERVICES": [],
    }

    def comment(text: str) -> str:
        return f"-m comment --comment {_quote(text)} " if comments else ""

    for svc in svcs:
        p = svc.protocol
        cluster_ip = f"-m comment --comment {_quote(svc.name + ' cluster IP')}"
        chains["KUBE-SERVICES"].append(
            f"-d {svc.vip}/32 -p {p} {cluster_ip} -m {p} --dport {svc.port} -j {svc.svc_chain}")
        svc_rules = chains[svc.svc_chain] = [
            f"! -s {POD_CIDR} -d {svc.vip}/32 -p {p} {cluster_ip} -m {p} --dport {svc.port} "
            "-j KUBE-MARK-MASQ"]
        n = len(svc.endpoints)
        for k, endpoint in enumerate(svc.endpoints):
            sep = svc.sep_chain(endpoint)
            pick = (f"-m statistic --mode random --probability {_probability(n - k)} "
                    if k < n - 1 else "")
            svc_rules.append(f"{comment(f'{svc.name} -> {endpoint}:{svc.target_port}')}"
                             f"{pick}-j {sep}")
            chains[sep] = [
                f"-s {endpoint}/32 {comment(svc.name)}-j KUBE-MARK-MASQ",
                f"-p {p} {comment(svc.name)}-m {p} -j DNAT "
                f"--to-destination {endpoint}:{svc.target_port}",
            ]
        if svc.node_port is not None:
            chains["KUBE-NODEPORTS"].append(
                f"-p {p} -m comment --comment {_quote(svc.name)} -m {p} "
                f"--dport {svc.node_port} -j {svc.ext_chain}")
            chains[svc.ext_chain] = [
                "-m comment --comment "
                + _quote(f"masquerade traffic for {svc.name} external destinations")
                + " -j KUBE-MARK-MASQ",
                f"-j {svc.svc_chain}",
            ]
    chains["KUBE-SERVICES"].append(
        '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule '
        'in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    return _table("nat", ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"), chains)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=5000, help="service ports (5000)")
    parser.add_argument("--endpoints", type=int, default=3, help="endpoints per service (3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--node-port-every", type=int, default=20,
                        help="every Nth service is a NodePort service (20; 0: none)")
    parser.add_argument("--udp-every", type=int, default=25,
                        help="every Nth service is UDP port 53 (25; 0: none)")
    parser.add_argument("--comments", choices=("auto", "yes", "no"), default="auto",
                        help="comments on per-endpoint rules (auto: as kube-proxy, only up to "
                        f"{LARGE_CLUSTER_ENDPOINTS} endpoints)")
    parser.add_argument("-o", "--output", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = generate(args.services, args.endpoints, args.seed,
                    node_port_every=args.node_port_every, udp_every=args.udp_every,
                    comments=None if args.comments == "auto" else args.comments == "yes")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
