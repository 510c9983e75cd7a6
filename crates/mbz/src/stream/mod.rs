//! Record-by-record reading and rewriting of the parts that grow with the
//! course: `files.xml` (about 1 KB per file) and `questions.xml`.
//!
//! [`Records`] reads such a part with the same protections as
//! [`crate::xml::parse`] (no DOCTYPE, only predefined entities and
//! character references, a depth limit, UTF-8), but hands out one child of
//! the root element at a time, with the text that precedes it, so memory is
//! bounded by the largest record ([`Limits::max_xml_bytes`]) rather than the
//! part ([`Limits::max_stream_xml_bytes`]). [`Rewriter`] writes a part back
//! as it goes, byte for byte as [`crate::xml::Element::to_moodle_xml`] would
//! write the same tree, so streaming changes no output.

mod bytes;
pub(crate) mod strip;

pub(crate) use bytes::{checked, Capped, Counter};

use std::io::{self, BufRead, Write};

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{MbzError, Result};
use crate::limits::Limits;
use crate::xml::{self, Element, Node};

/// Whether `path` is a part processed record by record.
pub(crate) fn is_streamed(path: &str) -> bool {
    matches!(path, "files.xml" | "questions.xml")
}

/// The size cap of a part: streamed parts get the larger one.
pub(crate) fn part_cap(path: &str, limits: &Limits) -> u64 {
    if is_streamed(path) {
        limits.max_stream_xml_bytes.max(limits.max_xml_bytes)
    } else {
        limits.max_xml_bytes
    }
}

/// One step of a streamed part: the text before a record (empty when there
/// is none) and the record, or the text before the root's end tag.
pub(crate) type Step = (String, Option<Element>);

/// Reads a streamed part one record (child of the root element) at a time.
pub(crate) struct Records<R: BufRead> {
    reader: Reader<Capped<R>>,
    buf: Vec<u8>,
    path: String,
    max_depth: usize,
    /// The root element (attributes only; its children are streamed).
    pub(crate) root: Element,
    done: bool,
}

impl<R: BufRead> Records<R> {
    /// Open a part: reads up to and including the root's start tag.
    pub(crate) fn open(input: R, path: &str, limits: &Limits) -> Result<Self> {
        let capped = Capped::new(input, limits.max_xml_bytes, part_cap(path, limits));
        let mut reader = Reader::from_reader(capped);
        reader.config_mut().check_end_names = true;
        let mut me = Records {
            reader,
            buf: Vec::new(),
            path: path.to_owned(),
            max_depth: limits.max_xml_depth,
            root: Element::default(),
            done: false,
        };
        loop {
            match me.event()? {
                Ev::Start(e) => {
                    me.root = e;
                    break;
                }
                Ev::Empty(e) => {
                    me.root = e;
                    me.done = true;
                    me.trailer()?;
                    break;
                }
                Ev::Text(t) if t.trim().is_empty() => {}
                Ev::Text(_) => return Err(me.err("text outside the root element")),
                Ev::End => return Err(me.err("unbalanced end tag")),
                Ev::Eof => return Err(me.err("no root element")),
            }
        }
        if me.max_depth == 0 {
            return Err(me.err(format!("nesting deeper than {}", me.max_depth)));
        }
        Ok(me)
    }

    fn err(&self, reason: impl Into<String>) -> MbzError {
        MbzError::xml(&self.path, reason)
    }

