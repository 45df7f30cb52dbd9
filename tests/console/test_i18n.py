"""Every text the console shows has a Chinese translation with the same placeholders, and
the language follows the switch, else the browser."""

from __future__ import annotations

import re

from console import i18n
from console.messages import all_messages, template_messages

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_message_is_translated_with_its_placeholders() -> None:
    zh = i18n.catalog("zh")
    messages = all_messages()
    assert len(template_messages()) > 100  # the extractor found the templates' texts
    missing = sorted(m for m in messages if not zh.get(m))
    assert missing == [], "translate in console/locales/zh/LC_MESSAGES/messages.po: " + str(missing)
    wrong = [m for m in messages if set(PLACEHOLDER.findall(m)) != set(PLACEHOLDER.findall(zh[m]))]
    assert wrong == []


def test_the_language_comes_from_the_switch_then_the_browser() -> None:
    assert i18n.choose("zh", "en-US,en;q=0.9") == "zh"
    assert i18n.choose(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.choose("xx", "fr-FR, en;q=0.5") == "en"
    assert i18n.choose(None, None) == "en"
    assert i18n.translator("zh")("%(n)s days", n=7) == "7 天"
    assert i18n.translator("en")("%(n)s days", n=7) == "7 days"
