"""The broker room: the namespace's queues, topics and subscriptions, independent of AMQP.

Messages as the broker sees them, the peek-lock state machine of a queue (locks,
settlement, deferral, dead-lettering, expiry, sessions), routing (duplicates, topics and
their rules, ForwardTo, schedules) and the SQLite journal. Every call takes the current
time explicitly, so it is unit-tested without a clock or a network.

May import: `sbemulator.config`, `sbemulator.errors` and the standard library; never
`amqp` or proton. What the wire needs from a message (its encoding) stays opaque here.
"""
