"""Realtime sessions: policy and metering of the WebSocket and WebRTC modes."""
