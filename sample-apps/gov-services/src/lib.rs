//! `gov-services`: a public-services mini-app. Its web page (opened from a
//! chat) books an appointment: pick a service and a slot, sign the
//! application with `identity.sign`, pay the state fee with `payments`, and
//! get a confirmation message in the chat. Its second form takes a scan
//! (a PDF or a photo of a signed paper): the page posts it to `scan`, the
//! app stores it as a file in the session's chat (`files.create`) and asks
//! the user to sign that file (`identity.request-file-signature`); the
//! status page then offers the file for download (`files.download-url`).
//! The bot side reacts to the signature and payment events.

use miniapp_sdk::web::{Request, Response, WebApp, escape};
use miniapp_sdk::{
    Bot, Context, Message, PaymentReceived, SignatureResult, SignatureStatus, files, identity, messaging, payments,
    storage,
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

fn page(title: &str, body: &str, refresh: bool) -> Response {
    let refresh = if refresh {
        r#"<meta http-equiv="refresh" content="2">"#
    } else {
        ""
    };
    Response::html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">{refresh}<title>{title}</title>
<style>body{{font:15px system-ui,sans-serif;margin:1rem;color:#1b1f24}}h1{{font-size:1.2rem}}
label{{display:block;margin:.6rem 0 .2rem}}select,button{{font:inherit;padding:.4rem;min-width:16rem}}
button{{margin-top:1rem;background:#1f6feb;color:#fff;border:0;border-radius:6px;cursor:pointer}}
.status{{padding:.6rem;background:#f0f4ff;border-radius:6px}}.error{{color:#b42318}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"#
    ))
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
        false,
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
            false,
        )
        .with_status(404);
    };
    let (_, name, fee) = booking.service();
    let (text, waiting) = match booking.status.as_str() {
        "awaiting-signature" => (
            "Waiting for your signature: confirm it in the messenger.".to_string(),
            true,
        ),
        "awaiting-payment" => (
            format!("Signed. Please pay the fee of {} in the chat.", rubles(fee)),
            true,
        ),
        "confirmed" => ("Paid. Your appointment is confirmed.".to_string(), false),
        "declined" => (
            "You declined to sign; the application was withdrawn.".to_string(),
            false,
        ),
        other => (format!("Status: {other}"), true),
    };
    page(
        "Your application",
        &format!(
            r#"<p>{} — {}</p><p id="status" class="status" role="status">{}</p><p><a href="./">Book another</a></p>"#,
            escape(name),
            escape(&booking.slot),
            escape(&text)
        ),
        waiting,
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
        return page("Scan not found", r#"<p><a href="./">Back</a></p>"#, false).with_status(404);
    };
    let (text, waiting) = match scan.status.as_str() {
        "awaiting-signature" => (
            "Waiting for your signature of the scan: confirm it in the messenger.",
            true,
        ),
        "signed" => ("Signed. The scan is on record.", false),
        "declined" => ("You declined to sign the scan.", false),
        _ => ("Unknown status.", true),
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
            r#"<p>{}</p><p id="status" class="status" role="status" data-signature="{}">{}</p>{link}<p><a href="./">Back</a></p>"#,
            escape(&scan.name),
            escape(&id),
            escape(text)
        ),
        waiting,
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
            _ => page("Not found", r#"<p><a href="./">Back</a></p>"#, false).with_status(404),
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
            return Ok(());
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
                booking.status = "awaiting-payment".into();
                booking.save(&result.id)?;
            }
        }
        Ok(())
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
        booking.save(&id)
    }
}

miniapp_sdk::bot!(GovServices);
miniapp_sdk::web_app!(GovServices);
