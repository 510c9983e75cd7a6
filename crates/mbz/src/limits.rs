//! Resource limits applied while reading an archive.

use serde::{Deserialize, Serialize};

/// Limits that protect the reader against hostile archives.
///
/// The defaults follow SPEC §11: an archive is refused once it expands past
/// `bomb_ratio` × the compressed bytes read so far *and* past
/// `bomb_threshold_bytes`, or past `max_total_bytes` whatever the ratio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Expansion ratio (expanded / compressed) refused once over the threshold.
    pub bomb_ratio: u64,
    /// Expanded size above which the ratio check applies.
    pub bomb_threshold_bytes: u64,
    /// Absolute cap on expanded bytes.
    pub max_total_bytes: u64,
    /// Largest XML (or other non-blob) part read into memory; also the
    /// largest single record of a streamed part.
    pub max_xml_bytes: u64,
    /// Largest part processed record by record instead of whole
    /// (`files.xml`, `questions.xml`: they grow with the course).
    #[serde(default = "default_stream_xml_bytes")]
    pub max_stream_xml_bytes: u64,
    /// Largest single entry of any kind.
    pub max_entry_bytes: u64,
    /// Deepest XML element nesting accepted.
    pub max_xml_depth: usize,
    /// Most entries accepted in one archive.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bomb_ratio: 100,
            bomb_threshold_bytes: 256 << 20,
            max_total_bytes: 50 << 30,
            max_xml_bytes: 64 << 20,
            max_stream_xml_bytes: default_stream_xml_bytes(),
            max_entry_bytes: 50 << 30,
            max_xml_depth: 64,
            max_entries: 2_000_000,
        }
    }
}

fn default_stream_xml_bytes() -> u64 {
    4 << 30
}
