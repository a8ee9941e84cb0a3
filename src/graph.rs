//! `unblock graph`: the whole-program call graph of the given files (see
//! `engine::graph_export`), as PyCG-style JSON, a Graphviz digraph, or, as text, the tree from
//! each coroutine down to the blocking calls it reaches. Exit codes: 0 done, 2 usage error.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::engine::graph_export::{self, CallGraph, NodeKind};
use crate::engine::project::ProjectModel;
use crate::engine::{Engine, Selection, Severity};

#[derive(Args)]
pub struct GraphArgs {
    /// Files or directories to graph (default: the current directory).
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    output_format: GraphFormat,
    /// Only what this node (`pkg.mod.func`, as the JSON output names it) reaches.
    #[arg(long, value_name = "NAME")]
    from: Option<String>,
    /// Configuration file (default: the nearest unblock.toml or pyproject.toml with [tool.unblock]).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// From each coroutine, the calls that lead to a blocking call.
    Text,
    /// One object: each node to the sorted nodes it may call (PyCG's format).
    Json,
    /// A Graphviz digraph; the paths from coroutines to blocking calls in red.
    Dot,
}

pub fn run(args: GraphArgs) -> ExitCode {
    let started = std::time::Instant::now();
    let fail = |message: String| {
        eprintln!("unblock: error: {message}");
        ExitCode::from(2)
    };
    let config = match &args.config {
        Some(path) => Config::load(path),
        None => Config::discover(&args.paths),
    };
    let config = match config {
        Ok(config) => config,
        Err(message) => return fail(message),
    };
    let engine = Engine::new(config, Selection::default(), crate::recipes::builtin());
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let files = match files_under(&engine.project, &paths) {
        Ok(files) => files,
        Err(message) => return fail(message),
    };
    let listed = started.elapsed();
    let (mut graph, diagnostics) = graph_export::build(&engine.catalogue, &engine.project, &files);
    let built = started.elapsed();
    let mut stderr = anstream::stderr();
    for d in diagnostics
        .iter()
        .chain(&engine.project.diagnostics(&paths))
    {
        let level = match d.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let _ = writeln!(stderr, "unblock: {level}: {}: {}", d.path, d.message);
    }
    if let Some(from) = &args.from {
        match graph.reachable_from(from) {
            Some(reached) => graph = reached,
            None => {
                return fail(format!(
                    "--from `{from}`: no such node in the graph (names are as `--output-format json` shows them)"
                ))
            }
        }
    }
    let rendered = match args.output_format {
        GraphFormat::Json => render_json(&graph),
        GraphFormat::Dot => render_dot(&graph),
        GraphFormat::Text => render_text(&graph, args.from.as_deref()),
    };
    // A development aid for the speed bar: where the time of a graph goes.
    if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
        eprintln!(
            "timings: {:?} in all: {:?} configuration and file listing, {:?} graph, {:?} rendering",
            started.elapsed(),
            listed,
            built - listed,
            started.elapsed() - built,
        );
    }
    let code = crate::cli::write_stdout(&rendered).map_or_else(|code| code, |()| ExitCode::SUCCESS);
    // The process ends with this command: freeing the engine's parsed files and summaries
    // and the graph one allocation at a time took 5 % of a run on requests, for nothing.
    std::mem::forget((engine, graph));
    code
}

/// The Python files below the given paths, as the project model lists them (its exclusions
/// applied); a file named explicitly is taken as it is.
fn files_under(model: &ProjectModel, paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = BTreeSet::new();
    let mut dirs = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(format!("{}: no such file or directory", path.display()));
        }
        model.project_of(path);
        if path.is_file() {
            files.insert(model.display(&model.absolute(path)));
        } else {
            dirs.push(model.absolute(path));
        }
    }
    for file in model.python_files() {
        let absolute = model.absolute(&file);
        if dirs.iter().any(|d| absolute.starts_with(d)) {
            files.insert(file);
        }
    }
    Ok(files.into_iter().collect())
}

pub fn render_json(graph: &CallGraph) -> String {
    let object: BTreeMap<&String, Vec<&String>> = graph
        .edges
        .iter()
        .map(|(caller, callees)| (caller, callees.iter().collect()))
        .collect();
    let mut out = serde_json::to_string_pretty(&object).expect("strings serialise");
    out.push('\n');
    out
}

