"""The words the renderers write, per language: one message catalog a language, in data
(``messages/en.yaml``, ``messages/zh.yaml``), each a mapping of a message's key to its
text, with ``{name}`` for the values the renderer fills in.

A page's language comes from its file name (``PAGE.zh.md`` is Chinese, as
mkdocs-static-i18n's suffix layout has it); the adapters hand the page's name to
``Site.render_page``, which picks the catalog. The catalogs hold the same keys with the
same values to fill in (a test checks it, and that every key the code uses is in them).

The engine's reasons (``netfilter._reasons``) are messages too, ``reason.CODE``: English's
are the engine's own table (not copied into ``en.yaml``), other languages' are in their
catalog.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from ..netfilter._reasons import ENGLISH as ENGLISH_REASONS
from ..netfilter._reasons import Reason, ReasonCode

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
CATALOGS = Path(__file__).parent / "messages"


@dataclass(frozen=True)
class Messages:
    """One language's catalog: ``messages("key", name=value)`` is the key's text filled in."""

    language: Language
    texts: dict[str, str]

    def __call__(self, key: str, /, **values: object) -> str:
        return self.texts[key].format(**values)

    def reason(self, reason: Reason) -> str:
        """The engine's ``reason`` in this language."""
        return reason.text(self._reason_template)

    def _reason_template(self, code: ReasonCode) -> str:
        return self.texts[f"reason.{code}"]

    def __hash__(self) -> int:
        return hash(self.language)


def fields(text: str) -> set[str]:
    """The names of the values ``text`` takes (``{name}``)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@functools.cache
def messages(language: Language = "en") -> Messages:
    """The catalog of ``language`` (read once)."""
    import yaml  # (here: the playground's trace gets its catalog as JSON, with no YAML)

    path = CATALOGS / f"{language}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in data.items()):
        raise ValueError(f"{path}: a message catalog maps each key to its text")
    if language == "en":
        data |= {f"reason.{code}": text for code, text in ENGLISH_REASONS.items()}
    return Messages(language, data)


def page_language(page: str) -> Language:
    """The language of the page file ``page``: ``PAGE.LANG.md`` is in ``LANG``."""
    stem = page.rsplit("/", 1)[-1].removesuffix(".md")
    suffix = stem.rpartition(".")[2] if "." in stem else ""
    return next((language for language in LANGUAGES if language == suffix), "en")


if TYPE_CHECKING:
    ENGLISH: Messages


def __getattr__(name: str) -> Messages:
    # ENGLISH, read when first asked for (a renderer's default imports it; the
    # playground's trace imports none of those).
    if name == "ENGLISH":
        return messages("en")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
