//! JSON Web Tokens. HS256 only (the algorithm is pinned: `alg: none` and every other
//! algorithm are refused), expiry checked with a few seconds of leeway, and a `type` claim
//! (as Flask-JWT-Extended writes it) so an access token is refused where a refresh token is
//! expected and vice versa. Refresh tokens are also tracked server-side by their SHA-256.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a token was refused; every one is a `401` whose message says what was wrong without
/// echoing the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Token has expired")]
    Expired,
    #[error("Token is not valid yet")]
    NotYetValid,
    #[error("Invalid token")]
    Invalid,
    #[error("An access token is required")]
    AccessRequired,
    #[error("A refresh token is required")]
    RefreshRequired,
}

/// Clock skew tolerated between the server that issued a token and the one checking it.
pub const LEEWAY_SECONDS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id, as a string (as Flask-JWT-Extended requires).
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Random; makes every token distinct even when issued in the same second.
    pub jti: String,
    /// The session (login) the token belongs to: when it ends, its tokens stop working.
    /// Tokens issued before sessions existed have none and are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<i64>,
    #[serde(rename = "type")]
    pub token_type: TokenType,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok().filter(|id| *id > 0)
    }

    pub fn session_id(&self) -> Option<i64> {
        self.sid.filter(|id| *id > 0)
    }
}

pub struct IssuedToken {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What a verified access token says: whose it is, and when it is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessGrant {
    pub user_id: i64,
    pub session_id: i64,
    nbf: u64,
    exp: u64,
}

impl AccessGrant {
    /// The time checks `jsonwebtoken` makes, with the same leeway.
    fn check_time(&self, now: u64) -> Result<(), TokenError> {
        if self.exp < now.saturating_sub(LEEWAY_SECONDS) {
            return Err(TokenError::Expired);
        }
        if self.nbf > now.saturating_add(LEEWAY_SECONDS) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}

/// Access tokens verified lately, at most: a client sends the same one with every request
/// until it expires, and checking its signature and parsing its claims again was 8% of
/// `GET /auth/me`. Only tokens that verified are kept (about 300 bytes each).
const VERIFIED_ACCESS_TOKENS: usize = 4096;

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Access tokens already verified, by their exact text (`verify_access`).
    verified_access: quick_cache::sync::Cache<String, AccessGrant>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub", "iat", "nbf"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified_access: quick_cache::sync::Cache::new(VERIFIED_ACCESS_TOKENS),
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue(
        &self,
        user_id: i64,
        session_id: i64,
        token_type: TokenType,
    ) -> anyhow::Result<IssuedToken> {
        let ttl = match token_type {
            TokenType::Access => self.access_ttl,
            TokenType::Refresh => self.refresh_ttl,
        };
        let now = chrono::Utc::now();
        let expires_at = now + chrono::Duration::from_std(ttl)?;
        let mut jti = [0u8; 16];
        rand::fill(&mut jti);
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: hex::encode(jti),
            sid: Some(session_id),
            token_type,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Checks signature, algorithm, expiry and type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        if claims.token_type != expected {
            return Err(match expected {
                TokenType::Access => TokenError::AccessRequired,
                TokenType::Refresh => TokenError::RefreshRequired,
            });
        }
        if claims.user_id().is_none() || claims.session_id().is_none() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

impl TokenKeys {
    /// An access token's user and session, as `verify` checks them. A token verified
    /// before is found by its exact text and only its times are checked again: the same
    /// bytes under the same key verify the same way. Whether its user and session still
    /// stand is for the caller to read from the database, on every request.
    pub fn verify_access(&self, token: &str) -> Result<AccessGrant, TokenError> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(grant) = self.verified_access.get(token) {
            grant.check_time(now)?;
            return Ok(grant);
        }
        let claims = self.verify(token, TokenType::Access)?;
        let grant = AccessGrant {
            user_id: claims.user_id().ok_or(TokenError::Invalid)?,
            session_id: claims.session_id().ok_or(TokenError::Invalid)?,
            // `verify` refused negative times (they are not JWT numeric dates).
            nbf: u64::try_from(claims.nbf).map_err(|_| TokenError::Invalid)?,
            exp: u64::try_from(claims.exp).map_err(|_| TokenError::Invalid)?,
        };
        self.verified_access.insert(token.to_owned(), grant);
        Ok(grant)
    }
}

/// What the database stores for a refresh token: its SHA-256, hex.
pub fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            &[7u8; 32],
            Duration::from_secs(900),
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn round_trip_and_type_pinning() {
        let keys = keys();
        let access = keys.issue(42, 7, TokenType::Access).unwrap().token;
        assert_eq!(
            keys.verify(&access, TokenType::Access).unwrap().user_id(),
            Some(42)
        );
        assert!(keys.verify(&access, TokenType::Refresh).is_err());
        let refresh = keys.issue(42, 7, TokenType::Refresh).unwrap().token;
        assert!(keys.verify(&refresh, TokenType::Access).is_err());
    }

