"""Domain events: the outbox (`events.models.Event`) and the publish API (`events.bus.record`)."""
