import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from hl7_feed.listener import serve


class Command(BaseCommand):
    help = "Listen for HL7 v2.5.1 SIU/ADT messages over MLLP and answer each with an ACK after it is committed."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HL7_LISTEN_HOST)
        parser.add_argument("--port", type=int, default=settings.HL7_LISTEN_PORT)

    def handle(self, *args, host, port, **options):
        asyncio.run(self._run(host, port))

    async def _run(self, host: str, port: int) -> None:
        # SIGTERM (docker stop, the demo's Ctrl-C) stops accepting; a message being applied finishes or rolls
        # back as a whole, and only a committed one was ever ACKed.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(host, port, stop=stop, on_listening=lambda bound: self.stdout.write(
            f"HL7 v2 MLLP listener on {host}:{bound} (Ctrl-C or SIGTERM stops it)"))
