//! The `--trace` files of every app: one JSON line per record, written atomically.

use std::io::Write;

/// Writes a trace atomically: one JSON line per record.
pub fn write_trace<R: serde::Serialize>(
    path: &std::path::Path,
    records: &[R],
) -> anyhow::Result<()> {
    strads_io::write_atomic(path, |w| {
        for record in records {
            serde_json::to_writer(&mut *w, record)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })?;
    Ok(())
}
