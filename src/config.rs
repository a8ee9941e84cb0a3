//! `[tool.unblock]` in `pyproject.toml`, or the same keys at the top of `unblock.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The keys of `[tool.unblock]`. The JSON schema committed as `unblock.schema.json` is generated
/// from this struct (`json_schema`), its descriptions from these comments.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
#[schemars(
    title = "unblock",
    description = "unblock's configuration: [tool.unblock] in pyproject.toml, or the same keys at the top of unblock.toml"
)]
pub struct Config {
    /// Recipe ids (`sleep`) or ruff / flake8-async codes (`ASYNC251`) to report; all when empty.
    pub select: Vec<String>,
    /// Recipe ids or ruff / flake8-async codes never to report.
    pub ignore: Vec<String>,
    /// Fully qualified names of further blocking calls: `"pymilvus.Collection.search"`.
    pub extend_blocking_calls: Vec<String>,
    /// Glob patterns (gitignore syntax) of paths to skip, relative to the configuration file.
    /// Virtualenv, build and cache folders are always skipped.
    pub exclude: Vec<String>,
    /// More patterns to skip, added to `exclude` (as in ruff).
    pub extend_exclude: Vec<String>,
    /// Skip excluded files even when they are named on the command line (a pre-commit hook
    /// passes every staged file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_exclude: Option<bool>,
    /// Skip what `.gitignore`, `.ignore`, `.git/info/exclude` and the global gitignore ignore
    /// (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respect_gitignore: Option<bool>,
    /// Recipe ids or codes not to report in the files a glob matches: `{"tests/**" = ["sleep"]}`.
    /// A pattern is matched against the path relative to the configuration's folder, and a
    /// pattern without `/` against the file name too (as in ruff).
    pub per_file_ignores: BTreeMap<String, Vec<String>>,
    /// A shared `httpx.AsyncClient` expression for the http-requests fix (`app.http.client`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_client: Option<String>,
    /// Oldest Python the fixes must run on: `py37` … `py314` (default: from `requires-python`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = TARGET_VERSIONS))]
    pub target_version: Option<String>,
    /// Source roots, relative to the configuration's folder (as ruff's `src`): the folders
    /// Python has on `sys.path`, which module names start from. Guessed when not given.
    pub src: Vec<String>,
    /// Where `check` keeps its summary cache, relative to the configuration's folder
    /// (default `.unblock_cache`; `UNBLOCK_CACHE_DIR` overrides it).
    pub cache_dir: Option<String>,
}

/// The JSON schema of `[tool.unblock]`, as committed in `unblock.schema.json` (for editors'
/// TOML language servers and schema stores).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Config);
    let mut out = serde_json::to_string_pretty(&schema).expect("the schema serialises");
    out.push('\n');
    out
}

/// The Python versions `target-version` may name.
pub const TARGET_VERSIONS: &[&str] = &[
    "py37", "py38", "py39", "py310", "py311", "py312", "py313", "py314",
];

/// The oldest Python a `pyproject.toml` says the project supports, as a target version:
/// `[project] requires-python` (`">=3.8"`, `"~=3.9"`, `">=3.10,<4"`), else Poetry's
/// `[tool.poetry.dependencies] python` (`"^3.8"`).
pub fn target_from_pyproject(text: &str) -> Option<String> {
    let value: toml::Table = text.parse().ok()?;
    let requires = value
        .get("project")
        .and_then(|p| p.get("requires-python"))
        .or_else(|| {
            value
                .get("tool")?
                .get("poetry")?
                .get("dependencies")?
                .get("python")
        })?
        .as_str()?;
    let oldest = requires
        .split([',', '|'])
        .filter_map(|spec| {
            let spec = spec.trim();
            let version = [">=", "~=", "^", "==", ">", "~"]
                .iter()
                .find_map(|op| spec.strip_prefix(op))?;
            let mut parts = version.trim().split('.');
            let major: u32 = parts.next()?.trim().parse().ok()?;
            let minor: u32 = parts.next().unwrap_or("0").trim().parse().ok()?;
            (major == 3).then_some(minor)
        })
        .min()?;
    let minor = oldest.clamp(7, 14);
    Some(format!("py3{minor}"))
}

/// A configuration and the directory it applies to.
#[derive(Debug, Default, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file it came from, `None` when no configuration was found.
    pub source: Option<PathBuf>,
    /// The directory `exclude` patterns are relative to.
    pub root: Option<PathBuf>,
    /// Where each key the file sets is written, for errors found after loading (an unknown
    /// recipe id) and for `--show-settings`.
    pub located: Option<Located>,
}

