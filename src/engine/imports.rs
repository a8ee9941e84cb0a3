//! Where a fix's new `import` lines go: where isort (and ruff's `I` rules, black's profile)
//! would put them, so that a project whose imports were sorted stays sorted.
//!
//! The leading block of module-level imports (after the docstring and `from __future__`) is
//! read as sections: standard library, third party, first party (the file's own top-level
//! package), local (relative imports). A new `import m` joins its section among the plain
//! `import` statements, sorted case-insensitively by module (plain imports come before
//! `from` imports within a section, isort's default); a section the file does not have yet
//! is opened, with a blank line, between the sections around it. Existing lines are never
//! moved: a block that was not sorted gets the new line at the best place it has.

use tree_sitter::Node;

use super::source::SourceFile;
use super::syntax::Field;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Future,
    StandardLibrary,
    ThirdParty,
    FirstParty,
    Local,
}

/// One statement of the leading import block.
struct Statement {
    section: Section,
    /// A plain `import m` (else `from m import x`).
    plain: bool,
    /// The module it imports, lower-cased, for sorting.
    key: String,
    /// Start of its first line, and end of its last line (after the line ending).
    line_start: usize,
    line_end: usize,
}

/// The text to insert for each of `modules` (plain `import m` lines), as `(offset, text)` in
/// the file's coordinates, at line starts; `None` when the file has no leading import block
/// (the caller puts them after the docstring).
pub fn insertions(
    file: &SourceFile,
    modules: &[&str],
    newline: &str,
) -> Option<Vec<(usize, String)>> {
    let block = leading_imports(file);
    if block.is_empty() {
        return None;
    }
    let own_package = file.module.split('.').next().unwrap_or_default();
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut sorted: Vec<&str> = modules.to_vec();
    sorted.sort_by_key(|m| (section_of(m, own_package), m.to_lowercase()));
    for module in sorted {
        let section = section_of(module, own_package);
        let key = module.to_lowercase();
        let line = format!("import {module}{newline}");
        let same: Vec<&Statement> = block.iter().filter(|s| s.section == section).collect();
        let (at, text) = if same.is_empty() {
            // A section of its own, between the ones around it.
            match block.iter().find(|s| s.section > section) {
                Some(next) => (next.line_start, format!("{line}{newline}")),
                None => {
                    let last = block.last().expect("not empty");
                    (last.line_end, format!("{newline}{line}"))
                }
            }
        } else {
            let plain: Vec<&&Statement> = same.iter().filter(|s| s.plain).collect();
            match plain.iter().find(|s| s.key >= key) {
                Some(next) => (next.line_start, line),
                None => match plain.last() {
                    Some(last) => (last.line_end, line),
                    None => (same[0].line_start, line),
                },
            }
        };
        // Two new lines at one place keep their sorted order.
        match out.iter_mut().find(|(offset, _)| *offset == at) {
            Some((_, existing)) => existing.push_str(&text),
            None => out.push((at, text)),
        }
    }
    Some(out)
}

fn section_of(module: &str, own_package: &str) -> Section {
    let top = module.split('.').next().unwrap_or(module);
    if module.starts_with('.') {
        Section::Local
    } else if top == "__future__" {
        Section::Future
    } else if super::callgraph::stdlib_modules().contains(top) {
        Section::StandardLibrary
    } else if !own_package.is_empty() && top == own_package {
        Section::FirstParty
    } else {
        Section::ThirdParty
    }
}

/// The module-level imports before the first other statement (the docstring and comments
/// do not end the block).
fn leading_imports(file: &SourceFile) -> Vec<Statement> {
    let own_package = file.module.split('.').next().unwrap_or_default();
    let root = file.tree.root_node();
    let mut cursor = root.walk();
    let mut out = Vec::new();
    for (index, node) in root.named_children(&mut cursor).enumerate() {
        let is_docstring = index == 0
            && node.kind() == "expression_statement"
            && node.named_child(0).is_some_and(|s| s.kind() == "string");
        let module = match node.kind() {
            "comment" => continue,
            _ if is_docstring => continue,
            "future_import_statement" => "__future__".to_string(),
            "import_statement" => match node.field("name") {
                Some(name) => imported_module(file, name),
                None => continue,
            },
            "import_from_statement" => match node.field("module_name") {
                Some(name) => file.text(name).to_string(),
                None => continue,
            },
            _ => break,
        };
        out.push(Statement {
            section: section_of(&module, own_package),
            plain: node.kind() == "import_statement",
            key: module.to_lowercase(),
            line_start: line_start(file, node.start_byte()),
            line_end: line_end(file, node.end_byte()),
        });
    }
    out
}

/// `a.b` of `import a.b` or `import a.b as c`.
fn imported_module(file: &SourceFile, name: Node) -> String {
    let name = match name.kind() {
        "aliased_import" => name.field("name").unwrap_or(name),
        _ => name,
    };
    file.text(name).to_string()
}

/// The start of the line holding `byte`; on the first line, after a byte order mark.
fn line_start(file: &SourceFile, byte: usize) -> usize {
    let bom = if file.bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    file.bytes[..byte]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(bom, |i| i + 1)
}

fn line_end(file: &SourceFile, byte: usize) -> usize {
    file.bytes[byte..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(file.bytes.len(), |i| byte + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(source: &str, modules: &[&str]) -> String {
        let file = SourceFile::parse(
            "app/m.py".into(),
            source.as_bytes().to_vec(),
            "app.m".into(),
        )
        .unwrap();
        let mut out = source.to_string();
        let mut insertions = insertions(&file, modules, "\n").expect("an import block");
        insertions.sort_by_key(|(at, _)| *at);
        for (at, text) in insertions.into_iter().rev() {
            out.insert_str(at, &text);
        }
        out
    }

    #[test]
    fn a_standard_library_module_joins_its_section_in_order() {
        assert_eq!(
            placed(
                "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nimport ast\nimport os\nfrom pathlib import Path\n\nimport requests\n\nx = 1\n",
                &["asyncio", "httpx"],
            ),
            "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n\nimport ast\nimport asyncio\nimport os\nfrom pathlib import Path\n\nimport httpx\nimport requests\n\nx = 1\n"
        );
    }

    #[test]
    fn a_missing_section_is_opened_between_its_neighbours() {
        assert_eq!(
            placed("import os\n\nfrom app import db\n\nx = 1\n", &["httpx"],),
            "import os\n\nimport httpx\n\nfrom app import db\n\nx = 1\n"
        );
        assert_eq!(
            placed(
                "from app import db\nfrom . import util\n",
                &["asyncio", "httpx"]
            ),
            "import asyncio\n\nimport httpx\n\nfrom app import db\nfrom . import util\n"
        );
        assert_eq!(
            placed("import os\n", &["httpx"]),
            "import os\n\nimport httpx\n"
        );
    }

    #[test]
    fn a_section_of_from_imports_gets_the_plain_import_first() {
        assert_eq!(
            placed(
                "from os import path\nfrom time import sleep\n\nx = 1\n",
                &["asyncio"]
            ),
            "import asyncio\nfrom os import path\nfrom time import sleep\n\nx = 1\n"
        );
    }

    #[test]
    fn no_import_block_is_left_to_the_caller() {
        let file = SourceFile::parse(
            "m.py".into(),
            b"\"\"\"Doc.\"\"\"\nx = 1\n".to_vec(),
            "m".into(),
        )
        .unwrap();
        assert!(insertions(&file, &["asyncio"], "\n").is_none());
    }
}
