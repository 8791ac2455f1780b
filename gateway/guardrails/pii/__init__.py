"""PII and secret redaction: detectors, masking, a tenant's policy applied to a request."""
