//! Web mini-apps over HTTP: launch tokens (fresh, tampered, replayed,
//! expired, foreign, missing), session cookies and the node's cache of
//! them, the sandboxing headers, limits on web requests, and the
//! gov-services flow end to end.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use miniapp_runtime::webapps::launch::{self, LaunchClaims};
use miniapp_tests::{OPERATOR_TOKEN, TestHost, User, guests, host_bin, manifest_of};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    miniapp_tests::no_redirect_client()
}

async fn launch(host: &TestHost, user: &User, chat: &str, app: &str) -> (StatusCode, Value) {
    host.call(
        "POST",
        &format!("/v1/chats/{chat}/apps/{app}/launch"),
        Some(&user.token),
        None,
    )
    .await
}

/// Opens a launch URL (on the app's own origin, reached through the host's
/// address with that `Host`); returns the status, the `Set-Cookie` header
/// and the body.
async fn open(host: &TestHost, url: &str) -> (StatusCode, Option<String>, String) {
    let parsed = reqwest::Url::parse(url).expect("an absolute launch URL");
    let authority = format!(
        "{}:{}",
        parsed.host_str().expect("a host"),
        parsed.port().expect("a port")
    );
    let path = &url[url.find(&authority).expect("authority in the URL") + authority.len()..];
    let resp = client()
        .get(format!("{}{path}", host.base))
        .header("host", authority)
        .send()
        .await
        .expect("host answers");
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    (status, cookie, resp.text().await.unwrap_or_default())
}

/// The claims inside a launch token this host issued.
fn claims_of(token: &str) -> LaunchClaims {
    let body = token.split('.').nth(1).expect("v1.<claims>.<tag>");
    let json = URL_SAFE_NO_PAD.decode(body).expect("base64url claims");
    serde_json::from_slice(&json).expect("claims JSON")
}

/// `GET path` on `app`'s origin with `cookie`.
async fn get_with(host: &TestHost, app: &str, path: &str, cookie: &str) -> reqwest::Response {
    host.app_request(&client(), "GET", app, path)
        .header("cookie", cookie)
        .send()
        .await
        .expect("host answers")
}

