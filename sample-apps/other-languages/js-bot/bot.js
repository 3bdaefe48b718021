// js-bot: a bot in JavaScript, built with componentize-qjs (QuickJS).
//
// Replies to `/start` with a greeting and to `/echo <text>` with exactly
// `<text>`. It is built against the SDK's narrowest world, `messaging-bot`,
// so its component imports only `messaging` and `log`, and its manifest asks
// for `messaging.send` alone.
import messaging from "miniapp:platform/messaging@0.1.0";
import log from "miniapp:platform/log@0.1.0";

/** The text after `name` if `text` is that command (`/echo hi` gives `hi`). */
function command(text, name) {
    if (text === name) return "";
    if (text.startsWith(name + " ")) return text.slice(name.length + 1);
    return null;
}

function reply(chat, text) {
    // `send` returns the message's id, or throws an `Error` whose `payload`
    // is the host's error: `{ tag: "rate-limited", val: "…" }`, or
    // `{ tag: "denied" }` for a case without text.
    return messaging.send(chat, { text, buttons: [] });
}

/** What went wrong, for the log: the host's error if it was one. */
function describe(e) {
    const err = e && e.payload && e.payload.tag ? e.payload : null;
    if (err) return err.val === undefined ? err.tag : `${err.tag}: ${err.val}`;
    return String(e);
}

function onMessage(msg) {
    const echo = command(msg.text, "/echo");
    if (echo !== null) {
        reply(msg.chat, echo);
    } else if (command(msg.text, "/start") !== null) {
        reply(msg.chat, "Hello from JavaScript! Try /echo <text>.");
    }
}

// The exported `handler` interface. Throwing a string fails the event:
// nothing it did is stored, and the string is in the app's log.
export const handler = {
    handle(event) {
        try {
            if (event.tag === "message") onMessage(event.val);
        } catch (e) {
            const why = describe(e);
            log.log("error", `failed: ${why}`);
            throw why;
        }
    },
};
