//! The person's own page on `withus serve --http`: over plain HTTP/1.1 (the session cookie's
//! attributes, CSRF and cross-origin refusals, signed-out requests sent to sign in, a used or
//! expired code refused, one person never shown another's data), and in a real browser —
//! headless Chromium driven over the DevTools protocol (`--remote-debugging-pipe`) signs in with
//! a code a peer worker issued (by keyboard alone: Tab to the skip link, Tab to the field, Enter), reads the record, sees a clinician's read appear once it
//! happens, asks for a copy and checks the record to "Verified". Screenshots of each step are
//! kept in `target/browser-artifacts/person-page-*.png`.
//!
//! The browser test needs Chromium (Debian's `chromium`, or `WITHUS_CHROMIUM`), as
//! tests/browser.rs does: without it, it fails rather than skips. Every wait is bounded, and the
//! browser's whole process group is killed on every path.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::TestClock;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use withus::grpc::{pb, Ready, ServeConfig};
use withus::store::StoreConfig;

/// 2026-11-23T09:00:00.000Z
const T0: u64 = 1_795_424_400_000;

struct Server {
    addr: std::net::SocketAddr,
    http: std::net::SocketAddr,
    ready: Ready,
    clock: Arc<TestClock>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let served = tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the server stops");
        served.expect("server task").expect("server ran");
    }
}

async fn start() -> Server {
    start_with(None).await
}

/// A server, with `oidc` for ID tokens.
async fn start_with(oidc: Option<withus::oidc::Verifier>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, http_addr) = (listener.local_addr().unwrap(), http.local_addr().unwrap());
    let clock = Arc::new(TestClock::default());
    clock.set(T0);
    let mut store = StoreConfig::new(dir.path());
    store.clock = clock.clone();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let config = ServeConfig {
        http: Some(http),
        oidc,
        ..ServeConfig::new(store)
    };
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.expect("server ready");
    Server {
        addr,
        http: http_addr,
        ready,
        clock,
        stop: Some(stop_tx),
        task,
        _dir: dir,
    }
}

async fn channel(s: &Server) -> Channel {
    Channel::from_shared(format!("http://{}", s.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn opts(id: &str) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id.into(),
        expected_version: None,
    })
}

fn req<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

/// The cast, over gRPC: two people (Sam, supported by peer worker Amara, who has let team
/// cmht-north see their record; and Ola), and clinician Cho of cmht-north. Their tokens.
struct Cast {
    ch: Channel,
    admin: String,
    sam: String,
    amara: String,
    cho: String,
}

const SAM_NAME: &str = "Sam Rivers";
const OLA_NAME: &str = "Ola Brook";
const CHO_NAME: &str = "Dr Cho Lindqvist";

