"""Send HL7 v2 messages to a box over MLLP, as an HIS does, and print each acknowledgement.

A technician's check of the HIS link. Messages are read from FILE (or standard input): one
segment a line, a blank line between messages; each is sent, and its ACK printed, before the
next.

    .venv/bin/python tools/hl7_send.py --host 10.0.0.5 --port 2575 registrations.hl7
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from hl7.mllp import open_hl7_connection

TIMEOUT = 15.0   # seconds for an ACK: the box answers within 10 s, busy or not


def messages(text: str) -> list[str]:
    """The messages of `text`: segments one a line (any line end), messages apart by a blank
    line; each ends with <CR> as HL7 wants."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found, segments = [], []
    for line in [*lines, ""]:
        if line.strip():
            segments.append(line.strip("\n"))
        elif segments:
            found.append("".join(segment + "\r" for segment in segments))
            segments = []
    return found


async def send(host: str, port: int, texts: list[str], encoding: str) -> bool:
    """Each message in turn; True when every one was accepted (MSA-1 AA)."""
    reader, writer = await open_hl7_connection(host, port)
    accepted = True
    try:
        for text in texts:
            writer.writeblock(text.encode(encoding))
            await writer.drain()
            block = await asyncio.wait_for(reader.readblock(), TIMEOUT)
            ack = block.decode(encoding, "replace")
            print(ack.replace("\r", "\n").rstrip() + "\n")
            accepted &= any(line.startswith(("MSA|AA", "MSA|CA")) for line in ack.split("\r"))
    finally:
        writer.close()
    return accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=argparse.FileType("rb"), default=sys.stdin.buffer,
                        help="the messages (default: standard input)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2575)
    parser.add_argument("--charset", default="utf-8", choices=("utf-8", "gb18030"),
                        help="the site's character set ([his] charset)")
    args = parser.parse_args()
    texts = messages(args.file.read().decode(args.charset))
    if not texts:
        parser.error("no message to send")
    try:
        ok = asyncio.run(send(args.host, args.port, texts, args.charset))
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
        sys.exit(f"hl7_send: {args.host}:{args.port}: {exc or type(exc).__name__}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
