//! Parsing throughput of one core: reads FILE as one shard (as one worker would read all of it)
//! and times the copy out of the page cache and the parse, best of REPEATS, in CPU time (this
//! single thread's time on a core, from `/proc/self/schedstat`), so that other work on the
//! machine does not lower the figures.
//!
//! ```text
//! cargo run --release -p strads-io --example parse_speed -- libsvm|ratings|docword FILE [REPEATS]
//! ```
//!
//! Prints one JSON line: the file's bytes, the best seconds of reading the shard's lines
//! (`read_seconds`: the copy into memory) and of reading and parsing them (`load_seconds`, what
//! a worker spends), and from those MB/s (10^6 bytes a second) of the parse alone and of the
//! whole load. `bench/run_parse.py` compares them with the machine's streaming read (`cat`).

use std::path::Path;

use strads_io::corpus::{read_docword_header, read_docword_shard};
use strads_io::{
    read_libsvm_shard, read_ratings_shard, read_shard_lines, LibsvmOptions, RatingsFormat,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (format, path) = match args.as_slice() {
        [format, path, ..] => (format.as_str(), Path::new(path)),
        _ => return Err("usage: parse_speed libsvm|ratings|docword FILE [REPEATS]".into()),
    };
    let repeats: usize = args.get(2).map_or(Ok(5), |r| r.parse())?;
    let data_start = match format {
        "docword" => read_docword_header(path)?.data_start,
        _ => 0,
    };
    let bytes = read_shard_lines(path, 0, 1, data_start)?.bytes.len() as f64;
    let best = |work: &mut dyn FnMut() -> Result<usize, Box<dyn std::error::Error>>| {
        let mut best = f64::INFINITY;
        let mut items = 0;
        for _ in 0..repeats {
            let started = cpu_seconds()?;
            items = work()?;
            best = best.min(cpu_seconds()? - started);
        }
        Ok::<_, Box<dyn std::error::Error>>((best, items))
    };
    let (read_seconds, _) =
        best(&mut || Ok(read_shard_lines(path, 0, 1, data_start)?.bytes.len()))?;
    let (load_seconds, items) = best(&mut || {
        Ok(match format {
            "libsvm" => read_libsvm_shard(path, 0, 1, &LibsvmOptions::default())?.n_nonzeros(),
            "ratings" => read_ratings_shard(path, RatingsFormat::Auto, 0, 1)?.len(),
            "docword" => {
                let header = read_docword_header(path)?;
                read_docword_shard(path, &header, 0, 1)?.len()
            }
            other => return Err(format!("unknown format {other}").into()),
        })
    })?;
    let parse_seconds = (load_seconds - read_seconds).max(1e-9);
    println!(
        "{{\"format\":\"{format}\",\"bytes\":{bytes},\"items\":{items},\"read_seconds\":{read_seconds:.4},\
         \"load_seconds\":{load_seconds:.4},\"parse_mb_per_s\":{:.1},\"load_mb_per_s\":{:.1}}}",
        bytes / parse_seconds / 1e6,
        bytes / load_seconds / 1e6
    );
    Ok(())
}

/// CPU time this process has run, in seconds (the kernel's nanosecond count; the process has
/// one thread).
fn cpu_seconds() -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/schedstat")?;
    let nanos: u64 = stat
        .split_whitespace()
        .next()
        .ok_or("empty schedstat")?
        .parse()?;
    Ok(nanos as f64 * 1e-9)
}
