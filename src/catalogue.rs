//! The catalogue of blocking calls: data in `codemods/catalogue.toml`, embedded at build time.
//!
//! Keeping it as data means a new blocking function or a new factory return type is a one-line
//! change to a TOML file, reviewed by people who know the library rather than the engine.

use std::collections::HashMap;

use serde::Deserialize;

/// The catalogue file as shipped in the binary.
pub const CATALOGUE_TOML: &str = include_str!("../codemods/catalogue.toml");

/// One blocking call as the engine matches it.
#[derive(Debug, Clone)]
pub struct BlockingCall {
    /// Fully qualified name: `requests.post`, `requests.Session.get`.
    pub name: String,
    pub recipe: String,
    pub reason: String,
    /// ruff / flake8-async codes whose `# noqa` also silences this finding.
    pub noqa: Vec<String>,
    /// The object must stay on the thread that created it (sqlite3): never a safe `to_thread`.
    pub thread_bound: bool,
    /// Came from the user's `extend-blocking-calls`, not the built-in catalogue.
    pub configured: bool,
    /// How costly the call usually is: the order in which an indirect finding lists what it
    /// blocks on.
    pub cost: Cost,
    /// For an entry (`Type.__enter__`): the constructor keywords, each with the literal it is
    /// given, under which entering makes one attempt and does not wait (`timeout=0`).
    pub no_wait: Vec<(String, String)>,
}

/// Cost classes, costliest first: what a reviewer should see first among the blocking calls
/// behind one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cost {
    /// A network or database round-trip.
    Network,
    /// A child process, or CPU-heavy work (model loads, inference).
    Process,
    /// A wait on a timer, another thread or the terminal.
    Wait,
    /// Reading or writing a file.
    File,
    /// File-system metadata (`exists`, `stat`, `makedirs`).
    Metadata,
}

