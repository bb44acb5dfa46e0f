//! OpenID Connect sign-in: verifies an ID token or access token (a JWT) from the one issuer the
//! server trusts, against that issuer's keys (a JWKS file), and says who it names: the
//! `(issuer, subject)` pair. Which actor that is, if any, is the projection's business (a link
//! an admin recorded, `identity.linked`); whether the actor may act, the service's.
//!
//! Owns: the `--oidc` configuration (TOML) and JWKS file formats, which keys and algorithms are
//! accepted (RS256 with an RSA key of at least 2048 bits, ES256 with a P-256 key, each pinned
//! by its `kid`), and the checks of a token: signature, `iss`, `aud`, `exp`, `nbf` (with a small
//! leeway), `sub`. Must not touch: the store, actors, the clock (`now` is passed in). It reads
//! files only in [`Verifier::load`], once at start.
//!
//! Refusals say what to fix without quoting the token: [`Refused`]'s messages are what a
//! client developer reads in `UNAUTHENTICATED`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Default allowance for clock skew on `exp` and `nbf`, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// Largest leeway a configuration may set: more would let expired tokens in for long.
pub const MAX_LEEWAY_SECS: u64 = 300;
/// Longest `sub` accepted (OpenID Connect Core §2: at most 255 ASCII characters).
pub const MAX_SUBJECT_BYTES: usize = 255;
/// Longest issuer URL accepted (in the configuration and in a link).
pub const MAX_ISSUER_BYTES: usize = 256;
/// Smallest RSA modulus accepted in the JWKS, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// `withus serve --oidc FILE`: the issuer the server trusts and how to check its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The `iss` every token must carry, exactly (e.g. `https://auth.login.nhs.uk`).
    pub issuer: String,
    /// Accepted `aud` values: a token must name at least one.
    pub audience: Vec<String>,
    /// The issuer's JWKS file (resolved against the configuration file's folder).
    pub jwks: PathBuf,
    /// Allowance for clock skew on `exp` and `nbf`, seconds.
    pub leeway_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    issuer: String,
    audience: OneOrMany,
    jwks: PathBuf,
    leeway_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Why an `--oidc` configuration or its JWKS cannot be used (the server refuses to start).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{0}")]
    Config(String),
    #[error("JWKS {path}: {why}")]
    Jwks { path: PathBuf, why: String },
}

impl OidcConfig {
    /// Parses the TOML of an `--oidc` file; a relative `jwks` is taken from `base` (the file's
    /// folder).
    pub fn parse(text: &str, base: &Path) -> Result<OidcConfig, ConfigError> {
        let bad = |m: String| ConfigError::Config(m);
        let f: ConfigFile = toml::from_str(text).map_err(|e| {
            bad(format!(
                "{} (keys: issuer, audience, jwks, leeway_secs)",
                e.to_string().trim_end()
            ))
        })?;
        check_issuer(&f.issuer).map_err(|m| bad(format!("issuer: {m}")))?;
        let audience = match f.audience {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(a) => a,
        };
        if audience.is_empty() || audience.iter().any(|a| a.is_empty()) {
            return Err(bad(
                "audience: give this server's client id (a string, or a list of them), as the issuer puts it in `aud`".into(),
            ));
        }
        let leeway_secs = f.leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
        if leeway_secs > MAX_LEEWAY_SECS {
            return Err(bad(format!(
                "leeway_secs: {leeway_secs} is more than {MAX_LEEWAY_SECS}; keep clocks in sync instead"
            )));
        }
        let jwks = if f.jwks.is_absolute() {
            f.jwks
        } else {
            base.join(f.jwks)
        };
        Ok(OidcConfig {
            issuer: f.issuer,
            audience,
            jwks,
            leeway_secs,
        })
    }
}

