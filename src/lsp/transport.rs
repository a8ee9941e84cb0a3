//! The stdio transport: JSON-RPC frames read leniently (a malformed message is skipped, not
//! the end of the session), and the notifications the server sends.

use std::io::Write;

use lsp_server::{Connection, Message, Notification};

pub(super) fn send(connection: &Connection, message: Message) {
    // The writer is gone only when the client went away: the reader then ends the loop.
    let _ = connection.sender.send(message);
}

pub(super) fn notify(connection: &Connection, method: &str, params: impl serde::Serialize) {
    send(connection, Notification::new(method.into(), params).into());
}

/// A line for the client's log (the scan's outcome): kept, not shown.
pub(super) fn log_message(connection: &Connection, message: &str) {
    let params = lsp_types::LogMessageParams {
        typ: lsp_types::MessageType::INFO,
        message: message.to_string(),
    };
    notify(connection, "window/logMessage", params);
}

pub(super) fn show_message(connection: &Connection, message: &str) {
    let params = lsp_types::ShowMessageParams {
        typ: lsp_types::MessageType::WARNING,
        message: message.to_string(),
    };
    notify(connection, "window/showMessage", params);
}

/// lsp-server's `Connection::stdio`, except that anything malformed (a bad header, a length
/// no message has, a body that is not a JSON-RPC message) is logged to stderr and skipped, and
/// reading goes on at the next message (lsp-server's stops reading at the first one).
pub(super) fn stdio_connection() -> (Connection, std::thread::JoinHandle<()>) {
    // The in-memory pair's client end is driven by two threads: one writes what the server
    // sends to stdout, one reads stdin and sends it to the server.
    let (server, client) = Connection::memory();
    let Connection {
        sender: reader_sender,
        receiver: writer_receiver,
    } = client;
    let writer = std::thread::Builder::new()
        .name("unblock-lsp-writer".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            let mut stdout = stdout.lock();
            for message in writer_receiver {
                if message.write(&mut stdout).is_err() {
                    break;
                }
                let _ = stdout.flush();
            }
        })
        .expect("spawn the writer thread");
    std::thread::Builder::new()
        .name("unblock-lsp-reader".into())
        .spawn(move || {
            let mut frames = Frames::new(std::io::stdin().lock());
            while let Some(frame) = frames.next_frame() {
                match frame {
                    Frame::Message(message) => {
                        let is_exit =
                            matches!(&message, Message::Notification(n) if n.method == "exit");
                        if reader_sender.send(message).is_err() || is_exit {
                            break;
                        }
                    }
                    Frame::Skipped(why) => eprintln!("unblock lsp: malformed input skipped: {why}"),
                }
            }
            // Dropping the sender ends the main loop when stdin closes.
        })
        .expect("spawn the reader thread");
    (server, writer)
}

/// The largest message read. A larger `Content-Length` is taken for garbage: no editor sends
/// one, and allocating what a header claims would abort the process.
pub(super) const MAX_MESSAGE: u64 = 64 << 20;
/// A header block is a few dozen bytes; this many without the blank line ending it is garbage.
pub(super) const MAX_HEADER: usize = 8 << 10;
pub(super) const LENGTH_HEADER: &[u8] = b"content-length";

/// What the reader found next on its input.
pub(super) enum Frame {
    Message(Message),
    /// Input that was not a well-formed message, and why.
    Skipped(String),
}

/// LSP's base protocol over a byte stream. After anything malformed it resynchronises on the
/// next `Content-Length` header, wherever it starts.
pub(super) struct Frames<R> {
    pub(super) input: R,
    pub(super) buffer: Vec<u8>,
    pub(super) at_end: bool,
    /// Garbage outside any message is being skipped (reported once per stretch).
    pub(super) in_garbage: bool,
}

pub(super) enum Header {
    Incomplete,
    Bad(String),
    Complete { body_start: usize, length: u64 },
}

impl<R: std::io::Read> Frames<R> {
    pub(super) fn new(input: R) -> Self {
        Frames {
            input,
            buffer: Vec::new(),
            at_end: false,
            in_garbage: false,
        }
    }

