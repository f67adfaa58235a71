"""The event bus: the outbox's events published to Kafka, NATS JetStream or RabbitMQ.

``publishers`` holds the only imports of faststream (one :class:`Publisher` per broker, each
returning once the broker has confirmed a message); ``relay`` reads the log after the
``bus`` cursor, publishes in log order and then advances the cursor: at-least-once, never a
gap. Consumers deduplicate by the event's id (README, Event bus).
"""
