"""A mailbox for the mail tests, run by the real SMTP server aiosmtpd:

    /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c sink.JsonSink DIR

Each message accepted is parsed (MIME, encodings, headers) with Python's email package and
written to DIR as one JSON file: envelope sender and recipients, subject, Message-ID, the
plain-text and HTML parts decoded. A recipient whose address starts with "bounce" is refused
with 550 (a permanent failure), one starting with "later" with 451 (a transient one).
"""

import email
import email.policy
import json
import os
import time


class JsonSink:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("JsonSink takes the directory to write to")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce"):
            return "550 5.1.1 No such mailbox here"
        if address.startswith("later"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "to": str(msg["To"]),
            "from": str(msg["From"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "content_type": msg.get_content_type(),
            "text": plain.get_content() if plain is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        name = "%d-%d" % (time.time_ns(), os.getpid())
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(tmp, os.path.join(self.directory, name + ".json"))
        return "250 Message accepted for delivery"


def main():
    """The same mailbox behind aiosmtpd's Controller, for what its command line cannot set:
    STARTTLS required and SMTP AUTH (LOGIN/PLAIN) with one user name and password.

        /usr/bin/python3 sink.py --listen 127.0.0.1:PORT --dir DIR \\
            --tlscert CERT --tlskey KEY --auth USER:PASSWORD
    """
    import argparse
    import ssl
    import threading

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--tlscert", required=True)
    p.add_argument("--tlskey", required=True)
    p.add_argument("--auth", required=True)
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    user, password = a.auth.split(":", 1)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(a.tlscert, a.tlskey)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        JsonSink(a.dir),
        hostname=host,
        port=int(port),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
