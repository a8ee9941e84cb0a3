//! `codemods/http-requests/mapping.toml`, parsed once: which requests spellings map to which
//! httpx ones.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Mapping {
    pub positional: HashMap<String, Vec<String>>,
    pub exceptions: Vec<ExceptionMap>,
    pub client_keywords: Flavors,
    pub kept_keywords: Kept,
    pub unmappable_keywords: HashMap<String, String>,
    pub response: ResponseMap,
}

#[derive(Debug, Deserialize)]
pub struct ExceptionMap {
    pub requests: String,
    pub httpx: String,
    #[serde(default = "yes")]
    pub exact: bool,
    #[serde(default)]
    pub safe_after: Vec<String>,
    #[serde(default)]
    pub note: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
pub struct Flavors {
    pub requests: Vec<String>,
    pub httpx: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Kept {
    pub requests: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct ResponseMap {
    pub same: Vec<String>,
    pub renamed: HashMap<String, String>,
}

pub fn mapping() -> &'static Mapping {
    static MAPPING: OnceLock<Mapping> = OnceLock::new();
    MAPPING.get_or_init(|| {
        toml::from_str(include_str!("../../../codemods/http-requests/mapping.toml"))
            .expect("codemods/http-requests/mapping.toml is valid")
    })
}

impl Mapping {
    /// The httpx class for a requests exception (`requests.exceptions.Timeout` or
    /// `requests.Timeout`).
    pub fn exception(&self, qualified: &str) -> Option<&ExceptionMap> {
        let short = qualified.replacen("requests.exceptions.", "requests.", 1);
        self.exceptions.iter().find(|e| e.requests == short)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mapping_parses_and_names_real_classes() {
        let m = super::mapping();
        assert_eq!(
            m.exception("requests.exceptions.RequestException")
                .map(|e| e.httpx.as_str()),
            Some("httpx.HTTPError")
        );
        assert!(m.positional.contains_key("post"));
    }
}
