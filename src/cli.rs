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
    /// When to colour the output: `auto` colours a terminal (not with NO_COLOR; FORCE_COLOR or
    /// CLICOLOR_FORCE colour anything), `always`, `never`.
    #[arg(
        long,
        value_enum,
        global = true,
        default_value = "auto",
        value_name = "WHEN"
    )]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Report blocking calls in async code (exit 1 when there are findings).
    Check(CheckArgs),
    /// Show the fixes as a unified diff; write nothing (exit 1 when there is a diff).
    Diff(FixArgs),
    /// Write the fixes in place.
    Apply(ApplyArgs),
    /// List the recipes.
    Recipes,
    /// Print a recipe's page: what it finds, why it blocks, the fix and its safety.
    Explain {
        /// Recipe id, as listed by `unblock recipes`, or a ruff / flake8-async code (ASYNC251).
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
    /// Only these recipes (comma-separated ids, or ruff / flake8-async codes: ASYNC251).
    #[arg(long, value_delimiter = ',')]
    select: Vec<String>,
    /// Never these recipes (comma-separated ids or codes).
    #[arg(long, value_delimiter = ',')]
    ignore: Vec<String>,
    /// Configuration file (default: the nearest unblock.toml or pyproject.toml with [tool.unblock]).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Only direct findings: skip the call graph (no blocking calls reached through project
    /// sync functions), for the fastest run.
    #[arg(long)]
    no_indirect: bool,
    /// Walk into what `.gitignore`, `.ignore` and git's exclude files ignore (over the
    /// configuration's `respect-gitignore`).
    #[arg(long)]
    no_respect_gitignore: bool,
    /// Print only the findings (or the diff): no summary, no warnings; errors still go to
    /// stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Apply the exclusions (`exclude`, the virtualenv and build folders) to the paths given
    /// too, as pre-commit and editors pass excluded files by name.
    #[arg(long)]
    force_exclude: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// Files or directories to check (default: the current directory); `-` reads one file's
    /// text from stdin (name it with --stdin-filename).
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    output_format: OutputFormat,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Print the counts of findings per recipe instead of the findings, in the output format
    /// (a table, or JSON; SARIF keeps its results and adds the counts to the run's
    /// properties; GitHub annotations are kept and the table goes to stderr).
    #[arg(long)]
    statistics: bool,
    /// Write the output to this file instead of stdout (never coloured unless --color always).
    #[arg(long, short, value_name = "PATH")]
    output_file: Option<PathBuf>,
    /// The path of the file given on stdin (its configuration, module and project, and the
    /// name findings carry); with no path, stdin is read as with `-`.
    #[arg(long, value_name = "PATH")]
    stdin_filename: Option<PathBuf>,
    /// Add `# unblock: ignore[ID]` to every line with a finding (a baseline for legacy code);
    /// comments already there are kept.
    #[arg(long)]
    add_noqa: bool,
    /// Print the settings the first path is checked with, and where each comes from; check
    /// nothing.
    #[arg(long)]
    show_settings: bool,
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
    /// Also rewrite files that do not compile as they are (judged by CPython when a Python 3
    /// is found, else by tree-sitter); by default they are left alone.
    #[arg(long)]
    fix_invalid: bool,
}

/// `apply`: the fixes, and where to write them.
#[derive(Args)]
struct ApplyArgs {
    #[command(flatten)]
    fix: FixArgs,
    /// Write the fixes as commits (one per recipe) on this new branch, leaving the working
    /// tree, the index and the current branch alone.
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    /// With --branch: the commit whose files are fixed and where the branch starts.
    #[arg(long, value_name = "REV", requires = "branch")]
    base: Option<String>,
    /// With --branch: replace the branch if it exists.
    #[arg(long, requires = "branch")]
    force: bool,
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
    anstream::ColorChoice::write_global(colour_choice(cli.color));
    let code = run(cli);
    // A development aid for the speed bar (tests/scaling.rs reads it): the work counted.
    if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
        eprintln!("work: {} steps", crate::engine::work::steps());
    }
    code
}

