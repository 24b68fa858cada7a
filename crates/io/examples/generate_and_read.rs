//! Generates a synthetic Lasso problem, then reads it back in shards, reporting the speed of both.
//!
//! Usage: `cargo run --release -p strads-io --example generate_and_read [rows] [nnz_per_row] [shards]`
//! (defaults: 100000 rows, 50 nonzeros per row, 2 shards).

use std::time::Instant;

use strads_io::{
    check_nonempty_total, generate_regression, read_libsvm_shard, LibsvmOptions, RegressionSpec,
    SparseRows,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let rows = args.next().transpose()?.unwrap_or(100_000);
    let nnz_per_row = args.next().transpose()?.unwrap_or(50);
    let n_shards = args.next().transpose()?.unwrap_or(2);

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("train.libsvm");
    let spec = RegressionSpec {
        rows,
        cols: 100_000,
        nnz_per_row,
        support: 100,
        group: 5,
        corr: 0.5,
        ..RegressionSpec::default()
    };

    let start = Instant::now();
    let summary = generate_regression(&spec, &path)?;
    let bytes = std::fs::metadata(&path)?.len() as f64;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "generated {} rows, {} nonzeros, {:.1} MB in {seconds:.2} s ({:.0} MB/s)",
        summary.rows,
        summary.nonzeros,
        bytes / 1e6,
        bytes / 1e6 / seconds
    );

    // Each shard is read in turn here; in a cluster each worker reads its own.
    let start = Instant::now();
    let mut all = SparseRows::new();
    for shard in 0..n_shards {
        all.append(&read_libsvm_shard(
            &path,
            shard,
            n_shards,
            &LibsvmOptions::default(),
        )?);
    }
    check_nonempty_total(&path, all.n_rows())?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "read {} rows, {} nonzeros in {n_shards} shards in {seconds:.2} s ({:.0} MB/s on one thread)",
        all.n_rows(),
        all.n_nonzeros(),
        bytes / 1e6 / seconds
    );
    Ok(())
}
