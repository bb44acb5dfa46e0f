//! OpenID Connect sign-in end to end over loopback: a server started with an `--oidc`
//! configuration whose JWKS holds the test keys of `tests/fixtures/oidc` (test-only keys), and
//! tokens signed here as the issuer would sign them. A linked RS256 or ES256 token acts as its
//! actor; every bad token is refused UNAUTHENTICATED saying what is wrong, without echoing it;
//! links are made by admins only, cut by unlinking or deactivation, kept across a restart, and
//! the log holds no subject.

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use withus::grpc::client::Client;
use withus::grpc::{pb, Ready, ServeConfig};
use withus::store::StoreConfig;

const ISSUER: &str = "https://idp.test.example";
const AUDIENCE: &str = "withus-test";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oidc")
        .join(name)
}

/// An `--oidc` file in `dir` naming the fixtures' JWKS, as a Trust would write it.
fn oidc_file(dir: &Path) -> PathBuf {
    let path = dir.join("oidc.toml");
    std::fs::write(
        &path,
        format!(
            "issuer = \"{ISSUER}\"\naudience = [\"{AUDIENCE}\", \"another-client\"]\njwks = \"{}\"\n",
            fixture("jwks.json").display()
        ),
    )
    .unwrap();
    path
}

struct Server {
    url: String,
    ready: Ready,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), withus::grpc::ServeError>>,
}

async fn start(data: &Path, oidc: bool) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let oidc = oidc.then(|| {
        withus::oidc::Verifier::load(&oidc_file(data.parent().unwrap())).expect("the config reads")
    });
    let config = ServeConfig {
        oidc,
        ..ServeConfig::new(StoreConfig::new(data))
    };
    let task = tokio::spawn(withus::grpc::run(listener, config, ready_tx, async move {
        let _ = stop_rx.await;
    }));
    let ready = ready_rx.await.expect("server ready");
    Server {
        url: format!("http://{addr}"),
        ready,
        stop: Some(stop_tx),
        task,
    }
}

impl Server {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().expect("clean shutdown");
    }

    async fn admin(&self, token: &str) -> Client {
        Client::connect(&self.url, token).await.unwrap()
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims as the issuer would put them in an ID token for `sub`, valid for an hour.
fn claims(sub: &str) -> Value {
    let t = now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": t, "nbf": t - 5, "exp": t + 3600})
}

fn with(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

fn sign(alg: Algorithm, kid: Option<&str>, pem: &str, claims: &Value) -> String {
    let bytes = std::fs::read(fixture(pem)).unwrap();
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&bytes).unwrap(),
        _ => EncodingKey::from_rsa_pem(&bytes).unwrap(),
    };
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("test-rsa-1"), "rsa.pem", claims)
}

fn es256(claims: &Value) -> String {
    sign(Algorithm::ES256, Some("test-ec-1"), "ec.pem", claims)
}

