"""Notifications: who hears of an outbox message (`recipients`), what they read (`messages`) and how
it reaches them (`channels`). The engine that queues and sends them is `services.outbox`
(`expand`, `deliver`)."""
