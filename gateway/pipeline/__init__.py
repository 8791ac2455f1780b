"""The one way a metered call goes: prepare → admit → forward → measure → settle → decide.

::

    prepare.prepare      parse by the endpoint's description, check model and named ids,
                         plan the ladder                                  (once per request)
    prepare.for_model    policy rewrite for the rung's model, price, cost bound
                                                                          (once per attempt)
    meter.Meter.admit    reserve the bound and rate share, or refuse (429/503)
    forward + measure    HTTP/SSE: http.serve + attempt.Attempt + relay;
                         sockets: the session feeds terminal events to its Call
    meter.Call.settle    price the usage, write the ledger row, release: exactly once
    decide.decide        retry, escalate, deliver or fail                 (pure)

Every metered path uses these: Responses and Chat over HTTP (`gateway.api.proxy`),
the Responses WebSocket mode (`gateway.realtime.responses_socket`), Realtime
sessions and WebRTC calls watched over their sideband (`gateway.realtime.session`).
What differs between them is data: `gateway.shapes.endpoint.Endpoint`.
"""
