//! The round driver's example (`examples/ridge_rounds.rs`) reaches the normal equations'
//! solution of its ridge problem on 1, 2 and 3 worker threads.

#[path = "../examples/ridge_rounds.rs"]
mod ridge_rounds;

#[test]
fn ridge_by_rounds_matches_the_normal_equations_on_one_to_three_threads() {
    let expected = ridge_rounds::reference();
    for threads in 1..=3 {
        let found = ridge_rounds::solve(threads);
        for (j, (a, b)) in found.iter().zip(&expected).enumerate() {
            assert!(
                (a - b).abs() < 1e-9,
                "{threads} threads, coefficient {j}: {a} vs {b}"
            );
        }
    }
}
