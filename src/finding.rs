//! What the engine reports: one `Finding` per blocking site, the same for every front end.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The blocking call is lexically inside the `async def`.
    Direct,
    /// The `async def` calls a project sync function that blocks further down.
    Indirect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Safety {
    /// Behaviour is kept exactly.
    Safe,
    /// Behaviour changes in a way the reviewer must accept: shown only with `--unsafe-fixes`.
    Unsafe,
}

impl Safety {
    pub fn as_str(self) -> &'static str {
        match self {
            Safety::Safe => "safe",
            Safety::Unsafe => "unsafe",
        }
    }
}

/// The fix a recipe offers for a finding: text edits plus the imports they need, a safety
/// level, and a note for the reviewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixInfo {
    pub safety: Safety,
    /// One line for the reviewer: what the fix does and, when unsafe, what changes.
    pub note: String,
    /// Non-overlapping byte-range replacements in the original file.
    #[serde(skip)]
    pub edits: Vec<Edit>,
    /// Modules the edits use, imported at the top of the module if they are not already.
    #[serde(skip)]
    pub imports: Vec<&'static str>,
    /// Byte ranges no other fix may touch in the same round (a whole function whose body a
    /// fix restructures), beyond the edits' own ranges.
    #[serde(skip)]
    pub claims: Vec<(usize, usize)>,
    /// Names whose use the edits remove (`time` in `time.sleep(...)`): their import goes too
    /// when nothing else in the file uses them.
    #[serde(skip)]
    pub releases: Vec<String>,
    /// Local names whose use the edits remove (`loop` in `loop.run_in_executor(...)`): a
    /// `loop = asyncio.get_event_loop()` left with no reader in its function goes too.
    #[serde(skip)]
    pub released_locals: Vec<String>,
    /// Module-level statements the edits rely on, added once per file.
    #[serde(skip)]
    pub preludes: Vec<Prelude>,
}

/// A module-level statement a fix's edits use (a value built once at import instead of on
/// every call), inserted after the imports, unless the module already binds `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prelude {
    /// The name the statement binds at module level: a file that binds it gets nothing.
    pub name: &'static str,
    /// The statement's lines, `\n`-separated (written with the file's own line ending).
    pub statement: &'static str,
    /// The module the statement uses: it goes after the run of imports holding `import module`.
    pub after_import: &'static str,
}

/// Replace `start..end` of the original bytes with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

impl FixInfo {
    pub fn safe(note: impl Into<String>) -> Option<FixInfo> {
        Some(FixInfo {
            safety: Safety::Safe,
            note: note.into(),
            edits: Vec::new(),
            imports: Vec::new(),
            claims: Vec::new(),
            releases: Vec::new(),
            released_locals: Vec::new(),
            preludes: Vec::new(),
        })
    }

    pub fn unsafe_(note: impl Into<String>) -> Option<FixInfo> {
        Some(FixInfo {
            safety: Safety::Unsafe,
            note: note.into(),
            edits: Vec::new(),
            imports: Vec::new(),
            claims: Vec::new(),
            releases: Vec::new(),
            released_locals: Vec::new(),
            preludes: Vec::new(),
        })
    }

    pub fn new(
        safety: Safety,
        note: impl Into<String>,
        edits: Vec<Edit>,
        imports: Vec<&'static str>,
    ) -> FixInfo {
        FixInfo {
            safety,
            note: note.into(),
            edits,
            imports,
            claims: Vec::new(),
            releases: Vec::new(),
            released_locals: Vec::new(),
            preludes: Vec::new(),
        }
    }

    /// The edits remove a use of `name` (the root of the replaced callee).
    pub fn releasing(mut self, name: Option<String>) -> FixInfo {
        self.releases.extend(name);
        self
    }

    /// The edits use the name `prelude` binds at module level.
    pub fn with_prelude(mut self, prelude: Prelude) -> FixInfo {
        if !self.preludes.contains(&prelude) {
            self.preludes.push(prelude);
        }
        self
    }

    /// Also keeps every other fix out of `range` in the same round.
    pub fn claiming(mut self, range: (usize, usize)) -> FixInfo {
        self.claims.push(range);
        self
    }
}

/// One link of an indirect finding's call chain, from the async function down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    pub path: String,
    pub line: usize,
    pub name: String,
}