/// The text of a configuration file and the spans of its `[tool.unblock]` keys.
#[derive(Debug, Clone)]
pub struct Located {
    pub text: String,
    /// Key to (key span, value span), byte offsets in `text`.
    pub keys: BTreeMap<String, (std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// `target-version` came from `requires-python` (or Poetry's `python`), not the table.
    pub inferred_target_version: bool,
}

/// A configuration file's `[tool.unblock]` keys, with where each is written.
type SpannedTable = BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>;

#[derive(Deserialize)]
struct PyProject {
    tool: Option<Tools>,
}

#[derive(Deserialize)]
struct Tools {
    unblock: Option<SpannedTable>,
}

impl LoadedConfig {
    /// Every `src` entry must be a folder: a typo would otherwise rename every module quietly.
    pub fn check_source_roots(&self) -> Result<(), String> {
        let base = self.root.clone().unwrap_or_else(|| PathBuf::from("."));
        for entry in &self.config.src {
            if !base.join(entry).is_dir() {
                return Err(self.error_at(
                    "src",
                    Some(entry),
                    &format!("`{entry}` is not a folder (source roots are relative to this file)"),
                ));
            }
        }
        Ok(())
    }

    /// Every glob the configuration holds parses (`exclude`, `extend-exclude`, the keys of
    /// `per-file-ignores`), and `force-exclude` and the ids are left to the caller.
    pub fn check_globs(&self) -> Result<(), String> {
        for (key, patterns) in [
            ("exclude", &self.config.exclude),
            ("extend-exclude", &self.config.extend_exclude),
        ] {
            for pattern in patterns {
                ignore::gitignore::GitignoreBuilder::new(".")
                    .add_line(None, pattern)
                    .map_err(|e| self.error_at(key, Some(pattern), &e.to_string()))?;
            }
        }
        for pattern in self.config.per_file_ignores.keys() {
            globset::Glob::new(pattern)
                .map_err(|e| self.error_at("per-file-ignores", Some(pattern), &format!("{e}")))?;
        }
        Ok(())
    }

    /// An error about `key` of this configuration: `file:line:column: message` and the line
    /// with the value (or, with `needle`, the entry of it that is wrong) underlined.
    pub fn error_at(&self, key: &str, needle: Option<&str>, message: &str) -> String {
        let file = self
            .source
            .as_ref()
            .map_or("the configuration".to_string(), |s| s.display().to_string());
        let Some(located) = &self.located else {
            return format!("{file}: `{key}`: {message}");
        };
        let Some((key_span, value_span)) = located.keys.get(key) else {
            return format!("{file}: `{key}`: {message}");
        };
        // The entry inside the value when it can be found as written (`"slep"` in a list),
        // else the whole value; a key with no value span is underlined itself.
        let span = needle
            .and_then(|needle| {
                let value = located.text.get(value_span.clone())?;
                ["\"", "'"].iter().find_map(|quote| {
                    let quoted = format!("{quote}{needle}{quote}");
                    value
                        .find(&quoted)
                        .map(|at| value_span.start + at..value_span.start + at + quoted.len())
                })
            })
            .unwrap_or_else(|| {
                if value_span.is_empty() {
                    key_span.clone()
                } else {
                    value_span.clone()
                }
            });
        located_error(&file, &located.text, span, &format!("`{key}`: {message}"))
    }
}

/// `file:line:column: message`, then the line(s) with `span` underlined, as a compiler says it.
fn located_error(file: &str, text: &str, span: std::ops::Range<usize>, message: &str) -> String {
    let mut span = span.start.min(text.len())..span.end.min(text.len());
    // An error at the very end (an unclosed list) is shown on the last line, not past it.
    if span.start == text.len() && text.ends_with('\n') {
        span = text.len() - 1..text.len() - 1;
    }
    let message = message.trim_end().replace('\n', ": ");
    let line = text[..span.start].matches('\n').count() + 1;
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..span.start].chars().count() + 1;
    let snippet = annotate_snippets::Group::with_level(annotate_snippets::Level::ERROR).element(
        annotate_snippets::Snippet::source(text)
            .fold(true)
            .annotation(annotate_snippets::AnnotationKind::Primary.span(span)),
    );
    let frame = annotate_snippets::Renderer::plain().render(&[snippet]);
    format!("{file}:{line}:{column}: {message}\n{frame}")
        .trim_end()
        .to_string()
}

