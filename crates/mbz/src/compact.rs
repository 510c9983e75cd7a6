//! Compact values for the per-file data an import returns, so a course with
//! hundreds of thousands of files stays small in memory.
//!
//! - [`Text`]: an immutable, cheaply cloned string (`Arc<str>`). The import
//!   interns the few values that repeat from record to record (component,
//!   file area, path, MIME type, author, licence), so 200 000 records share
//!   a handful of allocations.
//! - [`Hex`] ([`Sha1Hex`], [`Sha256Hex`]): a digest written as lower-case
//!   hex, held as its bytes (20 or 32) when it is one, and as the exact text
//!   otherwise (an empty `contenthash`, a malformed one from a hostile
//!   archive), so every value round-trips unchanged.
//! - [`BlobList`]: the sorted SHA-256 keys of the blobs an import keeps,
//!   32 bytes each.
//!
//! All three serialise as the strings they stand for: JSON written before
//! they existed reads back, and JSON written now is byte-identical to what
//! `String` fields gave.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string, cloned by reference count.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Arc<str>);

impl Text {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Text {
    fn default() -> Self {
        Text(Arc::from(""))
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Arc::from(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Arc::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text(Arc::from(s.as_str()))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.0.to_string()
    }
}

macro_rules! text_eq {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Text {
            fn eq(&self, other: &$t) -> bool {
                *self.0 == **other
            }
        }
        impl PartialEq<Text> for $t {
            fn eq(&self, other: &Text) -> bool {
                **self == *other.0
            }
        }
    )*};
}
text_eq!(&str, String);

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Text::from)
    }
}

/// Hands out one shared [`Text`] per distinct value.
#[derive(Default)]
pub(crate) struct Interner(HashSet<Text>);

impl Interner {
    /// The shared copy of `s`.
    pub(crate) fn get(&mut self, s: &str) -> Text {
        if let Some(t) = self.0.get(s) {
            return t.clone();
        }
        let t = Text::from(s);
        self.0.insert(t.clone());
        t
    }
}

/// A digest as lower-case hex text, stored as `N` bytes when it is one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Hex<const N: usize>(Repr<N>);

/// Invariant: `Text` never holds `2 * N` lower-case hex digits.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr<const N: usize> {
    Bin([u8; N]),
    Text(Box<str>),
}

/// A SHA-1 (Moodle's `contenthash`), or the text found instead.
pub type Sha1Hex = Hex<20>;
/// A SHA-256 (the platform's content key), or the text found instead.
pub type Sha256Hex = Hex<32>;

fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    let lower = s.len() == 2 * N
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let mut k = [0u8; N];
    (lower && hex::decode_to_slice(s, &mut k).is_ok()).then_some(k)
}

impl<const N: usize> Hex<N> {
    /// The digest with these bytes.
    pub fn from_bytes(bytes: [u8; N]) -> Self {
        Hex(Repr::Bin(bytes))
    }

    /// The bytes, when the value is a well-formed digest.
    pub fn bytes(&self) -> Option<&[u8; N]> {
        match &self.0 {
            Repr::Bin(b) => Some(b),
            Repr::Text(_) => None,
        }
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        matches!(&self.0, Repr::Text(t) if t.is_empty())
    }

    /// Call `f` with the value as text, without allocating.
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Text(t) => f(t),
            Repr::Bin(b) => {
                let mut buf = [0u8; 64];
                let out = &mut buf[..2 * N];
                // Both cannot fail: the buffer has exactly 2·N bytes of ASCII.
                let _ = hex::encode_to_slice(b, out);
                f(std::str::from_utf8(out).unwrap_or_default())
            }
        }
    }
}

/// The order of the texts (bytes compare as their hex does).
impl<const N: usize> Ord for Hex<N> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (&self.0, &other.0) {
            (Repr::Bin(a), Repr::Bin(b)) => a.cmp(b),
            _ => self.with_str(|a| other.with_str(|b| a.cmp(b))),
        }
    }
}

impl<const N: usize> PartialOrd for Hex<N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<const N: usize> Default for Hex<N> {
    fn default() -> Self {
        Hex(Repr::Text(Box::from("")))
    }
}

impl<const N: usize> From<&str> for Hex<N> {
    fn from(s: &str) -> Self {
        match decode(s) {
            Some(k) => Hex(Repr::Bin(k)),
            None => Hex(Repr::Text(Box::from(s))),
        }
    }
}

impl<const N: usize> From<String> for Hex<N> {
    fn from(s: String) -> Self {
        match decode(&s) {
            Some(k) => Hex(Repr::Bin(k)),
            None => Hex(Repr::Text(s.into_boxed_str())),
        }
    }
}

impl<const N: usize> From<&String> for Hex<N> {
    fn from(s: &String) -> Self {
        Hex::from(s.as_str())
    }
}

impl<const N: usize> fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

impl<const N: usize> fmt::Debug for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|s| fmt::Debug::fmt(s, f))
    }
}

impl<const N: usize> PartialEq<str> for Hex<N> {
    fn eq(&self, other: &str) -> bool {
        match &self.0 {
            Repr::Bin(b) => decode::<N>(other).is_some_and(|k| k == *b),
            Repr::Text(t) => **t == *other,
        }
    }
}

impl<const N: usize> PartialEq<&str> for Hex<N> {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl<const N: usize> PartialEq<String> for Hex<N> {
    fn eq(&self, other: &String) -> bool {
        *self == *other.as_str()
    }
}

impl<const N: usize> Serialize for Hex<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_str(|t| s.serialize_str(t))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Hex<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Hex::from)
    }
}

/// SHA-256 keys, sorted and without repeats (serialised as hex strings).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BlobList(Vec<[u8; 32]>);