#[tokio::test]
async fn launch_tokens_are_one_time_fresh_untampered_and_for_members_only() {
    // The default 5-minute lifetime; the test moves the host's clock.
    let host = TestHost::start_with_test_clock(host_bin!(), &[]).expect("host starts");
    let probe = host
        .solo_chat_with(guests::WEB_PROBE_DIR, guests::WEB_PROBE_WASM, None)
        .await;
    let (alice, chat, app) = (&probe.alice, &probe.chat, &probe.app);

    // A fresh token opens a session: HttpOnly, SameSite, scoped to the app.
    let (status, launched) = launch(&host, alice, chat, app).await;
    assert_eq!(status, StatusCode::CREATED, "{launched}");
    let token = launched["token"].as_str().expect("token").to_string();
    let url = launched["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with(&format!("http://{app}.apps.localhost:{}/?launch=", host.port())) && url.contains(&token),
        "{url}"
    );
    assert!(launched["expires_at"].as_i64().is_some());
    let (status, cookie, page) = open(&host, &url).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The page sends the frame on to the app without the token.
    assert!(page.contains(r#"http-equiv=refresh content="0; url=/""#), "{page}");
    assert!(!page.contains(&token), "{page}");
    let cookie = cookie.expect("session cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/;"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }
    // Host-only on the app's own origin.
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");

    // The same token again is a replay.
    let (status, _, body) = open(&host, &url).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("launch_token_used"), "{body}");

    // A tampered token: one character of the claims changed.
    let (_, fresh) = launch(&host, alice, chat, app).await;
    let fresh = fresh["token"].as_str().expect("token").to_string();
    let mut tampered: Vec<char> = fresh.chars().collect();
    tampered[5] = if tampered[5] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let (status, _, body) = open(&host, &format!("{}/?launch={tampered}", host.app_origin(app))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("invalid_launch_token"), "{body}");
    // Garbage.
    for bad in ["garbage", "v1.e30.AAAA", ""] {
        let (status, _, body) = open(&host, &format!("{}/?launch={bad}", host.app_origin(app))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}: {body}");
    }
    // A foreign token: well-formed and fresh (the same claims as a token
    // this host just issued, nonce and all), but signed with another host's
    // key. Refused for its signature, not for its age.
    let claims = claims_of(&fresh);
    let foreign = launch::sign(b"another host's launch key", &claims);
    let (status, _, body) = open(&host, &format!("{}/?launch={foreign}", host.app_origin(app))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body.contains("invalid_launch_token") && body.contains("signature is invalid"),
        "{body}"
    );

    // No token and no cookie; a forged cookie.
    let (status, _, body) = open(&host, &format!("{}/whoami", host.app_origin(app))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let resp = get_with(&host, app, "/whoami", "miniapp_session=forged").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // A token for this app does not open another app.
    let other = host
        .publish_approved(
            &probe.dev,
            &manifest_of(guests::WEB_PROBE_DIR).replace("web-probe", "web-probe-two"),
            guests::WEB_PROBE_WASM,
            None,
        )
        .await;
    host.install(alice, chat, &other).await;
    // Launched now, so it is fresh, valid and unused: refused for its app only.
    let (_, for_app) = launch(&host, alice, chat, app).await;
    let for_app = for_app["token"].as_str().expect("token").to_string();
    let (status, _, body) = open(&host, &format!("{}/?launch={for_app}", host.app_origin(&other))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("the launch token is for another app"), "{body}");
    // ...and it still opens its own app.
    let (status, _, body) = open(&host, &format!("{}/?launch={for_app}", host.app_origin(app))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Expiry, on the host's clock: a token opens until its 5 minutes are
    // up, and not a millisecond after.
    let (_, young) = launch(&host, alice, chat, app).await;
    let (_, old) = launch(&host, alice, chat, app).await;
    host.advance_clock(5 * 60 * 1000 - 10_000).await;
    let (status, _, body) = open(&host, young["url"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::OK, "a token inside its lifetime: {body}");
    host.advance_clock(11_000).await;
    let (status, _, body) = open(&host, old["url"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("launch_token_expired"), "{body}");

    // Only members may launch; bots cannot be launched; unknown apps are 404.
    let mallory = host.signup("Mallory").await;
    let (status, body) = launch(&host, &mallory, chat, app).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = host
        .call("POST", &format!("/v1/chats/{chat}/apps/{app}/launch"), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let echo = host
        .publish_approved(
            &probe.dev,
            &manifest_of(guests::ECHO_BOT_DIR),
            guests::ECHO_BOT_WASM,
            None,
        )
        .await;
    host.install(alice, chat, &echo).await;
    let (status, body) = launch(&host, alice, chat, &echo).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "not_a_web_app", "{body}");
    assert!(body.to_string().contains("not a web app"), "{body}");
    let (status, _) = launch(&host, alice, chat, "no-such-app").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    host.assert_alive().await;
}

#[tokio::test]
async fn a_web_app_sees_only_its_verified_context_and_runs_under_the_bot_limits() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let probe = host
        .solo_chat_with(guests::WEB_PROBE_DIR, guests::WEB_PROBE_WASM, None)
        .await;
    let (alice, chat, app) = (&probe.alice, &probe.chat, &probe.app);
    let cookie = host.web_session(alice, chat, app).await;

    // The app sees its own path, an app-scoped id, and no credentials, though
    // the request carries the session cookie, another cookie and Alice's API
    // token in an Authorization header.
    let resp = host
        .app_request(&client(), "GET", app, "/whoami?x=1")
        .header("cookie", format!("{cookie}; other=1"))
        .bearer_auth(&alice.token)
        .header("x-probe", "reaches-the-app")
        .send()
        .await
        .expect("host answers");
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .expect("CSP header")
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        csp.contains("sandbox allow-scripts allow-forms allow-same-origin allow-downloads;"),
        "{csp}"
    );
    // Framed only by the chat client's origin (not by the app itself, nor
    // by another app).
    let ancestors = csp
        .split(';')
        .find_map(|d| d.trim().strip_prefix("frame-ancestors "))
        .expect("frame-ancestors");
    assert!(
        ancestors
            .split(' ')
            .any(|o| o == format!("http://127.0.0.1:{}", host.port())),
        "{csp}"
    );
    assert!(
        !csp.contains("frame-ancestors 'self'") && !csp.contains("apps.localhost"),
        "{csp}"
    );
    let text = resp.text().await.expect("body");
    assert!(text.contains("path=/whoami\n") && text.contains("query=x=1"), "{text}");
    let user = text.lines().find_map(|l| l.strip_prefix("user=")).expect("user line");
    assert!(!user.is_empty() && !user.starts_with("error"), "{text}");
    assert_ne!(user, alice.id, "the platform-wide id leaked to the app");
    assert!(!text.contains(&alice.token), "the API token leaked: {text}");
    assert!(
        !text.to_lowercase().contains("miniapp_session"),
        "the session leaked: {text}"
    );
    // Headers do reach it (so their absence below means something)...
    assert!(text.contains("x-probe: reaches-the-app"), "{text}");
    // ...but neither the Authorization nor the Cookie header does.
    let headers: Vec<&str> = text.lines().filter(|l| l.contains(": ")).collect();
    assert!(
        !headers
            .iter()
            .any(|h| h.starts_with("authorization:") || h.starts_with("cookie:")),
        "credentials reached the app: {headers:?}"
    );

    assert!(text.contains(&format!("chat={chat}\n")), "{text}");

    // Messages it sends into its chat are stored and reach the chat.
    let resp = get_with(&host, app, "/say?text=hi+from+the+web", &cookie).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let said = host.messages(alice, chat).await;
    assert!(
        said.iter()
            .any(|m| m["text"] == "hi from the web" && m["sender"] == app.as_str()),
        "{said:?}"
    );

    // It cannot set cookies (it could overwrite another app's session).
    let resp = get_with(&host, app, "/cookie", &cookie).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(SET_COOKIE).is_none(), "{:?}", resp.headers());

    // Limits: a spinning request and a panic each end with a clear error in
    // the app's log; the host and the app carry on. The user gets only a
    // reference; the app's log line carries the same reference and the
    // detail (the panic message, the CPU limit).
    for (path, needle) in [("/loop", "invocation exceeded its"), ("/panic", "guest trapped")] {
        let resp = get_with(&host, app, path, &cookie).await;
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY, "{path}");
        let body: Value = resp.json().await.expect("error JSON");
        assert_eq!(body["error"]["code"], "app_failed", "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
        for leak in ["panicked", "trapped", "exceeded", "CPU", "wasm"] {
            assert!(!message.contains(leak), "{path}: the detail reached the user: {body}");
        }
        let reference = message
            .split("reference ")
            .nth(1)
            .map(|r| r.trim().to_string())
            .filter(|r| r.len() >= 8)
            .unwrap_or_else(|| panic!("{path}: no reference in {body}"));
        let lines = host.wait_log(&probe.dev, app, &format!("reference {reference}")).await;
        let line = lines
            .iter()
            .find(|l| l["message"].as_str().unwrap_or_default().contains(&reference))
            .expect("the referenced line");
        assert!(
            line["message"].as_str().unwrap_or_default().contains(needle),
            "{path}: {line}"
        );
        // A browser's frame gets the same as a page.
        let resp = host
            .app_request(&client(), "GET", app, path)
            .header("cookie", &cookie)
            .header("sec-fetch-site", "same-origin")
            .header("sec-fetch-dest", "iframe")
            .send()
            .await
            .expect("host answers");
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        let page = resp.text().await.unwrap_or_default();
        assert!(
            page.contains("reference ") && !page.contains("panicked"),
            "{path}: {page}"
        );
        let resp = get_with(&host, app, "/whoami", &cookie).await;
        assert_eq!(resp.status(), StatusCode::OK, "the app stopped answering after {path}");
    }

    // Request bodies over 4 MiB are refused before the app runs, so its CPU
    // budget never races the limit. A body under it reaches the app.
    let resp = host
        .app_request(&client(), "POST", app, "/whoami")
        .header("cookie", &cookie)
        .body(vec![b'b'; 1 << 20])
        .send()
        .await
        .expect("host answers");
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("body");
    assert!(text.contains(&format!("body={} bytes", 1 << 20)), "{text}");
    // 8 MiB declared up front: refused at once, without waiting for a byte
    // of it (none is sent). Had the app run, /say would have posted.
    let (status, body) = host
        .raw_app_request(
            app,
            &format!(
                "POST /say?text=declared+too+big HTTP/1.1\r\nCookie: {cookie}\r\nContent-Length: {}",
                8 << 20
            ),
            Vec::new(),
        )
        .await
        .expect("an answer to the head alone");
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("refused before the app ran")
            && message.contains(&format!("its body is {} bytes", 8 << 20))
            && message.contains("limited to 4194304 bytes"),
        "{body}"
    );
    host.wait_log(
        &probe.dev,
        app,
        &format!(
            "its body is {} bytes; web-app request bodies are limited to 4194304 bytes",
            8 << 20
        ),
    )
    .await;
    // 8 MiB streamed without a length: cut off once it passes the limit.
    let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, "s".repeat(64 << 10)).into_bytes();
    let mut chunks = vec![chunk; 128];
    chunks.push(b"0\r\n\r\n".to_vec());
    let answer = host
        .raw_app_request(
            app,
            &format!("POST /say?text=streamed+too+big HTTP/1.1\r\nCookie: {cookie}\r\nTransfer-Encoding: chunked"),
            chunks,
        )
        .await;
    if let Some((status, body)) = answer {
        // The host may close the connection before the client reads this.
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    }
    host.wait_log(&probe.dev, app, "its body grew past 4194304 bytes").await;
    let said = host.messages(alice, chat).await;
    assert!(
        !said
            .iter()
            .any(|m| m["text"].as_str().unwrap_or_default().contains("too big")),
        "the app ran on a refused body: {said:?}"
    );

    // A response over 4 MiB is cut off with its own error. This copy of the
    // probe gets a generous CPU budget so that, even on a loaded machine, it
    // is the response limit that stops it and not the CPU limit.
    let roomy = host
        .publish_approved_with(
            &probe.dev,
            &manifest_of(guests::WEB_PROBE_DIR).replace("web-probe", "web-probe-roomy"),
            guests::WEB_PROBE_WASM,
            None,
            Some(json!({ "cpu_ms": 10_000, "wall_ms": 60_000 })),
        )
        .await;
    host.install(alice, chat, &roomy).await;
    let roomy_cookie = host.web_session(alice, chat, &roomy).await;
    let resp = get_with(&host, &roomy, "/huge", &roomy_cookie).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let body: Value = resp.json().await.expect("error JSON");
    assert_eq!(body["error"]["code"], "app_failed", "{body}");
    host.wait_log(&probe.dev, &roomy, "bodies are limited to 4194304 bytes")
        .await;

    // Only the app's own pages reach it: a request that a browser marks as
    // coming from another origin (another app on the same site, the chat
    // client, anywhere else) is refused before the app runs, whatever the
    // method; so is one whose Origin is not the app's. Its own pages, and a
    // user typing its address (a GET), get through.
    let refused = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body: Value = resp.json().await.expect("error JSON");
        assert_eq!(body["error"]["code"], "cross_origin_request", "{body}");
    };
    for method in ["GET", "POST"] {
        for site in ["same-site", "cross-site"] {
            let resp = host
                .app_request(&client(), method, &roomy, "/say?text=cross+origin")
                .header("cookie", &roomy_cookie)
                .header("sec-fetch-site", site)
                .header("origin", host.app_origin(app))
                .send()
                .await
                .expect("host answers");
            refused(resp).await;
        }
    }
    let resp = host
        .app_request(&client(), "POST", &roomy, "/say?text=typed+post")
        .header("cookie", &roomy_cookie)
        .header("sec-fetch-site", "none")
        .send()
        .await
        .expect("host answers");
    refused(resp).await;
    for origin in [host.app_origin(app), host.base.clone(), "null".to_string()] {
        let resp = host
            .app_request(&client(), "POST", &roomy, "/say?text=other+origin")
            .header("cookie", &roomy_cookie)
            .header("origin", origin)
            .send()
            .await
            .expect("host answers");
        refused(resp).await;
    }
    for (site, origin) in [("same-origin", Some(host.app_origin(&roomy))), ("none", None)] {
        let mut request = host
            .app_request(&client(), "GET", &roomy, "/whoami")
            .header("cookie", &roomy_cookie)
            .header("sec-fetch-site", site);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let resp = request.send().await.expect("host answers");
        assert_eq!(resp.status(), StatusCode::OK, "{site}");
    }

    // A session is for its own app only: this app's cookie does not open
    // another web app installed in the same chat (whose own cookie does).
    let resp = get_with(&host, &roomy, "/say?text=foreign+session", &cookie).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("error JSON");
    assert_eq!(body["error"]["code"], "foreign_session", "{body}");
    let said = host.messages(alice, chat).await;
    assert!(
        !said.iter().any(|m| {
            let text = m["text"].as_str().unwrap_or_default();
            ["cross origin", "typed post", "other origin", "foreign session"]
                .iter()
                .any(|t| text.contains(t))
        }),
        "a refused request ran the app: {said:?}"
    );
    // Apps are not served on the chat client's origin at all.
    let resp = client()
        .get(format!("{}/apps/{roomy}/whoami", host.base))
        .header("cookie", &roomy_cookie)
        .send()
        .await
        .expect("host answers");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = get_with(&host, &roomy, "/whoami", &roomy_cookie).await;
    assert_eq!(resp.status(), StatusCode::OK);
    host.assert_alive().await;
}

