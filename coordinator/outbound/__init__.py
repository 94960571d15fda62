"""What leaves Tapfleet for the outside world: member notifications (and, later, integration
events), recorded in a database outbox inside the transaction that decided them, delivered
at least once and idempotent by id."""
