"""Routing as a pod sees it: which interface a locally generated packet leaves on, with
which source address, and which destinations are local (the output interface is decided
before nat OUTPUT; the source is the route's preferred source)."""

from __future__ import annotations

import pytest
from nf_helpers import OTHER_POD, POD_IP, REMOTE

from chainwalk.netfilter import Host, Route, host_with, is_local, route_output
from chainwalk.netfilter._routing import input_is_local, primary_address

POD = host_with({"eth0": (f"{POD_IP}/24", "fd00::5/64"), "eth1": ("192.168.1.1/24",)})


@pytest.mark.parametrize(("destination", "route"), [
    pytest.param("127.0.0.1", Route("lo", "127.0.0.1", True), id="localhost"),
    pytest.param("127.0.0.6", Route("lo", "127.0.0.1", True), id="all-of-127/8-is-local"),
    pytest.param(POD_IP, Route("lo", POD_IP, True), id="own-pod-ip-goes-out-lo"),
    pytest.param(OTHER_POD, Route("eth0", POD_IP, False), id="same-subnet"),
    pytest.param("192.168.1.7", Route("eth1", "192.168.1.1", False), id="second-interface"),
    pytest.param(REMOTE, Route("eth0", POD_IP, False), id="default-route"),
    pytest.param("::1", Route("lo", "::1", True), id="ipv6-localhost"),
    pytest.param("fd00::5", Route("lo", "fd00::5", True), id="ipv6-own-address"),
    pytest.param("fd00::9", Route("eth0", "fd00::5", False), id="ipv6-same-subnet"),
    pytest.param("2001:db8::1", Route("eth0", "fd00::5", False), id="ipv6-default-route"),
])
def test_route_output(destination: str, route: Route) -> None:
    assert route_output(POD, destination) == route


def test_default_interface_without_an_address_of_the_family() -> None:
    host = host_with({"eth0": (f"{POD_IP}/24",)})
    assert route_output(host, "2001:db8::1") == Route("eth0", "", False)


def test_no_default_interface_means_no_route() -> None:
    host = Host(default_interface="eth9")
    assert route_output(host, REMOTE) == Route(None, "", False)


def test_a_locally_delivered_fwmark_routes_through_lo() -> None:
    """TPROXY's policy routing: ``ip rule add fwmark 1337 lookup 133`` + local default route."""
    host = host_with({"eth0": (f"{POD_IP}/24",)}, local_marks=((0x539, 0xFFFFFFFF),))
    assert route_output(host, REMOTE, mark=0x539).interface == "lo"
    assert route_output(host, REMOTE, mark=0x538).interface == "eth0"
    assert input_is_local(host, REMOTE, 0x539)
    assert not input_is_local(host, REMOTE, 0)


@pytest.mark.parametrize(("address", "local"), [
    ("127.0.0.1", True), ("127.255.255.254", True), (POD_IP, True), ("10.0.0.6", False),
    (OTHER_POD, False), ("192.168.1.1", True), ("::1", True), ("fd00::5", True),
    ("fd00::6", False),
])
def test_is_local(address: str, local: bool) -> None:
    assert is_local(POD, address) is local


@pytest.mark.parametrize(("interface", "family", "address"), [
    ("eth0", 4, POD_IP), ("eth0", 6, "fd00::5"), ("eth1", 4, "192.168.1.1"), ("eth1", 6, None),
    ("lo", 4, "127.0.0.1"), ("lo", 6, "::1"), ("eth7", 4, None),
])
def test_primary_address(interface: str, family: int, address: str | None) -> None:
    assert primary_address(POD, interface, family) == address


def test_the_first_address_of_an_interface_is_primary() -> None:
    host = host_with({"eth0": ("10.0.0.6/24", "10.0.0.5/24")})
    assert primary_address(host, "eth0", 4) == "10.0.0.6"
    assert route_output(host, OTHER_POD).source == "10.0.0.6"


def test_host_with_keeps_loopback_unless_given() -> None:
    assert [i.name for i in POD.interfaces] == ["lo", "eth0", "eth1"]
    assert POD.interface("lo") is not None
    assert POD.interface("lo").addresses == ("127.0.0.1/8", "::1/128")  # type: ignore[union-attr]
    custom = host_with({"lo": ("127.0.0.1/8",)})
    assert custom.interface("lo").addresses == ("127.0.0.1/8",)  # type: ignore[union-attr]
    assert not is_local(custom, "::1")


def test_a_secondary_address_is_reached_from_its_subnets_primary_address() -> None:
    # Seen in the kernel: ``local 10.0.0.6 dev eth0 ... src 10.0.0.5``.
    host = host_with({"eth0": ("10.0.0.5/24", "10.0.0.6/24")})
    route = route_output(host, "10.0.0.6")
    assert (route.interface, route.source, route.local) == ("lo", "10.0.0.5", True)