fn b64(v: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// A token with any header, signed (or not) by whatever `signature` holds.
fn raw(header: Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

fn bearer<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

/// Calls `Audit.ListEntries` (auditors and admins) as `token`.
async fn list_entries(s: &Server, token: &str) -> Result<(), tonic::Status> {
    pb::audit_client::AuditClient::new(s.channel().await)
        .list_entries(bearer(
            pb::ListEntriesRequest {
                from_seq: 0,
                page_size: 1,
                page_token: String::new(),
            },
            token,
        ))
        .await
        .map(|_| ())
}

/// Calls `Records.GetRecord` for `subject` as `token`.
async fn get_record(s: &Server, token: &str, subject: &str) -> Result<(), tonic::Status> {
    pb::records_client::RecordsClient::new(s.channel().await)
        .get_record(bearer(
            pb::GetRecordRequest {
                subject: subject.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|_| ())
}

/// Calls `Audit.GetCheckpoint` (every role) as `token`.
async fn checkpoint(s: &Server, token: &str) -> Result<(), tonic::Status> {
    pb::audit_client::AuditClient::new(s.channel().await)
        .get_checkpoint(bearer(pb::GetCheckpointRequest {}, token))
        .await
        .map(|_| ())
}

/// Registers Sam (a service user) and Ida (an auditor) and links their identities.
async fn cast(s: &Server) -> Client {
    let adm = s.admin(s.ready.admin_token.as_deref().unwrap()).await;
    adm.register_actor("su-sam", pb::Role::ServiceUser, "", "Sam", None)
        .await
        .unwrap();
    adm.register_actor("au-ida", pb::Role::Auditor, "", "Ida", None)
        .await
        .unwrap();
    adm.link_identity("su-sam", ISSUER, "nhs-login-sam-0001", None)
        .await
        .unwrap();
    adm.link_identity("au-ida", ISSUER, "ida@trust.example", None)
        .await
        .unwrap();
    adm
}

#[tokio::test]
async fn linked_rs256_and_es256_tokens_act_as_their_actors_and_the_log_holds_no_subject() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, true).await;
    cast(&s).await;

    // Sam, by an RS256 ID token: his own record, and nothing an auditor may.
    let sam = rs256(&claims("nhs-login-sam-0001"));
    get_record(&s, &sam, "su-sam")
        .await
        .expect("Sam reads his record");
    let e = list_entries(&s, &sam).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // Ida, by an ES256 access token whose `aud` is a list holding this server's client id.
    let ida = es256(&with(
        claims("ida@trust.example"),
        "aud",
        json!(["some-api", AUDIENCE]),
    ));
    list_entries(&s, &ida).await.expect("Ida lists entries");
    // The same tokens also stay good for a long call's re-authentication: a second use.
    checkpoint(&s, &sam).await.unwrap();
    checkpoint(&s, &ida).await.unwrap();
    s.stop().await;

    // Neither subject is anywhere in the log: only keyed digests.
    let store = withus::store::LogStore::open_read_only(&data).unwrap();
    let mut linked = 0;
    for e in store.entries(0, store.size()) {
        let bytes = String::from_utf8(e.unwrap().bytes.to_vec()).unwrap();
        assert!(!bytes.contains("nhs-login-sam-0001"), "{bytes}");
        assert!(!bytes.contains("ida@trust.example"), "{bytes}");
        if bytes.contains("\"identity.linked\"") {
            linked += 1;
            assert!(bytes.contains(ISSUER), "{bytes}");
        }
    }
    assert_eq!(linked, 2);
}

#[tokio::test]
async fn every_bad_token_is_refused_unauthenticated_saying_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), true).await;
    cast(&s).await;
    let good = claims("nhs-login-sam-0001");
    let t = now();
    let hs256 = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("test-rsa-1".into());
        jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(b"a shared secret")).unwrap()
    };
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            rs256(&with(good.clone(), "exp", json!(t - 3600))),
            "the token has expired",
        ),
        (
            "not yet valid",
            rs256(&with(good.clone(), "nbf", json!(t + 3600))),
            "not valid yet",
        ),
        (
            "another audience",
            rs256(&with(good.clone(), "aud", json!("someone-else"))),
            "the token's audience is not this server's",
        ),
        (
            "another issuer",
            rs256(&with(good.clone(), "iss", json!("https://evil.example"))),
            "the token's issuer is not this server's identity provider",
        ),
        ("no expiry", rs256(&no_exp), "lacks the `exp` claim"),
        (
            "signed by a key the JWKS does not hold, under its kid",
            sign(Algorithm::RS256, Some("test-rsa-1"), "other-rsa.pem", &good),
            "signature does not verify",
        ),
        (
            "an unknown kid",
            sign(Algorithm::RS256, Some("rotated-away"), "rsa.pem", &good),
            "not in this server's JWKS",
        ),
        (
            "no kid",
            sign(Algorithm::RS256, None, "rsa.pem", &good),
            "names no key",
        ),
        (
            "alg none",
            raw(json!({"alg": "none", "kid": "test-rsa-1"}), &good, b""),
            "only RS256 and ES256",
        ),
        (
            "HS256 under the RSA key's kid",
            hs256,
            "only RS256 and ES256",
        ),
        (
            "the RSA key's kid used as ES256",
            sign(Algorithm::ES256, Some("test-rsa-1"), "ec.pem", &good),
            "does not match its key",
        ),
        (
            "a tampered payload",
            {
                let t = rs256(&good);
                let parts: Vec<&str> = t.split('.').collect();
                let forged = b64(with(good.clone(), "sub", json!("ida@trust.example"))
                    .to_string()
                    .as_bytes());
                format!("{}.{forged}.{}", parts[0], parts[2])
            },
            "signature does not verify",
        ),
        ("garbage", "not.a.jwt".into(), "not a well-formed JWT"),
        (
            "an unlinked subject",
            rs256(&claims("nobody-linked-this")),
            "no actor is linked to this identity; ask an admin to link it",
        ),
        (
            "too long",
            // Over the 7 KiB bound, still within the 8 KiB of request headers.
            rs256(&with(good.clone(), "padding", json!("x".repeat(5100)))),
            "longer than",
        ),
    ];
    for (what, token, says) in &cases {
        let e = checkpoint(&s, token).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{what}: {e:?}");
        assert!(e.message().contains(says), "{what}: {}", e.message());
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!e.message().contains(part), "{what} echoes the token");
        }
    }
    // Within the leeway (60 s) an expiry or start just passed is still accepted.
    checkpoint(&s, &rs256(&with(good.clone(), "exp", json!(t - 20))))
        .await
        .unwrap();
    checkpoint(&s, &es256(&with(good.clone(), "nbf", json!(t + 20))))
        .await
        .unwrap();
    s.stop().await;

    // A server started without --oidc says so.
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), false).await;
    let e = checkpoint(&s, &rs256(&good)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("without --oidc"), "{}", e.message());
    s.stop().await;
}

