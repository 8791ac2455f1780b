"""Prices (config/pricing.yaml) and the exact cost of a usage record, in integer nano-USD."""

from gateway.pricing.cost import Cost, cost_of
from gateway.pricing.table import NANOS_PER_USD, ModelPrice, PriceTable, load_pricing

__all__ = ["NANOS_PER_USD", "Cost", "ModelPrice", "PriceTable", "cost_of", "load_pricing"]
