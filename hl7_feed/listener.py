"""The MLLP listener: the `hl7` library's asyncio server frames the messages; each is applied and committed
before its ACK is written, so whatever was ACKed survives a restart and whatever was not will be resent.

Messages are applied one at a time (one database thread), in the order they arrive: a reschedule must not
overtake the booking it moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django import db
from django.db import close_old_connections
from hl7.mllp import InvalidBlockError, start_hl7_server

from .services import inbound_message_receive

logger = logging.getLogger(__name__)

# HL7 v2 is ASCII by default; UTF-8 reads it too and also the names an engine sends in UTF-8 (MSH-18 UNICODE
# UTF-8). Bytes that are neither are replaced rather than refused, so the message is still kept.
ENCODING = "utf-8"


def _receive(raw: str) -> bytes:
    close_old_connections()  # a connection the database closed while we were idle is replaced
    return inbound_message_receive(raw=raw).ack.encode(ENCODING)


receive = sync_to_async(_receive, thread_sensitive=True)


async def handle_connection(reader, writer) -> None:
    peer = writer.get_extra_info("peername")
    logger.info("HL7 connection from %s", peer)
    try:
        while True:
            try:
                block = await reader.readblock()
            except InvalidBlockError:
                logger.warning("HL7 connection from %s sent data outside an MLLP block; closing it", peer)
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            try:
                ack = await receive(block.decode(ENCODING, "replace"))
            except Exception as exc:
                # Not even kept (the database is away): no ACK, so the engine sends it again.
                logger.error("HL7 message not stored (%s); closing the connection without an ACK",
                             type(exc).__name__)
                break
            writer.writeblock(ack)
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve(host: str, port: int, *, stop: asyncio.Event, on_listening: Callable[[int], None] | None = None,
                ) -> None:
    """Listen until `stop` is set; `on_listening` is told the port (port 0 asks the system for a spare one).

    On stop the open connections are closed: a message being applied still commits or rolls back whole in its
    database thread, and one whose ACK could not be sent is a resend next time (same control id, one effect).
    """
    clients: set[asyncio.Task] = set()

    async def on_connect(reader, writer) -> None:
        task = asyncio.current_task()
        clients.add(task)
        try:
            await handle_connection(reader, writer)
        finally:
            clients.discard(task)

    server = await start_hl7_server(on_connect, host=host, port=port, encoding=ENCODING)
    bound = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in server.sockets)
    logger.info("HL7 MLLP listener on %s", bound)
    async with server:
        if on_listening is not None:
            on_listening(server.sockets[0].getsockname()[1])
        await stop.wait()
        server.close()
        for task in list(clients):
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        await sync_to_async(db.connections.close_all, thread_sensitive=True)()
    logger.info("HL7 MLLP listener stopped")
