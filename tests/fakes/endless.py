"""An upstream that never stops streaming: the slow-reader test and bench/slow_reader.py.

HTTP/1.1 on a thread: every POST gets an OpenAI-shaped SSE stream (a
``response.output_text.delta`` every ~1 KB) that ends only when the peer goes. It counts
the bytes it has managed to write, waiting for the socket to drain as a real server does.
"""

from __future__ import annotations

import asyncio
import json
import threading

DELTA = json.dumps(
    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
     "content_index": 0, "delta": "x" * 900, "sequence_number": 0}
)  # fmt: skip


class EndlessUpstream:
    """HTTP/1.1 on a thread: answers every POST with a stream that never ends by itself."""

    def __init__(self) -> None:
        self.written = 0
        self.closed = threading.Event()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        created = {"type": "response.created", "sequence_number": 0, "response": {
            "id": "resp_endless", "object": "response", "status": "in_progress",
            "model": "gpt-5-nano", "output": []}}  # fmt: skip
        frames = [f"event: response.created\ndata: {json.dumps(created)}\n\n".encode()]
        delta = f"event: response.output_text.delta\ndata: {DELTA}\n\n".encode()
        try:
            while True:
                for frame in frames or [delta]:
                    chunk = b"%x\r\n%s\r\n" % (len(frame), frame)
                    writer.write(chunk)
                    await writer.drain()  # blocks while the gateway does not read
                    self.written += len(chunk)
                frames = []
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            writer.close()

    def __enter__(self) -> EndlessUpstream:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
