//! Looks for files, environment variables and the network through WASI,
//! and reports what it got. `/probe <host:port>` also tries to connect there.

use miniapp_sdk::{Bot, Message, messaging};

struct WasiProbe;

fn describe<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "OPENED".to_string(),
        Err(e) => format!("error ({:?})", e.kind()),
    }
}

impl Bot for WasiProbe {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        let Some(target) = msg.command("/probe") else {
            return Ok(());
        };
        let mut report = Vec::new();
        report.push(format!("read_dir /: {}", describe(std::fs::read_dir("/"))));
        report.push(format!(
            "open /etc/passwd: {}",
            describe(std::fs::File::open("/etc/passwd"))
        ));
        report.push(format!(
            "write /tmp/x: {}",
            describe(std::fs::write("/tmp/miniapp-probe", b"x"))
        ));
        report.push(format!("env vars: {}", std::env::vars().count()));
        report.push(format!("args: {}", std::env::args().count()));
        if !target.is_empty() {
            report.push(format!(
                "connect {target}: {}",
                describe(std::net::TcpStream::connect(target))
            ));
            report.push(format!(
                "bind udp: {}",
                describe(std::net::UdpSocket::bind("0.0.0.0:0"))
            ));
        }
        messaging::send(&msg.chat, &report.join("; "))?;
        Ok(())
    }
}

miniapp_sdk::bot!(WasiProbe);
