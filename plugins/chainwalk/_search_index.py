"""One search index per language, for a site built in several (see docs/authors.md,
"The Chinese edition").

mkdocs-static-i18n writes one Material search index holding every language's pages.
A reader searching the Chinese pages wants Chinese pages, and an English reader the
English ones, so the index is also written once per language (``search_index.LANG.json``
beside it: the pages under ``LANG/``, or for the default language the others), and each
page loads its own language's: :data:`LOADER` (put in the page's ``<head>``, before
Material's script asks for the index) rewrites the index's URL with the page's
``lang``, and holds the request back until the reader turns to search. No file, no
rewrite: a site built without the plugin loads the one index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

# Material asks for search/search_index.json with XMLHttpRequest when its script starts.
# The request is sent when the reader first turns to search (the search box takes the
# focus: a click, Material's keyboard shortcuts, the phone's search button), not with
# every page: the index is the largest file a page would load, and most readers of a
# page never search. Material shows "Initializing search" until it arrives.
LOADER = ('<script id="chainwalk-search-index">(function () {\n'
          '  var lang = document.documentElement.lang, proto = XMLHttpRequest.prototype;\n'
          '  var open = proto.open, send = proto.send, index = /(^|\\/)search\\/search_index\\.json$/;\n'
          '  proto.open = function (method, url) {\n'
          '    var args = Array.prototype.slice.call(arguments);\n'
          '    this.chainwalkIndex = index.test(String(url));\n'
          '    if (this.chainwalkIndex) {\n'
          '      args[1] = String(url).replace(/search_index\\.json$/, '
          '"search_index." + lang + ".json");\n'
          '    }\n'
          '    return open.apply(this, args);\n'
          '  };\n'
          '  proto.send = function () {\n'
          '    var request = this, args = arguments;\n'
          '    if (!request.chainwalkIndex) {\n'
          '      return send.apply(request, args);\n'
          '    }\n'
          '    function wanted(event) {\n'
          '      var target = event.target;\n'
          '      if (target && target.matches && target.matches("input.md-search__input")) {\n'
          '        document.removeEventListener("focusin", wanted, true);\n'
          '        send.apply(request, args);\n'
          '      }\n'
          '    }\n'
          '    document.addEventListener("focusin", wanted, true);\n'
          '    wanted({target: document.activeElement});  // the box has the focus already\n'
          '  };\n'
          '})();</script>\n')


def split_index(index: Path, languages: Sequence[str]) -> list[Path]:
    """Write ``search_index.LANG.json`` beside ``index`` for each of ``languages`` (the
    first is the default, at the site's root); the files written."""
    data = json.loads(index.read_text(encoding="utf-8"))
    docs = data.get("docs", [])
    others = tuple(f"{language}/" for language in languages[1:])
    written = []
    for language in languages:
        if language == languages[0]:
            mine = [d for d in docs if not str(d.get("location", "")).startswith(others)]
        else:
            mine = [d for d in docs if str(d.get("location", "")).startswith(f"{language}/")]
        target = index.with_name(f"search_index.{language}.json")
        target.write_text(json.dumps({**data, "docs": mine}, ensure_ascii=False,
                                     separators=(",", ":")), encoding="utf-8")
        written.append(target)
    return written


def with_loader(html: str) -> str:
    """The page with :data:`LOADER` at the start of its ``<head>``."""
    if 'id="chainwalk-search-index"' in html:
        return html
    head = html.find("<head>")
    if head < 0:
        return html
    at = head + len("<head>")
    return html[:at] + "\n" + LOADER + html[at:]
