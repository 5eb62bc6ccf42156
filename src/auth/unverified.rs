//! The one reader of a token's claims. Read *before* verification its answer is only a hint:
//! it may be used to find a cache entry (which is then trusted only if the token's whole text
//! matches one that verified) or to choose which issuer's keys to verify with (whose rules then
//! require that same `iss`); it is never trusted. Read after the signature verified, the same
//! reader gives the verified claims, so the user id is read one way wherever it is read.
//!
//! The payload is decoded into a caller's buffer and only the claims the service uses are
//! picked out of it, without building the others: this runs on every repeat handshake.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// User ids become Seam `user_identifier_key`s; Seam ids are far shorter than this.
const MAX_USER_ID_BYTES: usize = 255;

/// Room for a decoded payload on the stack, for the read on every repeat handshake. Most
/// payloads fit; a larger one (identity providers that put roles or permissions in the login)
/// is read into a buffer of its size (`PayloadRoom`).
pub(crate) type PayloadBuffer = [u8; 2048];

/// Where a payload is decoded: on the stack when it fits, else on the heap.
pub(crate) struct PayloadRoom {
    small: PayloadBuffer,
    large: Vec<u8>,
}

impl PayloadRoom {
    pub(crate) fn new() -> Self {
        Self {
            small: [0; 2048],
            large: Vec::new(),
        }
    }

    /// A buffer that holds the payload of `token`. The whole token's length bounds its
    /// payload's, so a token that fits is not split to find out (this runs on every repeat
    /// handshake, and `claims` splits it once anyway).
    fn for_token(&mut self, token: &str) -> &mut [u8] {
        if token.len() * 3 / 4 + 3 <= self.small.len() {
            return &mut self.small;
        }
        let needed = room_for(token);
        if needed <= self.small.len() {
            &mut self.small
        } else {
            self.large.resize(needed, 0);
            &mut self.large
        }
    }

    /// `claims` of `token`, read into this room.
    pub(crate) fn claims(&mut self, token: &str, names: ClaimNames) -> Option<Picked<'_>> {
        let buffer = self.for_token(token);
        claims(token, buffer, names)
    }
}

/// Bytes the payload of `token` decodes to, at most.
fn room_for(token: &str) -> usize {
    let payload = token.split('.').nth(1).unwrap_or("");
    payload.len() * 3 / 4 + 3
}

/// The names of the claims the service reads (`identity.claim`, `accounts.claim`), and whether
/// to read `aud` (only before a signature check: a repeat handshake never needs it).
#[derive(Clone, Copy)]
pub(crate) struct ClaimNames<'n> {
    pub(crate) identity: &'n str,
    pub(crate) accounts: Option<&'n str>,
    pub(crate) audience: bool,
}

/// A registered claim as the token holds it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) enum Claim<T> {
    #[default]
    Absent,
    Valid(T),
    /// Present, but not of its type (RFC 7519: `iss` a string, times whole Unix seconds).
    Invalid,
}

impl<T> Claim<T> {
    pub(crate) fn valid(self) -> Option<T> {
        match self {
            Claim::Valid(value) => Some(value),
            _ => None,
        }
    }
}

/// The claims the service reads.
#[derive(Default)]
pub(crate) struct Picked<'p> {
    /// `iss`, borrowed from the payload when it needs no unescaping.
    pub(crate) issuer: Claim<Cow<'p, str>>,
    /// The identity claim: a string as it is, an integer in decimal, non-empty and at most
    /// `MAX_USER_ID_BYTES` long; `None` for anything else.
    pub(crate) user_id: Option<Cow<'p, str>>,
    pub(crate) accounts: Option<Value>,
    /// `exp`, `nbf` and `iat`: valid only as whole, non-negative Unix seconds (a NumericDate
    /// with a fraction, such as `1e19`, is refused rather than rounded).
    pub(crate) expires_at: Claim<u64>,
    pub(crate) not_before: Claim<u64>,
    pub(crate) issued_at: Claim<u64>,
    /// `aud` as a list (a single string is a list of one), when asked for.
    pub(crate) audience: Claim<Vec<Cow<'p, str>>>,
    /// `sid` and `jti`, when strings.
    pub(crate) session_id: Option<Cow<'p, str>>,
    pub(crate) token_id: Option<Cow<'p, str>>,
    /// Whether the token has a `nonce`, and an `events` object with the back-channel logout
    /// event (OIDC Back-Channel Logout 1.0 §2.4): what tells a logout token from a login.
    pub(crate) nonce: bool,
    pub(crate) logout_event: bool,
}

/// The `events` member that makes a JWT a logout token.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The claims of `token`, decoded into `buffer`; `None` for anything unusual, such as a payload
/// larger than `buffer` or one that is not a JSON object.
pub(crate) fn claims<'p>(
    token: &str,
    buffer: &'p mut [u8],
    names: ClaimNames,
) -> Option<Picked<'p>> {
    let payload = token.split('.').nth(1)?;
    let len = URL_SAFE_NO_PAD.decode_slice(payload, buffer).ok()?;
    let buffer: &'p [u8] = buffer;
    let mut claims = serde_json::Deserializer::from_slice(&buffer[..len]);
    let picked = Pick(names).deserialize(&mut claims).ok()?;
    claims.end().ok()?;
    Some(picked)
}

