//! Factorise a generated low-rank rating set with CCD++ on two worker threads and score the test
//! ratings.
//!
//! ```sh
//! cargo run --release -p strads-apps --example mf
//! ```
//!
//! The same `solve` call runs on a cluster of processes when given
//! `ClusterConfig::cluster(threads, process, hosts)?.with_secret(secret)` (the job's shared
//! secret, the same in every process) instead of `ClusterConfig::threads(2)`.

use strads_apps::mf::{solve, Algorithm, CcdOptions, Init, MfParams, RegScaling};
use strads_apps::Hooks;
use strads_engine::ClusterConfig;
use strads_io::{generate_ratings, RatingsFormat, RatingsSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 2000 users, 500 items, 60 000 ratings of a rank-5 truth plus noise 0.1.
    let dir = tempfile::tempdir()?;
    let spec = RatingsSpec {
        users: 2000,
        items: 500,
        ratings: 60_000,
        rank: 5,
        noise: 0.1,
        ..RatingsSpec::default()
    };
    let files = generate_ratings(&spec, &dir.path().join("ratings"))?;
    let params = MfParams {
        checkpointing: Default::default(),
        train: files.train_path,
        train_in_memory: None,
        test: Some(files.test_path),
        format: RatingsFormat::Auto,
        algorithm: Algorithm::Ccd(CcdOptions {
            inner_iterations: 1,
        }),
        rank: 5,
        lambda: 0.01,
        reg_scaling: RegScaling::Count,
        iterations: 30,
        init: Init::Spectral,
        init_steps: 2,
        max_seconds: 60.0,
        seed: 1,
        collect_model: true,
    };
    let solution =
        solve(&ClusterConfig::threads(2), &params, Hooks::default())?.expect("process 0");
    for record in solution.trace.iter().step_by(5) {
        println!(
            "iteration {:>2}: objective {:.4e}, rmse train {:.4}, rmse test {:.4}",
            record.iteration,
            record.objective,
            record.rmse_train,
            record.rmse_test.unwrap_or(f64::NAN)
        );
    }
    let model = solution.model.expect("collected");
    let (scores, unknown) =
        model.predict(&[("1".into(), "1".into()), ("nobody".into(), "1".into())]);
    println!(
        "user 1, item 1: {:.4}; an unknown user gets the mean {:.4} ({unknown} unknown)",
        scores[0], scores[1]
    );
    Ok(())
}