#[tokio::test]
async fn only_admins_link_and_unlinking_or_deactivation_cuts_a_link_which_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start(&data, true).await;
    let adm = cast(&s).await;
    let admin_token = s.ready.admin_token.clone().unwrap();
    let sam = rs256(&claims("nhs-login-sam-0001"));
    let ida = es256(&claims("ida@trust.example"));

    // Only an admin links: Sam (by his JWT) and Ida (an auditor, by hers) may not.
    for (who, token) in [("Sam", &sam), ("Ida", &ida)] {
        let e = adm
            .as_token(token)
            .link_identity("su-sam", ISSUER, "another-sub", None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &e,
                withus::grpc::client::ClientError::Call {
                    code: Code::PermissionDenied,
                    ..
                }
            ),
            "{who}: {e}"
        );
    }
    let code = |r: Result<pb::Receipts, withus::grpc::client::ClientError>| match r {
        Err(withus::grpc::client::ClientError::Call { code, message, .. }) => (code, message),
        other => panic!("want a refusal, got {other:?}"),
    };
    // One actor per identity, one identity per issuer per actor; subjects of the OIDC form.
    let (c, m) = code(
        adm.link_identity("au-ida", ISSUER, "nhs-login-sam-0001", None)
            .await,
    );
    assert_eq!(c, Code::AlreadyExists, "{m}");
    let (c, m) = code(
        adm.link_identity("su-sam", ISSUER, "second-sub", None)
            .await,
    );
    assert_eq!(c, Code::FailedPrecondition, "{m}");
    let (c, m) = code(
        adm.link_identity("su-sam", "https://other.example", "has space", None)
            .await,
    );
    assert_eq!(c, Code::InvalidArgument, "{m}");
    assert!(m.contains("subject"), "{m}");
    let (c, m) = code(adm.link_identity("su-nobody", ISSUER, "x", None).await);
    assert_eq!(c, Code::NotFound, "{m}");
    let (c, m) = code(
        adm.unlink_identity("au-ida", "https://other.example", None)
            .await,
    );
    assert_eq!(c, Code::NotFound, "{m}");

    // A link survives a restart: it is in the log.
    s.stop().await;
    let s = start(&data, true).await;
    let adm = s.admin(&admin_token).await;
    checkpoint(&s, &sam).await.expect("linked after a restart");

    // The actor list names the issuer a link is at, never the identity.
    let issuers = |list: Vec<pb::ActorSummary>| {
        list.into_iter()
            .find(|a| a.id == "su-sam")
            .map(|a| a.linked_issuers)
            .unwrap()
    };
    assert_eq!(issuers(adm.list_actors().await.unwrap()), [ISSUER]);

    // Unlinked: refused; linked again: accepted.
    adm.unlink_identity("su-sam", ISSUER, None).await.unwrap();
    assert!(issuers(adm.list_actors().await.unwrap()).is_empty());
    let e = checkpoint(&s, &sam).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(
        e.message().contains("no actor is linked"),
        "{}",
        e.message()
    );
    adm.link_identity("su-sam", ISSUER, "nhs-login-sam-0001", None)
        .await
        .unwrap();
    checkpoint(&s, &sam).await.expect("linked again");

    // A deactivated actor's link authenticates nobody.
    adm.deactivate_actor("au-ida", "left_organisation", None)
        .await
        .unwrap();
    let e = checkpoint(&s, &ida).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("deactivated"), "{}", e.message());
    // Its identity can be cut from them and linked to someone else.
    adm.unlink_identity("au-ida", ISSUER, None).await.unwrap();
    adm.register_actor("au-ida2", pb::Role::Auditor, "", "Ida", None)
        .await
        .unwrap();
    adm.link_identity("au-ida2", ISSUER, "ida@trust.example", None)
        .await
        .unwrap();
    list_entries(&s, &ida)
        .await
        .expect("the identity acts as au-ida2");
    s.stop().await;
}

