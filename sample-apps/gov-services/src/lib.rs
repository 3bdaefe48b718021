//! `gov-services`: a public-services mini-app. Its web page (opened from a
//! chat) books an appointment: pick a service and a slot, sign the
//! application with `identity.sign`, pay the state fee with `payments`, and
//! get a confirmation message in the chat. Its second form takes a scan
//! (a PDF or a photo of a signed paper): the page posts it to `scan`, the
//! app stores it as a file in the session's chat (`files.create`) and asks
//! the user to sign that file (`identity.request-file-signature`); the
//! status page then offers the file for download (`files.download-url`).
//! The bot side reacts to the signature and payment events.
//!
//! The status pages never poll: they load the host's web-app bridge
//! (`/.miniapp/bridge.js`) to ask the chat client to open its signing and
//! payment dialogs right away (the user still confirms there), and reload
//! when the bot side publishes (`pages`) that their application changed.

use miniapp_sdk::web::{Request, Response, WebApp, escape};
use miniapp_sdk::{
    Bot, Context, Message, PaymentReceived, SignatureResult, SignatureStatus, files, identity, messaging, pages,
    payments, storage,
};

/// (id, name, state fee in kopecks)
const SERVICES: &[(&str, &str, u64)] = &[
    ("passport", "International passport", 50_000),
    ("driving-licence", "Driving licence renewal", 20_000),
    ("residence", "Residence registration", 35_000),
];
const SLOTS: &[&str] = &[
    "2026-12-07 09:30",
    "2026-12-07 11:00",
    "2026-12-08 14:30",
    "2026-12-09 16:00",
];

/// One application, stored as `booking:<signature id>`.
struct Booking {
    service: String,
    slot: String,
    user: String,
    status: String,
}

/// The `N` tab-separated fields stored under `key` in the app's bucket.
fn load_fields<const N: usize>(key: &str) -> Option<[String; N]> {
    let bytes = storage::app().get(key).ok()??;
    let text = String::from_utf8(bytes).ok()?;
    let fields: Vec<String> = text.split('\t').map(str::to_string).collect();
    fields.try_into().ok()
}

/// Stores `fields` tab-separated under `key`; the error names `what`.
fn save_fields(key: &str, fields: &[&str], what: &str) -> miniapp_sdk::Result {
    storage::app()
        .set(key, fields.join("\t").as_bytes())
        .context(format!("cannot save the {what}"))
}

impl Booking {
    fn load(id: &str) -> Option<Booking> {
        let [service, slot, user, status] = load_fields(&format!("booking:{id}"))?;
        Some(Booking {
            service,
            slot,
            user,
            status,
        })
    }

    fn save(&self, id: &str) -> miniapp_sdk::Result {
        let fields = [&*self.service, &*self.slot, &*self.user, &*self.status];
        save_fields(&format!("booking:{id}"), &fields, "booking")
    }

    fn service(&self) -> (&'static str, &'static str, u64) {
        SERVICES
            .iter()
            .copied()
            .find(|(id, _, _)| *id == self.service)
            .unwrap_or(SERVICES[0])
    }
}

fn rubles(kopecks: u64) -> String {
    format!("{}.{:02} ₽", kopecks / 100, kopecks % 100)
}

/// What a status page waits for: the id of its application (or scan), its
/// status, and the invoice to pay, if any.
struct Waiting<'a> {
    id: &'a str,
    status: &'a str,
    invoice: Option<&'a str>,
}

/// The script of a status page: through the bridge it asks the client for
/// the signature or the payment its application waits for, reloads when
/// the bot side publishes that the application changed (or, on connecting,
/// when it changed before), and once done offers "Done" as the main button.
const LIVE: &str = r#"<script src="/.miniapp/bridge.js"></script>
<script>
(function () {
  const s = document.getElementById('status');
  const { id, state, invoice } = s.dataset;
  MiniApp.ready();
  if (state === 'awaiting-signature') MiniApp.requestSignature(id).catch(() => {});
  if (state === 'awaiting-payment' && invoice) MiniApp.openInvoice(invoice).catch(() => {});
  if (state === 'confirmed' || state === 'signed') MiniApp.MainButton.setText('Done').show().onClick(() => MiniApp.close());
  if (!s.hasAttribute('data-waiting')) return;
  const events = new EventSource('/.miniapp/events');
  const check = () => fetch('state?id=' + encodeURIComponent(id))
    .then((r) => r.text())
    .then((now) => { if (now !== state) location.reload(); });
  events.addEventListener('ready', check);
  events.onmessage = (e) => { if (e.data === id) check(); };
})();
</script>"#;

