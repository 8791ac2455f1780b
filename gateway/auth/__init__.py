"""JWT verification (HS* secret or JWKS), the Principal it yields, and dev-token minting."""

from gateway.auth.jwks import JwksCache
from gateway.auth.mint import mint_token
from gateway.auth.principal import Principal
from gateway.auth.verifier import TokenVerifier, bearer_token

__all__ = ["JwksCache", "Principal", "TokenVerifier", "bearer_token", "mint_token"]