/// `--color`, with the environment's say in `auto`: FORCE_COLOR (as Node, pytest and many
/// CLIs read it) or CLICOLOR_FORCE colour even a pipe, NO_COLOR turns colour off, and
/// otherwise a terminal is coloured. Set once for every stream of every command.
fn colour_choice(when: ColorWhen) -> anstream::ColorChoice {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    match when {
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
        ColorWhen::Auto if set("FORCE_COLOR") || set("CLICOLOR_FORCE") => {
            anstream::ColorChoice::Always
        }
        // anstream's own detection: NO_COLOR, CLICOLOR, the terminal.
        ColorWhen::Auto => anstream::ColorChoice::Auto,
    }
}

/// Whether stdout gets colour, as every anstream stream decides it.
fn stdout_coloured() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check(args) => check(args, cli.color),
        Command::Diff(args) => fix(args, false),
        Command::Apply(args) => apply(args),
        Command::Recipes => {
            let list: String = recipes::all()
                .iter()
                .map(|recipe| {
                    let codes = recipe_codes(recipe.id());
                    let codes = if codes.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", codes.join(", "))
                    };
                    format!("{:<14} {}{codes}\n", recipe.id(), recipe.summary())
                })
                .collect();
            write_stdout(&list).map_or_else(|code| code, |()| ExitCode::SUCCESS)
        }
        Command::Explain { id } => explain(&id),
        Command::Lsp => crate::lsp::run(),
        Command::Graph(args) => crate::graph::run(args),
    }
}

/// The ruff / flake8-async codes a recipe's findings may carry.
fn recipe_codes(id: &str) -> Vec<String> {
    recipes::known_codes()
        .into_iter()
        .filter(|code| recipes::for_code(code).iter().any(|r| r.id() == id))
        .collect()
}

/// `explain ID`: a recipe's page; `explain ASYNC251`: the page of each recipe whose findings
/// that code corresponds to.
fn explain(id: &str) -> ExitCode {
    let pages: String = match recipes::by_id(id) {
        Some(recipe) => recipe.page().to_string(),
        None if recipes::is_code(id) && !recipes::for_code(id).is_empty() => {
            let found = recipes::for_code(id);
            let ids: Vec<&str> = found.iter().map(|r| r.id()).collect();
            let mut out = format!(
                "{} (ruff / flake8-async) corresponds to unblock's `{}`.\n\n",
                id.to_ascii_uppercase(),
                ids.join("`, `")
            );
            for recipe in found {
                out.push_str(recipe.page());
                out.push('\n');
            }
            out
        }
        None => {
            let known: Vec<_> = recipes::all().iter().map(|r| r.id()).collect();
            eprintln!(
                "unblock: error: no recipe `{id}` (recipes: {}; codes: {})",
                known.join(", "),
                recipes::known_codes().join(", ")
            );
            return ExitCode::from(2);
        }
    };
    write_stdout(&pages).map_or_else(|code| code, |()| ExitCode::SUCCESS)
}

