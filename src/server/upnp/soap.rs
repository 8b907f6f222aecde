//! SOAP 1.1 as UPnP control uses it (UPnP Device Architecture 1.1, §3): the action and its
//! arguments read from a request envelope, the response envelope with out-arguments, and the
//! fault envelope with a `UPnPError` code.
//!
//! Reads untrusted XML with quick-xml: no DTD (a `<!DOCTYPE` is refused, so no entity can
//! expand), the five predefined entities and character references only, a bounded count of
//! arguments. Knows no service.

use std::fmt::Write;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::server::markup::escape_into;

/// Arguments one action may carry (Browse and Search have six).
const MAX_ARGS: usize = 32;

/// An action call: its name and its in-arguments in order.
#[derive(Debug, PartialEq)]
pub struct Call {
    pub action: String,
    pub args: Vec<(String, String)>,
}

impl Call {
    /// An in-argument's value.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why an envelope could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SoapError {
    #[error("the body is not a SOAP envelope: {0}")]
    Malformed(String),
}

fn local(name: &[u8]) -> String {
    let n = name.rsplit(|b| *b == b':').next().unwrap_or(name);
    String::from_utf8_lossy(n).into_owned()
}

/// Reads the action and arguments of a SOAP request body.
pub fn parse(body: &str) -> Result<Call, SoapError> {
    let bad = |m: String| SoapError::Malformed(m);
    let mut r = Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut action: Option<String> = None;
    let mut args: Vec<(String, String)> = Vec::new();
    loop {
        let ev = r.read_event().map_err(|e| bad(e.to_string()))?;
        match ev {
            Event::DocType(_) => return Err(bad("a DOCTYPE is not allowed".into())),
            Event::Start(e) | Event::Empty(e) if path.len() > 4 => return Err(bad(format!("{} is nested too deep", local(e.name().as_ref())))),
            Event::Start(e) => {
                let name = local(e.name().as_ref());
                enter(&mut path, &name, &mut action, &mut args)?;
                path.push(name);
            }
            Event::Empty(e) => {
                let name = local(e.name().as_ref());
                enter(&mut path, &name, &mut action, &mut args)?;
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) if path.len() == 4 => {
                let s = t.decode().map_err(|e| bad(e.to_string()))?;
                push_text(&mut args, &s);
            }
            Event::CData(t) if path.len() == 4 => {
                let s = t.decode().map_err(|e| bad(e.to_string()))?;
                push_text(&mut args, &s);
            }
            Event::GeneralRef(g) if path.len() == 4 => {
                let c = match g.resolve_char_ref().map_err(|e| bad(e.to_string()))? {
                    Some(c) => c,
                    None => match g.decode().map_err(|e| bad(e.to_string()))?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(bad(format!("unknown entity &{other};"))),
                    },
                };
                push_text(&mut args, c.encode_utf8(&mut [0; 4]));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let action = action.ok_or_else(|| bad("no action in the body".into()))?;
    Ok(Call { action, args })
}

fn push_text(args: &mut [(String, String)], s: &str) {
    if let Some((_, v)) = args.last_mut() {
        v.push_str(s);
    }
}

/// Checks the element `name` entering at `path`'s depth and records actions and arguments.
fn enter(path: &mut [String], name: &str, action: &mut Option<String>, args: &mut Vec<(String, String)>) -> Result<(), SoapError> {
    let bad = |m: &str| SoapError::Malformed(m.into());
    match path.len() {
        0 if name != "Envelope" => Err(bad("the root element is not Envelope")),
        2 if path[1] == "Body" => {
            if action.is_some() {
                return Err(bad("the body holds more than one action"));
            }
            *action = Some(name.to_string());
            Ok(())
        }
        3 if path[1] == "Body" => {
            if args.len() >= MAX_ARGS {
                return Err(bad("too many arguments"));
            }
            args.push((name.to_string(), String::new()));
            Ok(())
        }
        _ => Ok(()),
    }
}

const HEAD: &str = r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>"#;
const TAIL: &str = "</s:Body></s:Envelope>";

/// The response envelope of `action` of `service_type` with its out-arguments (escaped here).
pub fn response(service_type: &str, action: &str, out: &[(&str, &str)]) -> String {
    let mut s = String::with_capacity(256 + out.iter().map(|(_, v)| v.len() * 5 / 4).sum::<usize>());
    s.push_str(HEAD);
    let _ = write!(s, r#"<u:{action}Response xmlns:u="{service_type}">"#);
    for (k, v) in out {
        let _ = write!(s, "<{k}>");
        escape_into(v, &mut s);
        let _ = write!(s, "</{k}>");
    }
    let _ = write!(s, "</u:{action}Response>{TAIL}");
    s
}

/// The fault envelope of a UPnP error (sent with HTTP 500).
pub fn fault(code: u16, description: &str) -> String {
    let mut s = String::from(HEAD);
    s.push_str(r#"<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">"#);
    let _ = write!(s, "<errorCode>{code}</errorCode><errorDescription>");
    escape_into(description, &mut s);
    s.push_str("</errorDescription></UPnPError></detail></s:Fault>");
    s.push_str(TAIL);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSE: &str = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<s:Body><u:Browse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1">
<ObjectID>album/3</ObjectID><BrowseFlag>BrowseDirectChildren</BrowseFlag><Filter>*</Filter>
<StartingIndex>0</StartingIndex><RequestedCount>10</RequestedCount><SortCriteria/>
<SearchCriteria>dc:title contains &quot;R&amp;B&quot; &#x41;</SearchCriteria>
</u:Browse></s:Body></s:Envelope>"#;

    #[test]
    fn reads_an_action_and_its_arguments() {
        let c = parse(BROWSE).unwrap();
        assert_eq!(c.action, "Browse");
        assert_eq!(c.arg("ObjectID"), Some("album/3"));
        assert_eq!(c.arg("RequestedCount"), Some("10"));
        assert_eq!(c.arg("SortCriteria"), Some(""));
        assert_eq!(c.arg("SearchCriteria"), Some("dc:title contains \"R&B\" A"));
    }

    #[test]
    fn refuses_what_is_not_an_envelope() {
        for body in [
            "",
            "<x/>",
            "<s:Envelope><s:Body></s:Body></s:Envelope>",
            r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><s:Envelope><s:Body><u:A><B>&a;</B></u:A></s:Body></s:Envelope>"#,
            "<s:Envelope><s:Body><u:A><B>&nope;</B></u:A></s:Body></s:Envelope>",
            "<s:Envelope><s:Body><u:A/><u:B/></s:Body></s:Envelope>",
            "<s:Envelope><s:Body><u:A><B><C><D>x</D></C></B></u:A></s:Body></s:Envelope>",
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
    }

    #[test]
    fn answers_escape_their_values() {
        let r = response("urn:x:1", "Browse", &[("Result", "<DIDL-Lite/>")]);
        assert!(r.contains(r#"<u:BrowseResponse xmlns:u="urn:x:1"><Result>&lt;DIDL-Lite/&gt;</Result></u:BrowseResponse>"#));
        assert!(fault(701, "No such object").contains("<errorCode>701</errorCode>"));
    }
}
