"""A long ``mkdocs serve`` session keeps its memory flat: saving a large ruleset again and
again replaces its parsed model (and what was computed from it) rather than adding one.

The fixture's pod rules get a filter table with a 20,000-rule chain that no page shows
and no packet reaches: every save makes the server parse it again (the journeys and the
whole-folder checks read it), and a marker rule that a page shows says which save a page
was built from.
"""

from __future__ import annotations

import re
from pathlib import Path

from plugin_helpers import copy_fixture
from test_serve import Server

RULES = 20_000
SAVES = 20
WARM_UP = 4  # saves before the baseline: the first builds fill the process's caches
MB = 1024 * 1024

PAGE = """# Memory

```chainwalk
view: sequence
scenario: shop/call
```

```chainwalk
view: sequence
scenario: shop/loop
```

```chainwalk
view: rules
ruleset: pod
table: filter
chain: MARKER
```
"""


def rss(pid: int) -> int:
    """The resident memory of process ``pid``, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    found = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    assert found is not None, status
    return int(found.group(1)) * 1024


def large_rules(nat: str, save: int) -> str:
    """The fixture's nat table and a filter table whose large chain differs in each save."""
    lines = [nat.rstrip("\n"), "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
             ":OUTPUT ACCEPT [0:0]", ":LARGE - [0:0]", ":MARKER - [0:0]"]
    lines.extend(f"-A LARGE -s 10.{n // 250 % 250}.{n % 250}.{1 + save}/32 -p tcp "
                 f"--dport {1 + n % 60000} -j RETURN" for n in range(RULES))
    lines.extend((f'-A MARKER -m comment --comment "save {save}" -j RETURN', "COMMIT", ""))
    return "\n".join(lines)


def test_saving_a_large_ruleset_again_and_again_keeps_the_memory_flat(tmp_path: Path) -> None:
    project = copy_fixture("ok", tmp_path)
    for page in (project / "docs").glob("*.md"):
        page.unlink()
    (project / "docs" / "index.md").write_text(PAGE, encoding="utf-8")
    rules = project / "rules" / "rulesets" / "pod.rules"
    nat = rules.read_text(encoding="utf-8")
    rules.write_text(large_rules(nat, 0), encoding="utf-8")
    (tmp_path / "tmp").mkdir()
    server = Server(project, tmp_path / "tmp")
    try:
        server.wait("the first build", lambda: "save 0" in server.get())
        sizes = []
        for save in range(1, SAVES + 1):
            rules.write_text(large_rules(nat, save), encoding="utf-8")
            server.wait(f"the rebuild after save {save}",
                        lambda marker=f"save {save}": marker in server.get())
            sizes.append(rss(server.process.pid))
        assert "Traceback" not in server.log, server.log
    finally:
        server.stop()
    baseline = sizes[WARM_UP - 1]
    grown = max(sizes[WARM_UP:]) - baseline
    # A model of the large file takes tens of MB: keeping one per save would add that
    # much every save, some 500 MB over the saves after the baseline.
    assert grown < 80 * MB, [size // MB for size in sizes]
