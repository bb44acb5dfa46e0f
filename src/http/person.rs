//! The person's own page (issue 15): signing in with a one-time code or an ID token, then *my
//! record*, *who looked at my record*, *discussions about me*, *ask for a copy* and *check my
//! record*, as server-rendered HTML with no external assets and no script except the bundle's
//! verifier on the check page.
//!
//! Owns: the routes under `/` of the HTTP port, the pages' HTML (every value escaped with
//! `sar::page::escape_html`; the record's words are `sar::html`'s, the same as the subject access
//! page's), form parsing, and turning service answers into HTTP answers. Must not touch: sled,
//! any permission rule, or a person's data except through [`Service`] calls — which decide and
//! log exactly as for the same caller over gRPC (a person reading their own record is not
//! logged; everyone else's reads are, and show on *who looked*).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::sessions::{self, Session, Sessions};
use crate::domain::types::SarVia;
use crate::domain::Command;
use crate::sar::bundle::Bundle;
use crate::sar::html::{self, Part};
use crate::sar::page::{escape_html as esc, style};
use crate::service::{Call, PageCredential, Service, ServiceError};

/// The service once the store is open (`None` before).
pub(crate) type ServiceSlot = Arc<dyn Fn() -> Option<Arc<Service>> + Send + Sync>;

#[derive(Clone)]
struct PersonPage {
    service: ServiceSlot,
    sessions: Arc<Sessions>,
}

/// The page's routes.
pub(super) fn routes(service: ServiceSlot) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_form))
        .route("/sign-in/code", post(sign_in_code))
        .route("/sign-in/id-token", post(sign_in_id_token))
        .route("/sign-out", post(sign_out))
        .route("/me", get(my_record))
        .route("/me/looked", get(who_looked))
        .route("/me/discussions", get(discussions))
        .route("/me/copy", get(copy_form).post(ask_for_copy))
        .route("/me/check", get(check))
        .with_state(PersonPage {
            service,
            sessions: Arc::new(Sessions::default()),
        })
}

