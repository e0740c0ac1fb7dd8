"""Renderers: what the site shows, computed from the rules folder (no MkDocs here).

Data flows one way: a page's ```` ```chainwalk ```` blocks (``_blocks``) ask for a view
of a ruleset or a scenario; :class:`Project` loads the inputs and runs the journeys,
each once per version of the files it read; the views turn engine results into
Markdown: Mermaid diagrams (``sequence``, ``chains``), tables (``trace``, ``rules``,
``coverage``, ``diff``) and the ``iptables -L -v -n`` listing. :class:`Site` renders
whole pages and checks the whole folder; the MkDocs plugin is a thin shell over it.

Every string that comes from a file is escaped for where it goes (``_escape``), and
the output depends only on the inputs: the same files give byte-identical Markdown.
"""

from ._annotations import Annotation, Annotations, drift, parse_annotations
from ._blocks import VIEWS, Block, Request, find_blocks, parse_request
from ._chains import chains_flowchart
from ._coverage import coverage
from ._diff import diff_table, ruleset_changes
from ._escape import html_text, md_code, md_text, mermaid_text
from ._listing import Counters, count_journeys, listing
from ._project import Project
from ._rules import rules_table
from ._sequence import sequence
from ._site import (
    TABLE_PLACEHOLDER,
    Finding,
    PageResult,
    Rendered,
    Site,
    failure_admonition,
    unique,
)
from ._trace import trace_table

__all__ = [
    "TABLE_PLACEHOLDER", "VIEWS", "Annotation", "Annotations", "Block", "Counters", "Finding", "PageResult",
    "Project", "Rendered", "Request", "Site", "chains_flowchart", "count_journeys", "coverage",
    "diff_table", "drift", "failure_admonition", "find_blocks", "html_text", "listing", "md_code", "md_text",
    "mermaid_text", "parse_annotations", "parse_request", "rules_table", "ruleset_changes",
    "sequence", "trace_table", "unique",
]
