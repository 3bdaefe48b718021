//! Recurses without bound.

use miniapp_sdk::{Bot, Message};

struct RecursionBot;

#[inline(never)]
#[allow(unconditional_recursion)]
fn descend(depth: u64, pad: [u64; 8]) -> u64 {
    let next = core::hint::black_box(pad);
    descend(depth + 1, next).wrapping_add(next[(depth % 8) as usize])
}

impl Bot for RecursionBot {
    fn on_message(_msg: Message) -> miniapp_sdk::Result {
        let _ = descend(0, [1; 8]);
        Ok(())
    }
}

miniapp_sdk::bot!(RecursionBot);
