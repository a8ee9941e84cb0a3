//! What the engine asks of a recipe. The engine knows recipes only through this trait and the
//! set it is handed ([`Recipes`], `recipes::builtin()` for the command line and the editor): it
//! never reaches for the list itself, so a test can run it with the recipes it wants.

use super::scope::{CallNode, ScopeId};
use super::{CallSite, FileContext};
use crate::finding::{Finding, FixInfo};

/// The recipe that reports (and fixes) calls of project sync functions that block further down.
pub const INDIRECT_RECIPE: &str = "to-thread";

/// The recipes a run uses, in the order they look at a file.
#[derive(Clone, Copy)]
pub struct Recipes {
    list: &'static [&'static dyn Recipe],
}

impl Recipes {
    pub fn new(list: &'static [&'static dyn Recipe]) -> Recipes {
        Recipes { list }
    }

    pub fn all(&self) -> &'static [&'static dyn Recipe] {
        self.list
    }

    pub fn by_id(&self, id: &str) -> Option<&'static dyn Recipe> {
        self.list.iter().copied().find(|r| r.id() == id)
    }
}

impl std::fmt::Debug for Recipes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|r| r.id()))
            .finish()
    }
}

/// Whether `name` is a ruff / flake8-async code (`ASYNC251`, any case) rather than a recipe id.
pub fn is_code(name: &str) -> bool {
    name.len() > 5
        && name[..5].eq_ignore_ascii_case("ASYNC")
        && name[5..].chars().all(|c| c.is_ascii_digit())
}

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
