//! The course's `files.xml` and `questions.xml` grow with it: a graft copies
//! the course's part record by record and appends the backup's records as it
//! reads them ([`crate::stream`]), so neither part is held in memory.

use std::io::BufWriter;

use crate::error::{MbzError, Result};
use crate::limits::Limits;
use crate::model::PartRef;
use crate::staging::{BlobSource, HashCount, StagingSink};
use crate::stream::{checked, Records, Rewriter};
use crate::xml::Element;

/// Write a new part `path`: the course's `dst` (or an empty `<root_name>`) with
/// every record of the backup's `src` that `pick` keeps (transformed)
/// appended as Moodle indents them. `None` when `pick` kept nothing (then
/// nothing is staged).
pub(crate) fn append_records<B: BlobSource, S: StagingSink>(
    blobs: &B,
    sink: &mut S,
    (path, root_name): (&str, &str),
    dst: Option<&PartRef>,
    src: &PartRef,
    limits: &Limits,
    mut pick: impl FnMut(Element) -> Result<Option<Element>>,
) -> Result<Option<PartRef>> {
    let open = |p: &PartRef| {
        blobs
            .open_blob(&p.sha256)
            .map_err(|_| MbzError::MissingBlob(p.sha256.clone()))
    };
    let pending = sink.begin()?;
    let mut w = HashCount::new(BufWriter::with_capacity(64 << 10, pending));
    let res = (|| -> Result<bool> {
        let mut rw = match dst {
            Some(d) => {
                let mut recs = Records::open(checked(open(d)?), path, limits)?;
                let mut rw = Rewriter::new(&mut w, &recs.root)?;
                while let Some((text, rec)) = recs.next_step()? {
                    rw.text(text);
                    if let Some(rec) = rec {
                        rw.keep(&rec)?;
                    }
                }
                rw
            }
            None => Rewriter::new(&mut w, &Element::new(root_name))?,
        };
        let mut any = false;
        let mut recs = Records::open(checked(open(src)?), path, limits)?;
        while let Some((_, rec)) = recs.next_step()? {
            if let Some(e) = rec.map(&mut pick).transpose()?.flatten() {
                rw.append(&e)?;
                any = true;
            }
        }
        rw.finish(false)?;
        Ok(any)
    })();
    let (buf, sha256, size) = w.finish();
    let pending = match buf.into_inner() {
        Ok(p) => p,
        Err(e) => {
            let (err, bw) = e.into_parts();
            sink.abort(bw.into_parts().0);
            return Err(err.into());
        }
    };
    match res {
        Ok(true) => {
            sink.commit(pending, &sha256)?;
            Ok(Some(PartRef { sha256, size }))
        }
        Ok(false) => {
            sink.abort(pending);
            Ok(None)
        }
        Err(e) => {
            sink.abort(pending);
            Err(e)
        }
    }
}
