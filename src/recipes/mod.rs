//! The recipes: one file per recipe, each with its page and examples in `codemods/<id>/`.
//!
//! A recipe receives the catalogue calls the engine matched for it in async context
//! (`call_finding`) and may add structural findings of its own (`find`): a thread fan-out or a
//! polling loop is a group of statements, not one call. Either way it says which fix it offers
//! and how safe that fix is.

use crate::engine::scope::{CallNode, ScopeId};
use crate::engine::{CallSite, FileContext};
use crate::finding::{Finding, FixInfo};

/// The recipe that reports (and fixes) calls of project sync functions that block further down.
pub const INDIRECT_RECIPE: &str = "to-thread";

mod async_misuse;
mod executor;
mod file_io;
mod http_requests;
mod polling;
mod sleep;
mod subprocess;
mod thread_join;
mod to_thread;

pub trait Recipe: Sync {
    fn id(&self) -> &'static str;

    /// The recipe's page (`codemods/<id>/README.md`), embedded at build time.
    fn page(&self) -> &'static str;

    /// ruff / flake8-async codes that cover this recipe's structural findings.
    fn noqa(&self) -> &'static [&'static str] {
        &[]
    }

    /// The fix offered for a catalogue call of this recipe: `Ok(fix)` or `Err(why not)`.
    fn plan_call_fix(&self, cx: &FileContext, site: &CallSite) -> Result<Option<FixInfo>, String>;

    /// A catalogue call the engine matched for this recipe in async context. A recipe may
    /// decline a call (return `None`) when its structural finder reports it better.
    fn call_finding(&self, cx: &FileContext, site: &CallSite) -> Option<Finding> {
        let plan = match no_asyncio_rewrite(cx, site.in_generator) {
            Some(why) => Err(why),
            None => self.plan_call_fix(cx, site),
        };
        Some(cx.call_finding(self.id(), site, plan))
    }

    /// Catalogue calls (start bytes) that are part of another finding of this recipe and must
    /// not be reported on their own.
    fn covered_calls(&self, _cx: &FileContext, _sites: &[CallSite]) -> Vec<usize> {
        Vec::new()
    }

    /// A call in async code to a name that may be a project sync function which blocks further
    /// down: the indirect finding (and fix) to keep if the call graph says it does. Only the
    /// recipe named by [`INDIRECT_RECIPE`] offers one.
    fn project_call_finding(
        &self,
        _cx: &FileContext,
        _call: &CallNode,
        _function: ScopeId,
        _callee: String,
    ) -> Option<Finding> {
        None
    }

    /// Structural findings (statement groups) in the file, with the call sites they cover.
    fn find(&self, _cx: &FileContext, _out: &mut Vec<Finding>) {}

    /// The one-line summary: the first line of the page after its title.
    fn summary(&self) -> &'static str {
        self.page()
            .lines()
            .find(|l| !(l.starts_with('#') || l.trim().is_empty()))
            .unwrap_or("")
    }
}

/// Why no call can become an awaited asyncio call here, whatever the recipe: inside a generator
/// expression, or in a module that runs under trio or anyio.
pub fn no_asyncio_rewrite(cx: &FileContext, in_generator: bool) -> Option<String> {
    if in_generator {
        return Some(
            "`await` cannot go inside a generator expression without making it an async generator"
                .into(),
        );
    }
    cx.other_framework.map(|framework| {
        format!(
            "this module uses {framework}: an asyncio rewrite would not run under it (use {framework}.to_thread.run_sync / {framework}.sleep)"
        )
    })
}

static RECIPES: &[&dyn Recipe] = &[
    &http_requests::HttpRequests,
    &sleep::Sleep,
    &thread_join::ThreadJoin,
    &polling::Polling,
    &to_thread::ToThread,
    &file_io::FileIo,
    &subprocess::Subprocess,
    &executor::Executor,
    &async_misuse::AsyncMisuse,
];

pub fn all() -> &'static [&'static dyn Recipe] {
    RECIPES
}

pub fn by_id(id: &str) -> Option<&'static dyn Recipe> {
    RECIPES.iter().copied().find(|r| r.id() == id)
}

/// Whether `name` is a ruff / flake8-async code (`ASYNC251`, any case) rather than a recipe id.
pub fn is_code(name: &str) -> bool {
    name.len() > 5
        && name[..5].eq_ignore_ascii_case("ASYNC")
        && name[5..].chars().all(|c| c.is_ascii_digit())
}

/// The recipes whose findings a ruff / flake8-async code corresponds to (by the catalogue's
/// `noqa` codes and the recipes' own), empty for a code unblock has no counterpart of.
pub fn for_code(code: &str) -> Vec<&'static dyn Recipe> {
    static CODES: std::sync::OnceLock<
        std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    > = std::sync::OnceLock::new();
    let codes = CODES.get_or_init(|| {
        let mut codes = crate::catalogue::Catalogue::builtin().codes();
        for recipe in RECIPES {
            for code in recipe.noqa() {
                codes
                    .entry(code.to_string())
                    .or_default()
                    .insert(recipe.id().to_string());
            }
        }
        codes
    });
    let code = code.to_ascii_uppercase();
    RECIPES
        .iter()
        .copied()
        .filter(|r| codes.get(&code).is_some_and(|ids| ids.contains(r.id())))
        .collect()
}

/// Every code [`for_code`] knows, sorted.
pub fn known_codes() -> Vec<String> {
    let mut codes: Vec<String> = crate::catalogue::Catalogue::builtin()
        .codes()
        .into_keys()
        .chain(
            RECIPES
                .iter()
                .flat_map(|r| r.noqa().iter().map(|c| c.to_string())),
        )
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

/// A `--select` / `--ignore` / `select` / `ignore` entry: a recipe id or a code with a
/// counterpart; otherwise why not.
pub fn check_selector(name: &str) -> Result<(), String> {
    if by_id(name).is_some() || (is_code(name) && !for_code(name).is_empty()) {
        return Ok(());
    }
    if is_code(name) {
        return Err(format!(
            "`{name}` is not a code unblock reports (codes: {})",
            known_codes().join(", ")
        ));
    }
    Err(format!("no recipe `{name}` (see `unblock recipes`)"))
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::config::LoadedConfig;
    use crate::engine::{Engine, Selection};
    use crate::finding::Finding;

    /// Findings for a snippet, checked as module `example` with `extend` configured as blocking.
    pub fn check_with(text: &str, extend: &[&str]) -> Vec<Finding> {
        let mut config = LoadedConfig::default();
        config.config.extend_blocking_calls = extend.iter().map(|s| s.to_string()).collect();
        let engine = Engine::new(config, Selection::default());
        engine.check_text("example.py", "example", text).0
    }

    /// `(line, recipe)` of every finding in a snippet.
    pub fn lines(text: &str) -> Vec<(usize, &'static str)> {
        check_with(text, &[])
            .iter()
            .map(|f| (f.start.line, f.recipe))
            .collect()
    }
}
