"""Logging, metrics and tracing: every name the gateway emits is defined here."""