fn check(args: CheckArgs, colour: ColorWhen) -> ExitCode {
    // `-`, or no path but --stdin-filename (as ruff takes it): the text on stdin.
    let stdin = args.paths.iter().any(|p| p.as_os_str() == "-")
        || (args.paths.is_empty() && args.stdin_filename.is_some());
    if stdin && args.paths.len() > 1 {
        eprintln!("unblock: error: `-` (stdin) cannot be combined with other paths");
        return ExitCode::from(2);
    }
    if args.stdin_filename.is_some() && !stdin {
        eprintln!(
            "unblock: error: --stdin-filename goes with `-` (the text on stdin), not with paths"
        );
        return ExitCode::from(2);
    }
    if stdin && args.add_noqa {
        eprintln!("unblock: error: --add-noqa writes files: it cannot take stdin");
        return ExitCode::from(2);
    }
    // Stdin's file is named by --stdin-filename: its configuration is found from there.
    let stdin_name = args
        .stdin_filename
        .clone()
        .unwrap_or_else(|| PathBuf::from("-"));
    let config_paths = if stdin {
        args.stdin_filename.iter().cloned().collect()
    } else {
        args.paths.clone()
    };
    let mut engine = match engine_for(&config_paths, &args.scope) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    if args.show_settings {
        return show_settings(&engine, &config_paths, &args.scope);
    }
    engine.progress = !args.no_progress && std::io::stderr().is_terminal();
    engine.propagate = args.propagate;
    if !args.no_cache {
        engine.cache = open_cache(&engine, &args.paths).map(std::sync::Arc::new);
        // The check shows its report and no more: an unchanged tree's can be replayed.
        engine.replay_unchanged_runs = true;
    }
    // Made before the check: the files it checks again are judged while it still runs.
    // Without the target version: `check` asks only whether a file compiles (a file that
    // needs a newer Python than the target is said nothing of), and parsing again with the
    // target's `feature_version` doubled the time a run after one changed file waited for.
    let mut judge = Judge::from_environment(None);
    if let Some(cache) = &engine.cache {
        judge = judge.remembering(cache.clone());
    }
    let judge = std::sync::Arc::new(judge);
    let judge_made = std::time::Instant::now();
    engine.rechecked_with_findings = Some(Box::new({
        let judge = judge.clone();
        move |source: &[u8]| judge.judge_ahead(source.to_vec())
    }));
    let mut stdin_text: Option<Vec<u8>> = None;
    let mut report = if stdin {
        let mut bytes = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
            eprintln!("unblock: error: cannot read stdin: {e}");
            return ExitCode::from(2);
        }
        if args.stdin_filename.is_some() && engine.force_excluded(&stdin_name) {
            // Excluded, as a pre-commit hook or an editor would pass it: nothing to say.
            crate::engine::Report::default()
        } else {
            stdin_text = Some(bytes.clone());
            engine.check_buffer(&stdin_name.display().to_string(), bytes)
        }
    } else {
        engine.check(&args.paths)
    };
    // The judge is this function's alone again (its verdicts are written when it goes).
    engine.rechecked_with_findings = None;
    let judging = std::time::Instant::now();
    report
        .diagnostics
        .extend(crate::fixes::invalid_files_with_findings(&report, &judge));
    report.diagnostics.sort_by(|a, b| a.path.cmp(&b.path));
    // A development aid, as `engine.check`'s: what judging the files with findings costs.
    if std::env::var_os("UNBLOCK_TIMINGS").is_some() {
        eprintln!(
            "timings: {:?} judging the files with findings, from {:.1} ms; {}",
            judging.elapsed(),
            judging.duration_since(judge_made).as_secs_f64() * 1e3,
            judge.timeline()
        );
    }
    print_diagnostics(&report.diagnostics, args.scope.quiet);
    if !args.scope.quiet {
        print_judge_unavailable(&judge);
    }
    if !stdin && nothing_read(&report, &args.paths) {
        eprintln!("unblock: error: nothing could be read");
        return ExitCode::from(2);
    }
    if args.add_noqa {
        return add_noqa(&report, args.scope.quiet);
    }

    let read_source = |path: &str| {
        let bytes = match &stdin_text {
            Some(text) => text.clone(),
            None => std::fs::read(report.on_disk(path).ok()?).ok()?,
        };
        Some(crate::engine::source::universal_newlines(bytes))
    };
    let mut elsewhere = String::new();
    let rendered = if args.statistics {
        let statistics = output::Statistics::of(&report);
        match args.output_format {
            OutputFormat::Text | OutputFormat::Concise => statistics.to_table(),
            OutputFormat::Json => statistics.to_json(),
            OutputFormat::Sarif => output::render_sarif(
                &report.findings,
                &output::RepositoryPaths::new(&report),
                Some(&statistics),
            ),
            OutputFormat::Github => {
                elsewhere = statistics.to_table();
                output::render_github(&report.findings, &output::RepositoryPaths::new(&report))
            }
        }
    } else if args.scope.quiet && args.output_format == OutputFormat::Text {
        output::render_text_findings(&report, &read_source)
    } else {
        output::render(args.output_format, &report, &read_source)
    };
    let written = match &args.output_file {
        Some(file) => write_file(file, &rendered, colour == ColorWhen::Always),
        None => write_stdout(&rendered),
    };
    if let Err(code) = written {
        return code;
    }
    if !elsewhere.is_empty() {
        let _ = write!(anstream::stderr(), "{elsewhere}");
    }
    // A configuration below that could not be read is a usage error, as the command's own is:
    // its files were checked with other settings than the project meant.
    if !engine.configuration_diagnostics().is_empty() {
        return ExitCode::from(2);
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
pub(crate) fn open_cache(
    engine: &Engine,
    paths: &[PathBuf],
) -> Option<crate::engine::cache::Cache> {
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
    config.check_globs().map_err(fail)?;
    for id in scope.select.iter().chain(&scope.ignore) {
        recipes::check_selector(id).map_err(fail)?;
    }
    for (key, ids) in [
        ("select", &config.config.select),
        ("ignore", &config.config.ignore),
    ] {
        for id in ids {
            recipes::check_selector(id)
                .map_err(|why| fail(config.error_at(key, Some(id), &why)))?;
        }
    }
    for ids in config.config.per_file_ignores.values() {
        for id in ids {
            recipes::check_selector(id)
                .map_err(|why| fail(config.error_at("per-file-ignores", Some(id), &why)))?;
        }
    }
    let mut config = config;
    if scope.no_respect_gitignore {
        config.config.respect_gitignore = Some(false);
    }
    let mut engine = Engine::new(
        config,
        Selection {
            select: scope.select.clone(),
            ignore: scope.ignore.clone(),
        },
        crate::recipes::builtin(),
    );
    engine.indirect = !scope.no_indirect;
    engine.explicit_config = scope.config.is_some();
    // The flag, or the configuration's key: one setting.
    engine.force_exclude =
        scope.force_exclude || engine.config.config.force_exclude.unwrap_or(false);
    Ok(engine)
}

/// Writes a command's output. Output that cannot be written (a full disk) is an error, exit 2:
/// an empty report must not pass for a clean run. A reader that stopped reading (`| head`) is
/// not one.
pub(crate) fn write_stdout(text: &str) -> Result<(), ExitCode> {
    let choice = anstream::AutoStream::choice(&std::io::stdout());
    let written = if choice == anstream::ColorChoice::Never {
        // Stripped here, whole: the stripping stream writes each run between two escapes
        // on its own, a system call each (thousands for a large report, a tenth of a warm run).
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(anstream::adapter::strip_str(text).to_string().as_bytes())
            .and_then(|()| stdout.flush())
    } else {
        let mut stdout = anstream::AutoStream::new(std::io::stdout().lock(), choice);
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
    };
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            eprintln!("unblock: error: cannot write the output: {e}");
            Err(ExitCode::from(2))
        }
    }
}

