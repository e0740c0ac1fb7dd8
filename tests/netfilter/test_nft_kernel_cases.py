"""The nftables reader against the real ``nft`` (v1.0.6 here), case by case: a text both
accept is loaded with ``nft -f`` in a throwaway network namespace, and what the writer
prints from chainwalk's model must be what ``nft -a list ruleset`` prints (and reading that
listing must give the same model); a text both refuse, chainwalk refuses with a located
problem. The cases are the disagreements a differential fuzzer found, minimised.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from chainwalk import ChainwalkError
from chainwalk.netfilter._nft_parser import parse_nft_text
from chainwalk.netfilter._nft_writer import write_nft_ruleset
from kernel_requirement import cannot_run, require_kernel

pytestmark = pytest.mark.kernel


def _nft(text: str) -> subprocess.CompletedProcess[str]:
    """``nft -f`` of ``text`` in a network namespace of its own, then its listing."""
    require_kernel()
    if shutil.which("nft") is None:
        cannot_run("comparing with nftables needs nft")
    return subprocess.run(["unshare", "-n", "sh", "-c", "nft -f - && nft -a list ruleset"],
                          input=text, capture_output=True, text=True, timeout=30, check=False)


def _case(name: str, text: str) -> object:
    return pytest.param(text, id=name)


ACCEPTED = [
    # nft names a priority within 10 of a named one by that name and the offset
    _case("priority-near-a-name", "table inet t {\n"
          "\tchain a {\n\t\ttype filter hook output priority -5; policy accept;\n\t}\n"
          "\tchain b {\n\t\ttype nat hook prerouting priority -90; policy accept;\n\t}\n"
          "\tchain c {\n\t\ttype filter hook input priority mangle + 10; policy accept;\n"
          "\t}\n\tchain d {\n\t\ttype filter hook input priority 11; policy accept;\n\t}\n"
          "\tchain e {\n\t\ttype nat hook postrouting priority -90; policy accept;\n\t}\n}\n"),
    # a priority is a signed 32-bit number, read as C reads one (hex, octal, wrapping)
    _case("priority-numbers", "table inet t {\n"
          "\tchain a {\n\t\ttype filter hook output priority 0x10;\n\t}\n"
          "\tchain b {\n\t\ttype filter hook output priority 010;\n\t}\n"
          "\tchain c {\n\t\ttype filter hook output priority - 5;\n\t}\n"
          "\tchain d {\n\t\ttype filter hook output priority -0x10;\n\t}\n"
          "\tchain e {\n\t\ttype filter hook output priority 2147483648;\n\t}\n"
          "\tchain f {\n\t\ttype filter hook output priority filter + 4294967295;\n\t}\n}\n"),
    # packets and bytes in any order, either alone, numbers as nft reads them
    _case("counter-forms", "table inet t {\n\tchain c {\n"
          "\t\tcounter bytes 5 packets 1\n\t\tcounter packets 5\n\t\tcounter bytes 7\n"
          "\t\tcounter packets 010 bytes 0x10\n\t}\n}\n"),
    # a leading 0 is octal (a port or uid that is no octal number is decimal), 0x hex
    _case("numbers-as-c-reads-them", "table inet t {\n\tchain c {\n"
          "\t\ttcp dport 010\n\t\ttcp dport 0x50\n\t\ttcp dport 08\n"
          "\t\ttcp dport { 010-020, 0x100 }\n\t\tmeta mark 010\n\t\tmeta skuid 010\n"
          "\t\tmeta skgid 0x10\n\t\tmeta skuid 09\n\t\tct zone 0x10\n"
          "\t\tip protocol 0x11\n\t\tmeta mark set 010\n\t\tct zone set 010\n\t}\n}\n"),
    # nft -f adds a table block's chains, then its sets, then its rules, numbered so
    _case("handles-of-a-table-block", "table ip t {\n"
          "\tchain c { accept; tcp dport { 1, 2 } accept; }\n\tset s { type ipv4_addr; }\n"
          "\tchain d { drop; }\n\tset r { type ipv4_addr; }\n}\n"
          "table ip u {\n\tchain e { accept; }\n}\n"
          "add chain ip t f\nadd rule ip t f accept\ntable ip u {\n\tchain g {\n"
          "\t\tjump e\n\t}\n}\n"),
    # names: a letter, _ or . first, then letters, digits and / - _ .
    _case("names-of-nft-s-scanner", "table inet .a/b {\n\tchain _c-d {\n\t\tjump Z/1.x\n"
          "\t}\n\n\tchain Z/1.x {\n\t}\n}\ntable ip A.B-c_9 {\n\tset accepted {\n"
          "\t\ttype ipv4_addr\n\t}\n}\n"),
    # jumps 15 deep below a base chain, and loops no base chain reaches, the kernel keeps;
    # a nat chain just above conntrack's priority
    _case("deep-jumps-and-unreached-loops", "table ip t {\n"
          "\tchain b {\n\t\ttype nat hook output priority -199; policy accept;\n"
          "\t\tjump c1\n\t}\n"
          + "".join(f"\n\tchain c{n} {{\n\t\tgoto c{n + 1}\n\t}}\n" for n in range(1, 15))
          + "\n\tchain c15 {\n\t}\n\n\tchain x {\n\t\tjump y\n\t}\n"
          "\n\tchain y {\n\t\tjump x\n\t\tjump y\n\t}\n}\n"),
    # the protocols a rule's matches name, read left to right as nft reads them: a th field
    # becomes the matched protocol's, NAT and tproxy take their family from it, reject with
    # tcp reset matches tcp first (an ip or ip6 table lists it without that match)
    _case("protocol-context-inet", "table inet t {\n\tchain pre {\n"
          "\t\ttype filter hook prerouting priority 0; policy accept;\n"
          "\t\tmeta l4proto tcp th dport 1\n\t\tmeta l4proto udp th dport 53\n"
          "\t\tip protocol tcp th dport 1\n\t\tmeta l4proto != udp tcp dport 1\n"
          "\t\tip protocol tcp tproxy ip to :1\n\t\tmeta l4proto tcp reject with tcp reset\n"
          "\t\treject with tcp reset\n\t\ttcp dport 1 meta l4proto udp\n"
          "\t\tmeta l4proto tcp meta l4proto udp\n\t}\n\n\tchain out {\n"
          "\t\ttype nat hook output priority -100; policy accept;\n"
          "\t\tmeta nfproto ipv4 dnat to 1.2.3.4\n\t\tip6 daddr ::1 dnat to ::2\n"
          "\t\tmeta l4proto tcp ip6 daddr ::1 dnat to [::2]:1\n"
          "\t\tmeta l4proto { tcp, udp } redirect to :1\n\t\tip protocol tcp redirect to :1\n"
          "\t\tdnat ip to 1.2.3.4\n\t}\n}\n"),
    _case("protocol-context-ip-and-ip6", "table ip t {\n\tchain pre {\n"
          "\t\ttype filter hook prerouting priority 0; policy accept;\n"
          "\t\tip protocol tcp tcp dport 1\n\t\treject with tcp reset\n"
          "\t\tip protocol tcp reject with tcp reset\n\t\tmeta l4proto tcp tproxy ip to "
          "1.1.1.1:1\n\t}\n\n\tchain out {\n\t\ttype nat hook output priority -100; "
          "policy accept;\n\t\tdnat ip to 1.2.3.4\n\t}\n}\ntable ip6 t {\n\tchain pre {\n"
          "\t\ttype filter hook prerouting priority 0; policy accept;\n"
          "\t\tip6 nexthdr tcp tcp dport 1\n\t\tmeta l4proto tcp tproxy to [::1]:1\n"
          "\t\treject with tcp reset\n\t}\n\n\tchain out {\n\t\ttype nat hook output "
          "priority -100; policy accept;\n\t\tmeta l4proto tcp dnat ip6 to [::1]:1\n"
          "\t\tdnat to ::1\n\t}\n}\n"),
    # what nft also takes: add of what exists (a set's elements join it), operators as
    # words, service names for ports (the system's database, as nft reads it), a priority's
    # signed offset as one word, redirect to a bare port, log levels (warn is the default:
    # not listed) and an unquoted prefix, interface names with blanks or a slash
    _case("what-nft-also-takes", "add table inet t\nadd table inet t\n"
          "add set inet t s { type ipv4_addr; elements = { 10.0.0.1 }; }\n"
          "add set inet t s { type ipv4_addr; elements = { 10.0.0.2 }; }\n"
          "add chain inet t c { type filter hook input priority filter -5; }\n"
          "add chain inet t c\n"
          "add chain inet t d { type nat hook prerouting priority dstnat +5; }\n"
          "add rule inet t c tcp dport gt 1024 tcp sport ne 7 tcp sport le 9\n"
          "add rule inet t c tcp dport http-alt tcp sport 0-http\n"
          "add rule inet t c udp dport { domain, bootpc }\n"
          "add rule inet t c log prefix x level warn\nadd rule inet t c log level debug\n"
          'add rule inet t c iifname "a b" oifname "a/b"\n'
          "add rule inet t c counter packets 18446744073709551615 bytes 1\n"
          "add rule inet t d tcp dport 1 redirect to 15001\n"
          "add rule inet t d tcp dport 1 redirect to :http\n"),
    # a set in braces as the kernel keeps it: each element once, in order of value (names
    # as the kernel compares them), an interval set's overlapping or touching elements
    # joined (a wildcard takes the names it covers); one element written is a plain value
    _case("anonymous-sets", "table inet t {\n\tchain c {\n"
          "\t\ttcp dport { 443, 80, 80 }\n\t\ttcp dport { 1-5, 3-8, 10, 11 }\n"
          "\t\tip saddr { 10.0.0.0/25, 10.0.0.128/25, 10.1.0.0/16, 10.1.2.3 }\n"
          "\t\tip saddr { 10.0.0.1, 10.0.0.2, 10.0.0.3/32, 10.0.0.9 }\n"
          "\t\tip6 saddr { ::, ::1, fd00::/8 }\n\t\tmeta mark { 0x1-0x2, 0x3, 7 }\n"
          '\t\tiifname { "lo", "eth0" }\n\t\tiifname { "eth0", "lo", "eth*" }\n'
          "\t\tct state { new, established }\n\t\tmeta l4proto { udp, tcp }\n"
          "\t\tmeta skuid { 1000, 0 }\n\t\ttcp dport { 80 }\n\t\tct state { new }\n"
          "\t\tip saddr { 10.0.0.0-10.0.0.255 }\n"
          "\t\tip daddr . tcp dport { 10.0.0.2 . 80, 10.0.0.1 . 443, 10.0.0.2 . 80 }\n"
          "\t\ttcp dport vmap { 443 : drop, 80 : accept }\n"
          "\t\tct state vmap { new : accept, established : drop }\n\t}\n}\n"),
    # reject: each family's default is a bare reject; in an inet table after an ip or ip6
    # match a bare reject sends that family's port-unreachable, listed; the tcp match of
    # reject with tcp reset is the rule's first (listed in inet only)
    _case("reject-types", "table inet t {\n\tchain c {\n"
          "\t\treject with icmpx port-unreachable\n\t\treject with icmp port-unreachable\n"
          "\t\treject with icmpx admin-prohibited\n\t\tip saddr 1.1.1.1 reject\n"
          "\t\tip6 saddr ::1 reject\n\t\tip saddr 1.1.1.1 reject with tcp reset\n\t}\n}\n"
          "table ip t {\n\tchain c {\n\t\treject with icmp type port-unreachable\n"
          "\t\treject with icmp host-unreachable\n\t\tip protocol tcp reject with tcp reset\n"
          "\t}\n}\ntable ip6 t {\n\tchain c {\n\t\treject with icmpv6 port-unreachable\n"
          "\t\treject with tcp reset\n\t}\n}\n"),
    # masks nft drops (& 0xffffffff, | 0, ^ 0), a zone's 16 bits, add implied
    _case("no-op-masks-zones-and-implied-add", "add table inet t\nchain inet t c\n"
          "rule inet t c meta mark and 0xffffffff == 1\nrule inet t c meta mark or 0 != 1\n"
          "rule inet t c ct mark & 0xffffffff | 0 < 0xff\n"
          "rule inet t c meta mark set meta mark & 0xffffffff\n"
          "rule inet t c ct zone 65535\nset inet t s { type ipv4_addr; }\n"
          "element inet t s { 1.1.1.1 }\nmap inet t m { type ipv4_addr : verdict; }\n"
          "rule inet t c ip daddr vmap @m\n"),
    # variables: define (a value, a set, a concatenation's part, a chain), redefine,
    # undefine, a variable in a set's braces (its elements joined in), in a word
    _case("variables", "define one = 1.1.1.1 # a comment\ndefine two = $one\n"
          "define ports = {\n\t80,\n\t443\n}\ndefine more = { $ports, 8080 }\n"
          "define target = d\ndefine dport = 8080\nredefine one = 3.3.3.3\n"
          "define gone = 1\nundefine gone\n"
          "table ip t {\n\tdefine inner = 4.4.4.4\n\tchain d {\n\t}\n\n\tchain c {\n"
          "\t\tip saddr $one ip daddr $two\n\t\ttcp dport $ports\n\t\ttcp dport $more\n"
          "\t\tip daddr { $one, $inner }\n\t\tip daddr . tcp dport { $one . 80 }\n"
          "\t\tjump $target\n\t}\n\n\tchain n {\n\t\ttype nat hook output priority 0;\n"
          "\t\ttcp dport 1 dnat to $inner:$dport\n\t}\n}\n"),
    # a concatenation in braces stays a set, one element or more
    _case("one-element-concatenation", "table inet t {\n\tchain c {\n"
          "\t\tip daddr . tcp dport { 10.0.0.1 . 80 }\n\t}\n}\n"),
    # an operator written against its value, as nft's scanner splits them
    _case("operators-against-their-values", "table inet t {\n\tchain c {\n"
          "\t\tct state !=new tcp dport !=15001 meta mark !=0x00000001\n"
          "\t\tmeta skuid !=1-100 ip saddr !=10.0.0.0/8 tcp sport >=1024\n"
          "\t\ttcp dport <1024 tcp sport ==80 meta l4proto !=tcp\n\t}\n}\n"),
    # a block's chains are added before its rules; index places a rule; delete by handle
    _case("added-in-turn", "add table ip t\nadd chain ip t d\ntable ip t {\n\tchain c {\n"
          "\t\tjump d\n\t\tjump e\n\t}\n\n\tchain e {\n\t}\n}\nadd rule ip t e accept\n"
          "add rule ip t e drop\ninsert rule ip t e index 1 counter\n"
          "delete rule ip t e handle 7\n"),
    # NAT flags comma-joined in nft's order, negated states listed with |, a log option
    # given twice: the last
    _case("flags-states-and-log", "table inet t {\n\tchain c {\n\t\ttype nat hook output "
          "priority 0;\n\t\ttcp dport 1 redirect to :1 persistent,random\n"
          "\t\ttcp dport 2 dnat ip to 1.1.1.1 fully-random\n\t\tct state != established,new\n"
          "\t\tct state != established | new\n\t\tct state established | new\n"
          '\t\tlog prefix "x" prefix "y"\n\t\tlog level debug level info\n\t}\n}\n'),
    # tcp reset after tcp matched last, whatever was matched before
    _case("tcp-reset-after-tcp-matched-last", "table inet t {\n\tchain c {\n"
          "\t\tmeta l4proto udp meta l4proto tcp reject with tcp reset\n"
          "\t\tudp dport 1 meta l4proto tcp reject with tcp reset\n\t}\n}\n"),
    # statements at the hooks the kernel takes them (checked in the chains a base chain
    # reaches; a chain none reaches may hold any); tproxy in a nat chain too
    _case("statements-at-their-hooks", "table ip t {\n"
          "\tchain in {\n\t\ttype nat hook input priority 100; policy accept;\n"
          "\t\tsnat to 10.0.0.1\n\t}\n\n"
          "\tchain pre {\n\t\ttype nat hook prerouting priority -100; policy accept;\n"
          "\t\tmeta l4proto tcp tproxy to :1\n\t\tjump d\n\t}\n\n"
          "\tchain d {\n\t\tredirect\n\t\treject\n\t}\n\n"
          "\tchain unreached {\n\t\tmasquerade\n\t\tsnat to 10.0.0.1\n\t}\n}\n"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_what_nft_accepts_is_read_and_written_as_nft_lists_it(text: str) -> None:
    loaded = _nft(text)
    assert loaded.returncode == 0, loaded.stderr
    model = parse_nft_text(text, "case.nft")
    assert write_nft_ruleset(model, handles=True) == loaded.stdout
    assert parse_nft_text(loaded.stdout, "listing") == model


def _rule(family: str, rule: str, kind: str = "filter") -> str:
    """``rule`` alone in a prerouting base chain of ``kind`` (line 3, column 3)."""
    return (f"table {family} t {{\n\tchain c {{\n\t\t{rule}\n\t\ttype {kind} hook "
            "prerouting priority 0;\n\t}\n}\n")


def _refused(name: str, text: str, where: str, message: str) -> object:
    return pytest.param(text, where, message, id=name)


REFUSED = [
    _refused("priority-with-plus", "table inet t {\n\tchain c {\n"
             "\t\ttype filter hook output priority +5;\n\t}\n}\n", "3:36",
             "unknown priority: got '+5'"),
    _refused("octal-mark-with-8", "table inet t {\n\tchain c {\n\t\tmeta mark 08\n\t}\n}\n",
             "3:13", "not a value of this type: got '08'"),
    # every line of a block ends with a line end or ';', the last one too
    _refused("rule-then-brace", "table ip t {\n\tchain c {\n\t\taccept }\n}\n", "3:10",
             "unexpected token: got '}', expected a line end or ';'"),
    _refused("chain-then-brace", "table ip t {\n\tchain c {\n\t}}\n", "3:3",
             "unexpected token: got '}', expected a line end or ';'"),
    _refused("policy-after-priority", "table ip t {\n\tchain c {\n\t\ttype filter hook "
             "input priority 0 policy drop;\n\t}\n}\n", "3:37",
             "unexpected token: got 'policy', expected a line end or ';'"),
    _refused("hook-then-brace", "add table ip t\nadd chain ip t c { type filter hook input "
             "priority 0 }\n", "2:54", "unexpected token: got '}', expected a line end or ';'"),
    _refused("set-type-then-brace", "table ip t {\n\tset s {\n\t\ttype ipv4_addr }\n}\n",
             "3:18", "unexpected token: got '}', expected a line end or ';'"),
    # a keyword of nft is no name, nor is a quoted string (nft 1.0.6), nor a number first
    _refused("keyword-as-table-name", "add table inet ip\n", "1:16",
             "ip is a keyword of nft, not a table name"),
    _refused("keyword-as-chain-name", "table inet t {\n\tchain set {\n\t}\n}\n", "2:8",
             "set is a keyword of nft, not a chain name"),
    _refused("keyword-as-jump-target", "add table ip t\nadd chain ip t c\n"
             "add rule ip t c jump drop\n", "3:22", "drop is a keyword of nft, not a chain name"),
    _refused("keyword-as-set-name", "table inet t {\n\tset map {\n\t\ttype ipv4_addr\n"
             "\t}\n}\n", "2:6", "map is a keyword of nft, not a set name"),
    _refused("quoted-table-name", 'table inet "t" {\n}\n', "1:12",
             "not a table name: got 't', expected a name of letters"),
    _refused("quoted-jump-target", 'table inet t {\n\tchain c {\n\t\tjump "c"\n\t}\n}\n',
             "3:8", "not a chain name: got 'c'"),
    _refused("table-name-starts-with-a-digit", "add table inet 1abc\n", "1:16",
             "not a table name: got '1abc'"),
    _refused("chain-name-with-an-asterisk", "add table inet t\nadd chain inet t a*\n", "2:18",
             "not a chain name: got 'a*'"),
    # what the kernel refuses of a table's chains
    _refused("nat-chain-in-forward", "table ip t {\n\tchain c {\n\t\ttype nat hook forward "
             "priority 0;\n\t}\n}\n", "3:17", "a nat chain hooks prerouting or input or "
             "output or postrouting only"),
    _refused("nat-chain-at-conntrack-priority", "table ip t {\n\tchain c {\n\t\ttype nat "
             "hook output priority -200;\n\t}\n}\n", "3:33",
             "a nat chain's priority is above conntrack's (-200)"),
    _refused("jump-to-a-base-chain", "table ip t {\n\tchain c {\n\t\ttype filter hook input "
             "priority 0;\n\t}\n\tchain d {\n\t\tjump c\n\t}\n}\n", "6:3",
             "jump to a base chain: got 'c'"),
    _refused("loop-below-a-base-chain", "table ip t {\n\tchain b {\n\t\ttype filter hook "
             "input priority 0;\n\t\tjump c\n\t}\n\tchain c {\n\t\ttcp dport vmap { 1 : jump "
             "d }\n\t}\n\tchain d {\n\t\tgoto c\n\t}\n}\n", "7:3",
             "jumps nest 16 deep below a base chain, or loop"),
    _refused("jumps-16-deep", "table ip t {\n\tchain b {\n\t\ttype filter hook input "
             "priority 0;\n\t\tjump c1\n\t}\n"
             + "".join(f"\tchain c{n} {{\n\t\tjump c{n + 1}\n\t}}\n" for n in range(1, 16))
             + "\tchain c16 {\n\t}\n}\n", "49:3", "jumps nest 16 deep below a base chain"),
    _refused("snat-at-output", "table ip t {\n\tchain c {\n\t\ttype nat hook output "
             "priority 100;\n\t\tsnat to 10.0.0.1\n\t}\n}\n", "4:3",
             "snat at hook output: got 'c', expected snat at input or postrouting"),
    _refused("masquerade-reached-from-prerouting", "table ip t {\n\tchain c {\n\t\ttype nat "
             "hook prerouting priority -100;\n\t\tjump d\n\t}\n\tchain d {\n\t\tjump e\n"
             "\t}\n\tchain e {\n\t\tmasquerade\n\t}\n}\n", "10:3",
             "masquerade at hook prerouting: got 'e'"),
    _refused("redirect-reached-from-a-filter-chain", "table ip t {\n\tchain c {\n\t\ttype "
             "filter hook output priority 0;\n\t\tjump d\n\t}\n\tchain d {\n\t\tredirect\n"
             "\t}\n}\n", "7:3", "nat in a filter chain: got 'd'"),
    _refused("tproxy-at-output", "table ip t {\n\tchain c {\n\t\ttype filter hook output "
             "priority 0;\n\t\tmeta l4proto tcp tproxy to :1\n\t}\n}\n", "4:3",
             "tproxy at hook output"),
    _refused("reject-at-postrouting", "table ip t {\n\tchain c {\n\t\ttype filter hook "
             "postrouting priority 0;\n\t\treject\n\t}\n}\n", "4:3",
             "reject at hook postrouting"),
    # protocols that conflict, families and transport protocols missing, comments
    _refused("udp-then-a-tcp-header", _rule("inet", "meta l4proto udp tcp dport 1"), "3:20",
             "conflicting protocols: udp matched before, tcp here"),
    _refused("a-set-of-protocols-then-a-tcp-header",
             _rule("inet", "meta l4proto { tcp, udp } tcp dport 1"), "3:29",
             "conflicting protocols: several matched before, tcp here"),
    # a header is checked against every protocol matched before it, not the first alone
    _refused("tcp-then-udp-then-a-tcp-header",
             _rule("inet", "meta l4proto tcp meta l4proto udp tcp dport 1"), "3:37",
             "conflicting protocols: udp matched before, tcp here"),
    _refused("a-udp-header-then-tcp-then-udp-then-a-udp-header",
             _rule("inet", "udp sport 2 meta l4proto tcp meta l4proto udp udp sport 3"), "3:49",
             "conflicting protocols: tcp matched before, udp here"),
    # tcp reset needs tcp matched last, when a protocol is matched at all
    _refused("tcp-reset-after-udp-matched-last",
             _rule("inet", "meta l4proto tcp meta l4proto udp reject with tcp reset"), "3:37",
             "reject with tcp reset after another transport protocol"),
    _refused("ip-then-ip6", _rule("inet", "ip saddr 1.1.1.1 ip6 daddr ::1"), "3:20",
             "conflicting protocols: ip matched before, ip6 here"),
    _refused("ip-header-in-an-ip6-table", _rule("ip6", "ip protocol tcp"), "3:3",
             "conflicting protocols: ip6 matched before, ip here"),
    _refused("nfproto-in-an-ip-table", _rule("ip", "meta nfproto ipv4"), "3:3",
             "meta nfproto in an ip or ip6 table"),
    _refused("dnat-to-an-address-without-family", _rule("inet", "dnat to 1.2.3.4", "nat"),
             "3:3", "dnat to an address in an inet table needs its family"),
    _refused("tproxy-without-transport", _rule("inet", "th dport 1 tproxy to :1"), "3:14",
             "tproxy needs the transport protocol matched before it"),
    _refused("tproxy-without-family-after-ip",
             _rule("inet", "ip saddr 1.2.3.4 meta l4proto tcp tproxy to :1"), "3:37",
             "tproxy after an ip match needs its family"),
    _refused("nat-port-after-th", _rule("inet", "th dport 1 redirect to :1", "nat"), "3:14",
             "a NAT port needs the transport protocol matched before it"),
    _refused("tcp-reset-after-udp", _rule("ip", "udp dport 1 reject with tcp reset"), "3:15",
             "reject with tcp reset after another transport protocol"),
    _refused("comment-before-a-statement", _rule("inet", 'drop comment "a" accept'), "3:20",
             "unexpected token: got 'accept', expected the end of the rule"),
    _refused("two-comments", _rule("inet", 'drop comment "a" comment "b"'), "3:20",
             "unexpected token: got 'comment', expected the end of the rule"),
    _refused("comment-of-129-characters", _rule("inet", f'accept comment "{"x" * 129}"'),
             "3:18", "a comment of 129 characters"),
    _refused("create-a-table-that-exists", "add table inet t\ncreate table inet t\n", "2:19",
             "create table inet t: it exists"),
    _refused("create-a-chain-that-exists", "add table inet t\nadd chain inet t c\n"
             "create chain inet t c\n", "3:21", "create chain c: it exists"),
    _refused("create-a-set-that-exists", "add table inet t\nadd set inet t s { type "
             "ipv4_addr; }\ncreate set inet t s { type ipv4_addr; }\n", "3:19",
             "create set s: it exists"),
    _refused("set-added-again-with-another-type", "add table inet t\nadd set inet t s { type "
             "ipv4_addr; }\nadd set inet t s { type ipv6_addr; }\n", "3:16",
             "set s is declared again with another type"),
    _refused("unknown-service", _rule("inet", "tcp dport nosuchservice"), "3:13",
             "not a value of this type: got 'nosuchservice'"),
    _refused("unknown-log-level", _rule("inet", "log level warning"), "3:13",
             "unknown log level: got 'warning'"),
    _refused("all-wildcard-interface", _rule("inet", 'iifname "*"'), "3:11",
             "not a value of this type: got '*'"),
    _refused("counter-past-64-bits", _rule("inet", "counter packets 18446744073709551616"),
             "3:19", "a packet count past 64 bits"),
    _refused("verdict-map-key-twice", _rule("inet", "tcp dport vmap { 443 : drop, 443 : "
             "accept }"), "3:18", "a key twice in a verdict map: got '443'"),
    _refused("icmpx-in-an-ip-table", _rule("ip", "reject with icmpx port-unreachable"),
             "3:3", "reject with icmpx in an ip table"),
    _refused("icmp-after-an-ip6-match", _rule("inet", "ip6 saddr ::1 reject with icmp "
             "port-unreachable"), "3:17", "conflicting protocols: ip6 matched before, icmp"),
    _refused("zone-past-16-bits", _rule("inet", "ct zone 65536"), "3:11",
             "not a value of this type: got '65536', expected a conntrack zone"),
    _refused("address-with-a-mask", _rule("inet", "ip saddr 10.0.0.0/255.0.0.0"), "3:12",
             "not a value of this type: got '10.0.0.0/255.0.0.0'"),
    _refused("address-with-a-scope", _rule("inet", "ip6 saddr fe80::1%eth0"), "3:13",
             "not a value of this type: got 'fe80::1%eth0'"),
    _refused("prefix-length-with-a-zero-first", _rule("inet", "ip saddr 10.0.0.0/08"), "3:12",
             "not a value of this type: got '10.0.0.0/08'"),
    _refused("variable-defined-twice", "define a = 1.1.1.1\ndefine a = 2.2.2.2\n", "2:8",
             "a is defined twice"),
    _refused("variable-before-its-definition", _rule("ip", "ip saddr $a") +
             "define a = 1.1.1.1\n", "3:12", "unknown variable $a"),
    _refused("variable-undefined", "define a = 1.1.1.1\nundefine a\n" + _rule("ip",
             "ip saddr $a"), "5:12", "unknown variable $a"),
    _refused("keyword-as-a-variable", "define ip = 1.1.1.1\n", "1:8",
             "not a name for define: got 'ip'"),
    _refused("a-verdict-map-key-of-another-protocol", _rule("inet", "udp sport 1 tcp dport "
             "vmap { 80 : accept }"), "3:15", "conflicting protocols: udp matched before, tcp"),
    _refused("a-chain-s-second-comment", _rule("inet", 'comment "a"; comment "b"'), "3:16",
             "a chain's second comment"),
    # nft -f adds in turn: a rule's jump to a chain added later, a rule placed by the
    # handle of one of the file's own rules (nft finds none), are refused
    _refused("jump-to-a-chain-added-later", "add table ip t\nadd chain ip t c\n"
             "add rule ip t c jump d\nadd chain ip t d\n", "3:17",
             "jump to a chain added after the rule: got 'd'"),
    _refused("jump-from-a-block-to-a-chain-added-later", "table ip t {\n\tchain c {\n"
             "\t\tjump d\n\t}\n}\nadd chain ip t d\n", "3:3",
             "jump to a chain added after the rule: got 'd'"),
    _refused("rule-placed-by-handle", "add table ip t\nadd chain ip t c\nadd rule ip t c "
             "accept\ninsert rule ip t c position 2 counter\n", "4:29",
             "a rule placed by position 2"),
    _refused("nat-flags-without-a-comma", _rule("inet", "tcp dport 1 redirect to :1 random "
             "persistent", "nat"), "3:37", "unknown expression or statement: got "
             "'persistent'"),
    # a th field is the protocol matched last, and then the rule's: a tcp header after it
    # conflicts (the first protocol matched is the one nft checks headers against)
    _refused("th-after-a-second-protocol", _rule("inet", "ip6 nexthdr 6 th dport 1-5 meta "
             "l4proto udp th dport 2 tcp dport 80"), "3:58",
             "conflicting protocols: udp matched before, tcp here"),
    _refused("chain-without-its-block", "table ip t {\n\tchain c\n}\n", "2:9",
             "a chain in a table's block needs its own block"),
    _refused("comment-ends-the-file", "add table inet t # no line end", "1:18",
             "a comment on the file's last line without a line end"),
]


@pytest.mark.parametrize(("text", "where", "message"), REFUSED)
def test_what_nft_refuses_is_refused_with_its_place(text: str, where: str,
                                                    message: str) -> None:
    loaded = _nft(text)
    assert loaded.returncode != 0, loaded.stdout
    with pytest.raises(ChainwalkError) as caught:
        parse_nft_text(text, "bad.nft")
    shown = str(caught.value)
    assert f"bad.nft:{where}: " in shown, shown
    assert message in shown, shown
