"""A Docker-free Azure Service Bus emulator: an AMQP 1.0 server that the unmodified
`azure-servicebus` SDK talks to, with entities from the official emulator's Config.json.

Three rooms, imported one way only (amqp -> broker -> config):

- `config`: Config.json (and command-line entities) read into frozen dataclasses.
- `broker`: the namespace's entities and their peek-lock state machine, routing, rules and
  persistence; no AMQP, driven with explicit times.
- `amqp`: the wire: the proton-based server, its links and nodes, and message encoding.

`errors` (imported by all three) and `cli` (which wires them together) sit at the top.
"""

__version__ = "0.1.0"