impl Cost {
    /// The class a group gets when the catalogue does not say: by its recipe.
    fn of_recipe(recipe: &str) -> Cost {
        match recipe {
            "http-requests" | "to-thread" => Cost::Network,
            "subprocess" => Cost::Process,
            "file-io" => Cost::File,
            _ => Cost::Wait,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Catalogue {
    calls: HashMap<String, BlockingCall>,
    returns: HashMap<String, String>,
    aliases: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    blocking: Vec<RawGroup>,
    #[serde(default)]
    returns: HashMap<String, String>,
    #[serde(default)]
    aliases: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGroup {
    calls: Vec<String>,
    recipe: String,
    reason: String,
    #[serde(default)]
    noqa: Vec<String>,
    #[serde(default)]
    thread_bound: bool,
    #[serde(default)]
    cost: Option<Cost>,
    #[serde(default)]
    no_wait: Vec<String>,
}

impl Catalogue {
    /// The built-in catalogue. A malformed embedded file is a build defect, caught by the tests.
    pub fn builtin() -> Catalogue {
        Catalogue::parse(CATALOGUE_TOML).expect("codemods/catalogue.toml is valid")
    }

    pub fn parse(text: &str) -> Result<Catalogue, String> {
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut catalogue = Catalogue {
            calls: HashMap::new(),
            returns: raw.returns,
            aliases: raw.aliases,
        };
        for group in raw.blocking {
            let no_wait = group
                .no_wait
                .iter()
                .map(|written| no_wait_argument(written, &group.calls))
                .collect::<Result<Vec<_>, String>>()?;
            for name in group.calls {
                if catalogue.calls.contains_key(&name) {
                    return Err(format!("`{name}` is listed twice"));
                }
                let call = BlockingCall {
                    name: name.clone(),
                    recipe: group.recipe.clone(),
                    reason: group.reason.clone(),
                    noqa: group.noqa.clone(),
                    thread_bound: group.thread_bound,
                    configured: false,
                    cost: group.cost.unwrap_or_else(|| Cost::of_recipe(&group.recipe)),
                    no_wait: no_wait.clone(),
                };
                catalogue.calls.insert(name, call);
            }
        }
        Ok(catalogue)
    }

    /// Each ruff / flake8-async code the catalogue's calls correspond to, with the recipes
    /// that report those calls: what `--select ASYNC210` and `explain ASYNC210` mean.
    pub fn codes(&self) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        let mut codes: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for call in self.calls.values() {
            for code in &call.noqa {
                codes
                    .entry(code.clone())
                    .or_default()
                    .insert(call.recipe.clone());
            }
        }
        codes
    }

    /// Adds the user's `extend-blocking-calls`. A configured name that is already in the
    /// catalogue keeps the catalogue's recipe: it knows better how to fix it.
    pub fn extend(&mut self, names: &[String]) {
        for name in names {
            let name = self.canonical(name).to_string();
            self.calls.entry(name.clone()).or_insert(BlockingCall {
                name,
                recipe: "to-thread".into(),
                reason: "configured as blocking in [tool.unblock] extend-blocking-calls".into(),
                noqa: Vec::new(),
                thread_bound: false,
                configured: true,
                // A configured call is usually a remote API or a model the team knows is slow.
                cost: Cost::Network,
                no_wait: Vec::new(),
            });
        }
    }

    pub fn lookup(&self, qualified: &str) -> Option<&BlockingCall> {
        self.calls.get(qualified)
    }

    /// What calling (or reading the attribute) `qualified` evaluates to, when the catalogue knows.
    pub fn returns(&self, qualified: &str) -> Option<&str> {
        self.returns.get(qualified).map(String::as_str)
    }

    /// What reading the attribute `Type.attr` evaluates to: an exact `[returns]` entry, or the
    /// type's `Type.*` entry for libraries that hand out objects by attribute name
    /// (`client.mydb.users` in pymongo).
    pub fn attribute_returns(&self, ty: &str, attr: &str) -> Option<&str> {
        self.returns(&format!("{ty}.{attr}"))
            .or_else(|| self.returns(&format!("{ty}.*")))
    }

    pub fn canonical<'a>(&'a self, qualified: &'a str) -> &'a str {
        self.aliases
            .get(qualified)
            .map(String::as_str)
            .unwrap_or(qualified)
    }

    pub fn calls(&self) -> impl Iterator<Item = &BlockingCall> {
        self.calls.values()
    }
}

/// One `no-wait` entry, `keyword=literal`: only entries (`Type.__enter__`) have a constructor
/// whose arguments decide whether entering waits.
fn no_wait_argument(written: &str, calls: &[String]) -> Result<(String, String), String> {
    if let Some(call) = calls.iter().find(|c| !c.ends_with(".__enter__")) {
        return Err(format!(
            "`no-wait` applies to entries (`Type.__enter__`), not to `{call}`"
        ));
    }
    match written.split_once('=') {
        Some((keyword, literal)) if !keyword.trim().is_empty() && !literal.trim().is_empty() => {
            Ok((keyword.trim().to_string(), literal.trim().to_string()))
        }
        _ => Err(format!(
            "`no-wait` entry `{written}` is not `keyword=literal`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses_and_names_known_recipes() {
        let catalogue = Catalogue::builtin();
        assert!(catalogue.lookup("requests.post").is_some());
        for call in catalogue.calls() {
            assert!(
                crate::recipes::by_id(&call.recipe).is_some(),
                "{} names unknown recipe {}",
                call.name,
                call.recipe
            );
        }
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let text = r#"
            [[blocking]]
            calls = ["time.sleep"]
            recipe = "sleep"
            reason = "a"
            [[blocking]]
            calls = ["time.sleep"]
            recipe = "sleep"
            reason = "b"
        "#;
        assert!(Catalogue::parse(text).unwrap_err().contains("twice"));
    }

    #[test]
    fn configured_names_do_not_override_the_catalogue() {
        let mut catalogue = Catalogue::builtin();
        catalogue.extend(&["time.sleep".into(), "app.ml.encode".into()]);
        assert_eq!(catalogue.lookup("time.sleep").unwrap().recipe, "sleep");
        let configured = catalogue.lookup("app.ml.encode").unwrap();
        assert!(configured.configured);
        assert_eq!(configured.recipe, "to-thread");
    }
}
