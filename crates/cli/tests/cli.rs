//! Integration tests of the `strads` command line: they run the real binary (and real processes
//! over loopback) and check exit statuses, messages and results.
//!
//! - `malformed_input`: bad data, labels and flags fail with status 2 and a `file:line:` message.
//! - `outputs`: `--out`, `--trace` and `--json` agree with each other and with the data.
//! - `cluster`: one thread, two threads and two processes give the same answer.
//! - `sharded`: on 2 processes each reads and holds about half (lasso, lda, word2vec, mlr),
//!   with the 1-process answer; a bad line cut by the shard boundary is named by `file:line`.
//! - `failure`: when a process of a cluster dies, the other exits promptly and names it.
//! - `launch`: `strads launch` propagates a child's failure and reports it once.
//! - `reliability`: forged handshakes and idle connections, a missing or wrong secret, processes
//!   started with different flags, a stopped peer, a peer killed while loading, a killed launcher.
//! - `mf`: matrix factorisation and `strads plot` (malformed ratings, identical factors across
//!   cluster shapes, predictions, PNG/SVG plots).
//! - `mlr`: multinomial logistic regression (malformed input, model and prediction files, 1 thread
//!   / 2 threads / 2 processes).
//! - `word2vec`: word embeddings (the vectors file in text and binary through `--similar`, the
//!   JSON summary and trace, bad input).
//! - `lda`: topic modelling (malformed corpora, output files, same seed, 2 processes vs 1).
//! - `safety`: outputs that are inputs, unwritable directories, symlinked outputs, mf model sets,
//!   the memory limit, byte order marks, values too large, the text summaries.
//! - `checkpoint`: resumed runs equal uninterrupted ones for every app, SIGTERM, kill -9 of a
//!   cluster's process then resume, bad checkpoints and flags.
//! - `flags`: every app takes `--threads N --processes 1`; flags that the chosen variant would
//!   ignore are rejected naming them; no library source names a flag.
//! - `tally`: the README's malformed-input tally: every case ends in a clean exit 2 or a correct
//!   acceptance (no abort, hang or silent misread).

#[path = "cli/support.rs"]
mod support;

#[path = "cli/malformed_input.rs"]
mod malformed_input;

#[path = "cli/outputs.rs"]
mod outputs;

#[path = "cli/cluster.rs"]
mod cluster;

#[path = "cli/failure.rs"]
mod failure;

#[path = "cli/sharded.rs"]
mod sharded;

#[path = "cli/launch.rs"]
mod launch;

#[path = "cli/reliability.rs"]
mod reliability;

#[path = "cli/mf.rs"]
mod mf;

#[path = "cli/mlr.rs"]
mod mlr;

#[path = "cli/lda.rs"]
mod lda;

#[path = "cli/word2vec.rs"]
mod word2vec;

#[path = "cli/flags.rs"]
mod flags;

#[path = "cli/tally.rs"]
mod tally;

#[path = "cli/safety.rs"]
mod safety;

#[path = "cli/checkpoint.rs"]
mod checkpoint;
