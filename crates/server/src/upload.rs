//! Uploads: multipart forms whose file streams into the blob store with bounded memory.
//!
//! The file's bytes go through a channel to a blocking thread writing the blob (temp file, hash,
//! rename), while the async side computes Moodle's SHA-1 content hash on the way. The CSRF field
//! must come before the file and is checked before a byte of the file is stored.

use crate::error::AppError;
use crate::platform::Platform;
use axum::extract::Multipart;
use pf_domain::ids::{ActivityId, CourseId};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::io::Read;

/// Largest text field accepted in a multipart form.
const MAX_FIELD: usize = 1 << 20;

/// A file stored in the blob store from an upload.
#[derive(Debug, Clone)]
pub struct StoredUpload {
    /// Original file name (path components removed).
    pub filename: String,
    /// SHA-256, the blob key.
    pub sha256: String,
    /// Moodle's content hash.
    pub sha1: String,
    /// Bytes.
    pub size: i64,
    /// MIME type guessed from the name.
    pub mimetype: String,
}

/// A multipart form's text fields and its (single) file.
#[derive(Debug, Default)]
pub struct UploadForm {
    fields: HashMap<String, String>,
    /// The uploaded file, if one was chosen.
    pub file: Option<StoredUpload>,
}

impl UploadForm {
    /// A text field, empty when absent.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }
}

fn bad(e: impl std::fmt::Display) -> AppError {
    AppError::bad_request(format!("the upload could not be read: {e}"))
}

/// Reads a multipart form; `check_csrf` runs on the `csrf` field, which must precede the file.
pub async fn read_form(
    p: &Platform,
    mut multipart: Multipart,
    max_bytes: u64,
    check_csrf: impl Fn(&str) -> Result<(), AppError>,
) -> Result<UploadForm, AppError> {
    let mut form = UploadForm::default();
    let mut csrf_ok = false;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        if let Some(filename) = field.file_name().map(str::to_string) {
            if filename.is_empty() {
                continue; // no file chosen
            }
            if !csrf_ok {
                check_csrf("")?;
            }
            let filename = clean_filename(&filename);
            let (tx, rx) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(8);
            let blobs = p.blobs.clone();
            let writer = tokio::task::spawn_blocking(move || {
                blobs.put(&mut ChannelReader {
                    rx,
                    pending: Vec::new(),
                    pos: 0,
                })
            });
            let mut sha1 = Sha1::new();
            let mut size: u64 = 0;
            let mut failure = None;
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                size += chunk.len() as u64;
                if size > max_bytes {
                    failure = Some(AppError::new(
                        pf_api::ErrorCode::TooLarge,
                        format!("the file is larger than {max_bytes} bytes"),
                    ));
                    // Tell the writer to abandon its temp file rather than store a truncated blob.
                    let _ = tx.send(None).await;
                    break;
                }
                sha1.update(&chunk);
                if tx.send(Some(chunk.to_vec())).await.is_err() {
                    break;
                }
            }
            drop(tx);
            let stored = writer.await.map_err(AppError::internal)?;
            if let Some(e) = failure {
                return Err(e);
            }
            let stored = stored.map_err(AppError::internal)?;
            form.file = Some(StoredUpload {
                mimetype: guess_mimetype(&filename).to_string(),
                filename,
                sha256: stored.sha256,
                sha1: hex::encode(sha1.finalize()),
                size: stored.size as i64,
            });
        } else {
            let value = field.text().await.map_err(bad)?;
            if value.len() > MAX_FIELD {
                return Err(AppError::new(
                    pf_api::ErrorCode::TooLarge,
                    format!("the field {name} is too large"),
                ));
            }
            if name == "csrf" {
                check_csrf(&value)?;
                csrf_ok = true;
            }
            form.fields.insert(name, value);
        }
    }
    if !csrf_ok {
        check_csrf("")?;
    }
    Ok(form)
}

/// Records a stored upload as a file of the course (and activity).
pub async fn attach(
    p: &Platform,
    course: CourseId,
    activity: Option<ActivityId>,
    file: StoredUpload,
) -> Result<i64, AppError> {
    Ok(p.store
        .add_file(pf_store::NewFile {
            course,
            activity,
            sha256: file.sha256,
            sha1: file.sha1,
            size: file.size,
            filename: file.filename,
            filepath: "/".into(),
            mimetype: file.mimetype,
            component: "mod_resource".into(),
            filearea: "content".into(),
            itemid: 0,
            author: String::new(),
            license: "allrightsreserved".into(),
        })
        .await?)
}

/// Keeps the last path component and drops control characters.
pub fn clean_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned.chars().take(255).collect()
    }
}

/// The MIME type of a file name's extension (the types Moodle courses commonly carry).
pub fn guess_mimetype(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "odt" => "application/vnd.oasis.opendocument.text",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

/// A `Read` over chunks arriving on a channel (the blocking side of an upload).
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Option<Vec<u8>>>,
    pending: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.pending.len() {
            match self.rx.blocking_recv() {
                Some(Some(chunk)) => {
                    self.pending = chunk;
                    self.pos = 0;
                }
                Some(None) => return Err(std::io::Error::other("upload abandoned")),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_and_controls() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\Users\\x\\notes.pdf"), "notes.pdf");
        assert_eq!(clean_filename("a\nb.txt"), "ab.txt");
        assert_eq!(clean_filename(".."), "file");
        assert_eq!(guess_mimetype("Video.MP4"), "video/mp4");
    }
}
