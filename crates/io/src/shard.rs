//! The one sharded line reader under every line format of this crate, so that each worker reads
//! only its part of a file ([`read_lines`]); a format supplies only its line grammar and record
//! assembly, as a closure that takes a [`Line`] and returns what it expected on a bad one
//! ([`LineError`]).
//!
//! The data region `[data_start, file_len)` is cut into `n_shards` near-equal raw byte ranges.
//! A raw range rarely ends on a line boundary, so ownership is decided by one rule:
//! **a shard owns exactly the lines whose first byte lies in its raw range.**
//! Each shard therefore skips the partial line at its start (the previous shard owns it) and reads
//! past its raw end to finish its last line.
//! Because the raw ranges tile the data region, every line has exactly one owner, for any number of
//! shards; a shard whose raw range holds no line start is empty.
//!
//! The reader reads a shard's lines in blocks of about 1 MiB ([`BLOCK_BYTES`]), so a worker never
//! holds its shard's text beside what it parsed from it, and knows each line by its absolute byte
//! offset. **Line numbers in errors are the file's**, whichever shard read the line: the reader
//! counts the number of a rejected line (the newlines before it) on the error path only, so the
//! formats and the error constructors never read a file to name a line.
//!
//! A UTF-8 byte order mark (`EF BB BF`) at the start of a file is not part of its first line: a
//! data region that starts at byte 0 starts after it (see [`UTF8_BOM`], [`strip_bom`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

use crate::error::DataError;

/// The UTF-8 byte order mark, which some editors put at the start of a text file.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` without a leading UTF-8 byte order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// The length of the byte order mark at the start of `path`: 3 or 0.
pub fn bom_len(path: &Path) -> Result<u64, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut head = Vec::with_capacity(3);
    file.take(3)
        .read_to_end(&mut head)
        .map_err(|e| DataError::io(path, e))?;
    Ok(if head == UTF8_BOM { 3 } else { 0 })
}

/// The raw byte range `[start, end)` of shard `shard` out of `n_shards` over the data region
/// `[data_start, file_len)`, before alignment to line boundaries.
///
/// The ranges of shards `0..n_shards` tile the data region in order, and their lengths differ by at
/// most one byte. A `data_start` beyond `file_len` is treated as an empty data region.
///
/// # Panics
///
/// If `n_shards == 0` or `shard >= n_shards`; these are programming errors, not bad input.
pub fn shard_byte_range(
    data_start: u64,
    file_len: u64,
    shard: usize,
    n_shards: usize,
) -> (u64, u64) {
    assert!(
        shard < n_shards,
        "shard {shard} out of range for {n_shards} shards"
    );
    let data_start = data_start.min(file_len);
    let len = u128::from(file_len - data_start);
    // 128-bit arithmetic so that `len * shard` cannot overflow for any file size.
    let split = |i: usize| data_start + (len * i as u128 / n_shards as u128) as u64;
    (split(shard), split(shard + 1))
}

/// The bytes of the whole lines one shard owns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShardText {
    /// The owned lines, with their line terminators, exactly as they appear in the file.
    pub bytes: Vec<u8>,
    /// The absolute file offset of `bytes[0]` (for an empty shard, where its lines would start).
    pub byte_offset: u64,
}

/// One line of a shard, as the reader hands it to a format's parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The absolute file offset of the line's first byte: what names the line in an error
    /// ([`LineError::at`], [`line_number_at`]).
    pub offset: u64,
    /// The line without its `\n` and without a `\r` just before it.
    pub text: &'a [u8],
}

impl ShardText {
    /// The lines of the shard in file order, including empty ones.
    pub fn lines(&self) -> Lines<'_> {
        Lines {
            bytes: &self.bytes,
            position: 0,
            base: self.byte_offset,
        }
    }
}

/// Iterator over the lines of a [`ShardText`], from [`ShardText::lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    bytes: &'a [u8],
    position: usize,
    base: u64,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if self.position >= self.bytes.len() {
            return None;
        }
        let start = self.position;
        let rest = &self.bytes[start..];
        let (mut text, consumed) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        if let [head @ .., b'\r'] = text {
            text = head;
        }
        self.position += consumed;
        Some(Line {
            offset: self.base + start as u64,
            text,
        })
    }
}

