//! Suppression comments on the finding's first or last line:
//! `# unblock: ignore`, `# unblock: ignore[sleep, to-thread]`, and ruff's / flake8-async's
//! `# noqa: ASYNC251` for the codes that cover the finding (a bare `# noqa` silences every
//! linter on the line, as in ruff and flake8, so it silences unblock too).

use super::FileContext;
use crate::finding::Finding;

pub fn is_suppressed(finding: &Finding, cx: &FileContext) -> bool {
    let lines = [finding.start.line, finding.end.line];
    lines.iter().enumerate().any(|(i, line)| {
        if i == 1 && *line == lines[0] {
            return false;
        }
        cx.scopes.comments.get(line).is_some_and(|comments| {
            comments
                .iter()
                .any(|c| comment_suppresses(cx.text(*c), finding))
        })
    })
}

pub fn comment_suppresses(comment: &str, finding: &Finding) -> bool {
    directive_suppresses(comment, finding.recipe, &finding.noqa_codes)
}

/// Whether a comment silences a finding of `recipe` covered by `noqa_codes`.
pub fn directive_suppresses(comment: &str, recipe: &str, noqa_codes: &[String]) -> bool {
    // A comment may hold several directives: `# noqa: E501  # unblock: ignore[sleep]`.
    comment.split('#').map(str::trim).any(|directive| {
        if let Some(rest) = strip_prefix_ci(directive, "unblock:") {
            let rest = rest.trim_start();
            let Some(rest) = rest.strip_prefix("ignore") else {
                return false;
            };
            let rest = rest.trim_start();
            if !rest.starts_with('[') {
                return true;
            }
            let ids = rest[1..].split(']').next().unwrap_or("");
            return ids.split(',').map(str::trim).any(|id| id == recipe);
        }
        if let Some(rest) = strip_prefix_ci(directive, "noqa") {
            let rest = rest.trim_start();
            let Some(codes) = rest.strip_prefix(':') else {
                // Bare `# noqa` (anything else after it is prose).
                return true;
            };
            return codes
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|c| !c.is_empty())
                .take_while(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric()))
                .any(|code| noqa_codes.iter().any(|n| n.eq_ignore_ascii_case(code)));
        }
        false
    })
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(recipe: &'static str, codes: &[&str]) -> Finding {
        Finding {
            noqa_codes: codes.iter().map(|c| c.to_string()).collect(),
            ..Finding::for_test(recipe, 0, 0)
        }
    }

    #[test]
    fn unblock_ignore_with_and_without_ids() {
        let f = finding("sleep", &["ASYNC251"]);
        assert!(comment_suppresses("# unblock: ignore", &f));
        assert!(comment_suppresses("# unblock: ignore[sleep]", &f));
        assert!(comment_suppresses(
            "# unblock: ignore[to-thread, sleep]",
            &f
        ));
        assert!(!comment_suppresses("# unblock: ignore[to-thread]", &f));
        assert!(!comment_suppresses("# unblock: check this", &f));
    }

    #[test]
    fn noqa_codes_must_cover_the_finding() {
        let f = finding("sleep", &["ASYNC251"]);
        assert!(comment_suppresses("# noqa: ASYNC251", &f));
        assert!(comment_suppresses("# noqa: E501, ASYNC251", &f));
        assert!(comment_suppresses(
            "# NOQA:ASYNC251 the NFS mount is slow",
            &f
        ));
        assert!(!comment_suppresses("# noqa: ASYNC210", &f));
        assert!(comment_suppresses("# noqa", &f));
        assert!(comment_suppresses("# type: ignore  # noqa: ASYNC251", &f));
    }
}