async fn cast(s: &Server) -> Cast {
    let ch = channel(s).await;
    let admin = s
        .ready
        .admin_token
        .clone()
        .expect("first start prints a token");
    let mut a = pb::admin_client::AdminClient::new(ch.clone());
    let mut tokens = BTreeMap::new();
    for (id, role, team, name) in [
        ("su-sam", pb::Role::ServiceUser, "", SAM_NAME),
        ("su-ola", pb::Role::ServiceUser, "", OLA_NAME),
        (
            "pw-amara",
            pb::Role::PeerWorker,
            "peer-team",
            "Amara Okafor",
        ),
        ("ct-cho", pb::Role::CareTeam, "cmht-north", CHO_NAME),
    ] {
        a.register_actor(req(
            pb::RegisterActorRequest {
                call: opts(&format!("reg-{id}")),
                id: id.into(),
                role: role as i32,
                team: team.into(),
                display_name: name.into(),
            },
            &admin,
        ))
        .await
        .unwrap();
        let t = a
            .issue_token(req(
                pb::IssueTokenRequest {
                    call: opts(&format!("tok-{id}")),
                    actor: id.into(),
                    expires_at: None,
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .token;
        tokens.insert(id, t);
    }
    let (sam, amara, cho) = (
        tokens["su-sam"].clone(),
        tokens["pw-amara"].clone(),
        tokens["ct-cho"].clone(),
    );
    let mut support = pb::support_client::SupportClient::new(ch.clone());
    support
        .refer(req(
            pb::ReferRequest {
                call: opts("ref"),
                support_id: "sp-sam".into(),
                subject: "su-sam".into(),
                worker: "pw-amara".into(),
                source: pb::ReferralSource::Self_ as i32,
            },
            &sam,
        ))
        .await
        .unwrap();
    let sp = |id: &str| pb::SupportRequest {
        call: opts(id),
        support_id: "sp-sam".into(),
    };
    support.offer(req(sp("offer"), &amara)).await.unwrap();
    support.accept(req(sp("accept"), &sam)).await.unwrap();
    pb::consent_client::ConsentClient::new(ch.clone())
        .grant(req(
            pb::GrantConsentRequest {
                call: opts("consent"),
                subject: "su-sam".into(),
                consent_id: "c-care".into(),
                scope: pb::ConsentScope::ShareWithCareTeam as i32,
                grantee: "cmht-north".into(),
                expires_at: None,
            },
            &sam,
        ))
        .await
        .unwrap();
    Cast {
        ch,
        admin,
        sam,
        amara,
        cho,
    }
}

impl Cast {
    async fn code(&self, issuer: &str, person: &str, id: &str) -> Result<String, tonic::Status> {
        pb::admin_client::AdminClient::new(self.ch.clone())
            .issue_sign_in_code(req(
                pb::IssueSignInCodeRequest {
                    call: opts(id),
                    person: person.into(),
                },
                issuer,
            ))
            .await
            .map(|r| r.into_inner().code)
    }

    /// Clinician Cho reads Sam's record (logged as `record.accessed`).
    async fn clinician_reads_sam(&self) {
        pb::records_client::RecordsClient::new(self.ch.clone())
            .get_record(req(
                pb::GetRecordRequest {
                    subject: "su-sam".into(),
                    as_of_seq: None,
                    as_of_time: None,
                    page_size: 0,
                    page_token: String::new(),
                },
                &self.cho,
            ))
            .await
            .expect("the care team may read with consent");
    }
}

/// One HTTP/1.1 answer: status, headers (lower-cased names; a repeated header's values joined
/// by "\n") and body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// One HTTP/1.1 request on a fresh connection.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in lines.filter_map(|l| l.split_once(':')) {
        headers
            .entry(k.trim().to_ascii_lowercase())
            .and_modify(|old| {
                old.push('\n');
                old.push_str(v.trim());
            })
            .or_insert_with(|| v.trim().to_string());
    }
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// The value of the hidden field `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{page}"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_string()
}

/// Signs in with `code` from this site's own page: the session cookie (`name=value`).
async fn sign_in(s: &Server, code: &str) -> String {
    let origin = format!("http://{}", s.http);
    let a = http(
        s.http,
        "POST",
        "/sign-in/code",
        &[("Origin", &origin)],
        &format!("code={code}"),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.headers.get("location").map(String::as_str), Some("/me"));
    let cookie = a.headers.get("set-cookie").expect("a session cookie");
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_over_http_signs_in_once_per_code_refuses_forged_posts_and_shows_only_the_persons_own_record(
) {
    let s = start().await;
    let c = cast(&s).await;
    let origin = format!("http://{}", s.http);
    let same = [("Origin", origin.as_str())];

    // Signed out: every page of the person's sends to sign in; the sign-in page is labelled.
    for path in [
        "/",
        "/me",
        "/me/looked",
        "/me/discussions",
        "/me/copy",
        "/me/check",
    ] {
        let a = http(s.http, "GET", path, &[], "").await;
        assert_eq!(a.status, 303, "{path}");
        assert_eq!(a.headers["location"], "/sign-in", "{path}");
    }
    let a = http(s.http, "GET", "/sign-in", &[], "").await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("<html lang=\"en\">"));
    assert!(a.body.contains("<label for=\"code\">") && a.body.contains("id=\"code\""));
    assert!(a.headers["content-security-policy"].contains("default-src 'none'"));
    assert_eq!(a.headers["cache-control"], "no-store");

    // Who may issue a code: the person's peer worker and an admin; not a clinician, and not a
    // peer worker for someone they do not support (told nothing about whether they exist).
    let refused = c.code(&c.cho, "su-sam", "code-cho").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    for person in ["su-ola", "su-nobody"] {
        let refused = c
            .code(&c.amara, person, &format!("code-{person}"))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    let code = c.code(&c.amara, "su-sam", "code-1").await.unwrap();
    assert_eq!(code.len(), 14, "{code}");

    // A post from another site, and a wrong code, are refused; the right code (typed in lower
    // case without dashes) signs in once, with a cookie no script can read, sent only over a
    // secure context and only from this site.
    let forged = http(
        s.http,
        "POST",
        "/sign-in/code",
        &[("Origin", "http://evil.example")],
        &format!("code={code}"),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(!forged.headers.contains_key("set-cookie"));
    let wrong = http(
        s.http,
        "POST",
        "/sign-in/code",
        &same,
        "code=AAAA-AAAA-AAAA",
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("role=\"alert\""));
    let typed = code.replace('-', "").to_lowercase();
    let a = http(
        s.http,
        "POST",
        "/sign-in/code",
        &same,
        &format!("code={typed}"),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let set = &a.headers["set-cookie"];
    let parts: Vec<&str> = set.split("; ").collect();
    assert!(
        parts[0].starts_with("withus_session=") && parts[0].len() == 15 + 64,
        "{set}"
    );
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(parts.contains(&attribute), "{attribute} missing: {set}");
    }
    let sam_cookie = parts[0].to_string();
    let again = http(
        s.http,
        "POST",
        "/sign-in/code",
        &same,
        &format!("code={code}"),
    )
    .await;
    assert_eq!(again.status, 401, "a code works once");

    // An expired code: issued, then 16 minutes pass.
    let late = c.code(&c.admin, "su-sam", "code-late").await.unwrap();
    s.clock.set(T0 + 16 * 60_000);
    let a = http(
        s.http,
        "POST",
        "/sign-in/code",
        &same,
        &format!("code={late}"),
    )
    .await;
    assert_eq!(a.status, 401, "an expired code is refused");
    s.clock.set(T0);

    // Sam's record: their name, and who issued the code they signed in with.
    let cookie = [("Cookie", sam_cookie.as_str())];
    let me = http(s.http, "GET", "/me", &cookie, "").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(me.body.contains(SAM_NAME), "{}", me.body);
    assert!(
        me.body.contains("one-time code"),
        "the code's issue is in the record"
    );
    assert!(me.body.contains("Amara Okafor"));
    assert!(!me.body.contains(OLA_NAME));

    // Ask for a copy: refused without the session's token, or from another origin.
    let form = http(s.http, "GET", "/me/copy", &cookie, "").await;
    let (csrf, request) = (hidden(&form.body, "csrf"), hidden(&form.body, "request"));
    let with_origin = [("Cookie", sam_cookie.as_str()), ("Origin", origin.as_str())];
    for body in [
        format!("request={request}"),
        format!("csrf={}&request={request}", "0".repeat(64)),
    ] {
        let a = http(s.http, "POST", "/me/copy", &with_origin, &body).await;
        assert_eq!(a.status, 403, "{body}");
    }
    let evil = [
        ("Cookie", sam_cookie.as_str()),
        ("Origin", "http://evil.example"),
    ];
    let a = http(
        s.http,
        "POST",
        "/me/copy",
        &evil,
        &format!("csrf={csrf}&request={request}"),
    )
    .await;
    assert_eq!(a.status, 403);
    let filed = http(
        s.http,
        "POST",
        "/me/copy",
        &with_origin,
        &format!("csrf={csrf}&request={request}"),
    )
    .await;
    assert_eq!(filed.status, 200, "{}", filed.body);
    assert!(filed.body.contains("Your request was filed"));
    let sar_id = format!("sar-page-{request}");
    let status = pb::subject_access_client::SubjectAccessClient::new(c.ch.clone())
        .status(req(
            pb::SarStatusRequest {
                sar_id: sar_id.clone(),
            },
            &c.sam,
        ))
        .await
        .expect("the request was filed in Sam's name")
        .into_inner();
    assert_eq!(status.subject, "su-sam");

    // Ola signs in on another browser and sees only their own record.
    let ola_code = c.code(&c.admin, "su-ola", "code-ola").await.unwrap();
    let ola_cookie = sign_in(&s, &ola_code).await;
    for path in [
        "/me",
        "/me/looked",
        "/me/discussions",
        "/me/copy",
        "/me/check",
    ] {
        let a = http(s.http, "GET", path, &[("Cookie", ola_cookie.as_str())], "").await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(!a.body.contains(SAM_NAME), "{path} shows Sam's name to Ola");
        assert!(!a.body.contains("su-sam"), "{path} names Sam to Ola");
        assert!(
            !a.body.contains(&sar_id),
            "{path} shows Sam's request to Ola"
        );
    }

    // Signing out ends the session on the server, not only in the browser.
    let me = http(s.http, "GET", "/me", &cookie, "").await;
    let csrf = hidden(&me.body, "csrf");
    let out = http(
        s.http,
        "POST",
        "/sign-out",
        &with_origin,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(out.status, 303);
    assert!(out.headers["set-cookie"].contains("Max-Age=0"));
    let a = http(s.http, "GET", "/me", &cookie, "").await;
    assert_eq!(
        (a.status, a.headers["location"].as_str()),
        (303, "/sign-in")
    );
    s.stop().await;
}

const ISSUER: &str = "https://idp.test.example";
const AUDIENCE: &str = "withus-test";

/// An ID token of the test issuer for `sub` (tests/fixtures/oidc's RSA key), valid for an hour
/// by the server's clock.
fn id_token(sub: &str) -> String {
    let pem = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc/rsa.pem"))
        .unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-rsa-1".into());
    let t = T0 / 1000;
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": t, "nbf": t - 5,
                        "exp": t + 3600});
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_id_token_signs_its_person_in_and_an_unlinked_or_staff_one_does_not() {
    let config = tempfile::tempdir().unwrap();
    let oidc = config.path().join("oidc.toml");
    let jwks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc/jwks.json");
    fs::write(
        &oidc,
        format!(
            "issuer = \"{ISSUER}\"\naudience = [\"{AUDIENCE}\"]\njwks = \"{}\"\n",
            jwks.display()
        ),
    )
    .unwrap();
    let verifier = withus::oidc::Verifier::load(&oidc).expect("the config reads");
    let s = start_with(Some(verifier)).await;
    let c = cast(&s).await;
    let mut admin = pb::admin_client::AdminClient::new(c.ch.clone());
    for (actor, sub) in [("su-sam", "sub-sam"), ("ct-cho", "sub-cho")] {
        admin
            .link_identity(req(
                pb::LinkIdentityRequest {
                    call: opts(&format!("link-{actor}")),
                    actor: actor.into(),
                    issuer: ISSUER.into(),
                    subject: sub.into(),
                },
                &c.admin,
            ))
            .await
            .unwrap();
    }
    let addr = s.http;
    let origin = format!("http://{addr}");
    let post = |token: String| {
        let origin = origin.clone();
        async move {
            http(
                addr,
                "POST",
                "/sign-in/id-token",
                &[("Origin", origin.as_str())],
                &format!("id_token={token}"),
            )
            .await
        }
    };
    // Not linked, a staff member's, a withus bearer token: not signed in, said in words.
    let unlinked = post(id_token("sub-nobody")).await;
    assert_eq!(unlinked.status, 401, "{}", unlinked.body);
    assert!(
        unlinked.body.contains("no actor is linked"),
        "{}",
        unlinked.body
    );
    let staff = post(id_token("sub-cho")).await;
    assert_eq!(staff.status, 403, "{}", staff.body);
    assert!(staff
        .body
        .contains("This page is for people who use the service"));
    let bearer = post(c.sam.clone()).await;
    assert_eq!(bearer.status, 401, "{}", bearer.body);
    for refused in [&unlinked, &staff, &bearer] {
        assert!(!refused.headers.contains_key("set-cookie"));
    }
    // Sam's linked token signs Sam in, to Sam's record.
    let signed = post(id_token("sub-sam")).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let cookie = signed.headers["set-cookie"]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let me = http(s.http, "GET", "/me", &[("Cookie", cookie.as_str())], "").await;
    assert_eq!(me.status, 200);
    assert!(me.body.contains(SAM_NAME), "{}", me.body);
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The browser.

/// How long any one wait on the browser may take before the test fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser-artifacts");
    fs::create_dir_all(&dir).expect("create target/browser-artifacts");
    dir
}

/// The Chromium to drive: `WITHUS_CHROMIUM`, else `chromium` or `chromium-browser` on `PATH`.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("WITHUS_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "tests/person_page.rs needs headless Chromium and found none on PATH: install it with \
         `apt-get install -y chromium` (Debian; .ci/run does this), or set WITHUS_CHROMIUM. \
         This test fails rather than skips."
    );
}

/// Kills Chromium's whole process group when dropped, on every path.
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.0.id()) {
            // SAFETY: killpg only sends a signal, to the group this launch created.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
        let _ = self.0.wait();
    }
}

