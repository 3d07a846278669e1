//! A strict reader of the small XML documents buyers take: one root element, well formed,
//! no DTD (the usual guard against entity expansion), read into a tree of elements.

use super::check::{Body, Input};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

#[derive(Debug, Default)]
pub(crate) struct Element {
    pub name: String,
    pub children: Vec<Element>,
    /// The text directly inside this element, entities and CDATA resolved.
    pub text: String,
}

/// Reads a whole document; `Err` says why it is not one a buyer would read.
pub(crate) fn parse(document: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(document);
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("malformed XML: {e}"))?;
        match event {
            Event::Start(start) => open.push(Element { name: start.name().0.to_string(), ..Element::default() }),
            Event::Empty(start) => {
                close(Element { name: start.name().0.to_string(), ..Element::default() }, &mut open, &mut root)?
            }
            Event::End(_) => match open.pop() {
                Some(element) => close(element, &mut open, &mut root)?,
                None => return Err("malformed XML: an end tag closes nothing".into()),
            },
            Event::Text(text) => append(&mut open, &text.xml10_content())?,
            Event::CData(data) => append(&mut open, &data.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => resolve_predefined_entity(&reference.xml10_content())
                        .ok_or("malformed XML: an entity that is not one of XML's own")?
                        .to_string(),
                    Err(e) => return Err(format!("malformed XML: {e}")),
                };
                append(&mut open, &resolved)?;
            }
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !open.is_empty() {
        return Err("malformed XML: an element is not closed".into());
    }
    root.ok_or_else(|| "no XML document".into())
}

/// Puts a finished element in its parent, or makes it the root.
fn close(element: Element, open: &mut [Element], root: &mut Option<Element>) -> Result<(), String> {
    match open.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err("malformed XML: more than one root element".into()),
    }
    Ok(())
}

fn append(open: &mut [Element], text: &str) -> Result<(), String> {
    match open.last_mut() {
        Some(element) => element.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err("malformed XML: text outside the root element".into()),
    }
    Ok(())
}

impl Element {
    /// The only child of this name; `Err` if there are several.
    fn child(&self, name: &str) -> Result<Option<&Element>, String> {
        let mut found = self.children.iter().filter(|c| c.name == name);
        match (found.next(), found.next()) {
            (Some(_), Some(_)) => Err(format!("<{name}> appears more than once")),
            (one, _) => Ok(one),
        }
    }
}

/// Dotted names are elements nested under the root: `contact.phone` is `<contact><phone>`.
impl Body for Element {
    fn field(&self, name: &str) -> Result<Option<Input<'_>>, String> {
        let mut element = self;
        for part in name.split('.') {
            match element.child(part)? {
                Some(child) => element = child,
                None => return Ok(None),
            }
        }
        if element.children.is_empty() {
            Ok(Some(Input::Text(&element.text)))
        } else {
            Err("must be text, not elements".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_entities_and_cdata() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<lead><contact><first_name>Ann &amp; &#x42;ob</first_name><note><![CDATA[a <b> ]]></note></contact></lead>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "lead");
        let name = root.field("contact.first_name").unwrap().unwrap().text().unwrap();
        assert_eq!(name, "Ann & Bob");
        let note = root.field("contact.note").unwrap().unwrap().text().unwrap();
        assert_eq!(note, "a <b> ");
        assert!(root.field("contact.phone").unwrap().is_none());
        assert!(root.field("contact").is_err(), "an element with children is no value");
    }

    #[test]
    fn refuses_what_is_not_one_well_formed_document() {
        for doc in [
            "<lead><a>1</b></lead>",
            "<lead><a>1</a>",
            "<lead/><lead/>",
            "text<lead/>",
            "<!DOCTYPE lead [<!ENTITY x \"y\">]><lead>&x;</lead>",
            "<lead>&nbsp;</lead>",
            "",
        ] {
            assert!(parse(doc).is_err(), "{doc:?} was read");
        }
    }

    #[test]
    fn a_field_twice_is_refused() {
        let root = parse("<lead><contact><zip>1</zip><zip>2</zip></contact></lead>").unwrap();
        assert!(root.field("contact.zip").is_err());
    }
}
