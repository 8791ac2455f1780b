"""HTTP edge: raw ASGI handlers for proxied endpoints, Litestar for the rest."""