    /// The next message or skipped stretch; `None` at the end of the input.
    pub(super) fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let Some(start) = find_ignore_ascii_case(&self.buffer, LENGTH_HEADER) else {
                // Keep a tail that may be the start of a header split across reads.
                let garbage = self.buffer.len().saturating_sub(LENGTH_HEADER.len() - 1);
                if let Some(frame) = self.drop_garbage(garbage) {
                    return Some(frame);
                }
                if !self.fill() {
                    return None;
                }
                continue;
            };
            if let Some(frame) = self.drop_garbage(start) {
                return Some(frame);
            }
            match parse_header(&self.buffer) {
                Header::Incomplete if self.buffer.len() <= MAX_HEADER => {
                    if !self.fill() {
                        return None;
                    }
                }
                Header::Incomplete => {
                    return Some(self.resynchronise("a header block without its end".into()))
                }
                Header::Bad(why) => return Some(self.resynchronise(why)),
                Header::Complete { length, .. } if length > MAX_MESSAGE => {
                    let why = format!(
                        "Content-Length {length} is over the limit of {} MB",
                        MAX_MESSAGE >> 20
                    );
                    return Some(self.resynchronise(why));
                }
                Header::Complete { body_start, length } => {
                    let end = body_start + length as usize;
                    while self.buffer.len() < end {
                        if !self.fill() {
                            return None;
                        }
                    }
                    match serde_json::from_slice::<Message>(&self.buffer[body_start..end]) {
                        Ok(message) => {
                            self.buffer.drain(..end);
                            self.in_garbage = false;
                            return Some(Frame::Message(message));
                        }
                        // The length may be wrong: the next message can start inside what it
                        // claimed, so only the header is dropped.
                        Err(e) => {
                            return Some(self.resynchronise(format!("not a JSON-RPC message: {e}")))
                        }
                    }
                }
            }
        }
    }

    /// Drops the first `count` bytes: whitespace between messages, or garbage (reported once
    /// per stretch).
    pub(super) fn drop_garbage(&mut self, count: usize) -> Option<Frame> {
        let garbage = self.buffer[..count]
            .iter()
            .any(|b| !b.is_ascii_whitespace());
        self.buffer.drain(..count);
        if garbage && !self.in_garbage {
            self.in_garbage = true;
            return Some(Frame::Skipped("bytes outside any message".into()));
        }
        None
    }

    /// Skips the header at the start of the buffer: reading goes on at the next one.
    pub(super) fn resynchronise(&mut self, why: String) -> Frame {
        self.buffer.drain(..LENGTH_HEADER.len());
        self.in_garbage = true;
        Frame::Skipped(why)
    }

    /// Reads more input; false at its end.
    pub(super) fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        while !self.at_end {
            match self.input.read(&mut chunk) {
                Ok(0) => self.at_end = true,
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => self.at_end = true,
            }
        }
        false
    }
}

/// The header block at the start of `bytes` (which starts with `Content-Length`): lines up to
/// an empty one.
pub(super) fn parse_header(bytes: &[u8]) -> Header {
    let mut length = None;
    let mut at = 0;
    while let Some(newline) = memchr::memchr(b'\n', &bytes[at..]) {
        let line = &bytes[at..at + newline];
        at += newline + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return match length {
                Some(length) => Header::Complete {
                    body_start: at,
                    length,
                },
                None => Header::Bad("no Content-Length header".into()),
            };
        }
        let text = String::from_utf8_lossy(line);
        match text.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<u64>() {
                    Ok(n) => length = Some(n),
                    Err(_) => return Header::Bad(format!("bad Content-Length: {text:?}")),
                }
            }
            Some(_) => {}
            None => return Header::Bad(format!("bad header line: {text:?}")),
        }
    }
    Header::Incomplete
}

pub(super) fn find_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Result<String, String>> {
        let mut frames = Frames::new(input);
        std::iter::from_fn(|| frames.next_frame())
            .map(|frame| match frame {
                Frame::Message(Message::Notification(n)) => Ok(n.method),
                Frame::Message(other) => Ok(format!("{other:?}")),
                Frame::Skipped(why) => Err(why),
            })
            .collect()
    }

    fn notification(method: &str) -> Vec<u8> {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{{}}}}"#);
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    #[test]
    fn reads_past_garbage() {
        let mut input = b"Content-Length: 3\r\n\r\n{{{garbage\r\n\r\n".to_vec();
        input.extend(notification("a"));
        input.extend(b"\r\n\r\nContent-Length: x\r\n\r\n");
        input.extend(notification("b"));
        let read = frames(&input);
        assert_eq!(read.iter().filter(|f| f.is_err()).count(), 2, "{read:?}");
        let messages: Vec<_> = read.into_iter().filter_map(Result::ok).collect();
        assert_eq!(messages, ["a", "b"]);
    }

    #[test]
    fn a_length_over_the_limit_is_skipped_without_allocating_it() {
        for length in [
            "18446744073709551615",
            "100000000000000",
            "99999999999999999999999",
        ] {
            let mut input = format!("Content-Length: {length}\r\n\r\n{{}}").into_bytes();
            input.extend(notification("after"));
            let read = frames(&input);
            assert!(read[0].is_err(), "{length}: {read:?}");
            assert_eq!(read.last(), Some(&Ok("after".to_string())), "{length}");
        }
    }

    #[test]
    fn a_length_shorter_than_its_body_loses_only_that_message() {
        let mut input = b"Content-Length: 2\r\n\r\nabc".to_vec();
        input.extend(notification("first"));
        input.extend(notification("second"));
        let messages: Vec<_> = frames(&input).into_iter().filter_map(Result::ok).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn a_header_split_across_reads_is_put_together() {
        // One byte per read, as a slow pipe may deliver.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let Some((&first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                out[0] = first;
                self.0 = rest;
                Ok(1)
            }
        }
        let mut input = notification("a");
        input.extend(notification("b"));
        let mut frames = Frames::new(Trickle(&input));
        let mut methods = Vec::new();
        while let Some(frame) = frames.next_frame() {
            match frame {
                Frame::Message(Message::Notification(n)) => methods.push(n.method),
                _ => panic!("only messages"),
            }
        }
        assert_eq!(methods, ["a", "b"]);
    }
}