pub fn render_dot(graph: &CallGraph) -> String {
    let highlighted = graph.blocking_paths();
    let mut out = String::from(
        "// unblock graph: coroutines are blue boxes, sync project functions white boxes,\n\
         // blocking calls red octagons; red edges lie on a path from a coroutine to a blocking call.\n\
         digraph calls {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for name in graph.edges.keys() {
        let style = match graph.kind(name) {
            NodeKind::Module => "shape=folder",
            NodeKind::Coroutine => "shape=box, style=\"rounded,filled\", fillcolor=\"#cfe2ff\"",
            NodeKind::Function => "shape=box, style=rounded",
            NodeKind::Class => "shape=component",
            NodeKind::Blocking => {
                "shape=octagon, style=filled, fillcolor=\"#f8d7da\", color=red, fontcolor=\"#842029\""
            }
            NodeKind::Builtin | NodeKind::External => "shape=plaintext, fontcolor=gray40",
        };
        out.push_str(&format!("  {} [{style}];\n", quote(name)));
    }
    for (caller, callees) in &graph.edges {
        for callee in callees {
            let attributes = if highlighted.contains(&(caller.clone(), callee.clone())) {
                " [color=red, penwidth=2]"
            } else {
                ""
            };
            out.push_str(&format!(
                "  {} -> {}{attributes};\n",
                quote(caller),
                quote(callee)
            ));
        }
    }
    out.push_str("}\n");
    out
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What the text tree prints below a line.
enum Item<'g> {
    Enter {
        caller: Option<&'g str>,
        node: &'g str,
        prefix: String,
        last: bool,
    },
    Leave(&'g str),
}

/// From each coroutine (or from `from` alone), the calls that lead to a blocking call, down to
/// it. A node already on the branch is a cycle and is cut; one already expanded in the same
/// tree is not expanded again.
pub fn render_text(graph: &CallGraph, from: Option<&str>) -> String {
    let reaching = graph.reaching_blocking();
    let roots: Vec<&str> = match from {
        Some(from) => vec![from],
        None => graph.coroutines().map(String::as_str).collect(),
    };
    let mut out = String::new();
    for root in roots.into_iter().filter(|r| reaching.contains(*r)) {
        if !out.is_empty() {
            out.push('\n');
        }
        let mut on_branch: HashSet<&str> = HashSet::new();
        let mut expanded: HashSet<&str> = HashSet::new();
        let mut stack = vec![Item::Enter {
            caller: None,
            node: root,
            prefix: String::new(),
            last: true,
        }];
        while let Some(item) = stack.pop() {
            let (caller, node, prefix, last) = match item {
                Item::Leave(node) => {
                    on_branch.remove(node);
                    continue;
                }
                Item::Enter {
                    caller,
                    node,
                    prefix,
                    last,
                } => (caller, node, prefix, last),
            };
            let kind = graph.kind(node);
            let children: Vec<&str> = graph.edges[node]
                .iter()
                .filter(|c| reaching.contains(*c))
                .map(String::as_str)
                .collect();
            let mut line = match caller {
                None => {
                    let at = graph
                        .nodes
                        .get(node)
                        .and_then(|n| n.defined.as_ref())
                        .map(|s| format!("  {}:{}", s.path, s.line))
                        .unwrap_or_default();
                    format!("{node}{at}")
                }
                Some(caller) => {
                    let site = &graph.sites[&(caller.to_string(), node.to_string())];
                    let branch = if last { "└── " } else { "├── " };
                    format!("{prefix}{branch}{node}  {}:{}", site.path, site.line)
                }
            };
            let cut = if on_branch.contains(node) {
                Some("  (cycle)")
            } else if kind != NodeKind::Blocking && !children.is_empty() && expanded.contains(node)
            {
                Some("  (see above)")
            } else {
                None
            };
            line.push_str(match kind {
                NodeKind::Blocking => "  [blocking]",
                NodeKind::Coroutine => "  (async)",
                _ => "",
            });
            line.push_str(cut.unwrap_or(""));
            out.push_str(&line);
            out.push('\n');
            if cut.is_some() || kind == NodeKind::Blocking {
                continue;
            }
            on_branch.insert(node);
            expanded.insert(node);
            stack.push(Item::Leave(node));
            let child_prefix = match caller {
                None => String::new(),
                Some(_) if last => format!("{prefix}    "),
                Some(_) => format!("{prefix}│   "),
            };
            let count = children.len();
            for (i, child) in children.into_iter().enumerate().rev() {
                stack.push(Item::Enter {
                    caller: Some(node),
                    node: child,
                    prefix: child_prefix.clone(),
                    last: i + 1 == count,
                });
            }
        }
    }
    if out.is_empty() {
        out.push_str(match from {
            Some(_) => "No blocking call is reached from there.\n",
            None => "No coroutine reaches a blocking call.\n",
        });
    }
    out
}
