//! The command line: a thin layer over the engine. Exit codes: 0 clean, 1 findings, 2 error.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::engine::cpython::Judge;
use crate::engine::{Engine, Selection, Severity};
use crate::output::{self, OutputFormat};
use crate::recipes;

#[derive(Parser)]
#[command(
    name = "unblock",
    version,
    about = "Find the calls that block the asyncio event loop, and rewrite them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report blocking calls in async code (exit 1 when there are findings).
    Check(CheckArgs),
    /// Show the fixes as a unified diff; write nothing (exit 1 when there is a diff).
    Diff(FixArgs),
    /// Write the fixes in place.
    Apply(FixArgs),
    /// List the recipes.
    Recipes,
    /// Print a recipe's page: what it finds, why it blocks, the fix and its safety.
    Explain {
        /// Recipe id, as listed by `unblock recipes`.
        id: String,
    },
    /// Run the language server on stdin/stdout (diagnostics, quick fixes, fix all).
    Lsp,
    /// Print the project's call graph: JSON (PyCG's format), Graphviz dot, or text trees from
    /// each coroutine down to the blocking calls it reaches.
    Graph(crate::graph::GraphArgs),
}

/// Which recipes and which configuration: the same for check, diff and apply.
#[derive(Args)]
struct ScopeArgs {
    /// Only these recipes (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    select: Vec<String>,
    /// Never these recipes (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    ignore: Vec<String>,
    /// Configuration file (default: the nearest unblock.toml or pyproject.toml with [tool.unblock]).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Only direct findings: skip the call graph (no blocking calls reached through project
    /// sync functions), for the fastest run.
    #[arg(long)]
    no_indirect: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// Files or directories to check (default: the current directory).
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    output_format: OutputFormat,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Print a count of findings per recipe after the findings.
    #[arg(long)]
    statistics: bool,
    /// Exit 0 even when there are findings.
    #[arg(long)]
    exit_zero: bool,
    /// Say, for each indirect finding, whether `apply --propagate` would make its chain async
    /// (and why not).
    #[arg(long)]
    propagate: bool,
    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Neither read nor write the summary cache (`.unblock_cache/`): every file is parsed.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct FixArgs {
    /// Files or directories to fix (default: the current directory).
    paths: Vec<PathBuf>,
    /// Also apply fixes that change behaviour in a way the reviewer must accept.
    #[arg(long)]
    unsafe_fixes: bool,
    /// Make blocking sync helpers called from coroutines `async def` (with `await` at every
    /// call site) where every reference allows it, instead of moving the calls to threads.
    #[arg(long)]
    propagate: bool,
    /// Oldest Python the fixed code must run on (py38 has no asyncio.to_thread).
    #[arg(long, value_parser = ["py38", "py39", "py310", "py311", "py312", "py313", "py314"])]
    target_version: Option<String>,
    /// A shared `httpx.AsyncClient` expression (`app.http.client`) the http-requests fix uses
    /// instead of a client per call (over the configuration's `http-client`).
    #[arg(long, value_name = "EXPR")]
    http_client: Option<String>,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// `apply` only: write the fixes as commits (one per recipe) on this new branch, leaving the
    /// working tree, the index and the current branch alone.
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    /// With --branch: the commit whose files are fixed and where the branch starts.
    #[arg(long, value_name = "REV", requires = "branch")]
    base: Option<String>,
    /// With --branch: replace the branch if it exists.
    #[arg(long, requires = "branch")]
    force: bool,
    /// Also rewrite files that do not compile as they are (judged by CPython when a Python 3
    /// is found, else by tree-sitter); by default they are left alone.
    #[arg(long)]
    fix_invalid: bool,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let code = run(cli);
    // A development aid for the speed bar (tests/scaling.rs reads it): the work counted.
    if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
        eprintln!("work: {} steps", crate::engine::work::steps());
    }
    code
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check(args) => check(args),
        Command::Diff(args) => fix(args, false),
        Command::Apply(args) => fix(args, true),
        Command::Recipes => {
            let list: String = recipes::all()
                .iter()
                .map(|recipe| format!("{:<14} {}\n", recipe.id(), recipe.summary()))
                .collect();
            write_stdout(&list).map_or_else(|code| code, |()| ExitCode::SUCCESS)
        }
        Command::Explain { id } => match recipes::by_id(&id) {
            Some(recipe) => {
                write_stdout(recipe.page()).map_or_else(|code| code, |()| ExitCode::SUCCESS)
            }
            None => {
                let known: Vec<_> = recipes::all().iter().map(|r| r.id()).collect();
                eprintln!(
                    "unblock: error: no recipe `{id}` (known: {})",
                    known.join(", ")
                );
                ExitCode::from(2)
            }
        },
        Command::Lsp => crate::lsp::run(),
        Command::Graph(args) => crate::graph::run(args),
    }
}