    /// The next event, simplified; XML errors and caps mapped to errors.
    fn event(&mut self) -> Result<Ev> {
        loop {
            self.buf.clear();
            let res = self.reader.read_event_into(&mut self.buf);
            let tripped = self.reader.get_mut().over();
            if tripped {
                let r = self.reader.get_ref();
                return Err(MbzError::EntryTooLarge {
                    path: self.path.clone(),
                    size: r.pos(),
                    limit: r.limit_hit(),
                });
            }
            let ev = res.map_err(|e| MbzError::xml(&self.path, io_reason(&e)))?;
            let bad = |e: &dyn std::fmt::Display| MbzError::xml(&self.path, e.to_string());
            return Ok(match ev {
                Event::Start(s) => Ev::Start(xml::start_elem(&s, &self.path)?),
                Event::Empty(s) => Ev::Empty(xml::start_elem(&s, &self.path)?),
                Event::End(_) => Ev::End,
                Event::Text(t) => Ev::Text(t.decode().map_err(|e| bad(&e))?.into_owned()),
                Event::CData(c) => Ev::Text(c.decode().map_err(|e| bad(&e))?.into_owned()),
                Event::GeneralRef(r) => {
                    let name = r.decode().map_err(|e| bad(&e))?;
                    let raw = format!("&{name};");
                    let s = quick_xml::escape::unescape(&raw).map_err(|_| {
                        MbzError::xml(&self.path, format!("unknown entity &{name};"))
                    })?;
                    Ev::Text(s.into_owned())
                }
                Event::DocType(_) => {
                    return Err(self.err("DOCTYPE is not allowed (entity expansion)"));
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
                Event::Eof => Ev::Eof,
            });
        }
    }

    /// After the root: only whitespace may follow.
    fn trailer(&mut self) -> Result<()> {
        loop {
            match self.event()? {
                Ev::Eof => return Ok(()),
                Ev::Text(t) if t.trim().is_empty() => {}
                Ev::Text(_) => return Err(self.err("text outside the root element")),
                _ => return Err(self.err("content after the root element")),
            }
        }
    }

    /// The next record with the text before it; `(text, None)` once at the
    /// root's end tag; then `None`.
    pub(crate) fn next_step(&mut self) -> Result<Option<Step>> {
        if self.done {
            return Ok(None);
        }
        let mut text = String::new();
        loop {
            self.reader.get_mut().mark();
            match self.event()? {
                Ev::Text(t) => text.push_str(&t),
                Ev::End => {
                    self.done = true;
                    self.trailer()?;
                    return Ok(Some((text, None)));
                }
                Ev::Eof => return Err(self.err("unexpected end of document")),
                Ev::Empty(e) => {
                    self.depth_ok(1)?;
                    return Ok(Some((text, Some(e))));
                }
                Ev::Start(e) => {
                    self.depth_ok(1)?;
                    let rec = self.record(e)?;
                    return Ok(Some((text, Some(rec))));
                }
            }
        }
    }

    /// `open` elements below the root must fit under the depth limit.
    fn depth_ok(&self, open: usize) -> Result<()> {
        if open >= self.max_depth {
            return Err(self.err(format!("nesting deeper than {}", self.max_depth)));
        }
        Ok(())
    }

    /// Read the rest of a record whose start tag was `first`.
    fn record(&mut self, first: Element) -> Result<Element> {
        let mut stack = vec![first];
        loop {
            match self.event()? {
                Ev::Start(e) => {
                    self.depth_ok(stack.len() + 1)?;
                    stack.push(e);
                }
                Ev::Empty(e) => {
                    self.depth_ok(stack.len() + 1)?;
                    if let Some(p) = stack.last_mut() {
                        p.children.push(Node::Elem(e));
                    }
                }
                Ev::End => {
                    let el = stack.pop().ok_or_else(|| self.err("unbalanced end tag"))?;
                    match stack.last_mut() {
                        Some(p) => p.children.push(Node::Elem(el)),
                        None => return Ok(el),
                    }
                }
                Ev::Text(t) => xml::push_text(&mut stack, &t, &self.path)?,
                Ev::Eof => return Err(self.err("unexpected end of document")),
            }
        }
    }
}

/// The reason of an XML error, with "not valid UTF-8" for decoding errors.
pub(crate) fn io_reason(e: &quick_xml::Error) -> String {
    match e {
        quick_xml::Error::Io(io) if io.kind() == io::ErrorKind::InvalidData => {
            "not valid UTF-8".into()
        }
        e => e.to_string(),
    }
}

enum Ev {
    Start(Element),
    Empty(Element),
    End,
    Text(String),
    Eof,
}

/// Writes a part record by record, exactly as the equivalent tree edit
/// followed by [`Element::to_moodle_xml`] would.
pub(crate) struct Rewriter<W: Write> {
    out: W,
    root_name: String,
    /// Text nodes after the last element written, not yet written.
    pending: Vec<String>,
    wrote_elem: bool,
    scratch: String,
}

impl<W: Write> Rewriter<W> {
    /// Write the prolog and `root`'s start tag.
    pub(crate) fn new(mut out: W, root: &Element) -> io::Result<Self> {
        let mut s = String::from(xml::PROLOG);
        root.write_open(&mut s);
        out.write_all(s.as_bytes())?;
        s.clear();
        Ok(Rewriter {
            out,
            root_name: root.name.clone(),
            pending: Vec::new(),
            wrote_elem: false,
            scratch: s,
        })
    }

    /// A text node of the original.
    pub(crate) fn text(&mut self, t: String) {
        if !t.is_empty() {
            self.pending.push(t);
        }
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        for t in self.pending.drain(..) {
            self.scratch.clear();
            xml::escape_into(&t, &mut self.scratch, false);
            self.out.write_all(self.scratch.as_bytes())?;
        }
        Ok(())
    }

    fn write_elem(&mut self, e: &Element) -> io::Result<()> {
        self.flush_pending()?;
        self.scratch.clear();
        e.write_into(&mut self.scratch);
        self.out.write_all(self.scratch.as_bytes())?;
        self.wrote_elem = true;
        Ok(())
    }

    /// Keep a record in place.
    pub(crate) fn keep(&mut self, e: &Element) -> io::Result<()> {
        self.write_elem(e)
    }

    /// Drop a record and merge the whitespace around it (the text before it
    /// goes, the text after it stays).
    pub(crate) fn drop_merged(&mut self) {
        self.pending.clear();
    }

