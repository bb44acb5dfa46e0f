//! Sessions of the person's own page: who is signed in on which browser, and the token each
//! session's forms must carry.
//!
//! Owns: the in-memory session table (a random 256-bit id per session, idle expiry, sign-out),
//! the session cookie's exact attributes, the per-session CSRF token and its check, and the
//! same-origin check of form posts. Must not touch: the service or any rule — a session only
//! remembers which person signed in; every page still asks the service, which decides as for
//! any caller. Sessions are in memory: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};

/// The session cookie's name.
pub(super) const COOKIE: &str = "withus_session";

/// A session unused this long ends.
pub(super) const IDLE: Duration = Duration::from_secs(30 * 60);

/// Most sessions held at once; past it, the least recently used ends.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// The person (actor id) who signed in.
    pub actor: String,
    /// What every form of this session carries in its `csrf` field.
    pub csrf: String,
    last_used: Instant,
}

/// Why no session could be made.
#[derive(Debug, thiserror::Error)]
#[error("no randomness for a session: {0}")]
pub(super) struct NoRandomness(String);

/// The sessions of the page.
#[derive(Default)]
pub(super) struct Sessions {
    table: Mutex<HashMap<String, Session>>,
}

/// 256 random bits from the operating system, hex.
fn random_hex() -> Result<String, NoRandomness> {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw).map_err(|e| NoRandomness(e.to_string()))?;
    Ok(hex::encode(raw))
}

/// Equal, in time that depends only on the lengths.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Sessions {
    /// A new session for `actor`: its id (for the cookie) and the session.
    pub fn start(&self, actor: &str) -> Result<(String, Session), NoRandomness> {
        let id = random_hex()?;
        let session = Session {
            actor: actor.to_string(),
            csrf: random_hex()?,
            last_used: Instant::now(),
        };
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.retain(|_, s| now.duration_since(s.last_used) < IDLE);
        while table.len() >= MAX_SESSIONS {
            let oldest = table
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => table.remove(&id),
                None => break,
            };
        }
        table.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The session the request's cookie names, if it is live (and marks it used). An idle one
    /// is ended here.
    pub fn find(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie_value(headers)?;
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let live = table
            .get(&id)
            .is_some_and(|s| now.duration_since(s.last_used) < IDLE);
        if !live {
            table.remove(&id);
            return None;
        }
        let s = table.get_mut(&id)?;
        s.last_used = now;
        Some((id, s.clone()))
    }

    /// Ends the session `id` (sign-out, or its person can no longer sign in).
    pub fn end(&self, id: &str) {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// Whether a form's `csrf` field is the session's token.
pub(super) fn csrf_ok(session: &Session, sent: Option<&str>) -> bool {
    sent.is_some_and(|t| same(t, &session.csrf))
}

/// The session id the request's `Cookie` header carries, if it has the form of one.
fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that starts session `id`: never readable by scripts, sent only over a
/// secure context (browsers count `http://localhost` and `127.0.0.1` as one) and only with
/// requests from this site. No `Max-Age`: it ends with the browser, or idle here.
pub(super) fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; Secure; SameSite=Strict; Path=/")
}

/// The `Set-Cookie` value that ends the session cookie.
pub(super) fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

/// Whether a form post comes from this site's own pages: its `Origin` (which browsers send with
/// every POST) names the host it was sent to; without one, `Sec-Fetch-Site` must not say
/// another site. A client that sends neither is not a browser another site could drive.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST);
    match text(header::ORIGIN) {
        Some(origin) => {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
        }
        None => !matches!(
            headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
            Some("cross-site" | "same-site")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_gone_once_ended() {
        let sessions = Sessions::default();
        let (id, s) = sessions.start("su-sam").unwrap();
        let h = headers(&[("cookie", &format!("other=1; {COOKIE}={id}"))]);
        let (found, session) = sessions.find(&h).expect("live");
        assert_eq!(
            (found.as_str(), session.actor.as_str()),
            (id.as_str(), "su-sam")
        );
        assert!(csrf_ok(&session, Some(&s.csrf)));
        assert!(!csrf_ok(&session, Some("0000")));
        assert!(!csrf_ok(&session, None));
        sessions.end(&id);
        assert!(sessions.find(&h).is_none());
    }

    #[test]
    fn a_post_from_another_origin_is_not_same_origin() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
    }
}