/// A format's parser rejecting a line: what was expected there. The reader that handed it the
/// line turns it into a [`DataError::Parse`] with the line's number in the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// What was expected, and what was found.
    pub message: String,
    /// The [`Line::offset`] of the bad line when it is an earlier line than the one being
    /// parsed (a blank line is an error only once a label follows it); `None` for the line
    /// being parsed.
    pub earlier: Option<u64>,
}

impl LineError {
    /// The error for the earlier line whose [`Line::offset`] is `offset`.
    pub fn at(offset: u64, message: impl Into<String>) -> LineError {
        LineError {
            message: message.into(),
            earlier: Some(offset),
        }
    }
}

impl From<String> for LineError {
    /// The error for the line being parsed.
    fn from(message: String) -> LineError {
        LineError {
            message,
            earlier: None,
        }
    }
}

/// Reads the lines shard `shard` of `n_shards` owns in the data region of `path` (from byte
/// `data_start`: 0 for headerless formats, where the region starts after a byte order mark; the
/// first body line for docword and MatrixMarket) and hands each to `parse`, in file order.
/// The lines are read a block of about [`BLOCK_BYTES`] at a time into one reused buffer, so a
/// parser that keeps only what it parsed never holds the shard's text.
///
/// Returns the bytes of the owned lines (over all shards, the data region). The first line
/// `parse` rejects ends the read with a [`DataError::Parse`] naming `path`, the line's 1-based
/// number in the whole file and the parser's message; a read that fails is a
/// [`DataError::Io`]. A shard knows its lines' offsets only: the number is counted on this
/// error path alone, by a read of the file up to the line ([`line_number_at`]).
pub fn read_lines(
    path: &Path,
    shard: usize,
    n_shards: usize,
    data_start: u64,
    mut parse: impl FnMut(Line<'_>) -> Result<(), LineError>,
) -> Result<u64, DataError> {
    let mut rejected = None;
    let (_, bytes) = for_each_block(path, shard, n_shards, data_start, BLOCK_BYTES, |block| {
        for line in block.lines() {
            if let Err(error) = parse(line) {
                rejected = Some((error.earlier.unwrap_or(line.offset), error.message));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    match rejected {
        Some((offset, message)) => {
            let line = line_number_at(path, offset)?;
            Err(DataError::parse(path, line, message))
        }
        None => Ok(bytes),
    }
}

/// The lines shard `shard` of `n_shards` owns in the data region of `path` (the lines
/// [`read_lines`] reads), in one buffer: for callers that keep the text (`parse_speed` times
/// this copy).
pub fn read_shard_lines(
    path: &Path,
    shard: usize,
    n_shards: usize,
    data_start: u64,
) -> Result<ShardText, DataError> {
    let mut bytes = Vec::new();
    // One block: the shard's text is kept whole anyway.
    let (byte_offset, _) = for_each_block(path, shard, n_shards, data_start, u64::MAX, |block| {
        bytes = std::mem::take(&mut block.bytes);
        ControlFlow::Continue(())
    })?;
    Ok(ShardText { bytes, byte_offset })
}

/// Bytes [`read_lines`] reads at a time (then to the end of the line they stop in): one read
/// call per MiB, and a buffer that stays small next to what is parsed from it.
pub const BLOCK_BYTES: u64 = 1 << 20;

/// The reader under [`read_lines`] and [`read_shard_lines`]: opens `path`, finds the shard's
/// line-aligned range and walks it in blocks of whole lines (see [`walk_blocks`]). Returns the
/// offset of the shard's first line (where it would start, for an empty shard) and its bytes.
fn for_each_block(
    path: &Path,
    shard: usize,
    n_shards: usize,
    data_start: u64,
    block_bytes: u64,
    each: impl FnMut(&mut ShardText) -> ControlFlow<()>,
) -> Result<(u64, u64), DataError> {
    let (file, file_len, data_start) = open_data_region(path, shard, n_shards, data_start)?;
    let (start, end) = shard_byte_range(data_start, file_len, shard, n_shards);
    // What is read or parsed from the shards of a file grows with the whole file.
    crate::memory::check_file_size(path, file_len)?;
    walk_blocks(
        file,
        data_start.min(file_len),
        start,
        end,
        block_bytes,
        each,
    )
    .map_err(|e| DataError::io(path, e))
}

/// Walks the lines whose first byte lies in `[start, end)` (`data_start` counts as a line start,
/// and so does every byte after a `\n`) in blocks: each holds about `block_bytes` (at least one
/// byte) and ends at a line end or at the end of the file, in one buffer that `each` may take.
/// Stops early when `each` breaks. Returns the offset of the first owned line (where it would
/// start when there is none) and the bytes walked.
fn walk_blocks<R: Read + Seek>(
    source: R,
    data_start: u64,
    start: u64,
    end: u64,
    block_bytes: u64,
    mut each: impl FnMut(&mut ShardText) -> ControlFlow<()>,
) -> io::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(64 << 10, source);
    let first = seek_first_line(&mut reader, data_start, start)?;
    let mut at = first;
    let capacity = (end.saturating_sub(first))
        .min(block_bytes.max(1))
        .saturating_add(4096);
    let mut block = ShardText {
        bytes: Vec::with_capacity(usize::try_from(capacity).unwrap_or(0)),
        byte_offset: first,
    };
    while at < end {
        // Every line starting before `end` is owned; one starting in this block is finished.
        let raw_len = (end - at).min(block_bytes.max(1));
        block.bytes.clear();
        block.byte_offset = at;
        (&mut reader).take(raw_len).read_to_end(&mut block.bytes)?;
        if (block.bytes.len() as u64) < raw_len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while being read",
            ));
        }
        if block.bytes.last() != Some(&b'\n') {
            reader.read_until(b'\n', &mut block.bytes)?;
        }
        at += block.bytes.len() as u64;
        let at_file_end = block.bytes.last() != Some(&b'\n');
        if each(&mut block).is_break() || at_file_end {
            break;
        }
    }
    Ok((first, at - first))
}

/// Opens `path` for shard `shard` of `n_shards`: the file, its length, and where its data region
/// starts (`data_start`, or past the byte order mark when that is 0).
fn open_data_region(
    path: &Path,
    shard: usize,
    n_shards: usize,
    data_start: u64,
) -> Result<(File, u64, u64), DataError> {
    if shard >= n_shards {
        return Err(DataError::InvalidRequest {
            message: format!("shard {shard} does not exist among {n_shards} shards"),
        });
    }
    let data_start = if data_start == 0 {
        bom_len(path)?
    } else {
        data_start
    };
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    Ok((file, file_len, data_start))
}

/// Positions `reader` at the first line that starts at or after `start` (`data_start` counts as
/// a line start) and returns its offset, the end of the file if there is none.
fn seek_first_line<R: BufRead + Seek>(
    reader: &mut R,
    data_start: u64,
    start: u64,
) -> io::Result<u64> {
    if start == data_start {
        reader.seek(SeekFrom::Start(start))?;
        Ok(start)
    } else {
        // The first owned line starts just after the first `\n` at or after `start - 1`: looking
        // one byte back is what tells whether `start` itself begins a line.
        reader.seek(SeekFrom::Start(start - 1))?;
        Ok(start - 1 + skip_through_newline(reader)?)
    }
}

/// Runs `work` on each of `items`, each on its own thread, and returns the results in order.
///
/// The one place io works in parallel, for a single caller that parses a whole file in one
/// place (the rating cache's writer, through [`crate::read_ratings`]): loaders read in parallel
/// through the engine's workers instead, each worker its own shard with [`read_lines`].
pub(crate) fn on_threads<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.into_iter().map(work).collect();
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || work(item)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The bytes of the lines shard `shard` of `n_shards` owns in the data region of `path` (as
/// [`read_shard_lines`] would read them), found without reading them: a few bytes at each end.
/// What a loader reports as its bytes read; over all shards they add up to the data region.
pub fn shard_owned_bytes(
    path: &Path,
    shard: usize,
    n_shards: usize,
    data_start: u64,
) -> Result<u64, DataError> {
    let (file, file_len, data_start) = open_data_region(path, shard, n_shards, data_start)?;
    let data_start = data_start.min(file_len);
    let mut reader = BufReader::with_capacity(4 << 10, file);
    let mut line_start = |raw: u64| -> io::Result<u64> {
        if raw >= file_len {
            return Ok(file_len);
        }
        seek_first_line(&mut reader, data_start, raw)
    };
    let (start, end) = shard_byte_range(data_start, file_len, shard, n_shards);
    let first = line_start(start).map_err(|e| DataError::io(path, e))?;
    let next = line_start(end).map_err(|e| DataError::io(path, e))?;
    Ok(next.saturating_sub(first))
}

/// Consumes bytes up to and including the next `\n` (or to the end of input) without storing them,
/// and returns how many were consumed.
fn skip_through_newline<R: BufRead>(reader: &mut R) -> io::Result<u64> {
    let mut consumed = 0u64;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(consumed);
        }
        match memchr::memchr(b'\n', buffer) {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(consumed + i as u64 + 1);
            }
            None => {
                let n = buffer.len();
                reader.consume(n);
                consumed += n as u64;
            }
        }
    }
}

