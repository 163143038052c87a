"""A mirror pass that dies half-way, for `test_mirror_prefect` (run as a separate process, since it
ends with `os._exit`): `python -m tests.flows.mirror_crash before_lines|before_marker`.

- `before_lines`: an item's run and states reached Prefect, then the process dies before its log
  lines and events are written.
- `before_marker`: everything reached Prefect, then the process dies before the pass records the
  items' markers (they stay flagged `writing`).

The database and Prefect are the environment's (HAZARD_DATABASE_URL, PREFECT_API_URL). Exit status
9 is the crash; any other status means the sink never got to die, which the test reports."""

from __future__ import annotations

import os
import sys
from typing import Any

from flows.mirror import PrefectSink, mirror_now

CRASH = 9


class DiesBeforeLines(PrefectSink):
    async def _item(self, client: Any, op: Any) -> tuple[str, set[str]]:
        await super()._item(client, op)
        os._exit(CRASH)  # an item's run and states reached Prefect, its lines and events not yet


class DiesBeforeMarker(PrefectSink):
    def write(self, ops: list) -> dict:
        outcomes = super().write(ops)
        if any(out.error is None for out in outcomes.values()):
            os._exit(CRASH)
        return outcomes


SINKS = {"before_lines": DiesBeforeLines, "before_marker": DiesBeforeMarker}


def main(argv: list[str]) -> int:
    report = mirror_now(SINKS[argv[0]]())
    print(f"mirror pass ended without dying (nothing reached Prefect?): {report}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
