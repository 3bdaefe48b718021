"""python-bot: echo-bot's twin in Python, built with componentize-py.

Replies to `/echo <text>` with exactly `<text>`, and to `/count` with how
many commands it has received in this chat. It is built against the SDK's
narrow `storage-bot` world, so its component imports only `messaging`,
`storage` and `log`, and its manifest asks for nothing else.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import handler
from wit_world.imports import log, messaging, storage, types


def command(text: str, name: str):
    """The text after `name` if `text` is that command (`/echo hi` → `hi`)."""
    if text == name:
        return ""
    if text.startswith(name + " "):
        return text[len(name) + 1:]
    return None


def reply(chat: str, text: str) -> None:
    messaging.send(chat, types.OutgoingMessage(text=text, buttons=[]))


class Handler(exports.Handler):
    def handle(self, event: handler.Event) -> None:
        try:
            if isinstance(event, handler.Event_Message):
                self.on_message(event.value)
        except Err as e:
            # A host error (`types.Error_*`): the event fails, nothing it
            # did is stored, and the line below is in the app's log.
            log.log(log.Level.ERROR, f"host call failed: {e.value}")
            raise Err(type(e.value).__name__) from None

    def on_message(self, msg: handler.MessageEvent) -> None:
        # The chat bucket is shared by everyone in this chat; the host's
        # increment is atomic, so concurrent events never lose a count.
        seen = storage.increment(storage.Bucket.CHAT, "seen", 1)
        text = command(msg.text, "/echo")
        if text is not None:
            reply(msg.chat, text)
        elif command(msg.text, "/count") is not None:
            reply(msg.chat, str(seen))
