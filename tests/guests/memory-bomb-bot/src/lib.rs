//! Grows its memory 1 MiB at a time until something stops it.

use miniapp_sdk::{Bot, Message};

struct MemoryBomb;

impl Bot for MemoryBomb {
    fn on_message(_msg: Message) -> miniapp_sdk::Result {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(core::hint::black_box(vec![7u8; 1 << 20]));
        }
    }
}

miniapp_sdk::bot!(MemoryBomb);