impl BlobList {
    /// The list of these keys (sorted, repeats removed).
    pub fn new(mut keys: Vec<[u8; 32]>) -> Self {
        keys.sort_unstable();
        keys.dedup();
        keys.shrink_to_fit();
        BlobList(keys)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `sha256` (lower-case hex) is one of them.
    pub fn contains<S: AsRef<str> + ?Sized>(&self, sha256: &S) -> bool {
        decode::<32>(sha256.as_ref()).is_some_and(|k| self.0.binary_search(&k).is_ok())
    }

    /// The keys as bytes, sorted.
    pub fn keys(&self) -> &[[u8; 32]] {
        &self.0
    }

    /// The keys as lower-case hex, sorted.
    pub fn iter(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(hex::encode)
    }
}

impl PartialEq<Vec<String>> for BlobList {
    fn eq(&self, other: &Vec<String>) -> bool {
        self.0.len() == other.len()
            && self
                .0
                .iter()
                .zip(other)
                .all(|(k, s)| decode::<32>(s).is_some_and(|o| o == *k))
    }
}

impl TryFrom<Vec<String>> for BlobList {
    type Error = String;
    /// The list of these lower-case hex keys; the first that is not one is the error.
    fn try_from(v: Vec<String>) -> Result<Self, String> {
        let keys = v
            .into_iter()
            .map(|s| decode::<32>(&s).ok_or(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BlobList::new(keys))
    }
}

impl fmt::Debug for BlobList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for BlobList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for BlobList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BlobList::try_from(Vec::<String>::deserialize(d)?)
            .map_err(|s| serde::de::Error::custom(format!("not a SHA-256: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keeps_every_text_and_packs_digests() {
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        for s in [
            sha1,
            "",
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
            "xyz",
            "da39",
        ] {
            let h = Sha1Hex::from(s);
            assert_eq!(h.to_string(), s);
            assert_eq!(h, s);
            assert_eq!(h.bytes().is_some(), s == sha1, "{s}");
            assert_eq!(h.is_empty(), s.is_empty());
            let json = serde_json::to_string(&h).unwrap();
            assert_eq!(json, serde_json::to_string(s).unwrap());
            assert_eq!(serde_json::from_str::<Sha1Hex>(&json).unwrap(), h);
            assert_eq!(format!("{h:?}"), format!("{s:?}"));
        }
        assert_ne!(
            Sha1Hex::from(sha1),
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
        );
        assert_ne!(Sha1Hex::from(sha1), "");
        assert_eq!(std::mem::size_of::<Sha1Hex>(), 24);
        let texts = [
            "ff",
            sha1,
            "0a",
            "da39a3ee5e6b4b0d3255bfef95601890afd8070a",
            "DA",
            "da",
        ];
        let mut hexes: Vec<Sha1Hex> = texts.iter().map(|t| Sha1Hex::from(*t)).collect();
        hexes.sort();
        let mut sorted = texts.to_vec();
        sorted.sort();
        assert_eq!(
            hexes,
            sorted.iter().map(|t| Sha1Hex::from(*t)).collect::<Vec<_>>()
        );
        assert_eq!(std::mem::size_of::<Option<Sha256Hex>>(), 40);
    }

    #[test]
    fn text_compares_and_serialises_as_a_string() {
        let mut i = Interner::default();
        let a = i.get("mod_folder");
        let b = i.get("mod_folder");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "mod_folder");
        assert_eq!("mod_folder", a);
        assert_eq!(a, "mod_folder".to_string());
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"mod_folder\"");
        assert_eq!(serde_json::from_str::<Text>("\"x\\\"y\"").unwrap(), "x\"y");
    }

    /// A record serialises exactly as the `String`-field record did, and
    /// reads back from that JSON.
    #[test]
    fn file_records_keep_their_json() {
        let old = r#"[{"id":7,"contenthash":"da39a3ee5e6b4b0d3255bfef95601890afd80709","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"filename":".","filepath":"/","mimetype":null,"component":"mod_folder","filearea":"content","contextid":50,"itemid":0,"author":"Ada","license":"cc","timecreated":1,"timemodified":2,"owner":null},{"id":null,"contenthash":"","sha256":"NOT-HEX","size":5,"filename":"a \"b\".txt","filepath":"/x/","mimetype":"text/plain","component":"course","filearea":"summary","contextid":null,"itemid":3,"author":null,"license":null,"timecreated":0,"timemodified":0,"owner":"p1"}]"#;
        let recs: Vec<crate::model::FileRecord> = serde_json::from_str(old).unwrap();
        assert_eq!(serde_json::to_string(&recs).unwrap(), old);
        assert_eq!(
            recs[0].sha256.as_ref().and_then(Hex::bytes),
            Some(&[
                0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
                0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
                0x78, 0x52, 0xb8, 0x55,
            ])
        );
        assert!(recs[1].contenthash.is_empty());
        let value = serde_json::to_value(&recs).unwrap();
        let back: Vec<crate::model::FileRecord> = serde_json::from_value(value).unwrap();
        assert_eq!(back, recs);
    }

    #[test]
    fn blob_list_is_sorted_and_searchable() {
        let (x, y) = ([2u8; 32], [1u8; 32]);
        let l = BlobList::new(vec![x, y, x]);
        assert_eq!(l.len(), 2);
        assert_eq!(l, vec![hex::encode(y), hex::encode(x)]);
        assert!(l.contains(&hex::encode(x)));
        assert!(!l.contains(&hex::encode([3u8; 32])));
        assert!(!l.contains("nope"));
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<BlobList>(&json).unwrap(), l);
    }
}
