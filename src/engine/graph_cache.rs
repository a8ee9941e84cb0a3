//! The call graph's answers through the summary cache, each kept with the modules it was
//! derived from (`callgraph::AnswerSources`): after an edit, only the candidates whose
//! answers read a module that changed (its text, or anything its summary read) are asked
//! again, in a graph built for them alone; the other answers are reused as they are.
//!
//! An answer depends only on what its candidate reaches (the breadth-first choices of
//! `Graph::blocking_steps` look at a function's callees, never its callers), so a graph built
//! for fewer candidates gives each of them the answer the whole graph gives.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::cache::{self, Cache, Dep, Deps, RememberedAnswers, Witness};
use super::callgraph::{self, Analysis, AnswerSources};
use super::resolve::Globals;
use crate::catalogue::Catalogue;

/// Where the answers are stored and what they are for.
pub(crate) struct Stored<'c> {
    pub cache: &'c Cache,
    pub run: u64,
    /// The entry's name (the run's settings and the paths given).
    pub name: u64,
    /// The layout the answers were given in (module names to files).
    pub key: u64,
}

/// [`callgraph::analyse`] for `candidates`, reusing every remembered answer none of whose
/// modules changed, and storing the answers with their sources for the next run.
pub(crate) fn analyse<W: Globals + Witness>(
    catalogue: &Catalogue,
    modules: &HashMap<String, PathBuf>,
    project: &W,
    candidates: &HashSet<String>,
    stored: Stored,
) -> Analysis {
    let Stored {
        cache,
        run,
        name,
        key,
    } = stored;
    let remembered = cache.load_answers(name, key, project);
    let ask: HashSet<String> = match &remembered {
        None => candidates.clone(),
        Some(remembered) => stale_candidates(cache, project, &remembered.sources, candidates),
    };
    let timings = std::env::var_os("UNBLOCK_TIMINGS").is_some();
    if timings {
        eprintln!(
            "call graph answers: {} of {} candidates asked again",
            ask.len(),
            candidates.len()
        );
    }
    if let (true, Some(remembered)) = (ask.is_empty(), &remembered) {
        if remembered.sources.of_candidate.len() == candidates.len() {
            cache.graph_reused();
            note_sources(remembered, candidates);
            return restricted(&remembered.analysis, candidates);
        }
    }
    let (fresh, deps) = cache::traced(|| {
        callgraph::analyse_with(
            catalogue,
            modules,
            Some(project),
            &ask,
            Some(callgraph::SummaryCache {
                cache,
                run,
                witness: project,
            }),
        )
    });
    let mut answers = RememberedAnswers {
        analysis: Analysis::default(),
        sources: AnswerSources::default(),
        global: Deps::new(),
    };
    let mut merged = Merged::default();
    if let Some(remembered) = &remembered {
        note_sources(remembered, candidates);
        let kept: HashSet<String> = candidates.difference(&ask).cloned().collect();
        answers.analysis = restricted(&remembered.analysis, &kept);
        merged.absorb(&remembered.sources, kept.iter());
        answers.global.extend(remembered.global.iter().cloned());
    }
    answers.analysis.indirect.extend(fresh.indirect);
    answers
        .analysis
        .parameter_calls
        .extend(fresh.parameter_calls);
    if let Some(mut sources) = fresh.sources {
        // A module read without being loaded (for the implementations of an abstract method)
        // has its text as its only dependency; one that was loaded, its file besides what its
        // summary read.
        let files: HashMap<&std::path::Path, &Dep> = deps
            .iter()
            .filter_map(|dep| match dep {
                Dep::File { path, .. } => Some((path.as_path(), dep)),
                _ => None,
            })
            .collect();
        for (module, reads) in &mut sources.modules {
            let file = modules
                .get(module)
                .and_then(|path| files.get(path.as_path()));
            if let Some(&file) = file {
                reads.insert(file.clone());
            }
        }
        let accounted: HashSet<&Dep> = sources.modules.iter().flat_map(|(_, d)| d).collect();
        answers
            .global
            .extend(deps.iter().filter(|dep| !accounted.contains(dep)).cloned());
        merged.absorb(&sources, ask.iter());
    }
    answers.sources = merged.sources;
    cache.store_answers(name, key, &answers);
    answers.analysis
}

