"""黑名单 (issue 13 item 5): candidates per enterprise and quarter (candidates.py), the committee
office's decisions (decisions.py), whether an enterprise is listed now (status.py, one rule used
everywhere) and the half-year inspection reminders of listed enterprises (duties.py)."""
