//! Reports, on each message, what an earlier instance left in this
//! instance's memory, then leaves its own marks for the next one to find:
//! a counter and a page of initialized data (in the module's data image),
//! and 2 MiB of zero-initialized data, more than the host resets in place
//! (the rest goes back to the kernel). A fresh instance per event finds
//! `runs=1 data=pristine zeroed=pristine` every time.

use miniapp_sdk::{Bot, Message, messaging};

/// Events this instance handled.
static mut RUNS: u32 = 0;
/// Initialized data: every byte 7 in the module's image.
static mut DATA: [u8; 4096] = [7; 4096];
/// Zero-initialized data.
static mut ZEROED: [u8; 2 << 20] = [0; 2 << 20];

struct ResidueBot;

fn verdict(clean: bool) -> &'static str {
    if clean { "pristine" } else { "dirty" }
}

impl Bot for ResidueBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        // SAFETY: one instance runs one handler at a time, single-threaded.
        let (runs, data, zeroed) = unsafe {
            RUNS += 1;
            let data = &mut *std::ptr::addr_of_mut!(DATA);
            let zeroed = &mut *std::ptr::addr_of_mut!(ZEROED);
            let found = (RUNS, data.iter().all(|b| *b == 7), zeroed.iter().all(|b| *b == 0));
            data.fill(0xAB);
            // Every page, so each is dirtied.
            for page in zeroed.chunks_mut(4096) {
                page.fill(0xCD);
            }
            found
        };
        messaging::send(
            &msg.chat,
            &format!("runs={runs} data={} zeroed={}", verdict(data), verdict(zeroed)),
        )?;
        Ok(())
    }
}

miniapp_sdk::bot!(ResidueBot);