/// The candidates not answered before, or whose answer read a module that changed since.
fn stale_candidates(
    cache: &Cache,
    witness: &dyn Witness,
    sources: &AnswerSources,
    candidates: &HashSet<String>,
) -> HashSet<String> {
    let mut changed: Vec<Option<bool>> = vec![None; sources.modules.len()];
    let mut stale: Vec<Option<bool>> = vec![None; sources.sets.len()];
    candidates
        .iter()
        .filter(|candidate| {
            let Some(&set) = sources.of_candidate.get(*candidate) else {
                return true;
            };
            *stale[set as usize].get_or_insert_with(|| {
                sources.sets[set as usize].iter().any(|&module| {
                    *changed[module as usize].get_or_insert_with(|| {
                        !cache.holds(&sources.modules[module as usize].1, witness)
                    })
                })
            })
        })
        .cloned()
        .collect()
}

/// What the reused answers were derived from, noted for the stages around (a result made
/// from them depends on it too).
fn note_sources(remembered: &RememberedAnswers, candidates: &HashSet<String>) {
    let sources = &remembered.sources;
    let mut used = vec![false; sources.modules.len()];
    let mut sets_seen = vec![false; sources.sets.len()];
    for candidate in candidates {
        if let Some(&set) = sources.of_candidate.get(candidate) {
            if !std::mem::replace(&mut sets_seen[set as usize], true) {
                for &module in &sources.sets[set as usize] {
                    used[module as usize] = true;
                }
            }
        }
    }
    for (i, (_, deps)) in sources.modules.iter().enumerate() {
        if used[i] {
            cache::note_all(deps);
        }
    }
    cache::note_all(&remembered.global);
}

/// The answers about `candidates` only.
fn restricted(analysis: &Analysis, candidates: &HashSet<String>) -> Analysis {
    Analysis {
        indirect: analysis
            .indirect
            .iter()
            .filter(|(name, _)| candidates.contains(*name))
            .map(|(name, info)| (name.clone(), info.clone()))
            .collect(),
        parameter_calls: analysis
            .parameter_calls
            .iter()
            .filter(|(name, _)| candidates.contains(*name))
            .map(|(name, call)| (name.clone(), call.clone()))
            .collect(),
        sources: None,
    }
}

/// The sources of answers from two graphs (the remembered one and the one just built) as
/// one table: modules and sets numbered anew, a module's dependencies the union of both.
#[derive(Default)]
struct Merged {
    sources: AnswerSources,
    module_index: HashMap<String, u32>,
    set_index: HashMap<Vec<u32>, u32>,
}

impl Merged {
    /// Takes in the sets of `candidates` from `from` (each module and set of it once).
    fn absorb<'a>(&mut self, from: &AnswerSources, candidates: impl Iterator<Item = &'a String>) {
        let mut modules: Vec<Option<u32>> = vec![None; from.modules.len()];
        let mut sets: Vec<Option<u32>> = vec![None; from.sets.len()];
        for candidate in candidates {
            let Some(&set) = from.of_candidate.get(candidate) else {
                continue;
            };
            let index = match sets[set as usize] {
                Some(index) => index,
                None => {
                    let mut members: Vec<u32> = from.sets[set as usize]
                        .iter()
                        .map(|&m| *modules[m as usize].get_or_insert_with(|| self.module(from, m)))
                        .collect();
                    members.sort_unstable();
                    let next = self.sources.sets.len() as u32;
                    let index = *self.set_index.entry(members).or_insert_with_key(|members| {
                        self.sources.sets.push(members.clone());
                        next
                    });
                    sets[set as usize] = Some(index);
                    index
                }
            };
            self.sources.of_candidate.insert(candidate.clone(), index);
        }
    }

    /// The new number of a module of `from`, its dependencies added to what is known.
    fn module(&mut self, from: &AnswerSources, m: u32) -> u32 {
        let (module, deps) = &from.modules[m as usize];
        match self.module_index.get(module) {
            Some(&i) => {
                self.sources.modules[i as usize]
                    .1
                    .extend(deps.iter().cloned());
                i
            }
            None => {
                let i = self.sources.modules.len() as u32;
                self.sources.modules.push((module.clone(), deps.clone()));
                self.module_index.insert(module.clone(), i);
                i
            }
        }
    }
}