#[tokio::test]
async fn only_allow_listed_response_headers_reach_the_browser() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let probe = host
        .solo_chat_with(guests::WEB_PROBE_DIR, guests::WEB_PROBE_WASM, None)
        .await;
    let (alice, chat, app) = (&probe.alice, &probe.chat, &probe.app);
    let cookie = host.web_session(alice, chat, app).await;
    // `/headers?name=value&…` answers with each header it is told to set.
    let headers_of = |pairs: Vec<(&'static str, &'static str)>| {
        let (host, cookie) = (&host, &cookie);
        async move {
            let resp = host
                .app_request(&client(), "GET", app, "/headers")
                .query(&pairs)
                .header("cookie", cookie)
                .send()
                .await
                .expect("host answers");
            assert_eq!(resp.status(), StatusCode::OK, "{pairs:?}");
            resp.headers().clone()
        }
    };

    let dangerous = vec![
        ("clear-site-data", "\"storage\", \"cookies\""),
        ("www-authenticate", "Basic realm=\"your bank\""),
        ("link", "<http://evil.example/x.css>; rel=preload; as=style"),
        ("alt-svc", "h2=\"evil.example:443\""),
        ("strict-transport-security", "max-age=31536000; includeSubDomains"),
        ("access-control-allow-origin", "*"),
        ("access-control-allow-credentials", "true"),
        ("content-security-policy", "default-src *"),
        ("content-security-policy-report-only", "default-src *"),
        ("x-frame-options", "ALLOWALL"),
        ("set-cookie", "miniapp_session=evil; Path=/"),
        ("cross-origin-resource-policy", "cross-origin"),
        ("permissions-policy", "camera=*"),
        ("x-custom", "anything"),
    ];
    let got = headers_of(dangerous.clone()).await;
    for (name, value) in &dangerous {
        let passed = got.get_all(*name).iter().any(|v| v.as_bytes() == value.as_bytes());
        assert!(!passed, "{name}: {value} reached the browser: {got:?}");
    }
    // The host's own security headers stand.
    let csp = got[CONTENT_SECURITY_POLICY].to_str().expect("ascii");
    assert!(
        csp.starts_with("sandbox allow-scripts allow-forms allow-same-origin allow-downloads;"),
        "{csp}"
    );
    assert!(got.get(SET_COOKIE).is_none(), "{got:?}");

    // Off-site Location and Refresh are dropped; ones into the app's own
    // origin pass.
    for off_site in [
        "http://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https:evil.example",
        "javascript:alert(1)",
        &*format!("{}/", host.base).leak(),
        &*format!("{}/", host.app_origin("0199aaaa-0000-7000-8000-000000000000")).leak(),
    ] {
        let got = headers_of(vec![("location", off_site)]).await;
        assert!(got.get(LOCATION).is_none(), "Location {off_site} passed");
        let refresh: &'static str = format!("0; url={off_site}").leak();
        let got = headers_of(vec![("refresh", refresh)]).await;
        assert!(got.get("refresh").is_none(), "Refresh {refresh} passed");
    }
    let passes = vec![
        ("content-type", "application/json"),
        ("content-language", "ru"),
        ("content-disposition", "attachment; filename=\"a.txt\""),
        ("cache-control", "private, max-age=60"),
        ("etag", "\"v1\""),
        ("last-modified", "Sun, 29 Nov 2026 10:00:00 GMT"),
        ("expires", "Sun, 29 Nov 2026 11:00:00 GMT"),
        ("vary", "Accept-Language"),
        ("location", "/status?id=1"),
        ("refresh", "5; url=status"),
    ];
    let got = headers_of(passes.clone()).await;
    for (name, value) in &passes {
        assert_eq!(
            got.get(*name).map(|v| v.to_str().unwrap_or_default()),
            Some(*value),
            "{name} did not pass: {got:?}"
        );
    }
    host.assert_alive().await;
}