impl Config {
    /// Reads one configuration file; `pyproject.toml` without a `[tool.unblock]` table is `None`.
    pub fn from_file(path: &Path) -> Result<Option<Config>, String> {
        Ok(Config::located_from_file(path)?.map(|(config, _)| config))
    }

    /// The configuration in a file and where its keys are written.
    pub fn located_from_file(path: &Path) -> Result<Option<(Config, Located)>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::located_from_text(path, &text)
    }

    pub fn from_text(path: &Path, text: &str) -> Result<Option<Config>, String> {
        Ok(Config::located_from_text(path, text)?.map(|(config, _)| config))
    }

    pub fn located_from_text(path: &Path, text: &str) -> Result<Option<(Config, Located)>, String> {
        let file = path.display().to_string();
        // toml's own errors (syntax, a table where a value was expected) carry their span.
        let syntax = |e: toml::de::Error| match e.span() {
            Some(span) => located_error(&file, text, span, e.message()),
            None => format!("{file}: {}", e.message()),
        };
        let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
        let table = if is_pyproject {
            let pyproject: PyProject = toml::from_str(text).map_err(syntax)?;
            let Some(table) = pyproject.tool.and_then(|t| t.unblock) else {
                return Ok(None);
            };
            table
        } else {
            // unblock.toml: the keys at top level, or under [tool.unblock] for copy-paste ease.
            let value: toml::Table = toml::from_str(text).map_err(syntax)?;
            let nested = value.get("tool").and_then(|t| t.get("unblock")).is_some();
            if nested {
                let pyproject: PyProject = toml::from_str(text).map_err(syntax)?;
                pyproject.tool.and_then(|t| t.unblock).unwrap_or_default()
            } else {
                toml::from_str::<SpannedTable>(text).map_err(syntax)?
            }
        };
        let mut located = Located {
            text: text.to_string(),
            keys: table
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), (k.span(), v.span())))
                .collect(),
            inferred_target_version: false,
        };
        let mut config = config_from_table(&file, text, &table)?;
        let loaded = LoadedConfig {
            config: config.clone(),
            source: Some(path.to_path_buf()),
            root: None,
            located: Some(located.clone()),
        };
        config.check_target_version(&loaded)?;
        if is_pyproject && config.target_version.is_none() {
            config.target_version = target_from_pyproject(text);
            located.inferred_target_version = config.target_version.is_some();
        }
        Ok(Some((config, located)))
    }

    /// `target-version` must be one of the names the fixes know (`"3.8"` was taken silently,
    /// and `asyncio.to_thread` emitted for a Python that lacks it).
    fn check_target_version(&self, loaded: &LoadedConfig) -> Result<(), String> {
        let Some(version) = &self.target_version else {
            return Ok(());
        };
        if TARGET_VERSIONS.contains(&version.as_str()) {
            return Ok(());
        }
        let hint = version
            .strip_prefix("3.")
            .filter(|minor| minor.chars().all(|c| c.is_ascii_digit()))
            .map(|minor| format!(" (write \"py3{minor}\")"))
            .unwrap_or_default();
        Err(loaded.error_at(
            "target-version",
            None,
            &format!(
                "{version:?} is not one of {}{hint}",
                TARGET_VERSIONS.join(", ")
            ),
        ))
    }

    /// Finds the configuration for a run over `paths`: the nearest `unblock.toml` or
    /// `pyproject.toml` with `[tool.unblock]`, from the first path upwards.
    pub fn discover(paths: &[PathBuf]) -> Result<LoadedConfig, String> {
        let start = paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
        let start = std::fs::canonicalize(&start).unwrap_or(start);
        Config::discover_from(&start, None)
    }

    /// The nearest configuration from `start` upwards, not looking above `ceiling` when given.
    pub fn discover_from(start: &Path, ceiling: Option<&Path>) -> Result<LoadedConfig, String> {
        let mut dir = if start.is_dir() {
            Some(start)
        } else {
            start.parent()
        };
        while let Some(current) = dir {
            if ceiling.is_some_and(|c| !current.starts_with(c)) {
                break;
            }
            for name in ["unblock.toml", "pyproject.toml"] {
                let candidate = current.join(name);
                if candidate.is_file() {
                    if let Some((config, located)) = Config::located_from_file(&candidate)? {
                        return Ok(LoadedConfig {
                            config,
                            root: Some(current.to_path_buf()),
                            source: Some(candidate),
                            located: Some(located),
                        });
                    }
                }
            }
            dir = current.parent();
        }
        Ok(LoadedConfig::default())
    }

    pub fn load(path: &Path) -> Result<LoadedConfig, String> {
        let (config, located) = Config::located_from_file(path)?
            .ok_or_else(|| format!("{}: has no [tool.unblock] table", path.display()))?;
        let root = std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        Ok(LoadedConfig {
            config,
            source: Some(path.to_path_buf()),
            root,
            located: Some(located),
        })
    }

    /// Every exclusion pattern: `exclude` and `extend-exclude`.
    pub fn excludes(&self) -> Vec<String> {
        self.exclude
            .iter()
            .chain(&self.extend_exclude)
            .cloned()
            .collect()
    }
}

