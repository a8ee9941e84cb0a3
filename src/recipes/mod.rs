//! The recipes: one file per recipe, each with its page and examples in `codemods/<id>/`.
//!
//! A recipe receives the catalogue calls the engine matched for it in async context
//! (`call_finding`) and may add structural findings of its own (`find`): a thread fan-out or a
//! polling loop is a group of statements, not one call. Either way it says which fix it offers
//! and how safe that fix is. The trait is the engine's (`engine::recipe`); this module is the
//! list, which the front ends hand to the engine (`builtin()`).

pub use crate::engine::recipe::{is_code, no_asyncio_rewrite, Recipe, Recipes, INDIRECT_RECIPE};

mod async_misuse;
mod blocking_enter;
mod executor;
mod file_io;
mod http_requests;
mod polling;
mod sleep;
mod subprocess;
mod thread_join;
mod to_thread;

static RECIPES: &[&dyn Recipe] = &[
    &http_requests::HttpRequests,
    &sleep::Sleep,
    &thread_join::ThreadJoin,
    &polling::Polling,
    &to_thread::ToThread,
    &file_io::FileIo,
    &blocking_enter::BlockingEnter,
    &subprocess::Subprocess,
    &executor::Executor,
    &async_misuse::AsyncMisuse,
];

/// The recipes this build has, as the engine is handed them.
pub fn builtin() -> Recipes {
    Recipes::new(RECIPES)
}

pub fn all() -> &'static [&'static dyn Recipe] {
    RECIPES
}

pub fn by_id(id: &str) -> Option<&'static dyn Recipe> {
    builtin().by_id(id)
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
        let engine = Engine::new(config, Selection::default(), super::builtin());
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
