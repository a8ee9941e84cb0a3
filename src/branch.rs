//! `unblock apply --branch NAME [--base REV]`: the fixes written as commits on a new branch, one
//! commit per recipe, without touching the working tree, the index or the current branch.
//!
//! The files of BASE are read raw from the object database (`git ls-tree`, `git cat-file
//! --batch`: no filters, so `hash-object --no-filters` writes back exactly what the engine
//! produced) into a scratch directory, the engine runs there once per recipe, and each round's
//! changed files become a commit made with plumbing on a temporary index (`read-tree`,
//! `hash-object`, `update-index`, `write-tree`, `commit-tree`). The branch is created last, with
//! `update-ref` and an old value, so nothing is left behind when a step fails (except
//! unreachable objects, which `git gc` prunes). Everything goes through the `git` command, so the
//! user's configuration and identity apply.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::config::{Config, LoadedConfig};
use crate::engine::cpython::Judge;
use crate::engine::fix::{FixOptions, FixedFile};
use crate::engine::{Engine, Selection, Severity};
use crate::finding::Safety;
use crate::recipes;

/// What `apply --branch` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct BranchOptions {
    pub name: String,
    /// The commit whose files are fixed and on which the branch starts (`HEAD` by default).
    pub base: String,
    /// Replace the branch when it exists.
    pub force: bool,
    /// As given on the command line (relative to the current directory).
    pub paths: Vec<PathBuf>,
    pub unsafe_fixes: bool,
    /// `--fix-invalid`: rewrite files that do not compile as they are, too.
    pub fix_invalid: bool,
    pub propagate: bool,
    /// `--no-indirect` turns the call graph off.
    pub indirect: bool,
    pub target_version: Option<String>,
    /// `--http-client`: over the configuration's `http-client`.
    pub http_client: Option<String>,
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    pub config: Option<PathBuf>,
}

/// Runs `apply --branch`: prints what was created on stdout, errors on stderr.
/// Exit 0 on success or when there is nothing to fix, 2 when refused or failed (or when what
/// was created cannot be printed).
pub fn run(options: &BranchOptions) -> ExitCode {
    match apply_to_branch(options) {
        Ok(report) => {
            crate::cli::write_stdout(&report).map_or_else(|code| code, |()| ExitCode::SUCCESS)
        }
        Err(message) => {
            eprintln!("unblock: error: {message}");
            ExitCode::from(2)
        }
    }
}

/// A file of BASE: its mode (`100644`, `100755`), blob id, and path as git stores it (bytes:
/// a name need not be UTF-8; the map's key is its lossy spelling).
struct Entry {
    mode: String,
    oid: String,
    path: Vec<u8>,
}

impl Entry {
    fn path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.path))
    }
}

/// One commit made on the branch.
struct Made {
    oid: String,
    subject: String,
    files: Vec<String>,
}

