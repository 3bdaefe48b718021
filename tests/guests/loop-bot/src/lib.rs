//! Spins forever on every message.

use miniapp_sdk::{Bot, Message};

struct LoopBot;

impl Bot for LoopBot {
    fn on_message(_msg: Message) -> miniapp_sdk::Result {
        let mut n: u64 = 0;
        loop {
            n = core::hint::black_box(n.wrapping_add(1));
        }
    }
}

miniapp_sdk::bot!(LoopBot);
