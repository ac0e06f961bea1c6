"""The AMQP room: the wire between the SDK and the broker.

The proton-based server (connections, links, credit, the timer), receiver links and
incoming transfers, the `$cbs` and `$management` nodes with their request/response
messages, link addresses, and the encoding of messages in and out (stored byte for
byte; only the header and the broker's annotations are written on delivery).

May import: `sbemulator.broker`, `sbemulator.config`, `sbemulator.errors`, proton and the
standard library. Nothing in `broker` or `config` imports this room.
"""
