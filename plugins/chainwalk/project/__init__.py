"""The application layer: the rules folder as the site and the command line read it.

It reads the files (rulesets through the one ruleset cache, annotation files, scenario
files), runs the journeys, checks what the files claim, and hands the results to the
renderers (``chainwalk.render``), which only turn data into text. :class:`Project` keeps
each computation until a file it read changes; :class:`Site` renders a page's blocks and
checks the whole folder. The MkDocs plugin and the CLI are thin adapters over it.

Data flows one way: ``rules/`` files -> parse (``netfilter``) and load (``journey``) ->
evaluate (trace, journey) -> render -> adapters.
"""

from ._annotations import FIELDS, drift, parse_annotations
from ._project import Project
from ._scenario_files import journeys_of
from ._site import Finding, PageResult, Rendered, Site, failure_admonition, unique

__all__ = ["FIELDS", "Finding", "PageResult", "Project", "Rendered", "Site", "drift", "failure_admonition",
           "journeys_of", "parse_annotations", "unique"]