/// What was made, for stdout.
fn apply_to_branch(options: &BranchOptions) -> Result<String, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    let toplevel = work_tree_root(&cwd)?;
    let git = |args: &[&str]| git_in(&toplevel, None, args, None);

    // Refusals first: nothing is written before every one of them has passed.
    let name = &options.name;
    let ref_name = format!("refs/heads/{name}");
    // `--branch` applies git's rules for branch names, stricter than for refs (`HEAD` is a
    // valid ref name but not a branch name); a name it rewrites (`@{-1}`) is not taken either.
    let valid = !name.starts_with('-')
        && git(&["check-ref-format", "--branch", name])
            .is_ok_and(|out| out.strip_suffix(b"\n") == Some(name.as_bytes()));
    if !valid {
        return Err(format!("`{name}` is not a valid branch name"));
    }
    let base = &options.base;
    let base_commit = if base.starts_with('-') {
        None
    } else {
        git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{base}^{{commit}}"),
        ])
        .ok()
    };
    let base_commit = match base_commit {
        Some(out) => String::from_utf8_lossy(&out).trim().to_string(),
        None => return Err(format!("base `{base}` does not resolve to a commit")),
    };
    let old = git(&["rev-parse", "--verify", "--quiet", &ref_name])
        .ok()
        .map(|out| String::from_utf8_lossy(&out).trim().to_string());
    if old.is_some() {
        if !options.force {
            return Err(format!(
                "branch `{name}` already exists (--force replaces it)"
            ));
        }
        let worktrees = git(&["worktree", "list", "--porcelain"]).unwrap_or_default();
        let checked_out = String::from_utf8_lossy(&worktrees)
            .lines()
            .any(|line| line.strip_prefix("branch ") == Some(ref_name.as_str()));
        if checked_out {
            return Err(format!(
                "branch `{name}` is checked out; --force would move it under its working tree"
            ));
        }
    }
    let mut roots = Vec::new();
    let given = if options.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        options.paths.clone()
    };
    for path in &given {
        match repo_relative(&cwd, &toplevel, path) {
            Some(rel) => roots.push(rel),
            None => {
                return Err(format!(
                    "`{}` is outside the repository ({})",
                    path.display(),
                    toplevel.display()
                ))
            }
        }
    }
    for id in options.select.iter().chain(&options.ignore) {
        recipes::check_selector(id)?;
    }

    let tree = list_tree(&toplevel, &base_commit)?;
    for (root, path) in roots.iter().zip(&given) {
        let present = tree.keys().any(|p| under(p, root)) || root.is_empty();
        if !present {
            return Err(format!("`{}` is not in {base}", path.display()));
        }
    }

    let scratch = Scratch::new(&toplevel)?;
    let work = scratch.path.join("tree");
    let index = scratch.path.join("index");
    let wanted: Vec<(&String, &Entry)> = tree
        .iter()
        .filter(|(path, _)| {
            let file_name = path.rsplit('/').next().unwrap_or(path);
            let support = [
                "__init__.py",
                ".gitignore",
                ".ignore",
                "pyproject.toml",
                "unblock.toml",
            ]
            .contains(&file_name);
            support
                || roots
                    .iter()
                    .any(|root| *path == root || (path.ends_with(".py") && under(path, root)))
        })
        .collect();
    materialise(&toplevel, &work, &wanted)?;
    let clean = |text: &str| -> String {
        let prefix = work.display().to_string();
        text.replace(&format!("{prefix}/"), "")
            .replace(&prefix, ".")
    };

    let engine_paths: Vec<PathBuf> = roots
        .iter()
        .map(|root| {
            if root.is_empty() {
                work.clone()
            } else {
                work.join(root)
            }
        })
        .collect();
    let config = load_config(options, &cwd, &toplevel, &work, &engine_paths)
        .map_err(|message| clean(&message))?;
    for (key, ids) in [
        ("select", &config.config.select),
        ("ignore", &config.config.ignore),
    ] {
        for id in ids {
            recipes::check_selector(id).map_err(|why| config.error_at(key, Some(id), &why))?;
        }
    }
    let mut engine = Engine::new(
        config,
        Selection {
            select: options.select.clone(),
            ignore: options.ignore.clone(),
        },
        crate::recipes::builtin(),
    );
    engine.target_version = options.target_version.clone();
    engine.propagate = options.propagate;
    engine.indirect = options.indirect;
    engine.unsafe_fixes = options.unsafe_fixes;
    if let Some(client) = &options.http_client {
        engine.config.config.http_client = Some(client.clone());
        engine.cli_http_client = Some(client.clone());
    }
    let judge = Judge::from_environment(engine.command_target_version());
    let fix_options = FixOptions {
        unsafe_fixes: options.unsafe_fixes,
        fix_invalid: options.fix_invalid,
        judge: Some(&judge),
    };

    // One run with every selected recipe: what plain `apply` would write, and which recipes
    // change something. The others stay selected in the per-recipe runs (their findings cover
    // calls a fixing recipe would otherwise rewrite) but write nothing.
    let mut seen = BTreeSet::new();
    let mut diagnostics = |report: &crate::engine::Report, files: &[FixedFile]| {
        let of_files = files.iter().flat_map(|f| &f.diagnostics);
        for d in report.diagnostics.iter().chain(of_files) {
            let level = match d.severity {
                Severity::Warning => "warning",
                Severity::Error => "error",
            };
            let line = format!(
                "unblock: {level}: {}: {}",
                clean(&d.path),
                clean(&d.message)
            );
            if seen.insert(line.clone()) {
                eprintln!("{line}");
            }
        }
    };
    let (report, whole) = crate::fixes::fix_paths(&engine, &engine_paths, fix_options);
    diagnostics(&report, &whole);
    if let Some(why) = judge.unavailable() {
        eprintln!("unblock: warning: {}", clean(&why));
    }
    let fixing: BTreeSet<&str> = whole
        .iter()
        .filter(|f| f.changed())
        .flat_map(|f| f.applied.iter().map(|a| a.recipe))
        .collect();
    if !whole.iter().any(|f| f.changed()) {
        return Ok(format!(
            "unblock: nothing to fix at {base}; no branch created\n"
        ));
    }
    let inert: Vec<String> = recipes::all()
        .iter()
        .map(|r| r.id())
        .filter(|id| engine.selection.allows(id) && !fixing.contains(id))
        .map(str::to_string)
        .collect();

    let by_raw_path: std::collections::HashMap<&[u8], (&String, &Entry)> = wanted
        .iter()
        .map(|&(rel, entry)| (entry.path.as_slice(), (rel, entry)))
        .collect();
    let index_env = Some(index.as_path());
    git_in(&toplevel, index_env, &["read-tree", &base_commit], None)?;
    let mut parent = base_commit.clone();
    let mut made = Vec::new();
    for recipe in recipes::all().iter().map(|r| r.id()) {
        if !fixing.contains(recipe) {
            continue;
        }
        let mut select = vec![recipe.to_string()];
        select.extend(inert.iter().cloned());
        // The user's ignores stay (a code ignored keeps its findings out of every commit).
        engine.select_only(Selection {
            select,
            ignore: options.ignore.clone(),
        });
        let (report, files) = crate::fixes::fix_paths(&engine, &engine_paths, fix_options);
        diagnostics(&report, &files);
        let (mut safe, mut unsafe_) = (0, 0);
        let mut changed = Vec::new();
        for file in files.iter().filter(|f| f.changed()) {
            let entry = file
                .file
                .strip_prefix(&work)
                .ok()
                .and_then(|rel| by_raw_path.get(rel.as_os_str().as_bytes()));
            let Some(&(rel, entry)) = entry else {
                eprintln!(
                    "unblock: warning: {}: not a file of {base}; left out",
                    clean(&file.path)
                );
                continue;
            };
            let rel = rel.clone();
            std::fs::write(&file.file, &file.fixed)
                .map_err(|e| format!("cannot write the scratch copy of {rel}: {e}"))?;
            for applied in &file.applied {
                match applied.safety {
                    Safety::Safe => safe += 1,
                    Safety::Unsafe => unsafe_ += 1,
                }
            }
            changed.push((rel, entry, file.file.as_os_str()));
        }
        if changed.is_empty() {
            continue;
        }
        let mut hash_args: Vec<&OsStr> = ["hash-object", "-w", "--no-filters", "--"]
            .map(OsStr::new)
            .to_vec();
        hash_args.extend(changed.iter().map(|&(_, _, scratch)| scratch));
        let oids = git_in(&toplevel, None, &hash_args, None)?;
        let oids: Vec<String> = String::from_utf8_lossy(&oids)
            .lines()
            .map(str::to_string)
            .collect();
        let mut info = Vec::new();
        for ((_, entry, _), oid) in changed.iter().zip(&oids) {
            info.extend_from_slice(format!("{} {oid}\t", entry.mode).as_bytes());
            info.extend_from_slice(&entry.path);
            info.push(0);
        }
        git_in(
            &toplevel,
            index_env,
            &["update-index", "-z", "--index-info"],
            Some(&info),
        )?;
        let tree_oid = git_in(&toplevel, index_env, &["write-tree"], None)?;
        let tree_oid = String::from_utf8_lossy(&tree_oid).trim().to_string();
        let files: Vec<String> = changed.into_iter().map(|(rel, _, _)| rel).collect();
        let (subject, message) = commit_message(recipe, safe, unsafe_, &files);
        let oid = git_in(
            &toplevel,
            None,
            &["commit-tree", &tree_oid, "-p", &parent, "-m", &message],
            None,
        )?;
        parent = String::from_utf8_lossy(&oid).trim().to_string();
        made.push(Made {
            oid: parent.clone(),
            subject,
            files,
        });
    }
    if made.is_empty() {
        return Ok(format!(
            "unblock: nothing to fix at {base}; no branch created\n"
        ));
    }

    // The per-recipe rounds should add up to what plain `apply` writes; say so when they don't.
    let differ: Vec<String> = whole
        .iter()
        .filter(|f| f.changed() && std::fs::read(&f.file).ok().as_ref() != Some(&f.fixed))
        .map(|f| clean(&f.path))
        .collect();
    if !differ.is_empty() {
        eprintln!(
            "unblock: warning: one commit per recipe gives other text than `unblock apply` in: {}",
            differ.join(", ")
        );
    }

    let reflog = format!("unblock apply --branch {name} --base {base}");
    let expected = old.clone().unwrap_or_default();
    git(&["update-ref", "-m", &reflog, &ref_name, &parent, &expected])?;

    let verb = if old.is_some() { "Replaced" } else { "Created" };
    let mut report = format!(
        "{verb} branch {name} on {base} with {} commit{}:\n",
        made.len(),
        if made.len() == 1 { "" } else { "s" }
    );
    for commit in &made {
        let short = git(&["rev-parse", "--short", &commit.oid])
            .map(|o| String::from_utf8_lossy(&o).trim().to_string())
            .unwrap_or_else(|_| commit.oid.clone());
        report.push_str(&format!("  {short} {}\n", commit.subject));
        for file in &commit.files {
            report.push_str(&format!("      {file}\n"));
        }
    }
    report.push_str(&format!("See it with: git log -p {base}..{name}\n"));
    Ok(report)
}

