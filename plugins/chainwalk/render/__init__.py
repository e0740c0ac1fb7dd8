"""Renderers: data in, Markdown (or plain text) out; no files, no MkDocs here.

A page's ```` ```chainwalk ```` blocks (``_blocks``) say what view they want; the
application layer (``chainwalk.project``) loads the inputs and runs the journeys, and
hands the results to the views here: Mermaid diagrams (``sequence``, ``chains``,
``overview``), tables (``trace``, ``rules``, ``coverage``, ``diff``) and the
``iptables -L -v -n`` listing (``_listing``, worded by ``_iptables_list``); ``_views``
fences them for the page and ``_html`` writes the generated tables' HTML. ``_cli_views``
are the command line's plain views of a journey (text, JSON, a simple Mermaid diagram).

Every string that comes from a file is escaped for where it goes (``_escape``), and
the output depends only on the inputs: the same data give byte-identical Markdown.

Each name is imported from its module on first use, so that a caller that needs one
renderer (the playground's trace, in the browser) does not load them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_names import lazy_names

if TYPE_CHECKING:
    from ._annotations import EMPTY, Annotation, Annotations, ArticleRefs
    from ._blocks import (
        UNSEARCHED_VIEWS,
        VIEWS,
        Block,
        InlineClaim,
        Request,
        find_blocks,
        find_inline_claims,
        parse_request,
    )
    from ._chains import chains_flowchart
    from ._cli_views import format_mermaid, format_text, journey_to_dict
    from ._coverage import coverage
    from ._diff import diff_table, journey_key, journeys_table, ruleset_changes
    from ._escape import html_text, md_code, md_text, mermaid_text
    from ._html import (
        PLACEHOLDER_START,
        TABLE_PLACEHOLDER,
        caption,
        table_html,
        tables_aside,
        unsearched,
    )
    from ._journeys import Numbering, traces_with
    from ._listing import SYN_BYTES, Counters, count_journeys, listing, protocol_note
    from ._messages import ENGLISH, LANGUAGES, Language, Messages, messages, page_language
    from ._overview import (
        check_steps,
        computed_steps,
        legend,
        moves_in_pod,
        no_pod_problem,
        overview,
        shared_pod,
    )
    from ._playground import decode_state, encode_state, playground_state, try_it
    from ._rules import rules_table
    from ._sequence import sequence
    from ._trace import hops_table, result_line, trace_table
    from ._views import MERMAID_MAX_TEXT, fenced

_MODULE_OF = {
    **dict.fromkeys(("EMPTY", "Annotation", "Annotations", "ArticleRefs"), "_annotations"),
    **dict.fromkeys(("UNSEARCHED_VIEWS", "VIEWS", "Block", "InlineClaim", "Request",
                     "find_blocks", "find_inline_claims", "parse_request"),
                    "_blocks"),
    "chains_flowchart": "_chains",
    **dict.fromkeys(("format_mermaid", "format_text", "journey_to_dict"), "_cli_views"),
    "coverage": "_coverage",
    **dict.fromkeys(("diff_table", "journey_key", "journeys_table", "ruleset_changes"), "_diff"),
    **dict.fromkeys(("html_text", "md_code", "md_text", "mermaid_text"), "_escape"),
    **dict.fromkeys(("PLACEHOLDER_START", "TABLE_PLACEHOLDER", "caption", "table_html",
                     "tables_aside", "unsearched"),
                    "_html"),
    **dict.fromkeys(("Numbering", "traces_with"), "_journeys"),
    **dict.fromkeys(("SYN_BYTES", "Counters", "count_journeys", "listing", "protocol_note"),
                    "_listing"),
    **dict.fromkeys(("ENGLISH", "LANGUAGES", "Language", "Messages", "messages", "page_language"),
                    "_messages"),
    **dict.fromkeys(("check_steps", "computed_steps", "legend", "moves_in_pod", "no_pod_problem",
                     "overview", "shared_pod"),
                    "_overview"),
    **dict.fromkeys(("decode_state", "encode_state", "playground_state", "try_it"), "_playground"),
    "rules_table": "_rules",
    "sequence": "_sequence",
    **dict.fromkeys(("hops_table", "result_line", "trace_table"), "_trace"),
    **dict.fromkeys(("MERMAID_MAX_TEXT", "fenced"), "_views"),
}

__all__ = [
    "EMPTY",
    "ENGLISH",
    "LANGUAGES",
    "MERMAID_MAX_TEXT",
    "PLACEHOLDER_START",
    "SYN_BYTES",
    "TABLE_PLACEHOLDER",
    "UNSEARCHED_VIEWS",
    "VIEWS",
    "Annotation",
    "Annotations",
    "ArticleRefs",
    "Block",
    "Counters",
    "InlineClaim",
    "Language",
    "Messages",
    "Numbering",
    "Request",
    "caption",
    "chains_flowchart",
    "check_steps",
    "computed_steps",
    "count_journeys",
    "coverage",
    "decode_state",
    "diff_table",
    "encode_state",
    "fenced",
    "find_blocks",
    "find_inline_claims",
    "format_mermaid",
    "format_text",
    "hops_table",
    "html_text",
    "journey_key",
    "journey_to_dict",
    "journeys_table",
    "legend",
    "listing",
    "md_code",
    "md_text",
    "mermaid_text",
    "messages",
    "moves_in_pod",
    "no_pod_problem",
    "overview",
    "page_language",
    "parse_request",
    "playground_state",
    "protocol_note",
    "result_line",
    "rules_table",
    "ruleset_changes",
    "sequence",
    "shared_pod",
    "table_html",
    "tables_aside",
    "trace_table",
    "traces_with",
    "try_it",
    "unsearched",
]

__getattr__ = lazy_names(__name__, _MODULE_OF)