/// An issuer URL as a link or a configuration may name it: 1–256 printable ASCII characters,
/// no spaces.
pub fn check_issuer(issuer: &str) -> Result<(), String> {
    if issuer.is_empty() || issuer.len() > MAX_ISSUER_BYTES {
        return Err(format!(
            "must be 1-{MAX_ISSUER_BYTES} characters (the issuer's URL, as in its tokens' `iss`)"
        ));
    }
    if !issuer.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces (the issuer's URL)".into());
    }
    Ok(())
}

/// A subject as a link may name it: 1–255 printable ASCII characters (OpenID Connect's `sub`).
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
        return Err(format!(
            "must be 1-{MAX_SUBJECT_BYTES} characters (the `sub` of the person's tokens)"
        ));
    }
    if !subject.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "must be printable ASCII without spaces (the `sub` of the person's tokens)".into(),
        );
    }
    Ok(())
}

/// Who a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

/// Why a token was refused: each message says what to fix, and none quotes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the token is not a well-formed JWT (header.payload.signature, base64url)")]
    Malformed,
    #[error("the token is signed with an algorithm this server does not accept; only RS256 and ES256 (never none or HS256)")]
    Algorithm,
    #[error(
        "the token's header names no key (`kid`); the issuer must say which of its keys signed it"
    )]
    NoKid,
    #[error("the token's key (`kid`) is not in this server's JWKS; if the issuer rotated its keys, the server's JWKS file must be updated")]
    UnknownKid,
    #[error("the token's algorithm does not match its key in the JWKS")]
    KeyMismatch,
    #[error("the token's signature does not verify against the issuer's key")]
    Signature,
    #[error("the token's issuer is not this server's identity provider")]
    Issuer,
    #[error("the token's audience is not this server's")]
    Audience,
    #[error("the token has expired; sign in again")]
    Expired,
    #[error("the token is not valid yet (`nbf`); check the clocks of the issuer and the server")]
    NotYet,
    #[error("the token lacks the `{0}` claim")]
    Missing(&'static str),
    #[error("the token's `{0}` claim is not of the expected form")]
    BadClaim(&'static str),
}

/// A key of the JWKS, pinned to the one algorithm it may verify.
struct Key {
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies tokens of one issuer. Built once at start; verifying does no I/O.
pub struct Verifier {
    issuer: String,
    audience: Vec<String>,
    leeway_secs: u64,
    keys: BTreeMap<String, Key>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_secs", &self.leeway_secs)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether a bearer credential is a JWT rather than a withus token (64 hex digits, no dots).
pub fn looks_like_jwt(token: &str) -> bool {
    token.contains('.')
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

#[derive(Deserialize)]
struct JwkIn {
    kty: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct JwksIn {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct HeaderIn {
    alg: Option<String>,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct ClaimsIn {
    sub: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
    nbf: Option<serde_json::Value>,
}

impl Verifier {
    /// Reads an `--oidc` file and the JWKS it names; refuses either, saying what is wrong.
    pub fn load(path: &Path) -> Result<Verifier, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let config = OidcConfig::parse(&text, base)?;
        let jwks = std::fs::read_to_string(&config.jwks).map_err(|e| ConfigError::Read {
            path: config.jwks.clone(),
            why: e.to_string(),
        })?;
        Verifier::new(&config, &jwks)
    }

    /// A verifier for `config` with the keys of `jwks` (a JWKS JSON document). Keys for other
    /// uses or algorithms (encryption keys, RS512, P-384, symmetric keys…) are left out; every
    /// signing key withus would use must be well-formed and have a `kid`, and at least one
    /// must remain.
    pub fn new(config: &OidcConfig, jwks: &str) -> Result<Verifier, ConfigError> {
        let bad = |why: String| ConfigError::Jwks {
            path: config.jwks.clone(),
            why,
        };
        let set: JwksIn = serde_json::from_str(jwks).map_err(|e| {
            bad(format!(
                "not a JWKS (a JSON object with \"keys\": [...]): {e}"
            ))
        })?;
        let mut keys = BTreeMap::new();
        for (i, v) in set.keys.into_iter().enumerate() {
            let k: JwkIn =
                serde_json::from_value(v).map_err(|e| bad(format!("key {i} is not a JWK: {e}")))?;
            if k.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let (alg, key) = match (k.kty.as_deref(), k.alg.as_deref(), k.crv.as_deref()) {
                (Some("RSA"), None | Some("RS256"), _) => {
                    let (Some(n), Some(e)) = (&k.n, &k.e) else {
                        return Err(bad(format!("key {i} (RSA) lacks \"n\" or \"e\"")));
                    };
                    let bits = b64url(n)
                        .map(|b| {
                            let lead = b.iter().take_while(|x| **x == 0).count();
                            (b.len() - lead) * 8
                        })
                        .ok_or_else(|| bad(format!("key {i} (RSA): \"n\" is not base64url")))?;
                    if bits < MIN_RSA_BITS {
                        return Err(bad(format!(
                            "key {i} (RSA) is {bits} bits; at least {MIN_RSA_BITS} are needed"
                        )));
                    }
                    if b64url(e).is_none_or(|b| b.is_empty() || b.len() > 8) {
                        return Err(bad(format!(
                            "key {i} (RSA): \"e\" is not a base64url exponent"
                        )));
                    }
                    let key = DecodingKey::from_rsa_components(n, e)
                        .map_err(|e| bad(format!("key {i} (RSA): {e}")))?;
                    (Algorithm::RS256, key)
                }
                (Some("EC"), None | Some("ES256"), Some("P-256")) => {
                    let (Some(x), Some(y)) = (&k.x, &k.y) else {
                        return Err(bad(format!("key {i} (EC P-256) lacks \"x\" or \"y\"")));
                    };
                    let ok = |c: &str| b64url(c).is_some_and(|b| b.len() == 32);
                    if !ok(x) || !ok(y) {
                        return Err(bad(format!(
                            "key {i} (EC P-256): \"x\" and \"y\" must be 32 bytes each, base64url"
                        )));
                    }
                    let key = DecodingKey::from_ec_components(x, y)
                        .map_err(|e| bad(format!("key {i} (EC P-256): {e}")))?;
                    // A point off the curve is refused here, not at the first sign-in.
                    if jsonwebtoken::crypto::verify("AA", b"", &key, Algorithm::ES256).is_err() {
                        return Err(bad(format!(
                            "key {i} (EC P-256) is not a point on the curve"
                        )));
                    }
                    (Algorithm::ES256, key)
                }
                _ => continue,
            };
            let kid = k.kid.filter(|k| !k.is_empty()).ok_or_else(|| {
                bad(format!(
                    "key {i} has no \"kid\"; tokens are matched to keys by it"
                ))
            })?;
            if keys.insert(kid.clone(), Key { alg, key }).is_some() {
                return Err(bad(format!("two keys have kid {kid:?}")));
            }
        }
        if keys.is_empty() {
            return Err(bad(
                "no RS256 (RSA) or ES256 (EC P-256) signing key; withus accepts only those".into(),
            ));
        }
        Ok(Verifier {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway_secs: config.leeway_secs,
            keys,
        })
    }

    /// The issuer whose tokens this verifier accepts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks `token` at `now` (seconds since the epoch): its header's algorithm and key, its
    /// signature, then `iss`, `aud`, `exp`, `nbf` (within the leeway) and `sub`. The claims are
    /// looked at only once the signature holds.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Identity, Refused> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Malformed);
        };
        let header: HeaderIn = b64url(header)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(Refused::Malformed)?;
        let alg = match header.alg.as_deref() {
            Some("RS256") => Algorithm::RS256,
            Some("ES256") => Algorithm::ES256,
            _ => return Err(Refused::Algorithm),
        };
        let kid = header.kid.ok_or(Refused::NoKid)?;
        let key = self.keys.get(&kid).ok_or(Refused::UnknownKid)?;
        if key.alg != alg {
            return Err(Refused::KeyMismatch);
        }
        let mut v = Validation::new(key.alg);
        // Time is checked below against the server's clock, not the library's.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.required_spec_claims = ["iss", "aud"].iter().map(|s| s.to_string()).collect();
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&self.audience);
        let claims = match jsonwebtoken::decode::<ClaimsIn>(token, &key.key, &v) {
            Ok(d) => d.claims,
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind as K;
                return Err(match e.kind() {
                    K::InvalidSignature => Refused::Signature,
                    K::InvalidIssuer => Refused::Issuer,
                    K::InvalidAudience => Refused::Audience,
                    K::MissingRequiredClaim(c) if c == "iss" => Refused::Missing("iss"),
                    K::MissingRequiredClaim(c) if c == "aud" => Refused::Missing("aud"),
                    K::InvalidAlgorithm => Refused::KeyMismatch,
                    _ => Refused::Malformed,
                });
            }
        };
        let leeway = self.leeway_secs as f64;
        let now = now_secs as f64;
        let number = |v: &Option<serde_json::Value>, name| match v {
            None => Ok(None),
            Some(x) => x
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or(Refused::BadClaim(name)),
        };
        let exp = number(&claims.exp, "exp")?.ok_or(Refused::Missing("exp"))?;
        if now > exp + leeway {
            return Err(Refused::Expired);
        }
        if let Some(nbf) = number(&claims.nbf, "nbf")? {
            if now + leeway < nbf {
                return Err(Refused::NotYet);
            }
        }
        let subject = match claims.sub {
            None => return Err(Refused::Missing("sub")),
            Some(serde_json::Value::String(s)) if check_subject(&s).is_ok() => s,
            Some(_) => return Err(Refused::BadClaim("sub")),
        };
        Ok(Identity {
            issuer: self.issuer.clone(),
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<OidcConfig, ConfigError> {
        OidcConfig::parse(text, Path::new("/etc/withus"))
    }

    #[test]
    fn the_configuration_names_what_is_wrong() {
        let c = cfg("issuer = \"https://idp.example\"\naudience = \"withus\"\njwks = \"k.json\"")
            .unwrap();
        assert_eq!(c.jwks, Path::new("/etc/withus/k.json"));
        assert_eq!(c.audience, ["withus"]);
        assert_eq!(c.leeway_secs, DEFAULT_LEEWAY_SECS);
        let c = cfg("issuer = \"https://idp.example\"\naudience = [\"a\", \"b\"]\njwks = \"/k.json\"\nleeway_secs = 5").unwrap();
        assert_eq!((c.audience.len(), c.leeway_secs), (2, 5));
        assert_eq!(c.jwks, Path::new("/k.json"));
        for (text, says) in [
            ("audience = \"a\"\njwks = \"k\"", "issuer"),
            ("issuer = \"x y\"\naudience = \"a\"\njwks = \"k\"", "issuer"),
            ("issuer = \"i\"\naudience = []\njwks = \"k\"", "audience"),
            (
                "issuer = \"i\"\naudience = \"a\"\njwks = \"k\"\nleeway_secs = 3600",
                "leeway_secs",
            ),
            (
                "issuer = \"i\"\naudience = \"a\"\njwks = \"k\"\nclient_secret = \"s\"",
                "client_secret",
            ),
        ] {
            let e = cfg(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_jwks_without_a_usable_key_or_with_a_weak_one_is_refused() {
        let c = cfg("issuer = \"i\"\naudience = \"a\"\njwks = \"k\"").unwrap();
        let oct = r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#;
        assert!(Verifier::new(&c, oct)
            .unwrap_err()
            .to_string()
            .contains("no RS256"));
        let small = r#"{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}"#;
        assert!(Verifier::new(&c, small)
            .unwrap_err()
            .to_string()
            .contains("bits"));
        let off_curve = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"e","x":"{0}","y":"{0}"}}]}}"#,
            "A".repeat(43)
        );
        assert!(Verifier::new(&c, &off_curve)
            .unwrap_err()
            .to_string()
            .contains("curve"));
        assert!(Verifier::new(&c, "[]").is_err());
    }
}
