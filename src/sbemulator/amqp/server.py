"""The AMQP 1.0 server on python-qpid-proton: connections, links and their routing to
the broker, the `$cbs` and `$management` nodes, and the timer that drives lock expiry,
scheduled messages and TTL.

Everything runs on the reactor thread. After every event the server commits the journal
(so nothing is acknowledged before it is stored) and wakes the links of queues where
messages became available.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any, TypeVar, cast

from proton import Condition, Connection, Endpoint, Event, Handler, Link, Sender, symbol
from proton.reactor import ApplicationEvent, Container, EventInjector

from ..broker.message_queue import MessageQueue
from ..broker.namespace import Broker
from ..config.quotas import Quotas
from ..config.sas import SharedAccessKey, grants
from ..errors import (
    BrokerError,
    EntityNotFound,
    NotAllowed,
    OperationTimeout,
    QuotaExceeded,
    SessionLockLost,
    Unauthorized,
)
from .acceptor import ConnectionTable, Listener, close_silent, close_unopened, condition
from .addresses import CBS, ENTITY, MANAGEMENT, parse_address
from .connection_state import ConnectionState
from .incoming_transfers import Inbound
from .management import ManagementNode
from .poller import use_poll
from .receiver_links import Consumer, remote_session_filter

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024  # Service Bus standard tier
SESSION_WAIT_DEFAULT = 60.0  # seconds a next-available attach waits without com.microsoft:timeout
PRODUCER_CREDIT = 1000
TICK_SECONDS = 0.05
SWEEP_SECONDS = 0.25  # how often connections are checked for the timeouts below
CALL_TIMEOUT = 30.0  # seconds another thread waits for `call` (the admin API)
# Seconds a connection has to open (SASL and the AMQP open) before it is closed.
DEFAULT_HANDSHAKE_TIMEOUT = 15.0
# Seconds of silence after which a connection is closed. proton advertises half of it
# in its open frame, as the AMQP spec advises; the SDK then sends an empty frame
# whenever it has sent nothing for a quarter of it (checked every 30 s by its
# keep-alive), so 240 s leaves it room.
DEFAULT_IDLE_TIMEOUT = 240.0
# Connections at once: see `config.quotas` for why this is not the official 10.
DEFAULT_MAX_CONNECTIONS = Quotas.max_connections
_TIMEOUT = symbol("com.microsoft:timeout")

T = TypeVar("T")
EventMethod = Callable[["AmqpServer", Event], None]


def _need(value: T | None) -> T:
    """An event's link/delivery/session: proton types them optional, but each handler is
    only called for events that carry the object."""
    assert value is not None
    return value


def _guarded(method: EventMethod) -> EventMethod:
    """Contain a failure to the event that caused it, and always finish the event's work
    (journal commit, waking receivers)."""

    @functools.wraps(method)
    def wrapper(self: AmqpServer, event: Event) -> None:
        try:
            method(self, event)
        except Exception:  # a bug must not take the emulator down: logged, the link closed
            log.exception("error handling %s", event.type)
            link = event.link
            if link is not None and link.state & Endpoint.LOCAL_ACTIVE:
                link.condition = Condition("amqp:internal-error", "emulator error; see its log")
                link.close()
        finally:
            self._after()

    return wrapper


class AmqpServer(Handler):
    """Serves one broker. Use `listen()` then `Container.run()`."""

    def __init__(
        self,
        broker: Broker,
        *,
        clock: Callable[[], float] = time.time,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        key: SharedAccessKey | None = None,
    ) -> None:
        super().__init__()
        self.broker = broker
        self.clock = clock
        self.max_message_size = max_message_size
        self.key = key  # None: any token will do (the official emulator's way)
        self.connections = ConnectionTable(max_connections, handshake_timeout)
        self.idle_timeout = idle_timeout
        self.listener: Listener | None = None
        self._next_sweep = 0.0
        self._calls: SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = SimpleQueue()
        self._injector: EventInjector | None = None
        self.inbound = Inbound(broker, ManagementNode(broker), clock, max_message_size, key)
        self._consumers: dict[MessageQueue, list[Consumer]] = {}
        self._waiters: dict[MessageQueue, list[Consumer]] = {}
        self._to_pump: set[MessageQueue] = set()
        self._rotation = 0
        self.container: Container | None = None
        self.stop_requested = False

    # -- lifecycle -----------------------------------------------------------------
    def listen(self, container: Container, host: str, port: int) -> int:
        """Bind the listening socket; returns the real port (also when 0 was asked)."""
        self.container = container
        use_poll()  # select() would stop the reactor at descriptor 1024
        self.listener = Listener(container, host, port, self, self.connections, self.clock)
        container.schedule(TICK_SECONDS, _Ticker(self))
        self._injector = EventInjector()
        container.selectable(self._injector)
        return self.listener.port

    # -- calls from other threads ----------------------------------------------------
    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the reactor's thread (where the broker lives) and return what it
        returns, or raise what it raises; for other threads (the admin API)."""
        assert self._injector is not None, "listen() first"
        future: Future[T] = Future()
        self._calls.put((fn, future))
        self._injector.trigger(ApplicationEvent("sb_call"))
        return future.result(timeout=CALL_TIMEOUT)

    def on_sb_call(self, event: Event) -> None:
        try:
            while True:
                try:
                    fn, future = self._calls.get_nowait()
                except Empty:
                    return
                try:
                    future.set_result(fn())
                except Exception as exc:  # noqa: BLE001  # handed to the calling thread
                    future.set_exception(exc)
        finally:
            self._after()

    def tick(self) -> None:
        now = self.clock()
        self.broker.tick(now)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            self._close_stalled_connections(now)
        for queue, waiters in list(self._waiters.items()):
            for consumer in [w for w in waiters if w.deadline <= now]:
                self._drop(consumer)
                consumer.fail(
                    OperationTimeout(
                        f"No session of {queue.name} became available before the timeout."
                    )
                )
        self._after()
        if self.stop_requested and self.container is not None:
            self.container.stop()

    # -- connections and sessions --------------------------------------------------
    def on_connection_bound(self, event: Event) -> None:
        transport = _need(event.transport)
        # The SDK insists on SASL ANONYMOUS; a proton server transport has no SASL layer
        # unless asked for one.
        sasl = transport.sasl()
        sasl.allowed_mechs("ANONYMOUS PLAIN")
        sasl.allow_insecure_mechs = True
        transport.idle_timeout = self.idle_timeout

    def _close_stalled_connections(self, now: float) -> None:
        """Close connections that did not open within the handshake timeout, and open
        ones that sent nothing for the idle timeout. proton enforces the idle timeout
        too, but its close carries no info field, which pyamqp reads unchecked; this
        sweep comes first, a little before proton's deadline (a tenth of the timeout, and
        at least two sweeps)."""
        table = self.connections
        table.forget_closed()
        stalled = table.unopened_since(now - table.handshake_timeout)
        for record in stalled:
            table.forget(record.connection)
            close_unopened(record, "The connection did not open in time.")
        if stalled:
            table.handshake_timeouts += len(stalled)
            log.info(
                "closed %d connection(s) that did not open within %gs",
                len(stalled),
                table.handshake_timeout,
            )
        if not self.idle_timeout:
            return
        early = max(2 * SWEEP_SECONDS, 0.1 * self.idle_timeout)
        silent = table.silent_since(time.monotonic() - (self.idle_timeout - early))
        for record in silent:
            table.forget(record.connection)
            close_silent(
                record,
                f"The connection was inactive for more than the allowed "
                f"{round(self.idle_timeout * 1000)} milliseconds.",
            )
        if silent:
            table.idle_timeouts += len(silent)
            log.info("closed %d connection(s) silent for %gs", len(silent), self.idle_timeout)

    @staticmethod
    def _state(connection: Connection) -> ConnectionState:
        state = getattr(connection, "sb_state", None)
        if state is None:
            state = connection.sb_state = ConnectionState()
        return state

    @_guarded
    def on_connection_remote_open(self, event: Event) -> None:
        connection = _need(event.connection)
        record = self.connections.find(connection)
        if record is not None:
            record.opened = True
            if record.over_quota:
                self.connections.refused += 1
                connection.condition = condition(
                    "amqp:resource-limit-exceeded",
                    f"The emulator's connection quota ({self.connections.max_connections}) "
                    "is reached (raise it with --max-connections).",
                )
                connection.open()
                connection.close()
                return
        if not connection.state & Endpoint.LOCAL_ACTIVE:
            connection.open()

    @_guarded
    def on_session_remote_open(self, event: Event) -> None:
        session = _need(event.session)
        if not session.state & Endpoint.LOCAL_ACTIVE:
            session.open()

    @_guarded
    def on_session_remote_close(self, event: Event) -> None:
        session = _need(event.session)
        state = self._state(session.connection)
        for consumer in [c for c in state.consumers.values() if c.link.session == session]:
            self._drop(consumer)
        if session.state & Endpoint.LOCAL_ACTIVE:
            session.close()

    @_guarded
    def on_connection_remote_close(self, event: Event) -> None:
        connection = _need(event.connection)
        self._connection_gone(connection)
        if connection.state & Endpoint.LOCAL_ACTIVE:
            connection.close()

    @_guarded
    def on_transport_closed(self, event: Event) -> None:
        if event.connection is not None:
            self.connections.forget(event.connection)
            self._connection_gone(event.connection)

    def _connection_gone(self, connection: Connection) -> None:
        state = self._state(connection)
        if state.closed:
            return
        state.closed = True
        for consumer in list(state.consumers.values()):
            self._drop(consumer)
        state.replies.clear()

    # -- links ---------------------------------------------------------------------
    @_guarded
    def on_link_remote_open(self, event: Event) -> None:
        link = _need(event.link)
        state = self._state(link.connection)
        if link.is_sender:
            address = parse_address(link.remote_source.address)
            if address is not None and address.kind in (CBS, MANAGEMENT):
                self._open(link)
                reply = state.reply_link(link.session, str(link.remote_source.address))
                reply.link = link
                link.sb_reply = reply
                reply.flush()
            elif address is None:
                self._reject(link, NotAllowed("A receiver link needs a source address."))
            else:
                self._attach_consumer(link, address.path, state)
            return
        address = parse_address(link.remote_target.address)
        if address is None:
            self._reject(link, NotAllowed("A sender link needs a target address."))
            return
        if address.kind == ENTITY:
            try:
                self.authorize(state, address.path)
                self.broker.check_send_target(address.path)
            except BrokerError as exc:
                # The SDK's sender treats an attach answered by a detach as a lost link and
                # retries; it reports a refused transfer by its condition. So the link is
                # accepted and its first transfer refused (then the link is closed).
                link.sb_refusal = exc
        link.sb_endpoint = address
        self._open(link)
        link.flow(PRODUCER_CREDIT)

    def _open(self, link: Link) -> None:
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        link.max_message_size = self.max_message_size
        link.open()

    def _reject(self, link: Link, error: BrokerError) -> None:
        # Answer the attach (with the client's terminus, which the SDK requires) and
        # detach at once with the condition the SDK turns into an exception.
        log.info("refusing link %s: %s", link.name, error.description)
        self._open(link)
        link.condition = Condition(error.condition, error.description)
        link.close()

    def authorize(self, state: ConnectionState, path: str) -> None:
        """Raises Unauthorized unless a token put on this connection covers `path`
        (only with a key: by default every connection may use every entity)."""
        if self.key is not None and not any(grants(r, path) for r in state.granted):
            raise Unauthorized(
                f"Unauthorized access to '{path}': no valid token for it was put on $cbs "
                "(the emulator was started with --require-key)."
            )

    def _receiver_quota(self, queue: MessageQueue) -> None:
        limit = self.broker.quotas.max_receivers_per_entity
        if len(self._consumers.get(queue, ())) + len(self._waiters.get(queue, ())) >= limit:
            raise QuotaExceeded(
                f"{queue.name} already has {limit} receivers, the emulator's quota "
                "(raise it with --max-receivers-per-entity)."
            )

    def _attach_consumer(self, link: Link, path: str, state: ConnectionState) -> None:
        try:
            self.authorize(state, path)
            queue = self.broker.receiver_queue(path)
            self._receiver_quota(queue)
        except BrokerError as exc:
            self._reject(link, exc)
            return
        wants_session, session_id = remote_session_filter(link)
        if queue.requires_session and not wants_session:
            self._reject(
                link,
                NotAllowed(
                    f"{queue.name} requires sessions: use a session receiver (session_id=...)."
                ),
            )
            return
        if wants_session and not queue.requires_session:
            self._reject(
                link,
                NotAllowed(
                    f"{queue.name} does not require sessions: use a receiver without session_id."
                ),
            )
            return
        peek_lock = link.remote_snd_settle_mode != Link.SND_SETTLED
        consumer = Consumer(
            cast(Sender, link),
            queue,
            peek_lock=peek_lock,
            owner_key=state,
            wants_session=wants_session,
            session_id=session_id,
        )
        link.sb_consumer = consumer
        state.consumers[consumer.name] = consumer
        now = self.clock()
        if wants_session:
            try:
                if session_id is not None:
                    consumer.session = queue.accept_session(session_id, consumer, now)
                else:
                    consumer.session = queue.accept_next_session(consumer, now)
            except BrokerError as exc:
                state.consumers.pop(consumer.name, None)
                consumer.fail(exc)
                return
            if consumer.session is None:
                props = link.remote_properties or {}
                wait = props.get(_TIMEOUT)
                consumer.deadline = now + (wait / 1000.0 if wait else SESSION_WAIT_DEFAULT)
                self._waiters.setdefault(queue, []).append(consumer)
                return
        self._activate(consumer)

    def _activate(self, consumer: Consumer) -> None:
        consumer.open(self.max_message_size)
        self._consumers.setdefault(consumer.queue, []).append(consumer)
        self._to_pump.add(consumer.queue)

    def _drop(self, consumer: Consumer) -> None:
        """Forget a consumer whose link, session or connection is gone."""
        for registry in (self._consumers, self._waiters):
            listed = registry.get(consumer.queue)
            if listed and consumer in listed:
                listed.remove(consumer)
        state: ConnectionState = consumer.owner_key
        if state.consumers.get(consumer.name) is consumer:
            del state.consumers[consumer.name]
        consumer.release(self.clock())

    @_guarded
    def on_link_remote_close(self, event: Event) -> None:
        link = _need(event.link)
        self._link_gone(link)
        if link.state & Endpoint.LOCAL_ACTIVE:
            link.close()

    @_guarded
    def on_link_remote_detach(self, event: Event) -> None:
        link = _need(event.link)
        self._link_gone(link)
        if link.state & Endpoint.LOCAL_ACTIVE:
            link.detach()

    def _link_gone(self, link: Link) -> None:
        consumer = getattr(link, "sb_consumer", None)
        if consumer is not None:
            self._drop(consumer)

    @_guarded
    def on_link_flow(self, event: Event) -> None:
        link = _need(event.link)
        consumer = getattr(link, "sb_consumer", None)
        if consumer is not None:
            self._to_pump.add(consumer.queue)
            return
        reply = getattr(link, "sb_reply", None)
        if reply is not None:
            reply.flush()

    # -- transfers and dispositions ------------------------------------------------
    @_guarded
    def on_delivery(self, event: Event) -> None:
        delivery, link = _need(event.delivery), _need(event.link)
        if link.is_sender:
            consumer = getattr(link, "sb_consumer", None)
            if consumer is not None and delivery.updated:
                consumer.on_disposition(delivery, self.clock())
            elif delivery.remote_settled:
                delivery.settle()
            return
        if delivery.partial or not delivery.readable:
            return
        data = link.recv(delivery.pending) or b""
        link.advance()
        self.inbound.handle(link, delivery, data, self._state(link.connection))
        if link.credit < PRODUCER_CREDIT // 2:
            link.flow(PRODUCER_CREDIT - link.credit)

    # -- waking receivers ----------------------------------------------------------
    def _after(self) -> None:
        now = self.clock()
        broker = self.broker
        for gone in broker.take_removed():
            self._entity_deleted(gone)
        for _ in range(100):
            lost = broker.take_lost_sessions()
            for _queue, _session_id, owner in lost:
                if isinstance(owner, Consumer) and not owner.released:
                    owner.session = None
                    self._drop(owner)
                    owner.fail(
                        SessionLockLost("The session lock expired; accept the session again.")
                    )
            ready = broker.take_ready() | self._to_pump
            self._to_pump = set()
            if not ready and not lost:
                break
            for queue in ready:
                self._serve_waiters(queue, now)
                self._pump(queue, now)
        broker.journal.commit()

    def _entity_deleted(self, gone: MessageQueue) -> None:
        """A queue or subscription deleted by the admin API: its receivers are detached."""
        for consumer in [*self._consumers.get(gone, ()), *self._waiters.get(gone, ())]:
            self._drop(consumer)
            consumer.fail(EntityNotFound(f"The messaging entity '{gone.name}' was deleted."))
        self._consumers.pop(gone, None)
        self._waiters.pop(gone, None)

    def _serve_waiters(self, queue: MessageQueue, now: float) -> None:
        waiters = self._waiters.get(queue)
        while waiters:
            consumer = waiters[0]
            session = queue.accept_next_session(consumer, now)
            if session is None:
                return
            waiters.pop(0)
            consumer.session = session
            self._activate(consumer)

    def _pump(self, queue: MessageQueue, now: float) -> None:
        """Hand out available messages one per receiver in turn, so competing receivers
        share a queue."""
        consumers = self._consumers.get(queue)
        if not consumers:
            return
        self._rotation += 1
        start = self._rotation % len(consumers)
        order = consumers[start:] + consumers[:start]
        active = [c for c in order if c.can_send]
        while active:
            active = [c for c in active if c.send_one(now)]
        for consumer in order:
            consumer.finish_drain()


class _Ticker(Handler):
    def __init__(self, server: AmqpServer) -> None:
        super().__init__()
        self.server = server

    def on_timer_task(self, event: Event) -> None:
        try:
            self.server.tick()
        except Exception:  # the timer must keep ticking: logged, scheduled again
            log.exception("timer failed")
        if self.server.container is not None and not self.server.stop_requested:
            self.server.container.schedule(TICK_SECONDS, self)
