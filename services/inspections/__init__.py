"""企业自查 (issue 13, item 1): each enterprise's monthly self-inspection return, signed by its 主要负责人,
with the hazards it found (reported through the lifecycle, source `self_check`, and linked to the
return) or a nil return (未发现重大事故隐患); its 立查立改 records with evidence; the escalation of
missing returns on working days; the filing status an inspector sees for the enterprises in scope.

- `window`: which month may be filed or amended when (the filing rule), and the ladder's dates;
- `returns`: filing and amending (one return per enterprise and month, every act on the record chain);
- `spot_fixes`: 立查立改 with one evidence file, stored like the hazards' attachments;
- `reads`: one return, an enterprise's returns, the filing status of a region's enterprises;
- `duties`: the sweep of missing returns (remind, list, publicize), each step fired once.
"""
