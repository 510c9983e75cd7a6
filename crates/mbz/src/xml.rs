//! A small, hardened XML tree for Moodle backup parts.
//!
//! Moodle's backup XML is simple: elements, attributes and escaped text, no
//! namespaces, no CDATA, no DTD. [`parse`] refuses any `DOCTYPE` (so no
//! entity expansion or external entities can happen), any entity other
//! than the five predefined ones and character references, and nesting
//! deeper than the caller's limit. [`Element::to_moodle_xml`] writes the
//! tree back the way Moodle's `xml_writer` does: the exact prolog, no
//! self-closing tags, text escaped with `&amp; &lt; &gt;` only.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{MbzError, Result};

/// The XML declaration every Moodle backup part starts with.
pub const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A node of the tree: an element or a run of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Elem(Element),
    /// Unescaped character data.
    Text(String),
}

/// An XML element with its attributes (in document order) and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// Attributes, unescaped, in document order.
    pub attrs: Vec<(String, String)>,
    /// Child nodes in document order.
    pub children: Vec<Node>,
}

/// Parse one XML document. `path` names the part in error messages.
pub fn parse(bytes: &[u8], path: &str, max_depth: usize) -> Result<Element> {
    let text = std::str::from_utf8(bytes).map_err(|_| MbzError::xml(path, "not valid UTF-8"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let bad = |e: &dyn std::fmt::Display| MbzError::xml(path, e.to_string());
    loop {
        let ev = reader.read_event().map_err(|e| bad(&e))?;
        match ev {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(MbzError::xml(path, "content after the root element"));
            }
            Event::Start(s) => {
                if stack.len() >= max_depth {
                    return Err(MbzError::xml(
                        path,
                        format!("nesting deeper than {max_depth}"),
                    ));
                }
                stack.push(start_elem(&s, path)?);
            }
            Event::Empty(s) => {
                if stack.len() >= max_depth {
                    return Err(MbzError::xml(
                        path,
                        format!("nesting deeper than {max_depth}"),
                    ));
                }
                let el = start_elem(&s, path)?;
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| MbzError::xml(path, "unbalanced end tag"))?;
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| bad(&e))?;
                push_text(&mut stack, &s, path)?;
            }
            Event::CData(c) => {
                let s = c.decode().map_err(|e| bad(&e))?;
                push_text(&mut stack, &s, path)?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| bad(&e))?;
                let raw = format!("&{name};");
                let s = quick_xml::escape::unescape(&raw)
                    .map_err(|_| MbzError::xml(path, format!("unknown entity &{name};")))?;
                push_text(&mut stack, &s, path)?;
            }
            Event::DocType(_) => {
                return Err(MbzError::xml(
                    path,
                    "DOCTYPE is not allowed (entity expansion)",
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(MbzError::xml(path, "unexpected end of document"));
    }
    root.ok_or_else(|| MbzError::xml(path, "no root element"))
}

pub(crate) fn start_elem(s: &quick_xml::events::BytesStart<'_>, path: &str) -> Result<Element> {
    let name = std::str::from_utf8(s.name().as_ref())
        .map_err(|_| MbzError::xml(path, "bad tag name"))?
        .to_owned();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| MbzError::xml(path, e.to_string()))?;
        let key = std::str::from_utf8(a.key.as_ref())
            .map_err(|_| MbzError::xml(path, "bad attribute name"))?
            .to_owned();
        let value = a
            .unescape_value()
            .map_err(|e| MbzError::xml(path, e.to_string()))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Elem(el)),
        None => *root = Some(el),
    }
}

pub(crate) fn push_text(stack: &mut [Element], s: &str, path: &str) -> Result<()> {
    match stack.last_mut() {
        Some(parent) => {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(s);
            } else {
                parent.children.push(Node::Text(s.to_owned()));
            }
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(MbzError::xml(path, "text outside the root element")),
    }
}

impl Element {
    /// A new element with no attributes or children.
    pub fn new(name: &str) -> Self {
        Element {
            name: name.to_owned(),
            ..Element::default()
        }
    }

