"""The console's languages: English (the strings themselves) and Chinese, from a gettext
catalog (console/locales/zh/LC_MESSAGES/messages.po, read with Babel). The language comes
from the `nw_lang` cookie (the switch), else the browser's Accept-Language."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = {"en": "English", "zh": "中文"}
COOKIE = "nw_lang"


@cache
def catalog(language: str) -> dict[str, str]:
    """msgid -> msgstr for a language (English: empty, the ids are the English text)."""
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.exists():
        return {}
    with path.open("rb") as handle:
        po = read_po(handle, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the switch's cookie, else the browser's first known language."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag[:2] in LANGUAGES:
            return tag[:2]
    return "en"


def translator(language: str) -> Callable[..., str]:
    """`_("Acknowledge")`, `_("%(n)s events", n=3)`: the translated text, formatted."""
    table = catalog(language)

    def gettext(message: str, **values: Any) -> str:
        text = table.get(message) or message
        return text % values if values else text

    return gettext
