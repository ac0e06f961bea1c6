"""A Docker-free Azure Service Bus emulator: an AMQP 1.0 server that the unmodified
`azure-servicebus` SDK talks to, with entities from the official emulator's Config.json.

Layers, each importable alone: `config` (Config.json), `broker`/`entities` (the state
machine, no AMQP), `filters`/`sqlfilter` (subscription rules), `persistence`, and the AMQP
side: `amqp_server`, `consumers`, `management`, `cbs`, `wireformat`, `amqpcodec`.
"""

__version__ = "0.1.0"
