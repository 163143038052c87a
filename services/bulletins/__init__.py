"""通报: the month's list of what a committee office names publicly — overdue hazards (the ladder's
`publicize` step), enterprises that missed their self-inspection return, regions that reported late
— its review, and the numbered 通报 document issued from it."""
