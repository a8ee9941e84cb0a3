//! What the project defines across files: module names from the package layout, and which
//! functions are `async def` (so that an un-awaited call of one can be reported).

use crate::engine::syntax::Field;
use std::collections::{HashMap, HashSet};

use super::callgraph::IndirectInfo;
use crate::finding::{ChainLink, Kind, Safety};

use super::scope::join;
use super::source::{walk_tree, SourceFile, Visit};
use crate::finding::Finding;

#[derive(Debug, Default, Clone)]
pub struct ProjectIndex {
    /// Fully qualified names of every `async def` at module or class level.
    pub async_functions: HashSet<String>,
    /// Fully qualified names of every plain `def` at module or class level.
    pub sync_functions: HashSet<String>,
    /// Callees of calls in async code that are project sync functions which block, by the
    /// name the calls resolved to (from the call graph).
    pub indirect: HashMap<String, IndirectInfo>,
    /// Candidate callees that call one of their parameters (see `callgraph::ParameterCall`).
    pub parameter_calls: HashMap<String, super::callgraph::ParameterCall>,
    /// `--propagate`: the chains made async instead (empty otherwise).
    pub propagation: super::propagate::Plan,
    /// Candidate callees the call graph found not to block (an editor asks again otherwise).
    pub not_blocking: HashSet<String>,
    /// The projects the run touched: where the call graph finds modules.
    pub model: std::sync::Arc<super::project::ProjectModel>,
}

impl ProjectIndex {
    pub fn add(&mut self, definitions: Vec<(String, bool)>) {
        for (qualname, is_async) in definitions {
            if is_async {
                self.async_functions.insert(qualname);
            } else {
                self.sync_functions.insert(qualname);
            }
        }
    }

    /// Settles the findings that depend on the whole project: a call reported as an
    /// un-awaited coroutine stays only if its callee is a project `async def`.
    /// An indirect candidate stays only if the call graph says its callee blocks; it then gets
    /// its chain, its full message and the safety of moving the callee to a thread.
    pub fn settle(&self, findings: &mut Vec<Finding>) {
        self.settle_within(None, findings);
    }

    /// [`ProjectIndex::settle`] for one file's index (an editor buffer) inside a workspace's:
    /// the buffer's own definitions count, the call graph is the workspace's.
    pub fn settle_within(&self, workspace: Option<&ProjectIndex>, findings: &mut Vec<Finding>) {
        let graph = workspace.unwrap_or(self);
        findings.retain_mut(|f| {
            if let Some(callee) = &f.requires_async_callee {
                return self.async_functions.contains(callee)
                    || workspace.is_some_and(|w| w.async_functions.contains(callee));
            }
            let Some(callee) = f.requires_blocking_callee.take() else {
                return true;
            };
            let Some(info) = graph.indirect.get(&callee) else {
                return through_argument(f, &callee, graph);
            };
            // `await helper()` where `--propagate` made the helper `async def` (the plan's
            // `await` is already in the text being fixed): nothing left to say.
            if f.fix.is_none() && graph.propagation.converted.contains(&info.function) {
                return false;
            }
            // The first way down that this call's arguments do not rule out.
            let given = f
                .passed_arguments
                .as_ref()
                .unwrap_or(&crate::finding::Arguments::unknown())
                .given(&info.positional);
            let Some(reason) = info.reasons.iter().find(|r| !r.guards.rule_out(&given)) else {
                return false;
            };
            // With no argument guard anywhere, the chain leads to the costliest blocking call
            // behind the callee (a function passed to it included), and every other one is
            // listed.
            let mut sinks: Vec<(crate::catalogue::Cost, Vec<ChainLink>)> = info.sinks.clone();
            if let Some((call, passed)) = passed_blocking(f, &callee, graph) {
                sinks.extend(passed.sinks.iter().map(|(cost, chain)| {
                    let mut through = vec![call.link.clone()];
                    through.extend(chain.iter().cloned());
                    (*cost, through)
                }));
                // Stable: at equal cost the callee's own blocking calls come first.
                sinks.sort_by_key(|(cost, _)| *cost);
            }
            let costliest = (f.chain.len() == 1)
                .then(|| sinks.first().map(|(_, chain)| chain.clone()))
                .flatten()
                .filter(|_| reason.guards.is_empty());
            let chain = costliest.as_ref().unwrap_or(&reason.chain);
            let mut leaves: Vec<ChainLink> = Vec::new();
            for leaf in sinks.iter().filter_map(|(_, s)| s.last()) {
                if !leaves.iter().any(|l| l.name == leaf.name) {
                    leaves.push(leaf.clone());
                }
            }
            f.sinks = leaves;
            if f.chain.len() > 1 {
                // Through a helper nested in the coroutine (see `nested`): the callee's
                // generator or context-manager nature is the helper's business, not the
                // call's.
                let through = IndirectInfo {
                    generator: false,
                    context_manager: false,
                    ..info.clone()
                };
                complete_indirect(f, &through, chain);
            } else {
                complete_indirect(f, info, chain);
            }
            if let Some(fix) = &mut f.fix {
                if let Some(why) = graph.propagation.refused.get(&callee) {
                    fix.note = format!("{} ({why})", fix.note);
                } else if graph.propagation.converted.contains(&info.function) {
                    fix.safety = Safety::Safe;
                    let name = info.chain.first().map_or("", |l| l.name.as_str());
                    fix.note = format!(
                        "(--propagate) `{name}` and the blocking functions it calls become `async def`, awaited at every call site; the blocking calls in them are then rewritten in async context"
                    );
                }
            }
            true
        });
        // A nested helper calling several project functions that block gives one candidate
        // each at its call: the first (shortest chain) stands for them.
        findings.sort_by(|a, b| (a.sort_key(), a.chain.len()).cmp(&(b.sort_key(), b.chain.len())));
        findings.dedup_by(|later, first| {
            later.sort_key() == first.sort_key()
                && later.start_byte == first.start_byte
                && later.end_byte == first.end_byte
                && later.kind == first.kind
                && later.kind == Kind::Indirect
        });
    }
}