/// `check --show-settings`: the settings the first path is checked with, each with where it
/// comes from (the configuration file and line, the command line, `requires-python`, or the
/// default), as TOML a user can paste.
fn show_settings(engine: &Engine, paths: &[PathBuf], scope: &ScopeArgs) -> ExitCode {
    use std::fmt::Write as _;
    let loaded = &engine.config;
    let file = paths
        .first()
        .map_or_else(|| ".".to_string(), |p| p.display().to_string());
    let mut out = String::new();
    let _ = writeln!(out, "# Settings for {file}");
    let source = loaded.source.as_ref().map(|s| s.display().to_string());
    let _ = writeln!(
        out,
        "# configuration: {}",
        source.as_deref().unwrap_or("none found (the defaults)")
    );
    let mut config = loaded.config.clone();
    // What the engine runs with: the command line's entries come first.
    config.select = engine.selection.select.clone();
    config.ignore = engine.selection.ignore.clone();
    let values = toml::Value::try_from(&config).expect("the configuration serialises");
    let table = values.as_table().cloned().unwrap_or_default();
    let line_of = |key: &str| -> Option<usize> {
        let located = loaded.located.as_ref()?;
        let (span, _) = located.keys.get(key)?;
        Some(located.text[..span.start].matches('\n').count() + 1)
    };
    let from_file =
        |key: &str| -> Option<String> { Some(format!("{}:{}", source.as_deref()?, line_of(key)?)) };
    for key in crate::config::known_keys() {
        let value = match (table.get(&key), key.as_str()) {
            (Some(value), _) => value.to_string(),
            (None, "force-exclude") => "false".to_string(),
            (None, "respect-gitignore") => "true".to_string(),
            (None, _) => "(not set)".to_string(),
        };
        let command_line = match key.as_str() {
            "select" if !scope.select.is_empty() => Some("--select"),
            "ignore" if !scope.ignore.is_empty() => Some("--ignore"),
            "respect-gitignore" if scope.no_respect_gitignore => Some("--no-respect-gitignore"),
            _ => None,
        };
        let inferred = key == "target-version"
            && loaded
                .located
                .as_ref()
                .is_some_and(|l| l.inferred_target_version);
        let origin = match (command_line, from_file(&key)) {
            (Some(flag), Some(file)) => format!("command line ({flag}), then {file}"),
            (Some(flag), None) => format!("command line ({flag})"),
            (None, _) if inferred => format!(
                "requires-python in {}",
                source.as_deref().unwrap_or("pyproject.toml")
            ),
            (None, Some(file)) => file,
            (None, None) => "default".to_string(),
        };
        let _ = writeln!(out, "{key} = {value}  # {origin}");
    }
    write_stdout(&out).map_or_else(|code| code, |()| ExitCode::SUCCESS)
}

