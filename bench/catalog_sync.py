"""Catalog sync of 1,000 generated actions with 10 parameters each: first sync, then re-sync.

Targets (issue 3): first sync into an empty database under 2 s, no-change re-sync under
0.3 s. Run: `python -m bench.catalog_sync [--rounds 5]`; results go to bench/results/.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import create_model

from bench.support import HEADER, fresh_database, postgres_server, row, write_report
from catalog.params import ActionParams, param
from catalog.spec import ActionSpec
from catalog.sync import sync_catalog
from storage import migrate
from storage.db import session_factory
from storage.enums import ActionCategory
from tests.support import server_major_version


def generated_catalog(actions: int = 1000, params: int = 10) -> tuple[ActionSpec, ...]:
    specs = []
    for a in range(actions):
        fields: dict[str, Any] = {
            f"p{p}": (
                (int, param(f"Param {p}", f"generated number {p}", order=p, ge=0, le=1000))
                if p % 2
                else (str, param(f"Param {p}", f"generated text {p}", order=p, min_length=1))
            )
            for p in range(params)
        }
        model = create_model(f"Gen{a}Params", __base__=ActionParams, **fields)
        specs.append(
            ActionSpec(
                f"GEN_{a:04d}",
                f"Generated {a}",
                "benchmark action",
                ActionCategory.GENERAL,
                model,
                f"gen_{a}",
                display_order=a,
                depends_on_configs=("platform.dap.base_url",) if a % 3 == 0 else (),
            )
        )
    return tuple(specs)


def timed_sync(url: str, specs: tuple[ActionSpec, ...]) -> float:
    started = time.perf_counter()
    with session_factory(url)() as session:
        sync_catalog(session, specs, "1.0.0")
        session.commit()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    specs = generated_catalog()
    for spec in specs:  # declarations are read once per process, as in a worker
        _ = spec.definition_hash
    first, again = [], []
    with postgres_server() as server:
        major = server_major_version(server)
        for _ in range(args.rounds):
            with fresh_database(server) as url:
                migrate.upgrade(url)
                first.append(timed_sync(url, specs))
                again.append(timed_sync(url, specs))
    lines = [
        f"catalog sync benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.node()}, PostgreSQL {major}, {args.rounds} rounds, "
        "1,000 actions x 10 parameters",
        "",
        HEADER,
        row("first sync (empty database)", first, "< 2000 ms"),
        row("re-sync, nothing changed", again, "< 300 ms"),
    ]
    report = "\n".join(lines)
    write_report(f"catalog_sync_pg{major}", report)


if __name__ == "__main__":
    main()
