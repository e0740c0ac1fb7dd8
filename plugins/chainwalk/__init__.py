"""chainwalk: trace packets through real iptables rulesets, and document them.

Layers, each importing only those before it: ``netfilter`` (parse, trace) ->
``journey`` (pods, sidecars, connections) -> ``render`` (Mermaid, tables) ->
adapters (``cli``, ``mkdocs_plugin``).
"""

from ._errors import ChainwalkError, Location, Problem

__version__ = "0.1.0"
__all__ = ["ChainwalkError", "Location", "Problem", "__version__"]
