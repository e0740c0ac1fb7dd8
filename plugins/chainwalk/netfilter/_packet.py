"""What a trace starts from: a :class:`Packet` and the :class:`Host` it is on."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._errors import ChainwalkError
from ._values import family_of, ip

if TYPE_CHECKING:
    from ._policy_routing import PolicyRouting

TCP_SYN = ("SYN",)


def host_address(address: str) -> str:
    """``address`` as an interface address of its own: ``/32`` (``/128`` for IPv6)."""
    return f"{address}/{32 if family_of(address) == 4 else 128}"


def hostport(address: str, port: int | None) -> str:
    """``address:port`` (``[address]:port`` for IPv6); the bare address without a port."""
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"


@dataclass(slots=True, unsafe_hash=True)
class Packet:
    """The first packet of a connection, as netfilter sees it.

    ``uid``/``gid`` are the owner of the local socket that sent it (``None``: no
    local socket, as for a packet arriving from outside). ``src`` empty means
    "let routing choose", as for an unbound socket. Not changed once made (it hashes by
    value); not ``frozen``, which made it several times as costly to make, and a trace
    makes one for each branch's end (see bench/README.md).
    """

    dst: str
    dport: int = 0
    protocol: str = "tcp"
    src: str = ""
    sport: int = 0
    in_interface: str | None = None
    out_interface: str | None = None
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()
    mark: int = 0
    ctmark: int = 0
    ctstate: str = "NEW"
    tcp_flags: tuple[str, ...] = TCP_SYN

    @property
    def family(self) -> int:
        return family_of(self.dst)

    def __post_init__(self) -> None:
        _check_address("dst", self.dst)
        if self.src:
            _check_address("src", self.src)
            if (":" in self.src) != (":" in self.dst):
                raise ChainwalkError("packet src and dst are of different address families")
        if not (0 <= self.sport <= 65535 and 0 <= self.dport <= 65535):
            label, port = ("dport", self.dport) if 0 <= self.sport <= 65535 else \
                ("sport", self.sport)
            raise ChainwalkError(f"packet {label} {port} is not a port (0-65535)")


def _check_address(label: str, value: str) -> None:
    try:
        ip(value)
    except ValueError:
        raise ChainwalkError(f"packet {label} {value!r} is not an IP address") from None


@dataclass(frozen=True)
class Interface:
    """A network interface and its addresses (``10.0.0.5/24``); the first is primary."""

    name: str
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for text in self.addresses:
            try:
                ipaddress.ip_interface(text)
            except ValueError:
                raise ChainwalkError(f"interface {self.name}: {text!r} is not an address "
                                     "such as 10.0.0.5/24") from None


LOOPBACK = Interface("lo", ("127.0.0.1/8", "::1/128"))


@dataclass(frozen=True, slots=True)
class Socket:
    """A local socket that ``-m socket`` and TPROXY look up: a listener or a bound UDP
    socket on ``address`` (``0.0.0.0``/``::``: any) and ``port``; ``transparent`` is
    IP_TRANSPARENT, ``mark`` its SO_MARK."""

    protocol: str
    address: str
    port: int
    transparent: bool = False
    mark: int = 0

    @property
    def wildcard(self) -> bool:
        return self.address in ("0.0.0.0", "::", "*")

    @classmethod
    def parse(cls, text: str) -> Socket:
        """``proto:address:port[,transparent][,mark=N]`` (``tcp:0.0.0.0:15006,transparent``)."""
        spec, *flags = text.split(",")
        proto, _, rest = spec.partition(":")
        address, _, port = rest.rpartition(":")
        address = address.strip("[]")
        transparent, mark = False, 0
        for flag in flags:
            if flag == "transparent":
                transparent = True
            elif flag.startswith("mark="):
                try:
                    mark = int(flag[5:], 0)
                except ValueError:
                    raise ChainwalkError(f"socket {text!r}: {flag[5:]!r} is not a mark") from None
            else:
                raise ChainwalkError(f"socket {text!r}: unknown flag {flag!r}, expected "
                                     "transparent or mark=N")
        if proto not in ("tcp", "udp") or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ChainwalkError(f"socket {text!r} is not PROTO:ADDRESS:PORT, such as "
                                 "tcp:0.0.0.0:15006")
        return cls(proto, address, int(port), transparent, mark)


@dataclass(frozen=True)
class Host:
    """The network namespace a packet is in: its interfaces and what the file cannot say.

    ``ipsets`` maps a set's name to its members (``None``: membership unknown);
    ``sockets`` lists local sockets for ``-m socket`` and TPROXY, as :class:`Socket` or
    ``proto:addr:port`` text (``None``: unknown); ``local_marks`` are ``(value, mask)``
    fwmarks that policy routing delivers locally (TPROXY's ``ip rule fwmark ... lookup``
    table) when no ``routing`` dump says more; ``routing`` is the policy routing of each
    address family read from ``ip rule``/``ip route`` dumps (a family without one is routed
    as a pod is: connected routes, local addresses, a default route).
    In ``lenient`` mode what cannot be known is an "unknown" match that the trace
    follows both ways; otherwise it is an error.
    """

    interfaces: tuple[Interface, ...] = (LOOPBACK,)
    default_interface: str = "eth0"
    forwarding: bool = False
    ipsets: Mapping[str, tuple[str, ...]] | None = None
    sockets: tuple[str | Socket, ...] | None = None
    local_marks: tuple[tuple[int, int], ...] = ()
    routing: tuple[PolicyRouting, ...] = ()
    lenient: bool = False
    # What routing worked out for this host (see _routing), by question.
    _cache: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    def interface(self, name: str) -> Interface | None:
        for interface in self.interfaces:
            if interface.name == name:
                return interface
        return None

    def policy_routing(self, family: int) -> PolicyRouting | None:
        return next((r for r in self.routing if r.family == family), None)

    def socket_list(self) -> tuple[Socket, ...] | None:
        """``sockets`` as :class:`Socket` values (``None``: unknown)."""
        if self.sockets is None:
            return None
        known = self._cache.get("sockets")
        if known is None:
            known = tuple(s if isinstance(s, Socket) else Socket.parse(s) for s in self.sockets)
            self._cache["sockets"] = known
        return known  # type: ignore[return-value]

    def addresses(self, family: int) -> list[tuple[str, ipaddress.IPv4Interface
                                                    | ipaddress.IPv6Interface]]:
        """(interface, address) pairs of one family, primary first."""
        key = f"addresses{family}"
        if key not in self._cache:
            self._cache[key] = [
                (i.name, a) for i in self.interfaces
                for a in map(ipaddress.ip_interface, i.addresses) if a.version == family]
        return self._cache[key]  # type: ignore[return-value]


def host_with(addresses: Mapping[str, tuple[str, ...]] | None = None, **options: object) -> Host:
    """A host from ``{"eth0": ("10.0.0.5/24",)}``; ``lo`` gets 127.0.0.1/8 and ::1 unless given."""
    interfaces = {"lo": LOOPBACK}
    for name, addrs in (addresses or {}).items():
        interfaces[name] = Interface(name, tuple(addrs))
    return Host(tuple(interfaces.values()), **options)  # type: ignore[arg-type]