/// A headless Chromium driven over the DevTools protocol on a pipe (its fd 3 reads commands,
/// fd 4 writes answers and events, each a JSON text ended by a NUL byte), with one page.
struct Browser {
    _group: ProcessGroup,
    to_browser: fs::File,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`; each is owned once below.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    // SAFETY: both descriptors were just created and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    fn launch() -> Browser {
        use std::os::fd::AsRawFd as _;
        let profile = tempfile::tempdir().expect("profile dir");
        let (cmd_read, cmd_write) = pipe();
        let (out_read, out_write) = pipe();
        let mut cmd = std::process::Command::new(chromium());
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--mute-audio",
            // Nothing but loopback: no name resolves (the page is at an IP literal).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--remote-debugging-pipe",
            "--window-size=1200,1600",
        ]);
        cmd.arg(format!("--user-data-dir={}", profile.path().display()));
        cmd.arg("about:blank");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let (child_in, child_out) = (cmd_read.as_raw_fd(), out_write.as_raw_fd());
        // SAFETY: between fork and exec only dup2 (async-signal-safe) runs: the pipe ends become
        // fds 3 and 4 (dup2 clears close-on-exec on the copies).
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(child_in, 3) < 0 || libc::dup2(child_out, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start Chromium");
        let group = ProcessGroup(child);
        drop(cmd_read);
        drop(out_write);
        let (tx, rx) = mpsc::channel();
        let mut reader = fs::File::from(out_read);
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|b| *b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&message[..end]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut b = Browser {
            _group: group,
            to_browser: fs::File::from(cmd_write),
            from_browser: rx,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = b.call_in(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = b.call_in(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        b.call("Page.enable", json!({}));
        b.call("Network.enable", json!({}));
        b
    }

    /// Sends a command (to the page's session, or the browser's) and waits for its answer;
    /// events that arrive meanwhile are dropped (waits look at the page, not at events).
    fn call_in(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let v = self.send(session, method, params);
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].clone()
    }

    /// [`Browser::call_in`]'s whole answer, an error included.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("{method}: the browser is gone ({e})"));
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{method}: no answer within {STEP_TIMEOUT:?}"));
            if v["id"].as_u64() == Some(id) {
                return v;
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call_in(Some(&session), method, params)
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true in a loaded page (polled; bounded). While a page is
    /// being replaced the probe may find no document to run in: that counts as not yet.
    fn wait_for(&mut self, what: &str, expression: &str) {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let probe = format!("document.readyState === 'complete' && !!({expression})");
        let session = self.session.clone();
        loop {
            let r = self.send(
                Some(&session),
                "Runtime.evaluate",
                json!({"expression": probe, "returnByValue": true}),
            );
            if r["result"]["result"]["value"] == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited {STEP_TIMEOUT:?} for {what}; the page says: {}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Loads `url` and waits until the page at `path` is complete.
    fn open(&mut self, url: &str, path: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(path, &format!("location.pathname === {}", json!(path)));
    }

    /// Presses and releases a key (`Tab` or `Enter`) on the keyboard.
    fn press(&mut self, key: &str) {
        let (code, text) = match key {
            "Enter" => (13, "\r"),
            _ => (9, ""),
        };
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyDown", "key": key, "code": key, "windowsVirtualKeyCode": code,
                   "text": text}),
        );
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": key, "windowsVirtualKeyCode": code}),
        );
    }

    /// The `id` (or, without one, the class) of the element that has the keyboard's focus.
    fn focused(&mut self) -> String {
        self.eval("document.activeElement ? (document.activeElement.id || document.activeElement.className) : ''")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Marks the current document, so a wait can tell the next document from it. A string,
    /// not a number: serde_json reads floats to within an ulp, and a marker read back a little
    /// off made "the marker is gone" true on the old document, before the click's navigation
    /// (a flaky failure under load, seen as the form page without "Your request was filed").
    fn mark_document(&mut self) -> Value {
        let marker = self.eval("window.__before = 'm' + Math.random(); window.__before");
        assert!(marker.is_string(), "no marker set: {marker}");
        marker
    }

    /// Presses Enter in the focused field, then waits for the new page at `path`.
    fn enter(&mut self, path: &str) {
        let marker = self.mark_document();
        self.press("Enter");
        self.wait_for(
            path,
            &format!(
                "window.__before !== {marker} && location.pathname === {}",
                json!(path)
            ),
        );
    }

    /// Clicks the element `selector` as a person would (a mouse press and release at its
    /// centre), then waits until the page at `path` is complete.
    fn click(&mut self, selector: &str, path: &str) {
        let marker = self.mark_document();
        let at = self.eval(&format!(
            "(() => {{ const r = document.querySelector({}).getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            json!(selector)
        ));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
        // A new document (the old one's marker is gone) at the expected path.
        self.wait_for(
            path,
            &format!(
                "window.__before !== {marker} && location.pathname === {}",
                json!(path)
            ),
        );
    }

    fn text(&mut self) -> String {
        self.eval("document.body ? document.body.innerText : ''")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn screenshot(&mut self, name: &str) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        fs::write(artifacts_dir().join(format!("person-page-{name}.png")), png)
            .expect("write the screenshot");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_a_person_signs_in_with_a_code_sees_a_clinicians_read_asks_for_a_copy_and_checks_it(
) {
    let s = start().await;
    let c = cast(&s).await;
    let code = c.code(&c.amara, "su-sam", "code-browser").await.unwrap();
    let base = format!("http://{}", s.http);
    // The browser's calls block; the server runs on the runtime's other threads meanwhile.
    let mut b = tokio::task::block_in_place(Browser::launch);
    let b = &mut b;
    macro_rules! blocking {
        ($e:expr) => {
            tokio::task::block_in_place(|| $e)
        };
    }

    // Sign in by typing the code and pressing the button.
    blocking!(b.open(&format!("{base}/me"), "/sign-in"));
    blocking!(b.screenshot("1-sign-in"));
    // By keyboard alone: the first Tab reaches the skip link, the next the code's field; type
    // the code and press Enter.
    blocking!(b.press("Tab"));
    assert_eq!(blocking!(b.focused()), "skip");
    blocking!(b.press("Tab"));
    assert_eq!(blocking!(b.focused()), "code");
    blocking!(b.call("Input.insertText", json!({"text": code})));
    blocking!(b.enter("/me"));
    let record = blocking!(b.text());
    assert!(
        record.contains("My record") && record.contains(SAM_NAME),
        "{record}"
    );
    blocking!(b.screenshot("2-my-record"));
    // The Secure, HttpOnly, SameSite=Strict cookie was kept over plain http://127.0.0.1.
    let cookies = blocking!(b.call("Network.getCookies", json!({"urls": [base.clone()]})));
    let session = cookies["cookies"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == "withus_session"))
        .cloned()
        .expect("the session cookie is kept");
    assert_eq!(
        (
            &session["httpOnly"],
            &session["secure"],
            &session["sameSite"]
        ),
        (&json!(true), &json!(true), &json!("Strict")),
        "{session}"
    );

    // Who looked: nobody yet; after clinician Cho reads the record, a reload shows it.
    blocking!(b.click("a[href='/me/looked']", "/me/looked"));
    let before = blocking!(b.text());
    assert!(before.contains("Who looked at my record"), "{before}");
    assert!(!before.contains(CHO_NAME), "{before}");
    c.clinician_reads_sam().await;
    blocking!(b.call("Page.reload", json!({})));
    blocking!(b.wait_for(
        "the reload",
        &format!("document.body.innerText.includes({})", json!(CHO_NAME))
    ));
    blocking!(b.screenshot("3-who-looked"));

    // Discussions about me (none).
    blocking!(b.click("a[href='/me/discussions']", "/me/discussions"));
    assert!(blocking!(b.text()).contains("Discussions about me"));

    // Ask for a copy.
    blocking!(b.click("a[href='/me/copy']", "/me/copy"));
    blocking!(b.click("form[action='/me/copy'] button", "/me/copy"));
    let filed = blocking!(b.text());
    assert!(filed.contains("Your request was filed"), "{filed}");
    blocking!(b.screenshot("4-asked-for-a-copy"));

    // Check my record: the page's verifier checks the bundle of the record now.
    blocking!(b.click("a[href='/me/check']", "/me/check"));
    blocking!(b.wait_for(
        "the verifier's result",
        "document.getElementById('check-status').dataset.result"
    ));
    let result = blocking!(b.eval("document.getElementById('check-status').dataset.result"));
    let said = blocking!(b.eval("document.getElementById('check-status').innerText"));
    blocking!(b.screenshot("5-check-my-record"));
    assert_eq!(result, json!("verified"), "{said}");
    assert!(
        said.as_str().unwrap_or_default().starts_with("Verified"),
        "{said}"
    );
    drop(c);
    s.stop().await;
}
