"""The trace through nftables rulesets: base chains in priority order across tables and
families, accept ending a base chain but not the hook, nat for first packets only (the
first nat chain that sets up NAT wins), route chains re-routing, sets and verdict maps.
What the kernel does with these rulesets is checked in tests/kernel (test_nft_kernel)."""

from __future__ import annotations

import json

import pytest
from nf_helpers import POD_IP, pod_host, rules

from chainwalk import ChainwalkError
from chainwalk.cli import main as cli_main
from chainwalk.netfilter import Packet, trace
from chainwalk.netfilter._format import detect_format
from chainwalk.netfilter._nft_parser import parse_nft_text

APP = {"uid": 1000, "gid": 1000}


def _trace(text: str, packet: Packet, hook: str = "OUTPUT", **host: object):
    return trace(parse_nft_text(rules(text), "t.nft"), packet, pod_host(**host), hook)


def test_accept_ends_a_base_chain_not_the_hook_and_priority_orders_tables() -> None:
    text = """
        table inet late {
            chain out { type filter hook output priority 10; policy accept;
                counter drop
            }
        }
        table ip early {
            chain out { type filter hook output priority -10; policy accept;
                counter accept
            }
        }
    """
    t = _trace(text, Packet("10.0.0.9", 80, **APP))
    # early (-10) accepts, then late (10) still sees the packet and drops it
    assert [(h.table, h.family, h.chain, h.rule, h.handle, h.target) for h in t.hits] == [
        ("early", "ip", "out", 1, 2, "accept"), ("late", "inet", "out", 1, 2, "drop")]
    assert t.disposition == "dropped"


def test_ip6_tables_do_not_see_ipv4_packets() -> None:
    text = """
        table ip6 v6 {
            chain out { type filter hook output priority 0; policy drop;
            }
        }
    """
    assert _trace(text, Packet("10.0.0.9", 80, **APP)).disposition == "sent"
    six = _trace(text, Packet("fd00::9", 80, **APP))
    assert six.disposition == "dropped"
    assert six.steps[-1].kind == "policy" and six.steps[-1].result == "DROP"


def test_the_first_nat_chain_that_sets_up_nat_wins_and_priority_is_the_nat_cores() -> None:
    text = """
        table inet a {
            chain out { type nat hook output priority -100; policy accept;
                tcp dport 80 counter accept
                tcp dport 81 counter redirect to :15001
            }
        }
        table inet b {
            chain out { type nat hook output priority -50; policy accept;
                tcp dport 80 counter redirect to :15002
                tcp dport 81 counter redirect to :15003
            }
        }
        table inet m {
            chain out { type route hook output priority -90; policy accept;
                counter meta mark set 0x1
            }
        }
    """
    eighty = _trace(text, Packet("10.0.0.9", 80, **APP))
    # accept in a without NAT: b's chain still runs and redirects
    assert eighty.final.dport == 15002
    # nat chains run at the nat core's -100 in their own order (a's -100, b's -50), so the
    # route chain at -90 comes after both
    assert [h.table for h in eighty.hits] == ["a", "b", "m"]
    eighty_one = _trace(text, Packet("10.0.0.9", 81, **APP))
    assert eighty_one.final.dport == 15001
    assert [h.table for h in eighty_one.hits] == ["a", "m"]  # b's nat chain is not run


def test_nat_only_for_the_first_packet_and_redirect_addresses() -> None:
    text = """
        table ip nat {
            chain pre { type nat hook prerouting priority dstnat; policy accept;
                tcp dport 8080 counter redirect to :15006
            }
            chain out { type nat hook output priority -100; policy accept;
                oifname "lo" counter return
                tcp dport 8080 counter redirect to :15001
            }
        }
    """
    inbound = _trace(text, Packet(POD_IP, 8080, src="10.0.0.9", in_interface="eth0"),
                     "PREROUTING")
    assert (inbound.final.dst, inbound.final.dport) == (POD_IP, 15006)
    outbound = _trace(text, Packet("10.0.0.9", 8080, **APP))
    assert (outbound.final.dst, outbound.final.dport) == ("127.0.0.1", 15001)
    # looped back through lo: nat prerouting is not consulted again
    assert [h.chain for h in outbound.hits] == ["out"]


