"""Per-tenant guardrails applied to requests and answers around the upstream call."""
