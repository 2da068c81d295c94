"""A Graphite plaintext receiver for the end-to-end test: prints every line it gets.

The shards of the test's StatsdCluster flush to it, and the test reads the
lines back from the pod's log. Run as ``python graphite_sink.py --port 2003``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            sys.stdout.write(line.decode("utf-8", "replace").rstrip("\r\n") + "\n")
            sys.stdout.flush()
    except ConnectionError as error:
        print(f"graphite-sink: connection failed: {error}", file=sys.stderr, flush=True)
    finally:
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_handle, host="0.0.0.0", port=port)
    print(f"graphite-sink: listening on port {port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the port and serve until the process is stopped."""
    parser = argparse.ArgumentParser(description="Print every Graphite plaintext line received.")
    parser.add_argument("--port", type=int, default=2003, help="TCP port to listen on")
    asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
