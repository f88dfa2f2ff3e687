"""Email templates and the outbox (filled in by the email issue)."""
