"""Chat Completions clients served through the Responses API upstream (a route's
``chat_via_responses``): pure translators, a stream tap, and the endpoint description."""