/// 1-based line and column (columns count characters, as editors and ruff do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub path: String,
    pub recipe: &'static str,
    pub kind: Kind,
    /// Byte range of the reported expression in the file.
    pub start_byte: usize,
    pub end_byte: usize,
    pub start: Position,
    pub end: Position,
    pub message: String,
    /// Why the call blocks (from the catalogue or the recipe).
    pub reason: String,
    /// The fix that will be offered, or `None` with `not_fixable` saying why.
    pub fix: Option<FixInfo>,
    pub not_fixable: Option<String>,
    pub chain: Vec<ChainLink>,
    /// Indirect findings: every distinct blocking call behind the call, costliest first
    /// (network, then processes, waits, files, file-system metadata); the chain leads to the
    /// first.
    pub sinks: Vec<ChainLink>,
    /// ruff / flake8-async codes whose `# noqa` silences this finding.
    pub noqa_codes: Vec<String>,
    /// Start bytes of catalogue calls that are part of this finding (a thread's `join()` in a
    /// fan-out): they are not reported again on their own.
    pub covers: Vec<usize>,
    /// Kept only if this callee turns out to be a project `async def` (known once every file
    /// has been seen): how an un-awaited coroutine call is reported without a second pass.
    pub requires_async_callee: Option<String>,
    /// Kept only if this callee turns out to be a project sync function that blocks further
    /// down (known once the call graph is built): how indirect findings start out.
    pub requires_blocking_callee: Option<String>,
    /// What that call passes: a helper that blocks only when an argument is left out
    /// (`if session is None: session = Session()`) does not block this call when it is given.
    pub passed_arguments: Option<Arguments>,
}

/// The arguments a call passes, as far as they can be known: keyword names given a value
/// other than `None`, and how many positional ones come before any `*args`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct Arguments {
    pub keywords: Vec<String>,
    pub positional: usize,
    /// A `*args` or `**kwargs` may pass more than is written.
    pub spread: bool,
    /// Functions passed as arguments (`call_with(fetch, url)`, `retry(fn=load)`): where, and
    /// the function's fully qualified name. A helper that calls the parameter runs them.
    pub callables: Vec<PassedCallable>,
}

/// A function passed to a call: by position (0-based, as written) or by keyword.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct PassedCallable {
    pub position: Option<usize>,
    pub keyword: Option<String>,
    pub name: String,
}

impl Arguments {
    /// The function passed for `parameter` of a function with these `positional` parameters.
    pub fn callable_for(&self, parameter: &str, positional: &[String]) -> Option<&str> {
        let implicit = usize::from(
            positional
                .first()
                .is_some_and(|p| p == "self" || p == "cls"),
        );
        let index = positional.iter().position(|p| p == parameter);
        self.callables
            .iter()
            .find(|c| {
                c.keyword.as_deref() == Some(parameter)
                    || (c.position.is_some() && c.position.map(|i| i + implicit) == index)
            })
            .map(|c| c.name.as_str())
    }
}

/// In a list of the parameters a call gives: the call may give others too (through `*args` or
/// `**kwargs`, or it is not known what it passes). No parameter is named so.
pub const MAYBE_MORE: &str = "**";

impl Arguments {
    /// What a call passes when that is not known: maybe anything.
    pub fn unknown() -> Arguments {
        Arguments {
            spread: true,
            ..Arguments::default()
        }
    }

    /// The parameters of a function with these `positional` parameters that the call gives
    /// ([`MAYBE_MORE`] among them when it may give more than is written).
    /// A bound method's or constructor's `self`/`cls` is passed implicitly: skipped.
    pub fn given(&self, positional: &[String]) -> Vec<String> {
        let implicit = positional
            .first()
            .is_some_and(|p| p == "self" || p == "cls");
        let mut given: Vec<String> = positional
            .iter()
            .skip(usize::from(implicit))
            .take(self.positional)
            .cloned()
            .chain(self.keywords.iter().cloned())
            .collect();
        if self.spread {
            given.push(MAYBE_MORE.to_string());
        }
        given.sort();
        given.dedup();
        given
    }
}

impl Finding {
    pub fn sort_key(&self) -> (&str, usize, usize, &str) {
        (&self.path, self.start.line, self.start.column, self.recipe)
    }

    /// Whether it is reported whatever the other files say: not a candidate the call graph or
    /// the project's coroutines decide on (most of those are dropped).
    pub fn is_settled(&self) -> bool {
        self.requires_async_callee.is_none() && self.requires_blocking_callee.is_none()
    }
}

#[cfg(test)]
impl Finding {
    /// A direct finding of `recipe` over `start_byte..end_byte` of `m.py`, with nothing else
    /// said: unit tests fill in what they look at.
    pub(crate) fn for_test(recipe: &'static str, start_byte: usize, end_byte: usize) -> Finding {
        Finding {
            path: "m.py".into(),
            recipe,
            kind: Kind::Direct,
            start_byte,
            end_byte,
            start: Position::default(),
            end: Position::default(),
            message: String::new(),
            reason: String::new(),
            fix: None,
            not_fixable: None,
            chain: vec![],
            sinks: vec![],
            noqa_codes: vec![],
            covers: vec![],
            requires_async_callee: None,
            requires_blocking_callee: None,
            passed_arguments: None,
        }
    }
}
