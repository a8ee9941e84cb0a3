//! `--statistics`: counts of findings per recipe instead of the findings, as ruff's
//! `--statistics` replaces its output, in the format asked for (a table, or JSON), so that a
//! machine-read format still parses.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::engine::Report;
use crate::finding::Safety;

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

/// What `--statistics` reports: the JSON form is this object.
#[derive(Debug, Serialize)]
pub struct Statistics {
    /// Most findings first.
    pub recipes: Vec<RecipeCount>,
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

/// The table of `--statistics` (the text form).
pub fn render_statistics(report: &Report) -> String {
    Statistics::of(report).to_table()
}