    /// Value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Set (or add) attribute `key`.
    pub fn set_attr(&mut self, key: &str, value: &str) {
        match self.attrs.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.attrs.push((key.to_owned(), value.to_owned())),
        }
    }

    /// Child elements in order.
    pub fn elems(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Elem(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Mutable child elements in order.
    pub fn elems_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Elem(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elems().find(|e| e.name == name)
    }

    /// First child element called `name`, mutably.
    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elems_mut().find(|e| e.name == name)
    }

    /// Follow a `/`-separated path of child names.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |e, n| e.child(n))
    }

    /// The element's own text (all direct text children joined).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// Text of the child `name`, if that child exists.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(Element::text)
    }

    /// Replace this element's content with a single text node.
    pub fn set_text(&mut self, value: &str) {
        self.children = if value.is_empty() {
            Vec::new()
        } else {
            vec![Node::Text(value.to_owned())]
        };
    }

    /// Set the text of child `name`; returns false if there is no such child.
    pub fn set_child_text(&mut self, name: &str, value: &str) -> bool {
        match self.child_mut(name) {
            Some(c) => {
                c.set_text(value);
                true
            }
            None => false,
        }
    }

    /// Append a child element, indented like Moodle does (two spaces per
    /// level; `depth` is this element's own depth, the root being 0).
    pub fn push_indented(&mut self, child: Element, depth: usize) {
        let inner = format!("\n{}", "  ".repeat(depth + 1));
        let outer = format!("\n{}", "  ".repeat(depth));
        if let Some(Node::Text(t)) = self.children.last() {
            if t.trim().is_empty() {
                self.children.pop();
            }
        }
        self.children.push(Node::Text(inner));
        self.children.push(Node::Elem(child));
        self.children.push(Node::Text(outer));
    }

    /// Structural equality that ignores whitespace-only text nodes.
    pub fn same_as(&self, other: &Element) -> bool {
        fn sig(e: &Element) -> Vec<&Node> {
            e.children
                .iter()
                .filter(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()))
                .collect()
        }
        if self.name != other.name || self.attrs != other.attrs {
            return false;
        }
        let (a, b) = (sig(self), sig(other));
        a.len() == b.len()
            && a.iter().zip(b.iter()).all(|(x, y)| match (x, y) {
                (Node::Elem(x), Node::Elem(y)) => x.same_as(y),
                (Node::Text(x), Node::Text(y)) => x == y,
                _ => false,
            })
    }

    /// A digest of the tree with the same notion of equality as
    /// [`Element::same_as`]; lets callers detect a change without keeping
    /// a copy of a large tree.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        fn feed(e: &Element, h: &mut sha2::Sha256) {
            h.update(b"<");
            h.update(e.name.as_bytes());
            for (k, v) in &e.attrs {
                h.update(b"\0");
                h.update(k.as_bytes());
                h.update(b"=");
                h.update(v.as_bytes());
            }
            h.update(b">");
            for n in &e.children {
                match n {
                    Node::Elem(c) => feed(c, h),
                    Node::Text(t) if t.trim().is_empty() => {}
                    Node::Text(t) => {
                        h.update(b"\x01");
                        h.update(t.as_bytes());
                        h.update(b"\x02");
                    }
                }
            }
            h.update(b"</>");
        }
        let mut h = sha2::Sha256::new();
        feed(self, &mut h);
        h.finalize().into()
    }

    /// Serialise as a Moodle backup part: prolog, then the tree.
    pub fn to_moodle_xml(&self) -> Vec<u8> {
        let mut out = String::with_capacity(1024);
        out.push_str(PROLOG);
        self.write_into(&mut out);
        out.into_bytes()
    }

    /// Append the start tag `<name attrs…>` (children ignored).
    pub(crate) fn write_open(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(v, out, true);
            out.push('"');
        }
        out.push('>');
    }

    /// Append the element as Moodle's writer would (no prolog).
    pub(crate) fn write_into(&self, out: &mut String) {
        self.write_open(out);
        for n in &self.children {
            match n {
                Node::Elem(e) => e.write_into(out),
                Node::Text(t) => escape_into(t, out, false),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Build `<name>text</name>`.
pub fn leaf(name: &str, text: &str) -> Element {
    let mut e = Element::new(name);
    e.set_text(text);
    e
}

pub(crate) fn escape_into(s: &str, out: &mut String, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_stable() {
        let src = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a id=\"1\">\n  <b>x &amp; &lt;y&gt; \"q\"</b>\n  <c></c>\n</a>";
        let el = parse(src.as_bytes(), "t", 8).unwrap();
        assert_eq!(el.child_text("b").unwrap(), "x & <y> \"q\"");
        assert_eq!(String::from_utf8(el.to_moodle_xml()).unwrap(), src);
    }

    #[test]
    fn refuses_doctype_and_depth() {
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
        assert!(matches!(
            parse(bomb.as_bytes(), "t", 8),
            Err(MbzError::Xml { .. })
        ));
        let deep = "<a>".repeat(10) + &"</a>".repeat(10);
        assert!(parse(deep.as_bytes(), "t", 8).is_err());
        assert!(parse(b"<a>&foo;</a>", "t", 8).is_err());
        assert!(parse(b"<a><b></a>", "t", 8).is_err());
        assert!(parse(b"<a></a><b></b>", "t", 8).is_err());
    }
}
