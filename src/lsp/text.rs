//! Text positions (UTF-16, as LSP counts them) and file URIs.

use std::path::{Path, PathBuf};

use lsp_types::Position;

/// Byte offsets of line starts, for converting between bytes and UTF-16 positions.
pub(super) struct LineIndex {
    pub(super) starts: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    /// The UTF-16 position of a byte offset (rounded down to a character boundary).
    pub(super) fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let character: usize = text[self.starts[line]..offset]
            .chars()
            .map(char::len_utf16)
            .sum();
        Position::new(line as u32, character as u32)
    }

    /// The byte offset of a UTF-16 position, clamped to its line and to the text.
    pub(super) fn offset(&self, text: &str, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(position.line as usize + 1)
            .copied()
            .unwrap_or(text.len());
        let line = &text[start..end];
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            if units >= position.character as usize || c == '\n' || c == '\r' {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }
}

pub(super) fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string()
}

/// `file:///a%20b/c.py` → `/a b/c.py`; other schemes → `None`. The bytes a URI escapes
/// are the file name's: a name that is not UTF-8 is still a file name.
pub(super) fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let url = url::Url::parse(uri).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    url.to_file_path().ok()
}

/// The `file:` URI of a path (made absolute first), each byte of a name that is not UTF-8
/// escaped as it is.
pub(super) fn path_to_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| Path::new("/").join(path));
    url::Url::from_file_path(&absolute)
        .map(String::from)
        .unwrap_or_else(|()| format!("file://{}", absolute.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_positions_round_trip() {
        let text = "a = '€𝄞'\nb\r\nc";
        let lines = LineIndex::new(text);
        let after = text.find('\'').unwrap() + 1 + '€'.len_utf8() + '𝄞'.len_utf8();
        assert_eq!(lines.position(text, after), Position::new(0, 8));
        assert_eq!(lines.offset(text, Position::new(0, 8)), after);
        assert_eq!(
            lines.offset(text, Position::new(1, 99)),
            text.find('\r').unwrap()
        );
        assert_eq!(lines.offset(text, Position::new(9, 0)), text.len());
        assert_eq!(lines.position(text, text.len()), Position::new(2, 1));
    }

    /// Applies LSP edits to a text as an editor does (the last first: they do not overlap).

    #[test]
    fn file_uris() {
        assert_eq!(
            uri_to_path("file:///tmp/a%20b/c.py"),
            Some(PathBuf::from("/tmp/a b/c.py"))
        );
        assert_eq!(
            path_to_uri(Path::new("/tmp/a b/c.py")),
            "file:///tmp/a%20b/c.py"
        );
        assert_eq!(uri_to_path("untitled:Untitled-1"), None);
        use std::os::unix::ffi::OsStrExt;
        let latin1 = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9.py"));
        assert_eq!(path_to_uri(latin1), "file:///tmp/caf%E9.py");
        assert_eq!(
            uri_to_path("file:///tmp/caf%E9.py").as_deref(),
            Some(latin1)
        );
    }

    #[test]
    fn file_uris_as_editors_send_them() {
        // A host of `localhost`, a query and a fragment, escaped characters that need none.
        assert_eq!(
            uri_to_path("file://localhost/tmp/a.py?x=1#L2"),
            Some(PathBuf::from("/tmp/a.py"))
        );
        assert_eq!(
            uri_to_path("file:///tmp/%7Eme/%C3%A9t%C3%A9.py"),
            Some(PathBuf::from("/tmp/~me/été.py"))
        );
        assert_eq!(uri_to_path("not a uri"), None);
        let uri = path_to_uri(Path::new("/tmp/x #1/y?.py"));
        assert_eq!(
            uri_to_path(&uri),
            Some(PathBuf::from("/tmp/x #1/y?.py")),
            "{uri}"
        );
    }
}