/// A call of a sync helper that does not block itself but calls the function it is passed
/// (`call_with(fetch, url)`, `with_retry("p", fetch_profile)`): it blocks when that function
/// does, and the chain goes through the helper.
fn through_argument(finding: &mut Finding, callee: &str, graph: &ProjectIndex) -> bool {
    let Some((call, info)) = passed_blocking(finding, callee, graph) else {
        return false;
    };
    let through = IndirectInfo {
        generator: false,
        context_manager: false,
        ..info.clone()
    };
    finding.chain.push(call.link.clone());
    finding.sinks = info
        .sinks
        .iter()
        .filter_map(|(_, s)| s.last().cloned())
        .collect();
    complete_indirect(finding, &through, &info.chain);
    true
}

/// The helper's parameter call and what the function the call passes there blocks on, when
/// it does.
fn passed_blocking<'g>(
    finding: &Finding,
    callee: &str,
    graph: &'g ProjectIndex,
) -> Option<(&'g super::callgraph::ParameterCall, &'g IndirectInfo)> {
    let call = graph.parameter_calls.get(callee)?;
    let passed = finding
        .passed_arguments
        .as_ref()?
        .callable_for(&call.parameter, &call.positional)?;
    Some((call, graph.indirect.get(passed)?))
}

pub(crate) fn complete_indirect(finding: &mut Finding, info: &IndirectInfo, chain: &[ChainLink]) {
    finding.kind = Kind::Indirect;
    // The links already there: the coroutine, and a helper nested in it if the call goes
    // through one.
    let prefix = finding.chain.len().saturating_sub(1);
    let helpers = chain.len().saturating_sub(1) + prefix;
    let leaf = chain.last().map_or("a blocking call", |l| l.name.as_str());
    let first = finding
        .chain
        .get(1)
        .or(chain.first())
        .map_or("", |l| l.name.as_str())
        .to_string();
    let first = first.as_str();
    let depth = if helpers == 1 {
        "directly".to_string()
    } else {
        format!("{helpers} calls down")
    };
    finding.message = format!(
        "{} blocks the event loop: `{first}` is sync and calls `{leaf}` {depth}",
        finding.message
    );
    finding.chain.extend(chain.iter().cloned());
    if info.context_manager {
        finding.fix = None;
        finding.not_fixable = Some(format!(
            "`{first}` is a `@contextmanager`: its body runs when the `with` block enters and leaves, so `asyncio.to_thread` would only create it; move the whole `with` block to a thread, or make it an `@asynccontextmanager` by hand"
        ));
    } else if info.generator {
        finding.fix = None;
        finding.not_fixable = Some(format!(
            "`{first}` is a generator: its body runs while the coroutine iterates it, so `asyncio.to_thread` would only create it; iterate it on a thread (`await asyncio.to_thread(list, {first}(...))`) or make it an async generator by hand"
        ));
    }
    if let Some(why) = &info.unsafe_because {
        if why.contains(super::callgraph::RAISES_OFF_THE_LOOP) {
            // Moving it to a thread would make every call fail: no fix, the reason instead.
            if finding.fix.take().is_some() {
                finding.not_fixable = Some(format!(
                    "`{first}` cannot run on a worker thread: {why}; make it `async def` and await it (or `--propagate`), or move only its blocking part to a thread, by hand"
                ));
            }
        } else if let Some(fix) = &mut finding.fix {
            fix.safety = Safety::Unsafe;
            fix.note = format!("{}; unsafe: on a worker thread {why}", fix.note);
        }
    }
}

/// The functions a file defines at module or class level: `(qualified name, is async)`.
/// Only statement containers are entered, never function bodies or expressions, so this costs
/// a small part of a full walk.
pub fn definitions(file: &SourceFile) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    // Names of the enclosing classes, with the node that opened each.
    let mut classes: Vec<(String, usize)> = Vec::new();
    for skipped in &file.skipped {
        let is_async = match skipped.kind {
            super::chunks::SkippedKind::Function => false,
            super::chunks::SkippedKind::AsyncFunction => true,
            _ => continue,
        };
        let parent = skipped
            .class
            .as_ref()
            .map_or(file.module.clone(), |c| join(&file.module, c));
        out.push((join(&parent, &skipped.name), is_async));
    }
    walk_tree(file.tree.root_node(), |event| match event {
        Visit::Enter(node) => match node.kind() {
            "class_definition" => {
                let name = node.field("name").map(|n| file.text(n)).unwrap_or("");
                classes.push((name.to_string(), node.id()));
                true
            }
            "function_definition" => {
                let name = node.field("name").map(|n| file.text(n)).unwrap_or("");
                let mut qualname = file.module.clone();
                for (class, _) in &classes {
                    qualname = join(&qualname, class);
                }
                let is_async = node.child(0).is_some_and(|c| c.kind() == "async");
                out.push((join(&qualname, name), is_async));
                false
            }
            "module"
            | "block"
            | "decorated_definition"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "try_statement"
            | "except_clause"
            | "except_group_clause"
            | "finally_clause"
            | "with_statement"
            | "ERROR" => true,
            _ => false,
        },
        Visit::Leave(node) => {
            if node.kind() == "class_definition" && classes.last().is_some_and(|c| c.1 == node.id())
            {
                classes.pop();
            }
            true
        }
    });
    out
}