def test_sets_verdict_maps_masks_and_ct_marks() -> None:
    text = """
        table ip t {
            set blocked { type ipv4_addr; flags interval; elements = { 10.1.0.0/16, 10.2.0.1 } }
            map ports { type inet_service : verdict; elements = { 80 : jump web, 443 : drop } }
            chain out { type filter hook output priority 0; policy accept;
                ip daddr @blocked counter reject
                tcp dport vmap @ports
                meta mark and 0xff00 == 0x1100 counter drop
                counter ct mark set 0x7 meta mark set ct mark
            }
            chain web {
                ip daddr { 10.0.0.9, 10.0.0.10 } counter meta mark set 0x1 return
            }
        }
    """
    assert _trace(text, Packet("10.2.0.1", 22, **APP)).disposition == "rejected"
    assert _trace(text, Packet("10.0.0.9", 443, **APP)).disposition == "dropped"
    web = _trace(text, Packet("10.0.0.9", 80, **APP))
    assert web.disposition == "sent" and web.final.mark == 0x7
    assert [(h.chain, h.target) for h in web.hits] == [
        ("out", "web"), ("web", "return"), ("out", "meta mark set")]
    marked = _trace(text, Packet("10.0.0.7", 22, mark=0x11AB, **APP))
    assert marked.disposition == "dropped"
    step = next(s for s in marked.steps if s.kind == "rule" and s.rule == 1)
    assert step.reason is not None and step.reason.code == "nft.not-in"
    assert str(step.reason) == "10.0.0.7 is not @blocked"


def test_numgen_forks_the_trace_with_probabilities() -> None:
    text = """
        table ip t {
            chain pre { type nat hook output priority -100; policy accept;
                numgen random mod 4 vmap { 0 : goto a, 1-3 : goto b }
            }
            chain a { dnat to 10.9.0.1; }
            chain b { dnat to 10.9.0.2; }
        }
    """
    t = _trace(text, Packet("10.96.0.1", 80, **APP))
    chances: dict[str, float] = {}
    for b in t.branches:
        assert b.probability is not None
        chances[b.final.dst] = chances.get(b.final.dst, 0.0) + b.probability
    assert len(t.branches) == 4  # one per number drawn
    assert chances == pytest.approx({"10.9.0.1": 0.25, "10.9.0.2": 0.75})


def test_a_set_the_file_does_not_declare_is_the_hosts_or_unknown() -> None:
    text = """
        table inet t {
            chain out { type nat hook output priority -100; policy accept;
                ip daddr @probes counter dnat ip to 169.254.7.127
            }
        }
    """
    with pytest.raises(ChainwalkError, match="in set @probes"):
        _trace(text, Packet("10.0.0.9", 80, **APP))
    given = _trace(text, Packet("10.0.0.9", 80, **APP), ipsets={"probes": ("10.0.0.9",)})
    assert given.final.dst == "169.254.7.127"


def test_the_format_is_detected_and_the_cli_traces_nft(tmp_path, capsys) -> None:
    assert detect_format("# x\nadd table inet t\n") == "nft"
    assert detect_format("table inet t {\n}\n") == "nft"
    assert detect_format('{"nftables": []}') == "nft"
    assert detect_format("*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n") == "iptables"
    path = tmp_path / "pod.rules"
    path.write_text("add table inet t\nadd chain inet t o { type nat hook output priority "
                    "-100 ; }\nadd rule inet t o tcp dport 80 counter redirect to :15001\n")
    argv = ["trace", str(path), "--dst", "10.0.0.9", "--dport", "80", "--uid", "1000",
            "--src", POD_IP, "--json"]
    assert cli_main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["hits"] == [{"table": "t", "chain": "o", "rule": 1, "target": "redirect",
                            "family": "inet", "handle": 2}]
    assert doc["final"]["dport"] == 15001
    # forced to read it as iptables, it is an iptables error
    assert cli_main([*argv[:2], "--format", "iptables", *argv[2:]]) != 0
    assert cli_main(["check", "--format", "nft", str(path)]) == 0
    capsys.readouterr()
    path.write_text("add table inet t\nadd rule inet t o accept\n")
    assert cli_main(["check", str(path)]) == 1
    assert f"{path}:2:17: no chain o in table inet t" in capsys.readouterr().err
