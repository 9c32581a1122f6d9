"""Events and outbound webhooks: the outbox, endpoints, signing (Standard Webhooks),
the SSRF guard, the retry schedule, and delivery."""
