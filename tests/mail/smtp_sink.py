"""A real SMTP server for the end-to-end tests: it accepts every mail on 127.0.0.1 and writes
each, decoded, as one JSON file ({"from", "to", "subject", "body"}) into a directory.

    smtp_sink.py PORT DIR

It prints "ready" once it listens, and runs until it is killed.
"""

import email
import email.policy
import json
import os
import sys
import threading
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain", "html"))
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"] or ""),
            "body": body.get_content() if body is not None else "",
        }
        name = f"{uuid.uuid4().hex}.json"
        temporary = os.path.join(self.directory, f".{name}")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.rename(temporary, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        threading.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
