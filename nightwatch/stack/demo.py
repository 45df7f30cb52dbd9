"""`nightwatch up --demo`: load the example plans into the local stack and show where to look."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nightwatch.config import Settings
from plans import files, store
from plans.validation import PlanInvalid
from storage.db import session_factory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"


def run_demo(settings: Settings, say: Callable[[str], None]) -> None:
    if not EXAMPLES.is_dir():
        say(f"demo      skipped: no example plans at {EXAMPLES}")
        return
    with session_factory(settings.effective_database_url)() as session:
        for path in sorted(EXAMPLES.glob("*.yaml")):
            try:
                result = store.apply(session, files.read_file(path), by="demo")
            except PlanInvalid as error:
                session.rollback()
                say(f"demo      {path.name}: {error}")
                continue
            session.commit()
            say(f"demo      {result.outcome} plan {result.plan_id} {result.name!r}")
    say("demo      try: nightwatch run 'night drill' --wait, then nightwatch confirm <execution> 2")
    say("demo      and: nightwatch plan list | nightwatch inbox | nightwatch catalog list")