/// Room enough for the payload of `token`, for a read that must not fail for size.
pub(crate) fn buffer_for(token: &str) -> Vec<u8> {
    vec![0; room_for(token)]
}

struct Pick<'n>(ClaimNames<'n>);

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Picked<'de>;

    fn deserialize<D: Deserializer<'de>>(self, claims: D) -> Result<Picked<'de>, D::Error> {
        claims.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Picked<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    /// A repeated claim keeps its last value, as in the map the signature check reads.
    fn visit_map<A: MapAccess<'de>>(self, mut claims: A) -> Result<Picked<'de>, A::Error> {
        let Pick(names) = self;
        let mut picked = Picked::default();
        while let Some(name) = claims.next_key_seed(Text)? {
            // A key is a string; `Text` answers `None` only for what cannot be one.
            let name = name.unwrap_or_default();
            let name = name.as_ref();
            if name == names.identity {
                picked.user_id = claims.next_value_seed(UserId)?;
            } else if Some(name) == names.accounts {
                picked.accounts = Some(claims.next_value()?);
            } else if name == "iss" {
                picked.issuer = match claims.next_value_seed(Text)? {
                    Some(issuer) => Claim::Valid(issuer),
                    None => Claim::Invalid,
                };
            } else if name == "exp" {
                picked.expires_at = claims.next_value_seed(Seconds)?;
            } else if name == "nbf" {
                picked.not_before = claims.next_value_seed(Seconds)?;
            } else if name == "iat" {
                picked.issued_at = claims.next_value_seed(Seconds)?;
            } else if name == "aud" && names.audience {
                picked.audience = claims.next_value_seed(Audience)?;
            } else if name == "sid" {
                picked.session_id = claims.next_value_seed(Text)?;
            } else if name == "jti" {
                picked.token_id = claims.next_value_seed(Text)?;
            } else if name == "nonce" {
                claims.next_value::<IgnoredAny>()?;
                picked.nonce = true;
            } else if name == "events" {
                let events: Value = claims.next_value()?;
                picked.logout_event = events.get(LOGOUT_EVENT).is_some_and(Value::is_object);
            } else {
                claims.next_value::<IgnoredAny>()?;
            }
        }
        Ok(picked)
    }
}

/// The identity claim as a user id: a string as it is, an integer in decimal; `None` for any
/// other value, or one that is empty or too long.
struct UserId;

impl<'de> DeserializeSeed<'de> for UserId {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, claim: D) -> Result<Self::Value, D::Error> {
        let id = claim.deserialize_any(Scalar { numbers: true })?;
        Ok(id.filter(|id| !id.is_empty() && id.len() <= MAX_USER_ID_BYTES))
    }
}

/// A string claim; `None` for any other value.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, claim: D) -> Result<Self::Value, D::Error> {
        claim.deserialize_any(Scalar { numbers: false })
    }
}

/// A string, or with `numbers` an integer in decimal; `None` for anything else.
struct Scalar {
    numbers: bool,
}

impl<'de> Visitor<'de> for Scalar {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a claim value")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(text.to_owned())))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(self.numbers.then(|| Cow::Owned(n.to_string())))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(self.numbers.then(|| Cow::Owned(n.to_string())))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        while items.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        while entries.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// `aud` (RFC 7519 §4.1.3): a string, or an array of strings; else invalid.
struct Audience;

impl<'de> DeserializeSeed<'de> for Audience {
    type Value = Claim<Vec<Cow<'de, str>>>;

    fn deserialize<D: Deserializer<'de>>(self, claim: D) -> Result<Self::Value, D::Error> {
        claim.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Audience {
    type Value = Claim<Vec<Cow<'de, str>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an audience")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Claim::Valid(vec![Cow::Borrowed(text)]))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Claim::Valid(vec![Cow::Owned(text.to_owned())]))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let mut audiences = Vec::new();
        let mut valid = true;
        while let Some(item) = items.next_element_seed(Text)? {
            match item {
                Some(audience) => audiences.push(audience),
                None => valid = false,
            }
        }
        Ok(if valid {
            Claim::Valid(audiences)
        } else {
            Claim::Invalid
        })
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Claim::Invalid)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Claim::Invalid)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Claim::Invalid)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Claim::Invalid)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Claim::Invalid)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        while entries.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Claim::Invalid)
    }
}

/// A time claim as whole Unix seconds: a non-negative integer, else invalid.
struct Seconds;

impl<'de> DeserializeSeed<'de> for Seconds {
    type Value = Claim<u64>;

    fn deserialize<D: Deserializer<'de>>(self, claim: D) -> Result<Self::Value, D::Error> {
        Ok(match Value::deserialize(claim)? {
            Value::Number(n) => n.as_u64().map_or(Claim::Invalid, Claim::Valid),
            _ => Claim::Invalid,
        })
    }
}
