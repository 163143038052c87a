"""Login timing: a known username and an unknown one, side by side, at production argon2 cost.

`sh bench/run.sh login --rounds 40` logs in (wrong password) as an existing user and as a made-up
name alternately through `app.web.session.login`, on a scratch SQLite file, and prints the
median of each and their ratio. Issue 10 item 5: the two must not be told apart by time (target:
medians within 10%), because each costs exactly one argon2 verification.
"""
