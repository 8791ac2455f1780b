"""Endpoint descriptions: what each API family keeps where (`gateway.shapes.endpoint`)."""
