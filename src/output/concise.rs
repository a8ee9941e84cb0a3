//! One line per finding, `path:line:col: recipe [CODES] message`: what Vim's quickfix
//! (`errorformat=%f:%l:%c:\ %m`), grep-style tools and editors' lint plugins read.

use crate::finding::Finding;

pub fn render_concise(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{}:{}:{}: {}{} {}\n",
            f.path,
            f.start.line,
            f.start.column,
            f.recipe,
            super::codes_suffix(f),
            // A message is one line; a stray newline would split the record.
            f.message.replace(['\n', '\r'], " ")
        ));
    }
    out
}