fn check(args: CheckArgs) -> ExitCode {
    let mut engine = match engine_for(&args.paths, &args.scope) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    engine.progress = !args.no_progress && std::io::stderr().is_terminal();
    engine.propagate = args.propagate;
    if !args.no_cache {
        engine.cache = open_cache(&engine, &args.paths).map(std::sync::Arc::new);
    }
    let mut report = engine.check(&args.paths);
    let mut judge = Judge::from_environment(engine.command_target_version());
    if let Some(cache) = &engine.cache {
        judge = judge.remembering(cache.clone());
    }
    let judging = std::time::Instant::now();
    report
        .diagnostics
        .extend(crate::fixes::invalid_files_with_findings(&report, &judge));
    report.diagnostics.sort_by(|a, b| a.path.cmp(&b.path));
    // A development aid, as `engine.check`'s: what judging the files with findings costs.
    if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
        eprintln!(
            "timings: {:?} judging the files with findings",
            judging.elapsed()
        );
    }
    print_diagnostics(&report.diagnostics);
    print_judge_unavailable(&judge);
    if nothing_read(&report, &args.paths) {
        eprintln!("unblock: error: nothing could be read");
        return ExitCode::from(2);
    }

    let read_source = |path: &str| {
        let bytes = std::fs::read(report.on_disk(path).ok()?).ok()?;
        Some(crate::engine::source::universal_newlines(bytes))
    };
    let mut rendered = output::render(args.output_format, &report, &read_source);
    if args.statistics {
        rendered.push_str(&output::render_statistics(&report));
    }
    if let Err(code) = write_stdout(&rendered) {
        return code;
    }
    if report.findings.is_empty() || args.exit_zero {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The summary cache for a run: `UNBLOCK_CACHE_DIR`, else the configuration's `cache-dir`,
/// else `.unblock_cache` in the configuration's folder, or in the first path's project root
/// when there is no configuration. `None` when it cannot be created: the run goes on without.
fn open_cache(engine: &Engine, paths: &[PathBuf]) -> Option<crate::engine::cache::Cache> {
    use crate::engine::cache::Cache;
    let base = match &engine.config.root {
        Some(root) => root.clone(),
        None => {
            let first = paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
            engine.project.root_of(&first)
        }
    };
    Cache::open(&Cache::location(
        engine
            .config
            .config
            .cache_dir
            .as_deref()
            .map(std::path::Path::new),
        &base,
    ))
}

/// Loads the configuration, checks the recipe ids and applies the scope options: the part
/// every command shares. Usage and configuration errors are printed here (exit code 2).
fn engine_for(paths: &[PathBuf], scope: &ScopeArgs) -> Result<Engine, ExitCode> {
    let fail = |message: String| {
        eprintln!("unblock: error: {message}");
        ExitCode::from(2)
    };
    let config = match &scope.config {
        Some(path) => Config::load(path),
        None => Config::discover(paths),
    }
    .map_err(fail)?;
    config.check_source_roots().map_err(fail)?;
    for id in scope
        .select
        .iter()
        .chain(&scope.ignore)
        .chain(&config.config.select)
        .chain(&config.config.ignore)
    {
        if recipes::by_id(id).is_none() {
            return Err(fail(format!("no recipe `{id}` (see `unblock recipes`)")));
        }
    }
    let mut engine = Engine::new(
        config,
        Selection {
            select: scope.select.clone(),
            ignore: scope.ignore.clone(),
        },
    );
    engine.indirect = !scope.no_indirect;
    engine.explicit_config = scope.config.is_some();
    Ok(engine)
}

/// Writes a command's output. Output that cannot be written (a full disk) is an error, exit 2:
/// an empty report must not pass for a clean run. A reader that stopped reading (`| head`) is
/// not one.
pub(crate) fn write_stdout(text: &str) -> Result<(), ExitCode> {
    let mut stdout = anstream::stdout();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            eprintln!("unblock: error: cannot write the output: {e}");
            Err(ExitCode::from(2))
        }
    }
}