/// `unblock: sleep (3 safe fixes)`, a blank line, the counts and the files.
fn commit_message(recipe: &str, safe: usize, unsafe_: usize, files: &[String]) -> (String, String) {
    let count = |n: usize, kind: &str| format!("{n} {kind} fix{}", if n == 1 { "" } else { "es" });
    let mut parts = Vec::new();
    if safe > 0 || unsafe_ == 0 {
        parts.push(count(safe, "safe"));
    }
    if unsafe_ > 0 {
        parts.push(count(unsafe_, "unsafe"));
    }
    let subject = format!("unblock: {recipe} ({})", parts.join(", "));
    let mut message = format!("{subject}\n\nSafe fixes: {safe}\nUnsafe fixes: {unsafe_}\n");
    if unsafe_ > 0 {
        message.push_str(&format!(
            "(unsafe fixes change behaviour: see `unblock explain {recipe}`)\n"
        ));
    }
    message.push_str("\nFiles:\n");
    for file in files {
        message.push_str(&format!("  {file}\n"));
    }
    (subject, message)
}

/// `git ls-tree -r BASE`: the regular files (blobs that are not symlinks) by path.
fn list_tree(toplevel: &Path, base: &str) -> Result<BTreeMap<String, Entry>, String> {
    let out = git_in(
        toplevel,
        None,
        &["ls-tree", "-r", "-z", "--full-tree", base],
        None,
    )?;
    let mut tree = BTreeMap::new();
    for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let Some(tab) = record.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let (meta, raw_path) = (String::from_utf8_lossy(&record[..tab]), &record[tab + 1..]);
        let path = String::from_utf8_lossy(raw_path);
        let mut fields = meta.split(' ');
        let (Some(mode), Some(kind), Some(oid)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if kind == "blob" && mode != "120000" {
            tree.insert(
                path.into_owned(),
                Entry {
                    mode: mode.to_string(),
                    oid: oid.to_string(),
                    path: raw_path.to_vec(),
                },
            );
        }
    }
    Ok(tree)
}

