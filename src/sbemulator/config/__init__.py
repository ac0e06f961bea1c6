"""The config room: Config.json (the official emulator's shape) and command-line entities,
read once into frozen dataclasses, with durations and the SQL filter language that the
reader checks a rule's SqlExpression against.

May import: the standard library and `sbemulator.errors`; never `broker` or `amqp`, so
the config can be loaded and tested without either.
"""