#[tokio::test]
async fn gov_services_books_signs_pays_and_confirms_in_the_chat() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let gov = host
        .solo_chat_with(guests::GOV_SERVICES_DIR, guests::GOV_SERVICES_WASM, None)
        .await;
    let (alice, chat, app) = (&gov.alice, &gov.chat, &gov.app);
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/admin/wallets/{}/credit", alice.id),
            Some(OPERATOR_TOKEN),
            Some(json!({ "amount": 100_000 })),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let cookie = host.web_session(alice, chat, app).await;

    // The form.
    let resp = get_with(&host, app, "/", &cookie).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("body");
    assert!(
        page.contains(r#"id="book""#) && page.contains(r#"id="service""#),
        "{page}"
    );

    // A bad choice is refused and books nothing.
    let resp = host
        .app_request(&client(), "POST", app, "/book")
        .header("cookie", &cookie)
        .form(&[("service", "bribe"), ("slot", "never")])
        .send()
        .await
        .expect("host answers");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Book: the app asks Alice to sign the application.
    let resp = host
        .app_request(&client(), "POST", app, "/book")
        .header("cookie", &cookie)
        .form(&[("service", "passport"), ("slot", "2026-12-07 11:00")])
        .send()
        .await
        .expect("host answers");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let status_url = resp.headers()[LOCATION].to_str().expect("ascii").to_string();
    let resp = get_with(&host, app, &format!("/{status_url}"), &cookie).await;
    let page = resp.text().await.expect("body");
    assert!(page.contains(r#"id="status""#) && page.contains("signature"), "{page}");

    let (_, pending) = host
        .call("GET", "/v1/signatures?status=pending", Some(&alice.token), None)
        .await;
    let request = pending["signatures"][0].clone();
    assert!(
        request["document_text"]
            .as_str()
            .unwrap_or_default()
            .contains("International passport"),
        "{pending}"
    );
    let sig = request["id"].as_str().expect("signature id");
    let last = host
        .messages(alice, chat)
        .await
        .last()
        .map(|m| m["id"].as_str().expect("id").to_string());
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/signatures/{sig}/confirm"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Signed → the fee is invoiced in the chat; Alice pays it.
    let after = last.unwrap_or_default();
    let invoice_msg = host
        .wait_for(alice, chat, &after, |m| {
            m["buttons"][0]["label"].as_str().is_some_and(|l| l.starts_with("Pay"))
        })
        .await;
    let (_, invoices) = host
        .call("GET", "/v1/invoices?status=open", Some(&alice.token), None)
        .await;
    let invoice = invoices["invoices"][0].clone();
    assert_eq!(invoice["amount"], 50_000, "{invoices}");
    assert_eq!(invoice["message"], invoice_msg["id"], "{invoices}");
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/invoices/{}/pay", invoice["id"].as_str().expect("id")),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Paid → the confirmation in the chat, and on the app's status page.
    let confirmation = host
        .wait_for(alice, chat, invoice_msg["id"].as_str().expect("id"), |m| {
            m["text"].as_str().is_some_and(|t| t.contains("Appointment confirmed"))
        })
        .await;
    assert!(
        confirmation["text"]
            .as_str()
            .expect("text")
            .contains("International passport, 2026-12-07 11:00"),
        "{confirmation}"
    );
    let (_, wallet) = host.call("GET", "/v1/wallet", Some(&alice.token), None).await;
    assert_eq!(wallet["balance"], 50_000, "{wallet}");
    let resp = get_with(&host, app, &format!("/{status_url}"), &cookie).await;
    let page = resp.text().await.expect("body");
    assert!(page.contains("confirmed"), "{page}");
    host.assert_alive().await;
}

#[tokio::test]
async fn a_web_apps_session_ends_when_the_device_that_launched_it_signs_out() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let probe = host
        .solo_chat_with(guests::WEB_PROBE_DIR, guests::WEB_PROBE_WASM, None)
        .await;
    let (alice, chat, app) = (&probe.alice, &probe.chat, &probe.app);
    // A second device of Alice's launches the app, and an unused launch
    // token is kept aside.
    let (status, device) = host.call("POST", "/v1/sessions", Some(&alice.token), None).await;
    assert!(status.is_success(), "{device}");
    let device = User {
        id: alice.id.clone(),
        token: device["token"].as_str().expect("token").to_string(),
    };
    let cookie = host.web_session(&device, chat, app).await;
    // Answered from the node's session cache before the sign-out.
    host.cache_web_session(app, &cookie).await;
    let (status, unused) = launch(&host, &device, chat, app).await;
    assert_eq!(status, StatusCode::CREATED, "{unused}");

    let (status, body) = host
        .call("POST", "/v1/sessions/sign-out", Some(&device.token), None)
        .await;
    assert!(status.is_success(), "{body}");
    let resp = get_with(&host, app, "/", &cookie).await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "the app session ended with the device's"
    );
    let (status, _, page) = open(&host, unused["url"].as_str().expect("url")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a launch token of a signed-out device opens nothing: {page}"
    );
    // Alice's first device is untouched.
    let cookie = host.web_session(alice, chat, app).await;
    assert_eq!(get_with(&host, app, "/", &cookie).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_revocation_is_outlived_by_the_nodes_session_cache() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    miniapp_tests::revocations::each_revocation_reaches_the_next_web_request(&host, &host).await;
}

#[tokio::test]
async fn one_web_apps_requests_take_at_most_its_share_of_instances() {
    let host = TestHost::start_with(host_bin!(), &["--web-app-concurrency", "2"]).expect("host starts");
    let probe = host
        .solo_chat_with(guests::WEB_PROBE_DIR, guests::WEB_PROBE_WASM, None)
        .await;
    let cookie = host.web_session(&probe.alice, &probe.chat, &probe.app).await;
    // Six requests that each wait out the 2 s wall time, all at once.
    let sleepers = (0..6).map(|_| {
        let (host, app, cookie) = (&host, &probe.app, &cookie);
        async move { get_with(host, app, "/sleep", cookie).await.status() }
    });
    let statuses = futures::future::join_all(sleepers).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::BAD_GATEWAY), "{statuses:?}");
    assert_eq!(
        host.metric("miniapp_web_requests_running_max").await,
        2.0,
        "at most two ran at once; the others waited their turn"
    );
    assert_eq!(host.metric("miniapp_web_requests_queued").await, 0.0);
    assert_eq!(get_with(&host, &probe.app, "/", &cookie).await.status(), StatusCode::OK);
}
