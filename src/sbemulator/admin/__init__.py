"""The administration room: the HTTP surface of the official emulator, which
`ServiceBusAdministrationClient` speaks (the management API's ATOM/XML: queues, topics,
subscriptions, rules, runtime counts) and the health check.

It runs on its own threads; every operation on the broker runs on the reactor's thread,
through the `run` callable it is given (the AMQP server's `call`), so the broker stays
single-threaded.

May import: `sbemulator.broker`, `sbemulator.config`, `sbemulator.errors` and the
standard library; never `amqp` or proton.
"""
