//! A web app that probes the host: `/` is a page saying so; `/whoami` answers with the app-scoped
//! id, the path, the query, the body's size and every header it received; `/say?text=` posts
//! into the chat it was opened from; `/loop` spins forever; `/sleep` waits until stopped; `/huge`
//! answers with 8 MiB; `/cookie` tries to set cookies; `/panic` panics;
//! `/headers?name=value&…` answers with every header it is told to set
//! (in order, repeats kept); `/publish?data=…[&chat=…]` publishes to the
//! live pages of the chat it was opened from (or of `chat`), and
//! `/publish-then-panic?data=…` publishes, then panics.

use miniapp_sdk::web::{Request, Response, WebApp, parse_urlencoded};
use miniapp_sdk::{identity, messaging, pages};

struct Probe;

impl WebApp for Probe {
    fn serve(request: Request) -> Response {
        match request.path.as_str() {
            "/" => Response::html("<p id=\"probe\">web-probe</p>"),
            "/whoami" => {
                let me = identity::current_user().unwrap_or_else(|e| format!("error:{}", e.code()));
                let chat = identity::current_chat().unwrap_or_else(|e| format!("error:{}", e.code()));
                let headers: Vec<String> = request.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                Response::text(format!(
                    "user={me}\nchat={chat}\nmethod={}\npath={}\nquery={}\nbody={} bytes\n{}",
                    request.method,
                    request.path,
                    request.query,
                    request.body.len(),
                    headers.join("\n")
                ))
            }
            "/say" => {
                // Posts into the chat the app was opened from.
                let text = request.query_param("text").unwrap_or_else(|| "hello".into());
                let sent = identity::current_chat().and_then(|chat| messaging::send(&chat, &text));
                match sent {
                    Ok(id) => Response::text(format!("sent {id}")),
                    Err(e) => Response::text(format!("error:{}", e.code())).with_status(500),
                }
            }
            "/loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/sleep" => loop {
                // Waits (no CPU) until the host's wall-time limit stops it.
                std::thread::sleep(std::time::Duration::from_millis(250));
            },
            "/huge" => Response::text("x".repeat(8 << 20)),
            "/cookie" => {
                let mut r = Response::text("cookies set");
                r.headers
                    .push(("set-cookie".into(), "miniapp_session=evil; Path=/".into()));
                r
            }
            "/panic" => panic!("the probe panicked on purpose"),
            "/publish" | "/publish-then-panic" => {
                let data = request.query_param("data").unwrap_or_else(|| "ping".into());
                let published = match request.query_param("chat") {
                    Some(chat) => pages::publish(&chat, &data),
                    None => identity::current_chat().and_then(|chat| pages::publish(&chat, &data)),
                };
                if request.path == "/publish-then-panic" {
                    panic!("the probe published, then panicked on purpose ({published:?})");
                }
                match published {
                    Ok(()) => Response::text("published"),
                    Err(e) => Response::text(format!("error:{}", e.code())).with_status(500),
                }
            }
            "/headers" => {
                let mut r = Response::text("headers set");
                r.headers.clear();
                r.headers.extend(parse_urlencoded(&request.query));
                r
            }
            _ => Response::text("not found").with_status(404),
        }
    }
}

miniapp_sdk::web_app!(Probe);