/// Writes the blobs' raw bytes (`git cat-file --batch`: no filters) under `work`.
fn materialise(toplevel: &Path, work: &Path, files: &[(&String, &Entry)]) -> Result<(), String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut child = Command::new("git")
        .args(["cat-file", "--batch"])
        .current_dir(toplevel)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let requests: String = files.iter().map(|(_, e)| format!("{}\n", e.oid)).collect();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(requests.as_bytes());
    });
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut result = Ok(());
    for (path, entry) in files {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            result = Err("git cat-file --batch stopped early".to_string());
            break;
        }
        let size: Option<usize> = header
            .trim_end()
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok());
        let Some(size) = size else {
            result = Err(format!("git cat-file --batch: {}", header.trim_end()));
            break;
        };
        let mut bytes = vec![0; size + 1];
        if let Err(e) = reader.read_exact(&mut bytes) {
            result = Err(format!("git cat-file --batch: {e}"));
            break;
        }
        bytes.pop();
        let target = work.join(entry.path());
        let written = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&target, &bytes));
        if let Err(e) = written {
            result = Err(format!("cannot write the scratch copy of {path}: {e}"));
            break;
        }
    }
    drop(reader);
    let _ = writer.join();
    let _ = child.wait();
    result
}

/// The configuration as it is at BASE: `--config` when given (its `exclude` patterns made
/// relative to the scratch copy), else the nearest `unblock.toml` / `pyproject.toml` with
/// `[tool.unblock]` from the first path up to the repository root of the scratch copy.
fn load_config(
    options: &BranchOptions,
    cwd: &Path,
    toplevel: &Path,
    work: &Path,
    paths: &[PathBuf],
) -> Result<LoadedConfig, String> {
    if let Some(path) = &options.config {
        let mut loaded = Config::load(path)?;
        let dir = loaded
            .root
            .as_ref()
            .and_then(|root| repo_relative(cwd, toplevel, root));
        if let Some(rel) = dir {
            loaded.root = Some(work.join(rel));
        }
        return Ok(loaded);
    }
    let start = paths.first().cloned().unwrap_or_else(|| work.to_path_buf());
    Config::discover_from(&start, Some(work))
}

