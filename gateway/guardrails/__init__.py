"""Per-tenant guardrails on what goes upstream and what comes back."""
