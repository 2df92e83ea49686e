//! Refusing repeated keys in a report object.
//!
//! serde_json keeps the last of duplicate keys and a typed parse ignores
//! unknown ones, so an agent could send two `cpu_percent`s and neither
//! would notice. These deserializer wrappers see every key on its way in.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{LoadReport, MAX_NODE_ID_LEN, MAX_REPORT_KEYS, ReportError, malformed};

/// The typed parse of a full report, refusing a repeated key in the same
/// pass: the keys are read by [`Unique`] and handed on to serde's derive.
/// Any failure sends the caller to the generic path, which words it.
pub(super) fn parse_unique(body: &[u8]) -> Result<LoadReport, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let report = LoadReport::deserialize(Unique(&mut de))?;
    de.end()?;
    Ok(report)
}

/// A deserializer that passes the top-level object to serde's derive
/// through [`UniqueKeys`].
struct Unique<D>(D);

/// Hands the derive's visitor [`UniqueKeys`] instead of the map itself.
struct UniqueVisitor<V>(V);

/// A map whose keys are checked for repeats (and counted) on their way,
/// kept in place so the common report costs no allocation.
struct UniqueKeys<'de, A> {
    map: A,
    seen: [&'de str; MAX_REPORT_KEYS],
    len: usize,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Unique<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(UniqueVisitor(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for UniqueVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(UniqueKeys {
            map,
            seen: [""; MAX_REPORT_KEYS],
            len: 0,
        })
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for UniqueKeys<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(Key(key)) = self.map.next_key::<Key<'de>>()? else {
            return Ok(None);
        };
        // An escaped key is left to the generic path, which decodes it.
        let Cow::Borrowed(key) = key else {
            return Err(de::Error::custom("escaped key"));
        };
        if self.len == MAX_REPORT_KEYS || self.seen[..self.len].contains(&key) {
            return Err(de::Error::custom("repeated or surplus key"));
        }
        self.seen[self.len] = key;
        self.len += 1;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Refuses a body (already known to be one JSON object) whose top-level
/// keys repeat or exceed [`MAX_REPORT_KEYS`]. serde_json keeps the last
/// of duplicate keys, and a typed parse ignores unknown ones, so neither
/// would notice. One pass over the body, values skipped unparsed, keys
/// borrowed from it unless escaped.
pub(super) fn check_keys(body: &[u8]) -> Result<(), ReportError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    match de.deserialize_map(KeyCheck) {
        Ok(checked) => checked,
        Err(err) => Err(malformed(err)),
    }
}

/// Walks one object's keys for [`check_keys`].
struct KeyCheck;

/// An object key, borrowed from the body when it holds no escape.
struct Key<'de>(Cow<'de, str>);

impl<'de> Visitor<'de> for KeyCheck {
    type Value = Result<(), ReportError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen: Vec<Key<'de>> = Vec::with_capacity(16);
        let mut verdict = Ok(());
        // serde_json wants the whole object read, so a problem is noted and
        // the rest skipped rather than returned at once.
        while let Some(key) = map.next_key::<Key<'de>>()? {
            map.next_value::<IgnoredAny>()?;
            if verdict.is_err() {
                continue;
            }
            if seen.iter().any(|k| k.0 == key.0) {
                let mut key = key.0.into_owned();
                key.truncate(key.floor_char_boundary(MAX_NODE_ID_LEN));
                verdict = Err(ReportError::DuplicateKey(key));
            } else if seen.len() == MAX_REPORT_KEYS {
                verdict = Err(ReportError::TooManyKeys);
            } else {
                seen.push(key);
            }
        }
        Ok(verdict)
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Reads a [`Key`], borrowing when it can.
struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(key)))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(key.to_owned())))
    }
}
