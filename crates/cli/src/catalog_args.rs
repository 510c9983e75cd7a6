//! Arguments of catalog indexing (`course index --strategy catalog`): the descriptive metadata
//! the catalog keeps with the idnumber it allocates (SPEC §5.1).

use clap::Args;
use std::path::PathBuf;

/// `--authors`, `--licence`, `--terms-file`, `--level`, `--discipline`, `--summary`.
#[derive(Debug, Args, Default)]
pub struct IndexMetaArgs {
    /// Catalog strategy: the course's authors.
    #[arg(long)]
    pub authors: Option<String>,
    /// Catalog strategy: the licence (e.g. CC-BY-4.0).
    #[arg(long)]
    pub licence: Option<String>,
    /// Catalog strategy: a file holding the terms of use deployers must accept.
    #[arg(long)]
    pub terms_file: Option<PathBuf>,
    /// Catalog strategy: the level.
    #[arg(long)]
    pub level: Option<String>,
    /// Catalog strategy: the discipline.
    #[arg(long)]
    pub discipline: Option<String>,
    /// Catalog strategy: a summary.
    #[arg(long)]
    pub summary: Option<String>,
}

impl IndexMetaArgs {
    /// Whether any metadata flag was given.
    pub fn any(&self) -> bool {
        self.authors.is_some()
            || self.licence.is_some()
            || self.terms_file.is_some()
            || self.level.is_some()
            || self.discipline.is_some()
            || self.summary.is_some()
    }
}
