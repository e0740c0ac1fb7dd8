"""The packet as a trace carries it through the hooks: :class:`State`.

A trace starts from a :class:`~._packet.Packet` (what the caller gives, immutable) and
works on one ``State``: the matches read it, the targets change it (marks, NAT,
conntrack settings), and the trace's end turns it back into a ``Packet``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _values as v


@dataclass(slots=True)
class State:
    """The packet, its connection and where it is: mutable, private to one trace run.

    ``src_int``/``dst_int`` are the addresses as numbers, kept in step with ``src``/``dst``
    by :meth:`set_src`/:meth:`set_dst`; ``orig_*`` are the connection's original tuple.
    """

    family: int = 4
    protocol: str = "tcp"
    src: str = ""
    dst: str = ""
    src_int: int = 0
    dst_int: int = 0
    sport: int = 0
    dport: int = 0
    in_if: str | None = None
    out_if: str | None = None
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()
    mark: int = 0
    ctmark: int = 0
    ctstate: str = "NEW"
    tcp_flags: frozenset[str] = frozenset({"SYN"})
    hook: str = ""
    dnat: bool = False
    snat: bool = False
    untracked: bool = False
    ct_attached: bool = False  # conntrack settings attached (by CT, or after raw)
    orig_src: str = ""
    orig_dst: str = ""
    orig_sport: int = 0
    orig_dport: int = 0
    tproxy: tuple[str, int] | None = None  # TPROXY's socket (address, port)
    zone: int = 0

    def set_src(self, address: str) -> None:
        self.src = address
        self.src_int = int(v.ip(address)) if address else 0

    def set_dst(self, address: str) -> None:
        self.dst = address
        self.dst_int = int(v.ip(address))
