-- The scanner's passed verdict on a transport archive: the manifest hash ("the whole") it was
-- given for and the scanner version. Reused before an offer only while both still match.
CREATE TABLE archive_scans (
    archive_id      BIGINT PRIMARY KEY REFERENCES course_archives (id) ON DELETE CASCADE,
    manifest_sha256 TEXT NOT NULL,
    scanner         TEXT NOT NULL,
    scanned_at      BIGINT NOT NULL
);
