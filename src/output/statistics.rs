//! `--statistics`: counts of findings per recipe instead of the findings, as ruff's
//! `--statistics` replaces its output, in the format asked for (a table, or JSON), so that a
//! machine-read format still parses.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::engine::Report;
use crate::finding::{Kind, Safety};

/// How many helpers the table lists (JSON lists all).
const HELPERS_SHOWN: usize = 10;

/// One recipe's findings in a run.
#[derive(Debug, Serialize)]
pub struct RecipeCount {
    pub recipe: String,
    /// The ruff / flake8-async codes its findings correspond to (sorted, none for findings
    /// no rule of theirs covers).
    pub codes: Vec<String>,
    pub count: usize,
    /// How many have a safe fix, and how many an unsafe one (`--unsafe-fixes`).
    pub safe_fix: usize,
    pub unsafe_fix: usize,
}

/// A project function whose blocking call is behind several indirect findings: one change
/// there (its own call moved off the loop, or the function made `async def`) rather than one
/// at every call site.
#[derive(Debug, Serialize)]
pub struct HelperCount {
    /// The function that makes the blocking call, as chains name it.
    pub helper: String,
    /// The blocking call it makes.
    pub call: String,
    /// The indirect findings whose chain ends there.
    pub count: usize,
}

/// What `--statistics` reports: the JSON form is this object.
#[derive(Debug, Serialize)]
pub struct Statistics {
    /// Most findings first.
    pub recipes: Vec<RecipeCount>,
    /// Helpers behind two indirect findings or more, most first.
    pub blocking_helpers: Vec<HelperCount>,
    /// Calls in coroutines the call graph could not follow, by the module they go into.
    pub not_followed: BTreeMap<String, usize>,
}

impl Statistics {
    pub fn of(report: &Report) -> Statistics {
        let mut by_recipe: BTreeMap<&str, RecipeCount> = BTreeMap::new();
        for f in &report.findings {
            let entry = by_recipe.entry(f.recipe).or_insert_with(|| RecipeCount {
                recipe: f.recipe.to_string(),
                codes: Vec::new(),
                count: 0,
                safe_fix: 0,
                unsafe_fix: 0,
            });
            entry.count += 1;
            match f.fix.as_ref().map(|x| x.safety) {
                Some(Safety::Safe) => entry.safe_fix += 1,
                Some(Safety::Unsafe) => entry.unsafe_fix += 1,
                None => {}
            }
            for code in &f.noqa_codes {
                if !entry.codes.contains(code) {
                    entry.codes.push(code.clone());
                }
            }
        }
        let mut recipes: Vec<RecipeCount> = by_recipe.into_values().collect();
        for row in &mut recipes {
            row.codes.sort();
        }
        recipes.sort_by(|a, b| b.count.cmp(&a.count).then(a.recipe.cmp(&b.recipe)));
        Statistics {
            recipes,
            blocking_helpers: blocking_helpers(report),
            not_followed: report.unfollowed.clone(),
        }
    }

    /// The table people read.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>6}  {:<14}  {:>5}  {:>7}  codes",
            "count", "recipe", "safe", "unsafe"
        );
        for row in &self.recipes {
            let line = format!(
                "{:>6}  {:<14}  {:>5}  {:>7}  {}",
                row.count,
                row.recipe,
                row.safe_fix,
                row.unsafe_fix,
                row.codes.join(", ")
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if !self.blocking_helpers.is_empty() {
            let _ = writeln!(
                out,
                "\n{:>6}  helpers behind several indirect findings (fix the blocking call there once rather than at each call)",
                "count"
            );
            for row in self.blocking_helpers.iter().take(HELPERS_SHOWN) {
                let _ = writeln!(out, "{:>6}  {} calls `{}`", row.count, row.helper, row.call);
            }
            let more = self.blocking_helpers.len().saturating_sub(HELPERS_SHOWN);
            if more > 0 {
                let _ = writeln!(out, "{:>6}  ({more} more in `--output-format json`)", "");
            }
        }
        if !self.not_followed.is_empty() {
            let _ = writeln!(out, "\n{:>6}  calls not followed, by module", "count");
            let mut rows: Vec<(&String, &usize)> = self.not_followed.iter().collect();
            rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (module, n) in rows {
                let _ = writeln!(out, "{n:>6}  {module}");
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("statistics serialise");
        out.push('\n');
        out
    }
}

/// The project functions whose own blocking call is behind two indirect findings or more,
/// most first (at equal counts, by name).
pub fn blocking_helpers(report: &Report) -> Vec<HelperCount> {
    let mut by_helper: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for f in report.findings.iter().filter(|f| f.kind == Kind::Indirect) {
        // The chain ends with the blocking call, made by the link before it.
        if let [.., helper, call] = f.chain.as_slice() {
            *by_helper.entry((&helper.name, &call.name)).or_default() += 1;
        }
    }
    let mut helpers: Vec<HelperCount> = by_helper
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|((helper, call), count)| HelperCount {
            helper: helper.to_string(),
            call: call.to_string(),
            count,
        })
        .collect();
    helpers.sort_by_key(|h| std::cmp::Reverse(h.count));
    helpers
}

/// The table of `--statistics` (the text form).
pub fn render_statistics(report: &Report) -> String {
    Statistics::of(report).to_table()
}