/// The page's own additions to the subject access page's style: the menu, forms, messages,
/// and a visible focus on everything that takes it.
const EXTRA_STYLE: &str = "
header .site { margin: 0; font-weight: 600; }
nav ul.menu { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; }
nav form { margin: 0.5rem 0 0; }
a { color: #0b4dbf; }
a:visited { color: #5b2a86; }
a[aria-current=\"page\"] { font-weight: 700; color: #1b1b1b; }
a:focus-visible, input:focus-visible, textarea:focus-visible, main:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
label { display: block; font-weight: 600; margin-bottom: 0.25rem; }
input[type=text], textarea { font: inherit; padding: 0.5rem; border: 2px solid #1b1b1b; border-radius: 0.3rem; width: 100%; max-width: 30rem; box-sizing: border-box; }
.hint { color: #3d3d3d; margin-top: 0.25rem; }
.error { border: 3px solid #9b1c1c; background: #fdf0f0; padding: 0.5rem 1rem; }
.done { border: 3px solid #1a6b34; background: #eef7f0; padding: 0.5rem 1rem; }
";

/// The links of the menu: (path, words).
const MENU: [(&str, &str); 5] = [
    ("/me", "My record"),
    ("/me/looked", "Who looked at my record"),
    ("/me/discussions", "Discussions about me"),
    ("/me/copy", "Ask for a copy"),
    ("/me/check", "Check my record"),
];

/// A whole page: `title` is plain text (escaped here), `body` trusted HTML. With a session, the
/// menu (the link to `here` marked current) and the sign-out button.
fn layout(title: &str, here: &str, session: Option<&Session>, body: &str) -> String {
    let nav = match session {
        None => String::new(),
        Some(s) => {
            let links: String = MENU
                .iter()
                .map(|(path, words)| {
                    let current = if *path == here {
                        " aria-current=\"page\""
                    } else {
                        ""
                    };
                    format!("<li><a href=\"{path}\"{current}>{words}</a></li>\n")
                })
                .collect();
            format!(
                "<nav aria-label=\"Your page\">\n<ul class=\"menu\">\n{links}</ul>\n\
                 <form method=\"post\" action=\"/sign-out\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button type=\"submit\">Sign out</button></form>\n</nav>\n",
                esc(&s.csrf)
            )
        }
    };
    let signed_in = match session {
        Some(s) => format!(" — signed in as {}", esc(&s.actor)),
        None => String::new(),
    };
    let title = esc(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} — your own page</title>\n<style>\n{}{EXTRA_STYLE}</style>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to the main content</a>\n\
         <header>\n<p class=\"site\">Your own page{signed_in}</p>\n{nav}</header>\n\
         <main id=\"main\" tabindex=\"-1\">\n<h1>{title}</h1>\n{body}</main>\n</body>\n</html>\n",
        style()
    )
}

/// Headers every page of a person's data carries: never cached, never framed, no referrer to
/// other sites (`same-origin`, not `no-referrer`: under that a browser posts the page's forms
/// with `Origin: null`, which the same-origin check must refuse), nothing loaded from elsewhere
/// and no script (`csp`), forms only to this site.
fn html_response(status: StatusCode, csp: &'static str, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        body,
    )
        .into_response()
}

/// The policy of every page but the check page: no script at all.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The check page's: its own `<meta>` policy allows its scripts by hash and nothing else.
const CHECK_CSP: &str = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn page(status: StatusCode, title: &str, here: &str, s: Option<&Session>, body: &str) -> Response {
    html_response(status, CSP, layout(title, here, s, body))
}

fn redirect(to: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to), (header::CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

/// A page that says something went wrong, in words.
fn trouble(status: StatusCode, s: Option<&Session>, words: &str) -> Response {
    page(
        status,
        "Something went wrong",
        "",
        s,
        &format!("<p>{}</p>\n", esc(words)),
    )
}

/// An `application/x-www-form-urlencoded` body's fields (`+` is a space, `%XX` a byte). A field
/// whose bytes are not UTF-8 is left out.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    fn decode(part: &[u8]) -> Option<String> {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = part.get(i + 1..i + 3)?;
                    let text = std::str::from_utf8(hex).ok()?;
                    out.push(u8::from_str_radix(text, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let mut halves = pair.splitn(2, |b| *b == b'=');
            let name = decode(halves.next()?)?;
            let value = decode(halves.next().unwrap_or(b""))?;
            Some((name, value))
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Most bytes a form may post (an ID token is the longest field).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// A request's way on, or the answer that ends it (boxed: a `Response` is large).
type Or<T> = Result<T, Box<Response>>;

/// A signed-in person's form post: the service, the session's id, the session, its fields.
type Posted = (Arc<Service>, String, Session, Vec<(String, String)>);

impl PersonPage {
    fn service(&self) -> Or<Arc<Service>> {
        (self.service)().ok_or_else(|| {
            Box::new(trouble(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "The service is starting. Please try again in a minute.",
            ))
        })
    }

    /// The service and the request's live session; signed out, the way to the sign-in page.
    fn signed_in(&self, headers: &HeaderMap) -> Or<(Arc<Service>, String, Session)> {
        let svc = self.service()?;
        let (id, session) = self
            .sessions
            .find(headers)
            .ok_or_else(|| Box::new(redirect("/sign-in")))?;
        Ok((svc, id, session))
    }

    /// Checks a form post of a signed-in person: same origin, a live session, its CSRF token.
    fn posted(&self, headers: &HeaderMap, body: &[u8]) -> Or<Posted> {
        if !sessions::same_origin(headers) || body.len() > MAX_FORM_BYTES {
            return Err(Box::new(refused_post()));
        }
        let (svc, id, session) = self.signed_in(headers)?;
        let fields = form_fields(body);
        if !sessions::csrf_ok(&session, field(&fields, "csrf")) {
            return Err(Box::new(refused_post()));
        }
        Ok((svc, id, session, fields))
    }

    /// The person's bundle of their record now, read through the service as any read of theirs.
    /// A person who can no longer sign in (deactivated) is signed out.
    fn bundle(&self, svc: &Service, id: &str, session: &Session) -> Or<(Vec<u8>, Bundle)> {
        let bytes = svc
            .my_bundle(&session.actor)
            .map_err(|e| Box::new(self.failed(e, id, session)))?;
        let bundle = Bundle::parse(&bytes).map_err(|e| {
            tracing::error!(error = %e, "a bundle the service made does not parse");
            Box::new(trouble(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(session),
                "Your record could not be shown. Please try again later.",
            ))
        })?;
        Ok((bytes, bundle))
    }

    /// A service error as a page (signing out a person the service no longer accepts).
    fn failed(&self, e: ServiceError, id: &str, session: &Session) -> Response {
        match e {
            ServiceError::Unauthenticated(_) => {
                self.sessions.end(id);
                signed_out(redirect("/sign-in"))
            }
            ServiceError::Refused(r) => trouble(StatusCode::FORBIDDEN, Some(session), &r.message),
            ServiceError::RateLimited { .. } => trouble(
                StatusCode::TOO_MANY_REQUESTS,
                Some(session),
                "Too many attempts. Please wait a minute and try again.",
            ),
            other => {
                tracing::error!(error = %other, "the person's page could not be served");
                trouble(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(session),
                    "The service could not do this just now. Please try again later.",
                )
            }
        }
    }
}

/// The answer to a form post that is not from this site's own page, or without its token.
fn refused_post() -> Response {
    trouble(
        StatusCode::FORBIDDEN,
        None,
        "This form was not sent from your own page, or your page has been open too long. \
         Go back to your page, reload it, and try again.",
    )
}

/// `response` with the session cookie cleared.
fn signed_out(mut response: Response) -> Response {
    if let Ok(v) = sessions::clear_cookie().parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn home(State(p): State<PersonPage>, headers: HeaderMap) -> Response {
    match p.sessions.find(&headers) {
        Some(_) => redirect("/me"),
        None => redirect("/sign-in"),
    }
}

/// The sign-in page, with what went wrong last time (`error`, plain text).
fn sign_in_page(status: StatusCode, error: Option<&str>) -> Response {
    let error = match error {
        Some(e) => format!(
            "<div class=\"error\" role=\"alert\"><p><strong>You are not signed in.</strong> {}</p></div>\n",
            esc(e)
        ),
        None => String::new(),
    };
    let body = format!(
        "<p>Here you can see what is written about you, who looked at it and why, ask for a \
         copy of your record, and check that nothing in it was changed.</p>\n{error}\
         <section aria-labelledby=\"with-code\">\n<h2 id=\"with-code\">Sign in with a code</h2>\n\
         <p>Your peer worker or the office can give you a code. It works once, for 15 minutes. \
         Your record shows who gave out each code.</p>\n\
         <form method=\"post\" action=\"/sign-in/code\">\n\
         <p><label for=\"code\">Sign-in code</label>\n\
         <input type=\"text\" id=\"code\" name=\"code\" required autocomplete=\"one-time-code\" \
         autocapitalize=\"characters\" spellcheck=\"false\" aria-describedby=\"code-hint\"></p>\n\
         <p id=\"code-hint\" class=\"hint\">For example ABCD-EFGH-JKLM. Capital letters, spaces \
         and dashes do not matter.</p>\n\
         <p><button type=\"submit\">Sign in</button></p>\n</form>\n</section>\n\
         <section aria-labelledby=\"with-token\">\n<h2 id=\"with-token\">Sign in with an ID \
         token</h2>\n<p>If your organisation signs you in through its own sign-in service, paste \
         the ID token it gave you.</p>\n\
         <form method=\"post\" action=\"/sign-in/id-token\">\n\
         <p><label for=\"id_token\">ID token</label>\n\
         <textarea id=\"id_token\" name=\"id_token\" rows=\"4\" required spellcheck=\"false\"></textarea></p>\n\
         <p><button type=\"submit\">Sign in</button></p>\n</form>\n</section>\n"
    );
    page(status, "Sign in to your own page", "/sign-in", None, &body)
}

async fn sign_in_form(State(p): State<PersonPage>, headers: HeaderMap) -> Response {
    if p.sessions.find(&headers).is_some() {
        return redirect("/me");
    }
    sign_in_page(StatusCode::OK, None)
}

async fn sign_in_code(State(p): State<PersonPage>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form_fields(&body);
    let code = field(&fields, "code").unwrap_or_default().to_string();
    sign_in(&p, &headers, &body, PageCredential::Code(&code))
}

async fn sign_in_id_token(
    State(p): State<PersonPage>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let token = field(&fields, "id_token").unwrap_or_default().to_string();
    sign_in(&p, &headers, &body, PageCredential::IdToken(&token))
}

fn sign_in(p: &PersonPage, headers: &HeaderMap, body: &[u8], how: PageCredential<'_>) -> Response {
    if !sessions::same_origin(headers) || body.len() > MAX_FORM_BYTES {
        return refused_post();
    }
    let svc = match p.service() {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let person = match svc.sign_in_person(how) {
        Ok(a) => a,
        Err(ServiceError::Unauthenticated(why)) => {
            return sign_in_page(StatusCode::UNAUTHORIZED, Some(&why))
        }
        Err(ServiceError::Refused(_)) => {
            return sign_in_page(
                StatusCode::FORBIDDEN,
                Some("This page is for people who use the service; staff use their own tools."),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "signing in to the person's page failed");
            return sign_in_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The service could not sign you in just now. Please try again later."),
            );
        }
    };
    let (id, _) = match p.sessions.start(&person.id) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "no session for the person's page");
            return sign_in_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The service could not sign you in just now. Please try again later."),
            );
        }
    };
    let mut r = redirect("/me");
    if let Ok(v) = sessions::set_cookie(&id).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn sign_out(State(p): State<PersonPage>, headers: HeaderMap, body: Bytes) -> Response {
    match p.posted(&headers, &body) {
        Ok((_, id, _, _)) => {
            p.sessions.end(&id);
            signed_out(redirect("/sign-in"))
        }
        // Signed out already (no session): the sign-in page.
        Err(r) => *r,
    }
}

async fn my_record(State(p): State<PersonPage>, headers: HeaderMap) -> Response {
    let (svc, id, s) = match p.signed_in(&headers) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let (_, bundle) = match p.bundle(&svc, &id, &s) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let body = format!(
        "<p>Everything written down about you, in the same words as a copy of your record. \
         To be sure none of it was changed, use <a href=\"/me/check\">check my record</a>.</p>\n{}",
        html::record_sections(&bundle)
    );
    page(StatusCode::OK, "My record", "/me", Some(&s), &body)
}

async fn who_looked(State(p): State<PersonPage>, headers: HeaderMap) -> Response {
    part_page(
        &p,
        &headers,
        Part::Access,
        "Who looked at my record",
        "/me/looked",
    )
}

async fn discussions(State(p): State<PersonPage>, headers: HeaderMap) -> Response {
    part_page(
        &p,
        &headers,
        Part::Discussions,
        "Discussions about me",
        "/me/discussions",
    )
}

fn part_page(p: &PersonPage, headers: &HeaderMap, part: Part, title: &str, here: &str) -> Response {
    let (svc, id, s) = match p.signed_in(headers) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let (_, bundle) = match p.bundle(&svc, &id, &s) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    page(
        StatusCode::OK,
        title,
        here,
        Some(&s),
        &html::record_part(&bundle, part),
    )
}

/// The "ask for a copy" form: one button, with the session's token and a fresh id for this
/// request, so sending the form twice files one request.
fn copy_body(s: &Session, request: &str, requests: &str, filed: Option<&str>) -> String {
    let filed = match filed {
        Some(sar_id) => format!(
            "<div class=\"done\" role=\"status\"><p><strong>Your request was filed.</strong> \
             Its reference is <code>{}</code>. Below is what happens next.</p></div>\n",
            esc(sar_id)
        ),
        None => String::new(),
    };
    format!(
        "{filed}<p>You have the right to a copy of everything held about you (a subject access \
         request). The organisation must answer within one calendar month. You can also \
         <a href=\"/me/check\">check your record</a> at any time without asking.</p>\n\
         <form method=\"post\" action=\"/me/copy\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n\
         <p><button type=\"submit\">Ask for a copy of my record</button></p>\n</form>\n{requests}",
        esc(&s.csrf),
        esc(request)
    )
}

fn fresh_request_id() -> Option<String> {
    let mut raw = [0u8; 16];
    getrandom::getrandom(&mut raw).ok()?;
    Some(hex::encode(raw))
}

async fn copy_form(State(p): State<PersonPage>, headers: HeaderMap) -> Response {
    let (svc, id, s) = match p.signed_in(&headers) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    copy_page(&p, &svc, &id, &s, None)
}

async fn ask_for_copy(State(p): State<PersonPage>, headers: HeaderMap, body: Bytes) -> Response {
    let (svc, id, s, fields) = match p.posted(&headers, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let request = field(&fields, "request").unwrap_or_default();
    if request.len() != 32 || !request.bytes().all(|b| b.is_ascii_hexdigit()) {
        return refused_post();
    }
    let sar_id = format!("sar-page-{request}");
    let cmd = Command::RequestSar {
        sar_id: sar_id.clone(),
        subject: s.actor.clone(),
        via: SarVia::App,
    };
    if let Err(e) = svc
        .execute(&s.actor, Call::id(&format!("page-sar-{request}")), cmd)
        .await
    {
        return p.failed(e, &id, &s);
    }
    copy_page(&p, &svc, &id, &s, Some(&sar_id))
}

/// The "ask for a copy" page: the person's requests, a form with a fresh request id (so sending
/// it twice files one request), and, after a request, which one was filed.
fn copy_page(
    p: &PersonPage,
    svc: &Service,
    id: &str,
    s: &Session,
    asked: Option<&str>,
) -> Response {
    let (_, bundle) = match p.bundle(svc, id, s) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(request) = fresh_request_id() else {
        return trouble(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(s),
            "The service could not do this just now. Please try again later.",
        );
    };
    let requests = html::record_part(&bundle, Part::Requests);
    let body = copy_body(s, &request, &requests, asked);
    page(StatusCode::OK, "Ask for a copy", "/me/copy", Some(s), &body)
}

/// "Check my record": the subject access page for a bundle of the record now, whose verifier
/// checks it in the browser against the log's key (as a copy sent by request is checked).
async fn check(State(p): State<PersonPage>, headers: HeaderMap) -> Response {
    let (svc, id, s) = match p.signed_in(&headers) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let (bytes, bundle) = match p.bundle(&svc, &id, &s) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let vkey = match svc.store().vkey() {
        Ok(k) => k,
        Err(e) => return p.failed(e.into(), &id, &s),
    };
    let json = String::from_utf8_lossy(&bytes);
    let whole = html::page(&bundle, &json, &vkey).replacen(
        "<header>\n<h1>",
        "<header>\n<p><a href=\"/me\">Back to your own page</a></p>\n<h1>",
        1,
    );
    html_response(StatusCode::OK, CHECK_CSP, whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        let f = form_fields(b"code=abcd-efgh+jk%4Cm&csrf=00&empty=&bad=%zz&x");
        assert_eq!(field(&f, "code"), Some("abcd-efgh jkLm"));
        assert_eq!(field(&f, "csrf"), Some("00"));
        assert_eq!(field(&f, "empty"), Some(""));
        assert_eq!(field(&f, "bad"), None);
        assert_eq!(field(&f, "x"), Some(""));
    }
}
