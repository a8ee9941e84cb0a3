//! `[tool.unblock]` in `pyproject.toml`, or the same keys at the top of `unblock.toml`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Recipe ids to report (all when empty).
    pub select: Vec<String>,
    /// Recipe ids never to report.
    pub ignore: Vec<String>,
    /// Fully qualified names of further blocking calls: `"pymilvus.Collection.search"`.
    pub extend_blocking_calls: Vec<String>,
    /// Glob patterns (gitignore syntax) of paths to skip, relative to the configuration file.
    pub exclude: Vec<String>,
    /// A shared `httpx.AsyncClient` expression for the http-requests fix (`app.http.client`).
    pub http_client: Option<String>,
    /// Oldest Python the fixes must run on: `py38` … `py313`.
    pub target_version: Option<String>,
    /// Source roots, relative to the configuration's folder (as ruff's `src`): the folders
    /// Python has on `sys.path`, which module names start from. Guessed when not given.
    pub src: Vec<String>,
    /// Where `check` keeps its summary cache, relative to the configuration's folder
    /// (default `.unblock_cache`; `UNBLOCK_CACHE_DIR` overrides it).
    pub cache_dir: Option<String>,
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
}

#[derive(Deserialize)]
struct PyProject {
    tool: Option<Tools>,
}

#[derive(Deserialize)]
struct Tools {
    unblock: Option<toml::Value>,
}

impl LoadedConfig {
    /// Every `src` entry must be a folder: a typo would otherwise rename every module quietly.
    pub fn check_source_roots(&self) -> Result<(), String> {
        let base = self.root.clone().unwrap_or_else(|| PathBuf::from("."));
        for entry in &self.config.src {
            if !base.join(entry).is_dir() {
                let file = self
                    .source
                    .as_ref()
                    .map_or("the configuration".to_string(), |s| s.display().to_string());
                return Err(format!(
                    "{file}: `src` entry `{entry}` is not a folder (source roots are relative to this file)"
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Reads one configuration file; `pyproject.toml` without a `[tool.unblock]` table is `None`.
    pub fn from_file(path: &Path) -> Result<Option<Config>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::from_text(path, &text)
    }

    pub fn from_text(path: &Path, text: &str) -> Result<Option<Config>, String> {
        let describe = |e: toml::de::Error| format!("{}: {}", path.display(), e.message());
        let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
        if is_pyproject {
            let pyproject: PyProject = toml::from_str(text).map_err(describe)?;
            let Some(table) = pyproject.tool.and_then(|t| t.unblock) else {
                return Ok(None);
            };
            let mut config: Config = table.try_into().map_err(describe)?;
            config.check_target_version(path)?;
            if config.target_version.is_none() {
                config.target_version = target_from_pyproject(text);
            }
            return Ok(Some(config));
        }
        // unblock.toml: the keys at top level, or under [tool.unblock] for copy-paste ease.
        let value: toml::Value = toml::from_str(text).map_err(describe)?;
        let table = value
            .get("tool")
            .and_then(|t| t.get("unblock"))
            .cloned()
            .unwrap_or(value);
        let config: Config = table.try_into().map_err(describe)?;
        config.check_target_version(path)?;
        Ok(Some(config))
    }

    /// `target-version` must be one of the names the fixes know (`"3.8"` was taken silently,
    /// and `asyncio.to_thread` emitted for a Python that lacks it).
    fn check_target_version(&self, path: &Path) -> Result<(), String> {
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
        Err(format!(
            "{}: `target-version` = {version:?} is not one of {}{hint}",
            path.display(),
            TARGET_VERSIONS.join(", ")
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
                    if let Some(config) = Config::from_file(&candidate)? {
                        return Ok(LoadedConfig {
                            config,
                            root: Some(current.to_path_buf()),
                            source: Some(candidate),
                        });
                    }
                }
            }
            dir = current.parent();
        }
        Ok(LoadedConfig::default())
    }

    pub fn load(path: &Path) -> Result<LoadedConfig, String> {
        let config = Config::from_file(path)?
            .ok_or_else(|| format!("{}: has no [tool.unblock] table", path.display()))?;
        let root = std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        Ok(LoadedConfig {
            config,
            source: Some(path.to_path_buf()),
            root,
        })
    }
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
