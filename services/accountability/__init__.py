"""问责移交 and 约谈 as records (issue 13 item 6): made once from the ladder's `refer` and `summon`
events (records.py), addressed to the region's 纪检监察 body (bodies.py), their outcomes and
meetings recorded by the offices (actions.py), read by the pages and the API (reads.py)."""