/// The 1-based number of the line that contains absolute byte `byte_offset` of `path`: one plus the
/// number of `\n` bytes before it.
///
/// This reads the file up to `byte_offset`, so it is meant for the error path only.
pub fn line_number_at(path: &Path, byte_offset: u64) -> Result<u64, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut prefix = file.take(byte_offset);
    let mut buffer = vec![0u8; 256 << 10];
    let mut newlines = 0u64;
    loop {
        let n = match prefix.read(&mut buffer) {
            Ok(0) => return Ok(newlines + 1),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DataError::io(path, e)),
        };
        newlines += memchr::memchr_iter(b'\n', &buffer[..n]).count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn shard_of(data: &[u8], data_start: u64, shard: usize, n_shards: usize) -> ShardText {
        let (start, end) = shard_byte_range(data_start, data.len() as u64, shard, n_shards);
        let mut text = ShardText::default();
        let (first, _) = walk_blocks(Cursor::new(data), data_start, start, end, u64::MAX, |b| {
            text.bytes = std::mem::take(&mut b.bytes);
            ControlFlow::Continue(())
        })
        .unwrap();
        text.byte_offset = first;
        text
    }

    /// Checks that the shards of `data` tile its data region, each beginning at a line start and
    /// ending at a line end, which together mean every line has exactly one owner.
    fn check_partition(data: &[u8], data_start: usize, n_shards: usize) {
        let mut joined = Vec::new();
        for shard in 0..n_shards {
            let text = shard_of(data, data_start as u64, shard, n_shards);
            if text.bytes.is_empty() {
                continue;
            }
            let offset = text.byte_offset as usize;
            assert_eq!(
                offset,
                data_start + joined.len(),
                "{data:?} {n_shards} {shard}"
            );
            assert!(
                offset == data_start || data[offset - 1] == b'\n',
                "{data:?} {n_shards} {shard}"
            );
            let end = offset + text.bytes.len();
            assert!(
                end == data.len() || data[end - 1] == b'\n',
                "{data:?} {n_shards} {shard}"
            );
            joined.extend_from_slice(&text.bytes);
        }
        assert_eq!(
            joined,
            &data[data_start..],
            "{data:?} data_start {data_start} n_shards {n_shards}"
        );
    }

    #[test]
    fn every_line_has_exactly_one_owner_for_all_small_files() {
        // Every file of up to 7 bytes over {a, \r, \n}: empty lines, CRLF, a missing final newline
        // and more shards than bytes all occur.
        let alphabet = [b'a', b'\r', b'\n'];
        for len in 0..=7u32 {
            for code in 0..3usize.pow(len) {
                let mut rest = code;
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        let byte = alphabet[rest % 3];
                        rest /= 3;
                        byte
                    })
                    .collect();
                for data_start in 0..=data.len().min(2) {
                    for n_shards in 1..=data.len() + 3 {
                        check_partition(&data, data_start, n_shards);
                    }
                }
            }
        }
    }

    /// Block by block, a shard's lines are those [`read_shard_lines`] reads, every block but the
    /// last ending at a line end, each at its own offset.
    #[test]
    fn blocks_are_the_shard_lines_cut_at_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        let alphabet = [b'a', b'\r', b'\n'];
        for len in 0..=6u32 {
            for code in 0..3usize.pow(len) {
                let mut rest = code;
                let mut data: Vec<u8> = (0..len)
                    .map(|_| {
                        let byte = alphabet[rest % 3];
                        rest /= 3;
                        byte
                    })
                    .collect();
                if code % 5 == 0 {
                    data.splice(0..0, UTF8_BOM.iter().copied());
                }
                std::fs::write(&path, &data).unwrap();
                for n_shards in 1..=4 {
                    for shard in 0..n_shards {
                        let whole = read_shard_lines(&path, shard, n_shards, 0).unwrap();
                        for block_bytes in 1..=4 {
                            let mut joined = Vec::new();
                            let (first, bytes) =
                                for_each_block(&path, shard, n_shards, 0, block_bytes, |c| {
                                    assert_eq!(
                                        c.byte_offset,
                                        whole.byte_offset + joined.len() as u64
                                    );
                                    assert!(!c.bytes.is_empty());
                                    joined.extend_from_slice(&c.bytes);
                                    let end = c.byte_offset as usize + c.bytes.len();
                                    assert!(end == data.len() || data[end - 1] == b'\n');
                                    ControlFlow::Continue(())
                                })
                                .unwrap();
                            assert_eq!(joined, whole.bytes, "{data:?} {shard}/{n_shards}");
                            assert_eq!((first, bytes), (whole.byte_offset, joined.len() as u64));
                        }
                    }
                }
            }
        }
    }

    /// `read_lines` hands every line of the data region to exactly one shard's parser, in
    /// order, and names a rejected line by its number in the whole file, whichever shard read
    /// it; a rejection of an earlier line names that line.
    #[test]
    fn read_lines_numbers_lines_in_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("numbered.txt");
        // Line k (1-based) of the body reads `k`; a two-line header, a blank line and CRLF.
        let mut content = String::from("header\nsecond header\n");
        for k in 3..=40 {
            match k {
                17 => content.push('\n'),
                23 => content.push_str("23\r\n"),
                _ => content.push_str(&format!("{k}\n")),
            }
        }
        std::fs::write(&path, &content).unwrap();
        let data_start = "header\nsecond header\n".len() as u64;
        let number = |line: &Line<'_>| std::str::from_utf8(line.text).unwrap().parse::<u64>();
        for n_shards in 1..=7 {
            let mut seen = Vec::new();
            let mut bytes = 0;
            for shard in 0..n_shards {
                bytes += read_lines(&path, shard, n_shards, data_start, |line| {
                    seen.push(number(&line).unwrap_or(17));
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(seen, (3..=40).collect::<Vec<u64>>(), "{n_shards} shards");
            assert_eq!(bytes, content.len() as u64 - data_start);
            for bad in [3, 17, 23, 29, 40] {
                let errors: Vec<String> = (0..n_shards)
                    .filter_map(|shard| {
                        read_lines(&path, shard, n_shards, data_start, |line| {
                            match number(&line) {
                                Ok(k) if k == bad => Err(format!("found {k}").into()),
                                Err(_) if bad == 17 => Err("found a blank".to_string().into()),
                                _ => Ok(()),
                            }
                        })
                        .err()
                    })
                    .map(|e| e.to_string())
                    .collect();
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert!(
                    errors[0].ends_with(&format!(
                        "numbered.txt:{bad}: found {}",
                        if bad == 17 {
                            "a blank".into()
                        } else {
                            bad.to_string()
                        }
                    )),
                    "{n_shards} shards: {}",
                    errors[0]
                );
            }
            // Line 30 blames the line before it, in whichever shard holds both.
            let errors: Vec<String> = (0..n_shards)
                .filter_map(|shard| {
                    let mut previous = None;
                    read_lines(&path, shard, n_shards, data_start, |line| {
                        let blamed = previous.filter(|_| number(&line) == Ok(30));
                        previous = Some(line.offset);
                        match blamed {
                            Some(offset) => Err(LineError::at(offset, "the line before 30")),
                            None => Ok(()),
                        }
                    })
                    .err()
                })
                .map(|e| e.to_string())
                .collect();
            assert!(errors.len() <= 1, "{errors:?}");
            assert!(n_shards > 1 || errors.len() == 1);
            if let Some(error) = errors.first() {
                assert!(
                    error.ends_with("numbered.txt:29: the line before 30"),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn raw_ranges_tile_the_data_region() {
        for n_shards in 1..20 {
            let mut previous_end = 10;
            for shard in 0..n_shards {
                let (start, end) = shard_byte_range(10, 107, shard, n_shards);
                assert_eq!(start, previous_end);
                assert!(
                    end - start == 97 / n_shards as u64 || end - start == 97 / n_shards as u64 + 1
                );
                previous_end = end;
            }
            assert_eq!(previous_end, 107);
        }
        assert_eq!(shard_byte_range(50, 20, 0, 3), (20, 20));
    }

    #[test]
    fn lines_strip_terminators_and_carry_absolute_offsets() {
        let text = ShardText {
            bytes: b"a b\r\n\nlast".to_vec(),
            byte_offset: 100,
        };
        let lines: Vec<(u64, &[u8])> = text.lines().map(|l| (l.offset, l.text)).collect();
        assert_eq!(
            lines,
            vec![(100, &b"a b"[..]), (105, &b""[..]), (106, &b"last"[..])]
        );
    }

    #[test]
    fn reads_shards_of_a_real_file_and_numbers_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.txt");
        let content = b"one\r\n\ntwo three\nfour";
        std::fs::write(&path, content).unwrap();
        for n_shards in 1..=30 {
            let mut joined = Vec::new();
            for shard in 0..n_shards {
                joined.extend(read_shard_lines(&path, shard, n_shards, 0).unwrap().bytes);
            }
            assert_eq!(joined, content);
        }
        assert_eq!(line_number_at(&path, 0).unwrap(), 1);
        assert_eq!(line_number_at(&path, 5).unwrap(), 2);
        assert_eq!(line_number_at(&path, 6).unwrap(), 3);
        assert_eq!(line_number_at(&path, 16).unwrap(), 4);
        let missing = dir.path().join("missing.txt");
        let error = read_shard_lines(&missing, 0, 1, 0).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&missing.display().to_string()),
            "{error}"
        );
        assert!(matches!(
            read_shard_lines(&path, 3, 3, 0),
            Err(DataError::InvalidRequest { .. })
        ));
    }

    /// `shard_owned_bytes` finds, without reading them, exactly the bytes `read_shard_lines`
    /// reads, for files with and without headers, byte order marks, long and empty lines.
    #[test]
    fn owned_bytes_match_the_lines_read() {
        let dir = tempfile::tempdir().unwrap();
        let files: [(&[u8], u64); 6] = [
            (b"a\nbb\nccc\n\ndddd\ne", 0),
            (b"\xEF\xBB\xBFone\ntwo\nthree\n", 0),
            (b"%%header\n1 2 3\n4 5 6\n7 8 9\n", 9),
            (b"a very long first line that spans every shard\nx\n", 0),
            (b"", 0),
            (b"\n\n\n\n", 0),
        ];
        for (k, (data, data_start)) in files.iter().enumerate() {
            let path = dir.path().join(format!("file{k}"));
            std::fs::write(&path, data).unwrap();
            for n_shards in 1..8 {
                let mut total = 0;
                for shard in 0..n_shards {
                    let read = read_shard_lines(&path, shard, n_shards, *data_start).unwrap();
                    let owned = shard_owned_bytes(&path, shard, n_shards, *data_start).unwrap();
                    assert_eq!(
                        owned,
                        read.bytes.len() as u64,
                        "file {k}, {shard} of {n_shards}"
                    );
                    total += owned;
                }
                let region = data.len() as u64 - data_start.max(&bom_len(&path).unwrap());
                assert_eq!(total, region, "file {k}, {n_shards} shards");
            }
        }
    }
}
