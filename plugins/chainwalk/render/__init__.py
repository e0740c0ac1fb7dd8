"""Renderers: data in, Markdown (or plain text) out; no files, no MkDocs here.

A page's ```` ```chainwalk ```` blocks (``_blocks``) say what view they want; the
application layer (``chainwalk.project``) loads the inputs and runs the journeys, and
hands the results to the views here: Mermaid diagrams (``sequence``, ``chains``), tables
(``trace``, ``rules``, ``coverage``, ``diff``) and the ``iptables -L -v -n`` listing
(``_listing``, worded by ``_iptables_list``), each wrapped for the page by ``_views``;
``_html`` writes the generated tables' HTML. ``_cli_views`` are the command line's plain
views of a journey (text, JSON, a simple Mermaid diagram).

Every string that comes from a file is escaped for where it goes (``_escape``), and
the output depends only on the inputs: the same data give byte-identical Markdown.
"""

from ._annotations import EMPTY, Annotation, Annotations
from ._blocks import VIEWS, Block, Request, find_blocks, parse_request
from ._chains import chains_flowchart
from ._cli_views import format_mermaid, format_text, journey_to_dict
from ._coverage import coverage
from ._diff import diff_table, journey_key, ruleset_changes
from ._escape import html_text, md_code, md_text, mermaid_text
from ._html import PLACEHOLDER_START, TABLE_PLACEHOLDER, table_html, tables_aside
from ._journeys import traces_with
from ._listing import Counters, count_journeys, listing
from ._rules import rules_table
from ._sequence import sequence
from ._trace import trace_table
from ._views import chains_view, fenced, listing_view, sequence_view

__all__ = [
    "EMPTY", "PLACEHOLDER_START", "TABLE_PLACEHOLDER", "VIEWS", "Annotation", "Annotations",
    "Block", "Counters", "Request", "chains_flowchart", "chains_view", "count_journeys",
    "coverage", "diff_table", "fenced", "find_blocks", "format_mermaid", "format_text",
    "html_text", "journey_key", "journey_to_dict", "listing", "listing_view", "md_code",
    "md_text", "mermaid_text", "parse_request", "rules_table", "ruleset_changes", "sequence",
    "sequence_view", "table_html", "tables_aside", "trace_table", "traces_with",
]
