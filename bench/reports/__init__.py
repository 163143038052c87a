"""bench/reports: the monthly report of a province, set-based in SQL against a per-region ORM loop."""