/// `path` (relative to `cwd`) as a repository-relative path with `/` separators (`""` for the
/// root), or `None` when it is outside the repository.
fn repo_relative(cwd: &Path, toplevel: &Path, path: &Path) -> Option<String> {
    let absolute = cwd.join(path);
    let absolute = std::fs::canonicalize(&absolute).unwrap_or_else(|_| normalise(&absolute));
    let rel = absolute.strip_prefix(toplevel).ok()?;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<_>>()?;
    if parts.first() == Some(&".git") {
        return None;
    }
    Some(parts.join("/"))
}

/// Removes `.` and `..` without touching the file system (for paths that do not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` is `root` or inside it (`root` empty: the whole repository).
fn under(path: &str, root: &str) -> bool {
    root.is_empty()
        || path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Runs git in `dir`, with `GIT_INDEX_FILE` set to `index` when given; its stdout, or its last
/// `fatal:`/`error:` line as the error.
fn git_in(
    dir: &Path,
    index: Option<&Path>,
    args: &[impl AsRef<OsStr>],
    stdin: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let command_name = args[0].as_ref().to_string_lossy();
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(index) = index {
        command.env("GIT_INDEX_FILE", index);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("git {command_name}: {e}"))?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("failed");
    Err(format!("git {command_name}: {line}"))
}

/// The top of the work tree around `cwd`. Where git refuses to work (a bare repository, one
/// `safe.directory` does not allow) its own words say why.
fn work_tree_root(cwd: &Path) -> Result<PathBuf, String> {
    let output = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git (--branch writes commits with git): {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(if stderr.contains("not a git repository") {
            "not inside a git repository (--branch writes commits with git)".into()
        } else {
            format!(
                "git cannot work here (--branch writes commits with git):\n{}",
                stderr.trim_end()
            )
        });
    }
    let toplevel = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim_end_matches('\n'));
    Ok(std::fs::canonicalize(&toplevel).unwrap_or(toplevel))
}

/// A fresh directory for the scratch copy and the temporary index, removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(toplevel: &Path) -> Result<Scratch, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let temp = std::env::temp_dir();
        let temp = std::fs::canonicalize(&temp).unwrap_or(temp);
        for attempt in 0..100 {
            let path = temp.join(format!(
                "unblock-branch-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Scratch { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
        Err(format!(
            "cannot create a scratch directory in {} for {}",
            temp.display(),
            toplevel.display()
        ))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_matches_whole_components() {
        assert!(under("src/a.py", ""));
        assert!(under("src/a.py", "src"));
        assert!(under("src/a.py", "src/a.py"));
        assert!(!under("srcx/a.py", "src"));
    }

    #[test]
    fn commit_subject_counts() {
        let (subject, message) = commit_message("sleep", 3, 0, &["app.py".into()]);
        assert_eq!(subject, "unblock: sleep (3 safe fixes)");
        assert!(message.starts_with("unblock: sleep (3 safe fixes)\n\nSafe fixes: 3\n"));
        assert!(message.contains("  app.py\n"));
        let (subject, _) = commit_message("async-misuse", 0, 1, &[]);
        assert_eq!(subject, "unblock: async-misuse (1 unsafe fix)");
    }
}
