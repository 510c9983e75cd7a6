-- Catalog indexing (SPEC §5.1): the idnumbers a catalog allocated, with the descriptive metadata
-- recorded at allocation (authors, licence, terms of use, level, discipline, summary). The
-- catalog keeps them by idnumber, so every version published under that idnumber carries them;
-- a factory keeps its own copy of what it sent. `source` is the key id of the platform that asked
-- ('' when recorded locally).

CREATE TABLE course_index (
    idnumber   TEXT PRIMARY KEY NOT NULL,
    source     TEXT NOT NULL,
    authors    TEXT NOT NULL DEFAULT '',
    licence    TEXT NOT NULL DEFAULT '',
    terms      TEXT NOT NULL DEFAULT '',
    level      TEXT NOT NULL DEFAULT '',
    discipline TEXT NOT NULL DEFAULT '',
    summary    TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