    #[test]
    fn other_keys_and_alg_none_are_refused() {
        let keys = keys();
        let other = TokenKeys::new(
            &[8u8; 32],
            Duration::from_secs(900),
            Duration::from_secs(900),
        );
        let foreign = other.issue(1, 7, TokenType::Access).unwrap().token;
        assert!(keys.verify(&foreign, TokenType::Access).is_err());

        let genuine = keys.issue(1, 7, TokenType::Access).unwrap().token;
        let payload = genuine.split('.').nth(1).unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            keys.verify(&format!("{none_header}.{payload}."), TokenType::Access)
                .is_err()
        );
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        let signature = genuine.split('.').nth(2).unwrap();
        assert!(
            keys.verify(&format!("{hs512}.{payload}.{signature}"), TokenType::Access)
                .is_err()
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = keys();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "1".into(),
            iat: now - 1000,
            nbf: now - 1000,
            exp: now - 60,
            jti: "x".into(),
            sid: Some(7),
            token_type: TokenType::Access,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        let err = keys.verify(&token, TokenType::Access).unwrap_err();
        assert_eq!(err.to_string(), "Token has expired");
    }

    fn signed(keys: &TokenKeys, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &keys.encoding).unwrap()
    }

    fn claims(sub: &str, sid: Option<i64>, from_now: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: sub.into(),
            iat: now,
            nbf: now + from_now,
            exp: now + from_now + 900,
            jti: "x".into(),
            sid,
            token_type: TokenType::Access,
        }
    }

    /// Ids are positive: a token naming user or session 0, a negative one or none is
    /// refused, however well signed; the session is the one the token names.
    #[test]
    fn ids_must_be_positive() {
        let keys = keys();
        let good = keys
            .verify(&signed(&keys, &claims("1", Some(1), 0)), TokenType::Access)
            .unwrap();
        assert_eq!((good.user_id(), good.session_id()), (Some(1), Some(1)));
        let named = keys.issue(5, 9, TokenType::Access).unwrap().token;
        assert_eq!(
            keys.verify(&named, TokenType::Access).unwrap().session_id(),
            Some(9)
        );
        for (sub, sid) in [
            ("0", Some(1)),
            ("-1", Some(1)),
            ("x", Some(1)),
            ("1", Some(0)),
            ("1", Some(-1)),
            ("1", None),
        ] {
            let token = signed(&keys, &claims(sub, sid, 0));
            assert!(
                matches!(
                    keys.verify(&token, TokenType::Access),
                    Err(TokenError::Invalid)
                ),
                "sub {sub:?}, sid {sid:?}"
            );
        }
    }

    /// A token whose `nbf` is still ahead (beyond the leeway) is "not yet valid", not
    /// merely invalid.
    #[test]
    fn tokens_from_the_future_are_not_yet_valid() {
        let keys = keys();
        let token = signed(&keys, &claims("1", Some(1), LEEWAY_SECONDS as i64 + 600));
        assert!(matches!(
            keys.verify(&token, TokenType::Access),
            Err(TokenError::NotYetValid)
        ));
    }

    /// The stored form of a refresh token: SHA-256, lower-case hex.
    #[test]
    fn fingerprints_are_sha256_hex() {
        assert_eq!(
            fingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(fingerprint("abc"), fingerprint("abd"));
    }

    /// A verified access token is found again by its text; only its times are checked
    /// again, with the leeway `verify` allows, and nothing else verifies through it.
    #[test]
    fn a_verified_access_token_is_kept_and_still_expires() {
        let keys = keys();
        let token = keys.issue(5, 9, TokenType::Access).unwrap().token;
        let first = keys.verify_access(&token).unwrap();
        assert_eq!((first.user_id, first.session_id), (5, 9));
        assert!(keys.verified_access.get(token.as_str()).is_some());
        assert_eq!(keys.verify_access(&token).unwrap(), first);

        // Another signature over the same claims is not the kept token.
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            keys.verify_access(&forged),
            Err(TokenError::Invalid)
        ));
        let refresh = keys.issue(5, 9, TokenType::Refresh).unwrap().token;
        assert!(matches!(
            keys.verify_access(&refresh),
            Err(TokenError::AccessRequired)
        ));
        assert!(keys.verified_access.get(forged.as_str()).is_none());
        assert!(keys.verified_access.get(refresh.as_str()).is_none());

        let now = jsonwebtoken::get_current_timestamp();
        let at = |nbf, exp| AccessGrant {
            user_id: 5,
            session_id: 9,
            nbf,
            exp,
        };
        assert!(at(now, now - LEEWAY_SECONDS).check_time(now).is_ok());
        assert!(matches!(
            at(now - 900, now - LEEWAY_SECONDS - 1).check_time(now),
            Err(TokenError::Expired)
        ));
        assert!(at(now + LEEWAY_SECONDS, now + 900).check_time(now).is_ok());
        assert!(matches!(
            at(now + LEEWAY_SECONDS + 1, now + 900).check_time(now),
            Err(TokenError::NotYetValid)
        ));
        // A kept grant whose time has passed is refused as expired.
        keys.verified_access
            .insert(token.clone(), at(now - 900, now - LEEWAY_SECONDS - 1));
        assert!(matches!(
            keys.verify_access(&token),
            Err(TokenError::Expired)
        ));
    }
}