    /// Append a record as [`Element::push_indented`] at depth 0 does.
    pub(crate) fn append(&mut self, e: &Element) -> io::Result<()> {
        if self.pending.last().is_some_and(|t| t.trim().is_empty()) {
            self.pending.pop();
        }
        self.pending.push("\n  ".into());
        self.write_elem(e)?;
        self.pending.push("\n".into());
        Ok(())
    }

    /// Write the end tag. With `empty_as_newline`, a root left without any
    /// element gets a single newline as its content.
    pub(crate) fn finish(mut self, empty_as_newline: bool) -> io::Result<W> {
        if empty_as_newline && !self.wrote_elem {
            self.pending = vec!["\n".into()];
        }
        self.flush_pending()?;
        write!(self.out, "</{}>", self.root_name)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::bytes::Utf8Check;
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_xml_bytes: 200,
            max_stream_xml_bytes: 10_000,
            max_xml_depth: 4,
            ..Limits::default()
        }
    }

    fn copy(src: &str, l: &Limits) -> Result<String> {
        let mut r = Records::open(src.as_bytes(), "files.xml", l)?;
        let mut w = Rewriter::new(Vec::new(), &r.root)?;
        while let Some((t, e)) = r.next_step()? {
            w.text(t);
            if let Some(e) = e {
                w.keep(&e)?;
            }
        }
        Ok(String::from_utf8(w.finish(false)?).unwrap())
    }

    #[test]
    fn copies_like_the_tree_writer() {
        let src = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<files a=\"&quot;x\">\n  <file id=\"1\">\n    <n>a &amp; &lt;b&gt; &#65;</n>\n    <e/>\n  </file>\n  <file id=\"2\"></file>\n</files>";
        let tree = xml::parse(src.as_bytes(), "t", 8).unwrap().to_moodle_xml();
        assert_eq!(copy(src, &limits()).unwrap().as_bytes(), &tree[..]);
        let empty = "<files/>";
        assert_eq!(
            copy(empty, &limits()).unwrap(),
            format!("{}<files></files>", xml::PROLOG)
        );
    }

    #[test]
    fn refuses_what_the_parser_refuses() {
        let l = limits();
        for bad in [
            "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            "<a><b><c><d><e></e></d></c></b></a>",
            "<a>&foo;</a>",
            "<a><b></a>",
            "<a></a><b></b>",
            "<a></a>x",
            "<a><b>",
            "",
        ] {
            assert!(
                matches!(copy(bad, &l), Err(MbzError::Xml { .. })),
                "{bad}: {:?}",
                copy(bad, &l)
            );
        }
        let big_record = format!("<a><b>{}</b></a>", "x".repeat(500));
        assert!(matches!(
            copy(&big_record, &l),
            Err(MbzError::EntryTooLarge { .. })
        ));
        let many = format!("<a>{}</a>", "<b>x</b>".repeat(2000));
        assert!(matches!(
            copy(&many, &l),
            Err(MbzError::EntryTooLarge { .. })
        ));
        let fine = format!("<a>{}</a>", "<b>x</b>".repeat(1000));
        assert!(copy(&fine, &l).is_ok());
    }

    #[test]
    fn utf8_is_checked_across_chunks() {
        use std::io::Read;
        let ok = "aé€𝄞z".repeat(50);
        for size in 1..6 {
            let mut r = Utf8Check::new(ChunkReader(ok.as_bytes(), size));
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            assert_eq!(v, ok.as_bytes());
        }
        for bad in [&b"ab\xffcd"[..], b"a\xc3", b"\xe2\x82z", b"\xed\xa0\x80"] {
            for size in 1..4 {
                let mut r = Utf8Check::new(ChunkReader(bad, size));
                assert!(r.read_to_end(&mut Vec::new()).is_err(), "{bad:?}");
            }
        }
        let bad = b"<a><!-- \xff --></a>";
        let l = limits();
        assert!(matches!(
            Records::open(checked(&bad[..]), "t", &l).and_then(|mut r| r.next_step()),
            Err(MbzError::Xml { .. })
        ));
    }

    struct ChunkReader<'a>(&'a [u8], usize);
    impl std::io::Read for ChunkReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn edits_match_tree_edits() {
        let src = "<r>\n  <f>1</f>\n  <f>2</f>\n</r>";
        let mut r = Records::open(src.as_bytes(), "t", &limits()).unwrap();
        let mut w = Rewriter::new(Vec::new(), &r.root).unwrap();
        while let Some((t, e)) = r.next_step().unwrap() {
            w.text(t);
            if e.is_some() {
                w.drop_merged();
            }
        }
        let x = Element::new("x");
        w.append(&x).unwrap();
        w.append(&x).unwrap();
        let got = String::from_utf8(w.finish(true).unwrap()).unwrap();
        let mut tree = xml::parse(src.as_bytes(), "t", 8).unwrap();
        tree.children.retain(|n| !matches!(n, Node::Elem(_)));
        let keep_last = tree.children.pop().unwrap();
        tree.children = vec![keep_last];
        tree.push_indented(x.clone(), 0);
        tree.push_indented(x, 0);
        assert_eq!(got.as_bytes(), &tree.to_moodle_xml()[..]);
    }
}
