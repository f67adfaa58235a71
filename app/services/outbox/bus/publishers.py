"""One publisher per broker, over faststream (the only module that imports it).

Every message is an event's envelope (``envelope.body``), ``content-type: application/json``,
with the headers ``paygate-event-id``, ``paygate-event-type`` and ``paygate-sequence``.
``publish`` returns once the broker has taken responsibility for the message (a JetStream
PubAck, a RabbitMQ publisher confirm, a Kafka acknowledgement from every in-sync replica) and
raises :class:`BusError` otherwise, so the relay advances its cursor only past messages the
broker holds.

- NATS JetStream (``nats://``, ``tls://``): subject ``<name>.<type>`` in a stream over
  ``<name>.>`` (created when missing, named after ``name``); the ``Nats-Msg-Id`` header is
  the event id, so the stream's duplicate window drops a re-publish
  (https://docs.nats.io/using-nats/developer/develop_jetstream/model_deep_dive#message-deduplication).
- RabbitMQ (``amqp://``, ``amqps://``): a durable topic exchange ``name``, routing key the
  event's type, persistent messages whose ``message_id`` is the event id, publisher confirms
  (https://www.rabbitmq.com/docs/confirms).
- Kafka (``kafka://host:port[,host:port…]``): topic ``name``, key the object's id (one
  object's events land in one partition, in order), ``acks=all`` and the idempotent producer
  (https://kafka.apache.org/documentation/#producerconfigs_enable.idempotence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from faststream.kafka import KafkaBroker
from faststream.nats import NatsBroker
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange

from app.models.events import Event
from app.services.outbox.envelope import body, envelope
from app.settings import EVENT_BUS_SCHEMES

CONTENT_TYPE = "application/json"
DUPLICATE_WINDOW_SECONDS = 600.0  # JetStream: a re-publish within 10 minutes is dropped
CONFIRM_TIMEOUT_SECONDS = 10.0


class BusError(RuntimeError):
    """The broker did not confirm a message (or could not be reached)."""


def broker_kind(url: str) -> str:
    """``nats``, ``rabbitmq`` or ``kafka``; ValueError for another scheme."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in EVENT_BUS_SCHEMES:
        raise ValueError(f"not an event bus URL scheme: {scheme}")
    return EVENT_BUS_SCHEMES[scheme]


def redact(url: str) -> str:
    """The URL without its user and password (safe to log)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class Message:
    """An event as the bus carries it."""

    id: str  # the envelope's id (a consumer's deduplication key)
    type: str
    sequence: int
    key: str  # the envelope's objectId: per-object order
    body: bytes

    @classmethod
    def of(cls, event: Event) -> Message:
        shown = envelope(event)
        return cls(
            id=shown["id"],
            type=event.type,
            sequence=event.seq,
            key=shown["objectId"],
            body=body(event),
        )

    @property
    def headers(self) -> dict[str, str]:
        return {
            "content-type": CONTENT_TYPE,
            "paygate-event-id": self.id,
            "paygate-event-type": self.type,
            "paygate-sequence": str(self.sequence),
        }


class Publisher(Protocol):
    kind: str

    async def start(self) -> None:
        """Connect, and declare what the messages go to (stream, exchange)."""

    async def publish(self, message: Message) -> None:
        """Return once the broker confirmed ``message``; raise otherwise."""

    async def close(self) -> None: ...


class _FaststreamPublisher:
    kind = ""

    def __init__(self, broker: Any, name: str) -> None:
        self.broker = broker
        self.name = name

    async def start(self) -> None:
        await self.broker.connect()

    async def close(self) -> None:
        await self.broker.stop()


class NatsPublisher(_FaststreamPublisher):
    kind = "nats"

    def __init__(self, url: str, name: str) -> None:
        # No reconnection inside the client: the relay reconnects with its own back-off, and
        # a publish during a reconnection fails rather than waits.
        super().__init__(
            NatsBroker(url, allow_reconnect=False, connect_timeout=5, logger=None), name
        )
        self.stream = stream_name(name)

    async def start(self) -> None:
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        await super().start()
        jetstream = self.broker.connection.jetstream()
        try:
            await jetstream.stream_info(self.stream)
        except NotFoundError:  # an operator's own stream is left as configured
            await jetstream.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{self.name}.>"],
                    storage=StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                )
            )

    async def publish(self, message: Message) -> None:
        try:
            await self.broker.publish(
                message.body,
                f"{self.name}.{message.type}",
                headers={**message.headers, "Nats-Msg-Id": message.id},
                correlation_id=message.id,
                stream=self.stream,
                timeout=CONFIRM_TIMEOUT_SECONDS,
            )
        except Exception as error:
            raise BusError(f"NATS JetStream did not acknowledge {message.id}") from error


def stream_name(name: str) -> str:
    """The JetStream stream of subjects ``<name>.>`` (stream names take no dots)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name).upper()


class RabbitPublisher(_FaststreamPublisher):
    kind = "rabbitmq"

    def __init__(self, url: str, name: str) -> None:
        super().__init__(RabbitBroker(url, logger=None), name)
        self.exchange = RabbitExchange(name, type=ExchangeType.TOPIC, durable=True)

    async def start(self) -> None:
        await super().start()
        await self.broker.declare_exchange(self.exchange)

    async def publish(self, message: Message) -> None:
        try:
            confirmed = await self.broker.publish(
                message.body,
                exchange=self.exchange,
                routing_key=message.type,
                # Not mandatory: a message no queue is bound for is dropped by RabbitMQ (bind
                # your queues before the relay starts; README, Event bus).
                mandatory=False,
                persist=True,
                timeout=CONFIRM_TIMEOUT_SECONDS,
                headers=message.headers,
                content_type=CONTENT_TYPE,
                message_id=message.id,
                correlation_id=message.id,
                message_type=message.type,
            )
        except Exception as error:
            raise BusError(f"RabbitMQ did not confirm {message.id}") from error
        if type(confirmed).__name__ != "Ack":  # a Basic.Nack (or no confirm at all)
            raise BusError(f"RabbitMQ refused {message.id} ({type(confirmed).__name__})")


class KafkaPublisher(_FaststreamPublisher):
    kind = "kafka"

    def __init__(self, url: str, name: str) -> None:
        servers = [host for host in urlsplit(url).netloc.rpartition("@")[2].split(",") if host]
        broker = KafkaBroker(
            servers,
            acks="all",
            enable_idempotence=True,
            client_id="paygate-relay",
            request_timeout_ms=int(CONFIRM_TIMEOUT_SECONDS * 1000),
            logger=None,
        )
        super().__init__(broker, name)

    async def publish(self, message: Message) -> None:
        try:
            await self.broker.publish(
                message.body,
                self.name,
                key=message.key.encode(),
                headers=message.headers,
                correlation_id=message.id,
            )
        except Exception as error:
            raise BusError(f"Kafka did not acknowledge {message.id}") from error


def publisher(url: str, name: str) -> Publisher:
    """The publisher of the broker ``url`` names (not connected yet)."""
    kind = broker_kind(url)
    if kind == "nats":
        return NatsPublisher(url, name)
    if kind == "rabbitmq":
        return RabbitPublisher(url, name)
    return KafkaPublisher(url, name)