/// Every path given failed to read: a usage error (exit 2), not a clean run.
fn nothing_read(report: &crate::engine::Report, paths: &[PathBuf]) -> bool {
    let given = paths.len().max(1);
    report.files_scanned == 0 && report.unreadable > 0 && report.unreadable >= given
}

/// Said once, when the run needed the judge: the rewrites and files were judged by tree-sitter
/// alone.
fn print_judge_unavailable(judge: &Judge) {
    if let Some(why) = judge.unavailable() {
        eprintln!("unblock: warning: {why}");
    }
}

fn print_diagnostics(diagnostics: &[crate::engine::Diagnostic]) {
    let mut stderr = anstream::stderr();
    for d in diagnostics {
        let level = match d.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let _ = writeln!(stderr, "unblock: {level}: {}: {}", d.path, d.message);
    }
}

fn fix(args: FixArgs, write: bool) -> ExitCode {
    if let Some(name) = &args.branch {
        if !write {
            eprintln!("unblock: error: --branch is for `unblock apply`");
            return ExitCode::from(2);
        }
        return crate::branch::run(&crate::branch::BranchOptions {
            name: name.clone(),
            base: args.base.clone().unwrap_or_else(|| "HEAD".into()),
            force: args.force,
            paths: args.paths.clone(),
            unsafe_fixes: args.unsafe_fixes,
            fix_invalid: args.fix_invalid,
            propagate: args.propagate,
            indirect: !args.scope.no_indirect,
            target_version: args.target_version.clone(),
            http_client: args.http_client.clone(),
            select: args.scope.select.clone(),
            ignore: args.scope.ignore.clone(),
            config: args.scope.config.clone(),
        });
    }
    let mut engine = match engine_for(&args.paths, &args.scope) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    engine.progress = !args.no_progress && std::io::stderr().is_terminal();
    engine.target_version = args.target_version.clone();
    engine.propagate = args.propagate;
    engine.unsafe_fixes = args.unsafe_fixes;
    if let Some(client) = &args.http_client {
        engine.config.config.http_client = Some(client.clone());
        engine.cli_http_client = Some(client.clone());
    }
    let judge = Judge::from_environment(engine.command_target_version());
    let options = crate::engine::fix::FixOptions {
        unsafe_fixes: args.unsafe_fixes,
        fix_invalid: args.fix_invalid,
        judge: Some(&judge),
    };
    let (report, files) = crate::fixes::fix_paths(&engine, &args.paths, options);
    print_diagnostics(&report.diagnostics);
    for file in &files {
        print_diagnostics(&file.diagnostics);
    }
    print_judge_unavailable(&judge);
    if nothing_read(&report, &args.paths) {
        eprintln!("unblock: error: nothing could be read");
        return ExitCode::from(2);
    }
    let mut stderr = anstream::stderr();
    let unfixable = crate::fixes::unreadable_for_fixing(&report, &files);
    for (path, why) in &unfixable {
        let _ = writeln!(stderr, "unblock: error: {path}: {why}");
    }
    if write {
        let linked: BTreeSet<String> = report.project.propagation.edits.keys().cloned().collect();
        let outcome = crate::fixes::write_fixes(&files, &linked);
        for (path, why) in &outcome.not_written {
            let _ = writeln!(stderr, "unblock: error: {path}: {why}");
        }
        let done: Vec<_> = files
            .iter()
            .filter(|f| !f.changed() || outcome.written.contains(&f.path))
            .cloned()
            .collect();
        let _ = write!(
            stderr,
            "{}{}",
            crate::fixes::render_summary(&done, "Applied"),
            crate::fixes::render_not_written(&files, &outcome)
        );
        if outcome.interrupted {
            return ExitCode::from(130);
        }
        return if outcome.not_written.is_empty() && unfixable.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let colour = std::io::stdout().is_terminal();
    if let Err(code) = write_stdout(&crate::fixes::render_diff(&files, colour)) {
        return code;
    }
    let _ = write!(
        stderr,
        "{}",
        crate::fixes::render_summary(&files, "Would apply")
    );
    if !unfixable.is_empty() {
        ExitCode::from(2)
    } else if files.iter().any(|f| f.changed()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
