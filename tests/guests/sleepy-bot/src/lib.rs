//! A bot whose time goes into waiting, not computing: each message makes it
//! sleep 250 ms at a time (a host wait, like a slow outbound request) until
//! the host's wall-time limit stops it. It holds an invocation slot for the
//! whole wall time while using almost no CPU.

use miniapp_sdk::Message;

struct SleepyBot;

impl miniapp_sdk::Bot for SleepyBot {
    fn on_message(_msg: Message) -> miniapp_sdk::Result {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
}

miniapp_sdk::bot!(SleepyBot);