/// `--output-file`: the output written to a file, coloured only with `--color always` (a
/// FORCE_COLOR meant for the terminal's log does not reach a report file).
fn write_file(path: &std::path::Path, text: &str, coloured: bool) -> Result<(), ExitCode> {
    let written = std::fs::File::create(path).and_then(|file| {
        let choice = if coloured {
            anstream::ColorChoice::Always
        } else {
            anstream::ColorChoice::Never
        };
        let mut stream = anstream::AutoStream::new(file, choice);
        stream.write_all(text.as_bytes())?;
        stream.flush()
    });
    written.map_err(|e| {
        eprintln!("unblock: error: cannot write {}: {e}", path.display());
        ExitCode::from(2)
    })
}

/// `check --add-noqa`: the ignore comments written into each file with findings, staged and
/// renamed into place as `apply` writes (a file changed since it was read is left alone).
fn add_noqa(report: &crate::engine::Report, quiet: bool) -> ExitCode {
    let mut by_path: std::collections::BTreeMap<&str, Vec<&crate::finding::Finding>> =
        Default::default();
    for finding in &report.findings {
        by_path.entry(&finding.path).or_default().push(finding);
    }
    let mut stderr = anstream::stderr();
    let mut files = Vec::new();
    let mut lines = 0;
    let mut failed = false;
    for (path, findings) in by_path {
        let read = report.on_disk(path).and_then(|file| {
            std::fs::read(&file)
                .map(|b| (file, b))
                .map_err(|e| e.to_string())
        });
        let (file, bytes) = match read {
            Ok(read) => read,
            Err(why) => {
                let _ = writeln!(stderr, "unblock: error: {path}: {why}");
                failed = true;
                continue;
            }
        };
        let parsed =
            crate::engine::source::SourceFile::parse(path.to_string(), bytes, String::new());
        let Ok(source) = parsed else {
            let _ = writeln!(stderr, "unblock: error: {path}: cannot be parsed again");
            failed = true;
            continue;
        };
        let added = crate::engine::suppress::add_ignore_comments(&source, &findings);
        for line in &added.skipped {
            let _ = writeln!(
                stderr,
                "unblock: warning: {path}:{line}: no comment can go on this finding's lines (they end inside a string or with `\\`)"
            );
        }
        lines += added.lines;
        files.push(crate::engine::fix::FixedFile {
            path: path.to_string(),
            file,
            original: source.bytes.clone(),
            fixed: added.fixed,
            applied: Vec::new(),
            not_fixed: Vec::new(),
            propagation_refused: false,
            diagnostics: Vec::new(),
        });
    }
    let outcome = crate::fixes::write_fixes(&files, &BTreeSet::new());
    for (path, why) in &outcome.not_written {
        let _ = writeln!(stderr, "unblock: error: {path}: {why}");
    }
    if !quiet {
        let _ = writeln!(
            stderr,
            "Added an ignore comment to {lines} line{} in {} file{}.",
            if lines == 1 { "" } else { "s" },
            outcome.written.len(),
            if outcome.written.len() == 1 { "" } else { "s" },
        );
    }
    if outcome.interrupted {
        ExitCode::from(130)
    } else if failed || !outcome.not_written.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
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

/// Warnings and errors about the run on stderr; `--quiet` keeps only the errors.
fn print_diagnostics(diagnostics: &[crate::engine::Diagnostic], quiet: bool) {
    let mut stderr = anstream::stderr();
    for d in diagnostics {
        if quiet && d.severity == Severity::Warning {
            continue;
        }
        let level = match d.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let _ = writeln!(stderr, "unblock: {level}: {}: {}", d.path, d.message);
    }
}

fn apply(apply: ApplyArgs) -> ExitCode {
    let Some(name) = &apply.branch else {
        return fix(apply.fix, true);
    };
    let args = &apply.fix;
    crate::branch::run(&crate::branch::BranchOptions {
        name: name.clone(),
        base: apply.base.clone().unwrap_or_else(|| "HEAD".into()),
        force: apply.force,
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
    })
}

fn fix(args: FixArgs, write: bool) -> ExitCode {
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
    let quiet = args.scope.quiet;
    let (report, files) = crate::fixes::fix_paths(&engine, &args.paths, options);
    print_diagnostics(&report.diagnostics, quiet);
    for file in &files {
        print_diagnostics(&file.diagnostics, quiet);
    }
    if !quiet {
        print_judge_unavailable(&judge);
    }
    if nothing_read(&report, &args.paths) {
        eprintln!("unblock: error: nothing could be read");
        return ExitCode::from(2);
    }
    let mut stderr = anstream::stderr();
    let unfixable = crate::fixes::unreadable_for_fixing(&report, &files);
    for (path, why) in &unfixable {
        let _ = writeln!(stderr, "unblock: error: {path}: {why}");
    }
    if !engine.configuration_diagnostics().is_empty() {
        let _ = writeln!(
            stderr,
            "unblock: error: nothing written: a configuration could not be read"
        );
        return ExitCode::from(2);
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
        if !quiet {
            let _ = write!(stderr, "{}", crate::fixes::render_summary(&done, "Applied"));
        }
        let _ = write!(
            stderr,
            "{}",
            crate::fixes::render_not_written(&files, &outcome)
        );
        if outcome.interrupted {
            return ExitCode::from(130);
        }
        // As `ruff check --fix`: a finding left unfixed fails the run (a pre-commit hook must
        // not pass over it); a file that could not be fixed or written is an error.
        return if !outcome.not_written.is_empty() || !unfixable.is_empty() {
            ExitCode::from(2)
        } else if files.iter().any(|f| !f.not_fixed.is_empty()) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        };
    }
    if let Err(code) = write_stdout(&crate::fixes::render_diff(&files, stdout_coloured())) {
        return code;
    }
    if !quiet {
        let _ = write!(
            stderr,
            "{}",
            crate::fixes::render_summary(&files, "Would apply")
        );
    }
    if !unfixable.is_empty() {
        ExitCode::from(2)
    } else if files.iter().any(|f| f.changed()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