/// The configuration a table holds. Each key is tried on its own when the whole fails, so
/// that the error names the key and points at it (serde's message alone says
/// `invalid type: string "sleep", expected a sequence`, with no key and no line).
fn config_from_table(file: &str, text: &str, table: &SpannedTable) -> Result<Config, String> {
    let plain = |entries: &mut dyn Iterator<
        Item = (&toml::Spanned<String>, &toml::Spanned<toml::Value>),
    >| {
        toml::Value::Table(
            entries
                .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
                .collect(),
        )
    };
    let whole = match plain(&mut table.iter()).try_into::<Config>() {
        Ok(config) => return Ok(config),
        Err(e) => e,
    };
    let mut by_position: Vec<_> = table.iter().collect();
    by_position.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in by_position {
        let Err(e) = plain(&mut std::iter::once((key, value))).try_into::<Config>() else {
            continue;
        };
        let unknown = e.message().starts_with("unknown field");
        let span = if unknown { key.span() } else { value.span() };
        let message = if unknown {
            format!(
                "unknown key `{}` in [tool.unblock] (known: {})",
                key.get_ref(),
                known_keys().join(", ")
            )
        } else {
            format!("`{}`: {}", key.get_ref(), e.message())
        };
        return Err(located_error(file, text, span, &message));
    }
    Err(format!("{file}: [tool.unblock]: {}", whole.message()))
}

/// The keys `[tool.unblock]` accepts, as written in TOML.
pub fn known_keys() -> Vec<String> {
    let defaults = toml::Value::try_from(Config {
        force_exclude: Some(false),
        respect_gitignore: Some(true),
        http_client: Some(String::new()),
        target_version: Some(String::new()),
        cache_dir: Some(String::new()),
        ..Config::default()
    })
    .expect("the configuration serialises");
    defaults
        .as_table()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tool_unblock_from_pyproject() {
        let text = r#"
            [project]
            name = "x"
            [tool.unblock]
            extend-blocking-calls = ["app.ml.encode"]
            ignore = ["polling"]
        "#;
        let config = Config::from_text(Path::new("pyproject.toml"), text)
            .unwrap()
            .unwrap();
        assert_eq!(config.extend_blocking_calls, vec!["app.ml.encode"]);
        assert_eq!(config.ignore, vec!["polling"]);
    }

    #[test]
    fn target_version_is_checked_and_read_from_requires_python() {
        let err = Config::from_text(
            Path::new("pyproject.toml"),
            "[tool.unblock]\ntarget-version = \"3.8\"\n",
        )
        .unwrap_err();
        assert!(err.contains("\"3.8\"") && err.contains("py38"), "{err}");
        let config = Config::from_text(
            Path::new("pyproject.toml"),
            "[project]\nrequires-python = \">=3.8, <4\"\n[tool.unblock]\nignore = []\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.target_version.as_deref(), Some("py38"));
        assert_eq!(
            target_from_pyproject("[tool.poetry.dependencies]\npython = \"^3.10\"\n").as_deref(),
            Some("py310")
        );
        assert_eq!(
            target_from_pyproject("[project]\nrequires-python = \"~=3.11\"\n").as_deref(),
            Some("py311")
        );
        assert_eq!(target_from_pyproject("[project]\nname = \"x\"\n"), None);
    }

    #[test]
    fn pyproject_without_the_table_is_no_configuration() {
        let config =
            Config::from_text(Path::new("pyproject.toml"), "[project]\nname='x'\n").unwrap();
        assert!(config.is_none());
    }

    #[test]
    fn unknown_keys_are_an_error_naming_the_file() {
        let err = Config::from_text(Path::new("unblock.toml"), "selekt = ['sleep']\n").unwrap_err();
        assert!(
            err.contains("unblock.toml") && err.contains("selekt"),
            "{err}"
        );
    }
}
