"""A real SMTP server on loopback for the notification tests (aiosmtpd).

Usage: smtp_sink.py HOST PORT DIR. Each message received is parsed and saved as DIR/NNNN.json
({"rcpt": [...], "from", "to", "subject", "content_language", "text", "html"}), written to a
temporary name and renamed, so a reader never sees half a file. Recipients starting with
"refused" are refused for good (550). Prints "ready" once listening;
stops when its standard input closes.
"""
import email
import email.policy
import itertools
import json
import os
import sys

from aiosmtpd.controller import Controller

host, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
counter = itertools.count(1)


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # Addresses starting with "refused" stand for a mailbox the server will never take.
        if address.startswith("refused"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        doc = {
            "rcpt": list(envelope.rcpt_tos),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "content_language": str(msg["content-language"] or ""),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        path = os.path.join(outdir, "%04d.json" % next(counter))
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.rename(path + ".tmp", path)
        return "250 OK"


controller = Controller(Handler(), hostname=host, port=port)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
