"""The exact-match response cache: a tenant's repeated request answered from its earlier answer.

Per tenant and opt-in (`gateway.config.cache`): `key` decides what may be
cached and under which key, `store` keeps answers (Redis when configured, else
this process's memory, LRU under a byte cap), `respond` answers a hit — metered
as a $0 ledger row, never sent upstream — and keeps a miss's complete answer.
The tenant is part of every key: one tenant never sees another's answer.
"""
