"""Rewrite console/locales/zh/LC_MESSAGES/messages.po from the console's messages, keeping
every translation it has (new messages come in empty, for a translator to fill):
`python -m console.locales.build_po`."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from console.messages import all_messages

PO = Path(__file__).parent / "zh" / "LC_MESSAGES" / "messages.po"


def main(extra: dict[str, str] | None = None) -> None:
    known: dict[str, str] = {}
    if PO.exists():
        with PO.open("rb") as handle:
            known = {str(m.id): str(m.string) for m in read_po(handle) if m.id}
    known.update(extra or {})
    catalog = Catalog(locale="zh_Hans_CN", project="Nightwatch console", charset="utf-8")
    for message in sorted(all_messages()):
        catalog.add(message, known.get(message, ""))
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, no_location=True)


if __name__ == "__main__":
    main()