fn page(title: &str, body: &str, waiting: Option<Waiting<'_>>) -> Response {
    let (status, script) = match &waiting {
        Some(w) => (
            format!(
                r#"data-id="{}" data-state="{}" data-invoice="{}"{}"#,
                escape(w.id),
                escape(w.status),
                escape(w.invoice.unwrap_or_default()),
                if matches!(w.status, "awaiting-signature" | "awaiting-payment") {
                    " data-waiting"
                } else {
                    ""
                }
            ),
            LIVE,
        ),
        None => (String::new(), ""),
    };
    let body = body.replace("{status-data}", &status);
    Response::html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:15px system-ui,sans-serif;margin:1rem;color:var(--miniapp-text-color,#1b1f24);background:var(--miniapp-bg-color,#fff)}}h1{{font-size:1.2rem}}
label{{display:block;margin:.6rem 0 .2rem}}select,button{{font:inherit;padding:.4rem;min-width:16rem}}
button{{margin-top:1rem;background:var(--miniapp-button-color,#1f6feb);color:var(--miniapp-button-text-color,#fff);border:0;border-radius:6px;cursor:pointer}}
.status{{padding:.6rem;background:#f0f4ff;border-radius:6px}}.error{{color:#b42318}}</style></head>
<body><h1>{title}</h1>{body}{script}</body></html>"#
    ))
}

/// `GET /state?id=`: the status of the caller's application or scan `id`,
/// as plain text (what a status page compares with the one it shows).
fn state(request: &Request) -> Response {
    let id = request.query_param("id").unwrap_or_default();
    let me = identity::current_user().unwrap_or_default();
    let status = Booking::load(&id)
        .filter(|b| b.user == me)
        .map(|b| b.status)
        .or_else(|| Scan::load(&id).filter(|s| s.user == me).map(|s| s.status));
    match status {
        Some(status) => Response::text(status),
        None => Response::text("not found").with_status(404),
    }
}

/// Tells the open status pages of `chat` that application `id` changed.
fn announce(chat: &str, id: &str) -> miniapp_sdk::Result {
    pages::publish(chat, id).context("cannot update the open pages")
}

fn form(error: &str) -> Response {
    let services: String = SERVICES
        .iter()
        .map(|(id, name, fee)| format!(r#"<option value="{id}">{name} — fee {}</option>"#, rubles(*fee)))
        .collect();
    let slots: String = SLOTS
        .iter()
        .map(|s| format!(r#"<option value="{s}">{s}</option>"#))
        .collect();
    let error = if error.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="error" role="alert">{}</p>"#, escape(error))
    };
    page(
        "Book an appointment",
        &format!(
            r#"{error}<form id="book" method="post" action="book">
<label for="service">Service</label><select id="service" name="service">{services}</select>
<label for="slot">Time slot</label><select id="slot" name="slot">{slots}</select>
<button id="submit" type="submit">Sign and book</button></form>
<p>You will be asked to sign the application in the messenger, then to pay the state fee.</p>
<h2>Sign a scanned document</h2>
<form id="scan-form" method="post" action="scan" enctype="multipart/form-data">
<label for="scan">Scan (PDF or photo, up to 1 MiB)</label><input id="scan" name="scan" type="file" accept="application/pdf,image/*" required>
<button id="sign-scan" type="submit">Upload and sign</button></form>"#
        ),
        None,
    )
}

fn book(request: &Request) -> Response {
    let service = request.form_value("service").unwrap_or_default();
    let slot = request.form_value("slot").unwrap_or_default();
    let Some((_, name, fee)) = SERVICES.iter().copied().find(|(id, _, _)| *id == service) else {
        return form("Please choose a service from the list.").with_status(400);
    };
    if !SLOTS.contains(&slot.as_str()) {
        return form("Please choose a time slot from the list.").with_status(400);
    }
    let user = match identity::current_user() {
        Ok(u) => u,
        Err(e) => return form(&format!("Cannot tell who you are ({}).", e.code())).with_status(403),
    };
    let document = format!(
        "APPLICATION FOR AN APPOINTMENT\nService: {name}\nSlot: {slot}\nState fee: {}\nApplicant: {user}\n",
        rubles(fee)
    );
    let id = match identity::request_signature(&format!("Application: {name}, {slot}"), document.as_bytes()) {
        Ok(id) => id,
        Err(e) => return form(&format!("Cannot request your signature ({}).", e.code())).with_status(503),
    };
    let booking = Booking {
        service,
        slot,
        user,
        status: "awaiting-signature".into(),
    };
    if let Err(e) = booking.save(&id) {
        return form(e.message()).with_status(503);
    }
    Response::redirect(&format!("status?id={id}"))
}

fn status(request: &Request) -> Response {
    let id = request.query_param("id").unwrap_or_default();
    let me = identity::current_user().unwrap_or_default();
    let Some(booking) = Booking::load(&id).filter(|b| b.user == me) else {
        return page(
            "Application not found",
            r#"<p><a href="./">Book an appointment</a></p>"#,
            None,
        )
        .with_status(404);
    };
    let (_, name, fee) = booking.service();
    let text = match booking.status.as_str() {
        "awaiting-signature" => "Waiting for your signature: confirm it in the messenger.".to_string(),
        "awaiting-payment" => format!("Signed. Please pay the fee of {} in the messenger.", rubles(fee)),
        "confirmed" => "Paid. Your appointment is confirmed.".to_string(),
        "declined" => "You declined to sign; the application was withdrawn.".to_string(),
        other => format!("Status: {other}"),
    };
    let invoice = storage::app()
        .get(&format!("invoice-for:{id}"))
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok());
    page(
        "Your application",
        &format!(
            r#"<p>{} — {}</p><p id="status" class="status" role="status" {{status-data}}>{}</p><p><a href="./">Book another</a></p>"#,
            escape(name),
            escape(&booking.slot),
            escape(&text)
        ),
        Some(Waiting {
            id: &id,
            status: &booking.status,
            invoice: invoice.as_deref(),
        }),
    )
}

/// A scan to sign, stored as `scan:<signature id>`: file id, name, user, status.
struct Scan {
    file: String,
    name: String,
    user: String,
    status: String,
}

impl Scan {
    fn load(id: &str) -> Option<Scan> {
        let [file, name, user, status] = load_fields(&format!("scan:{id}"))?;
        Some(Scan {
            file,
            name,
            user,
            status,
        })
    }

    fn save(&self, id: &str) -> miniapp_sdk::Result {
        let fields = [&*self.file, &*self.name, &*self.user, &*self.status];
        save_fields(&format!("scan:{id}"), &fields, "scan")
    }
}

/// `POST /scan` (multipart, part `scan`): stores the scan as a file in the
/// session's chat and asks the user to sign it.
fn upload_scan(request: &Request) -> Response {
    let Some(part) = request.multipart_part("scan").filter(|p| !p.bytes.is_empty()) else {
        return form("Please choose a scan to upload.").with_status(400);
    };
    let (user, chat) = match (identity::current_user(), identity::current_chat()) {
        (Ok(u), Ok(c)) => (u, c),
        (Err(e), _) | (_, Err(e)) => return form(&format!("Cannot tell who you are ({}).", e.code())).with_status(403),
    };
    let name = part.filename.clone().unwrap_or_else(|| "scan".into());
    let file = match files::create(&chat, &name, &part.bytes) {
        Ok(f) => f,
        Err(e) => return form(&format!("Cannot store the scan ({}).", e.code())).with_status(422),
    };
    let id = match identity::request_file_signature(&format!("Scan: {}", file.name), &file.id) {
        Ok(id) => id,
        Err(e) => return form(&format!("Cannot request your signature ({}).", e.code())).with_status(503),
    };
    let scan = Scan {
        file: file.id,
        name: file.name,
        user,
        status: "awaiting-signature".into(),
    };
    if let Err(e) = scan.save(&id) {
        return form(e.message()).with_status(503);
    }
    Response::redirect(&format!("scan-status?id={id}"))
}

/// `GET /scan-status?id=`: where a scan's signature stands, with a link to
/// download the scan.
fn scan_status(request: &Request) -> Response {
    let id = request.query_param("id").unwrap_or_default();
    let me = identity::current_user().unwrap_or_default();
    let Some(scan) = Scan::load(&id).filter(|s| s.user == me) else {
        return page("Scan not found", r#"<p><a href="./">Back</a></p>"#, None).with_status(404);
    };
    let text = match scan.status.as_str() {
        "awaiting-signature" => "Waiting for your signature of the scan: confirm it in the messenger.",
        "signed" => "Signed. The scan is on record.",
        "declined" => "You declined to sign the scan.",
        _ => "Unknown status.",
    };
    let link = match files::download_url(&scan.file) {
        Ok(url) => format!(
            r#"<p><a id="download" href="{}" rel="noopener">Download {}</a></p>"#,
            escape(&url),
            escape(&scan.name)
        ),
        Err(_) => String::new(),
    };
    page(
        "Your scan",
        &format!(
            r#"<p>{}</p><p id="status" class="status" role="status" data-signature="{}" {{status-data}}>{}</p>{link}<p><a href="./">Back</a></p>"#,
            escape(&scan.name),
            escape(&id),
            escape(text)
        ),
        Some(Waiting {
            id: &id,
            status: &scan.status,
            invoice: None,
        }),
    )
}

struct GovServices;

impl WebApp for GovServices {
    fn serve(request: Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => form(""),
            ("POST", "/book") => book(&request),
            ("GET", "/status") => status(&request),
            ("POST", "/scan") => upload_scan(&request),
            ("GET", "/scan-status") => scan_status(&request),
            ("GET", "/state") => state(&request),
            _ => page("Not found", r#"<p><a href="./">Back</a></p>"#, None).with_status(404),
        }
    }
}

impl Bot for GovServices {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if msg.command("/gov").is_some() {
            messaging::send(
                &msg.chat,
                "Open gov-services from this chat's apps to book an appointment.",
            )?;
        }
        Ok(())
    }

    fn on_signature(result: SignatureResult) -> miniapp_sdk::Result {
        if let Some(mut scan) = Scan::load(&result.id) {
            if scan.status != "awaiting-signature" {
                return Ok(()); // already handled
            }
            let (status, text) = match result.status {
                SignatureStatus::Signed => ("signed", format!("Scan {} signed.", scan.name)),
                SignatureStatus::Declined => ("declined", format!("Scan {} not signed.", scan.name)),
            };
            scan.status = status.into();
            scan.save(&result.id)?;
            if matches!(result.status, SignatureStatus::Signed) {
                // Sent into the chat, the signed scan stays (an unsent file
                // goes a day after it was made).
                files::send(&result.chat, &text, std::slice::from_ref(&scan.file))?;
            } else {
                messaging::send(&result.chat, &text)?;
            }
            return announce(&result.chat, &result.id);
        }
        let Some(mut booking) = Booking::load(&result.id) else {
            return Ok(());
        };
        if booking.status != "awaiting-signature" {
            return Ok(()); // already handled
        }
        let (_, name, fee) = booking.service();
        match result.status {
            SignatureStatus::Declined => {
                booking.status = "declined".into();
                booking.save(&result.id)?;
                messaging::send(&result.chat, &format!("Application for {name} withdrawn: not signed."))?;
            }
            SignatureStatus::Signed => {
                let title = format!("State fee: {name}, {}", booking.slot);
                let invoice = payments::create_invoice(&result.user, fee, &title, &result.id)
                    .context("cannot invoice the fee")?;
                storage::app().set(&format!("invoice:{invoice}"), result.id.as_bytes())?;
                storage::app().set(&format!("invoice-for:{}", result.id), invoice.as_bytes())?;
                booking.status = "awaiting-payment".into();
                booking.save(&result.id)?;
            }
        }
        announce(&result.chat, &result.id)
    }

    fn on_payment(payment: PaymentReceived) -> miniapp_sdk::Result {
        let Some(id) = storage::app()
            .get(&format!("invoice:{}", payment.invoice))?
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return Ok(());
        };
        let Some(mut booking) = Booking::load(&id) else {
            return Ok(());
        };
        if booking.status == "confirmed" {
            return Ok(()); // a retried event
        }
        let (_, name, _) = booking.service();
        let reference: String = id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
        messaging::send(
            &payment.chat,
            &format!(
                "Appointment confirmed: {name}, {}. Fee {} paid. Reference {reference}.",
                booking.slot,
                rubles(payment.amount)
            ),
        )?;
        booking.status = "confirmed".into();
        booking.save(&id)?;
        announce(&payment.chat, &id)
    }
}

miniapp_sdk::bot!(GovServices);
miniapp_sdk::web_app!(GovServices);