#[test]
fn an_oidc_file_that_does_not_read_is_refused_at_start_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.toml", None, "cannot read"),
        (
            "no-aud.toml",
            Some(format!("issuer = \"{ISSUER}\"\njwks = \"jwks.json\"\n")),
            "audience",
        ),
        (
            "no-jwks.toml",
            Some(format!(
                "issuer = \"{ISSUER}\"\naudience = \"a\"\njwks = \"absent.json\"\n"
            )),
            "absent.json",
        ),
        (
            "hmac-only.toml",
            Some(format!(
                "issuer = \"{ISSUER}\"\naudience = \"a\"\njwks = \"hmac.json\"\n"
            )),
            "no RS256",
        ),
    ];
    std::fs::write(
        dir.path().join("hmac.json"),
        r#"{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}"#,
    )
    .unwrap();
    for (name, text, says) in cases {
        let path = dir.path().join(name);
        if let Some(t) = text {
            std::fs::write(&path, t).unwrap();
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_withus"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("data"))
            .arg("--oidc")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains("--oidc") && err.contains(says),
            "{name}: {err}"
        );
    }
}

/// Invariant 17 with a JWT: the subscription authenticates the token again before each chunk,
/// so it ends `UNAUTHENTICATED` once the link is cut, sending nothing committed after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_by_a_jwt_ends_once_its_link_is_cut() {
    use tokio_stream::StreamExt as _;
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("data"), true).await;
    let adm = cast(&s).await;
    let ida = es256(&claims("ida@trust.example"));
    let mut sub = pb::audit_client::AuditClient::new(s.channel().await)
        .subscribe(bearer(pb::SubscribeRequest { from_seq: 0 }, &ida))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sub.next().await.unwrap().unwrap().seq, 0);
    let cut_at = adm
        .unlink_identity("au-ida", ISSUER, None)
        .await
        .unwrap()
        .receipts[0]
        .seq;
    adm.register_actor("pw-after", pb::Role::PeerWorker, "peer", "P", None)
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), sub.next())
            .await
            .expect("the stream ends within 5 s")
        {
            Some(Ok(e)) => assert!(e.seq < cut_at, "entry {} sent after the cut", e.seq),
            Some(Err(st)) => {
                assert_eq!(st.code(), Code::Unauthenticated, "{st}");
                assert!(st.message().contains("no actor is linked"), "{st}");
                break;
            }
            None => panic!("the stream ended without saying why"),
        }
    }
    s.stop().await;
}
