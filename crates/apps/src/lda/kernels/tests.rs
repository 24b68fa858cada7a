//! The kernels against independent references: exact distributions, chi-square tests, formulas.

use super::*;
use strads_core::chi_square::{chi_square_critical_001, chi_square_statistic};

fn draw_from(p: &[f64], rng: &mut FastRng) -> usize {
    let u = rng.unit();
    let mut acc = 0.0;
    for (k, &x) in p.iter().enumerate() {
        acc += x;
        if u < acc {
            return k;
        }
    }
    p.len() - 1
}

#[test]
fn alias_table_is_exact() {
    let mut rng = FastRng::new(5, 0);
    let weights = [(0u32, 1u64), (3, 7), (4, 2), (9, 30), (11, 1)];
    let mut table = AliasTable::default();
    table.rebuild(weights.iter().copied());
    let n = 200_000;
    let mut observed = vec![0u64; 12];
    for _ in 0..n {
        observed[table.sample(&mut rng) as usize] += 1;
    }
    let total: u64 = weights.iter().map(|w| w.1).sum();
    let mut expected = vec![0.0; 12];
    for &(k, w) in &weights {
        expected[k as usize] = n as f64 * w as f64 / total as f64;
    }
    let stat = chi_square_statistic(&observed, &expected);
    assert!(stat < chi_square_critical_001(weights.len() - 1), "{stat}");
    assert_eq!(observed.iter().sum::<u64>(), n);
}

/// The fast sampler draws from the exact collapsed conditional: start each draw from the exact
/// conditional, apply one resampling (word + doc MH steps), and the result must still follow
/// it (a chain that leaves the target invariant), checked by a chi-square test. The word
/// proposal's snapshot deliberately differs from the current counts (it is stale).
#[test]
fn resampling_leaves_the_exact_conditional_invariant() {
    let priors = Priors {
        alpha: 0.3,
        beta: 0.05,
        words: 40,
    };
    let n_topics = 7;
    // Counts of the rest of the state (without the token).
    let doc_topic: Vec<u32> = vec![3, 0, 1, 0, 5, 2, 0];
    let word_topic: Vec<u32> = vec![0, 4, 1, 0, 9, 0, 2];
    let topic_total: Vec<i64> = vec![40, 31, 12, 5, 77, 20, 9];
    // The document's other tokens carry exactly doc_topic; the token sits in slot 4.
    let mut doc_z = Vec::new();
    for (k, &c) in doc_topic.iter().enumerate() {
        doc_z.extend(std::iter::repeat_n(k as Topic, c as usize));
    }
    let slot = 4;
    doc_z.insert(slot, 0);
    let exact = exact_conditional(&doc_topic, &word_topic, &topic_total, &priors);
    let mut proposal = WordProposal::default();
    proposal.rebuild(&[1, 4, 0, 0, 6, 3, 2]);
    for cycles in [1, 2, MAX_CYCLES] {
        let mut rng = FastRng::new(11, cycles as u64);
        let n = 200_000;
        let mut observed = vec![0u64; n_topics];
        let (mut d, mut w, mut t, mut z) = (
            doc_topic.clone(),
            word_topic.clone(),
            topic_total.clone(),
            doc_z.clone(),
        );
        for _ in 0..n {
            let start = draw_from(&exact, &mut rng);
            d[start] += 1;
            w[start] += 1;
            t[start] += 1;
            z[slot] = start as Topic;
            let state = TokenState {
                doc_topic: &mut d,
                word_topic: &mut w,
                topic_total: &mut t,
                doc_z: &mut z,
                slot,
            };
            let draws = TokenDraws::draw(&proposal, n_topics, cycles, priors.beta, &mut rng);
            let k = resample_token(state, &proposal, &priors, cycles, &draws, &mut rng) as usize;
            observed[k] += 1;
            d[k] -= 1;
            w[k] -= 1;
            t[k] -= 1;
        }
        assert_eq!((&d, &w, &t), (&doc_topic, &word_topic, &topic_total));
        let expected: Vec<f64> = exact.iter().map(|p| p * n as f64).collect();
        let stat = chi_square_statistic(&observed, &expected);
        assert!(
            stat < chi_square_critical_001(n_topics - 1),
            "cycles {cycles}: chi-square {stat}, observed {observed:?}, expected {expected:?}"
        );
    }
}

#[test]
fn sparse_sampler_matches_the_exact_conditional() {
    // A word with few topics and one with all, a document with zeros, and a token moved
    // through the incremental updates (remove from one topic, add to another, a word topic
    // emptied and another created) before sampling from the counts that result.
    let priors = Priors {
        alpha: 0.1,
        beta: 0.01,
        words: 10,
    };
    let mut doc_topic = vec![0u32, 4, 0, 0, 1, 9, 0, 0, 2, 0, 3];
    let mut rows = [
        vec![0u32, 0, 0, 7, 0, 5, 0, 0, 0, 0, 1],
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ];
    let mut topic_total = vec![5i64, 9, 3, 12, 8, 40, 2, 6, 7, 1, 15];
    let k = doc_topic.len();
    let mut sparse = SparseConditional::default();
    sparse.load_totals(&topic_total, &priors);
    sparse.load_words(3, &rows.concat());
    sparse.load_doc(&doc_topic);
    // Word 3's token moves from topic 10 (its only token there) to topic 2.
    for (topic, step) in [(10usize, -1i64), (2, 1)] {
        let apply = |n: u32| (i64::from(n) + step) as u32;
        doc_topic[topic] = apply(doc_topic[topic]);
        rows[0][topic] = apply(rows[0][topic]);
        topic_total[topic] += step;
        let counts = (doc_topic[topic], rows[0][topic], topic_total[topic]);
        if step < 0 {
            sparse.remove_token(3, topic, counts.0, counts.1, counts.2);
        } else {
            sparse.add_token(3, topic, counts.0, counts.1, counts.2);
        }
    }
    for (word, row) in rows.iter().enumerate() {
        let exact = exact_conditional(&doc_topic, row, &topic_total, &priors);
        let mut rng = FastRng::new(5, word as u64);
        let n = 200_000;
        let mut observed = vec![0u64; k];
        for _ in 0..n {
            observed[sparse.sample(3 + word, row, &mut rng)] += 1;
        }
        let expected: Vec<f64> = exact.iter().map(|p| p * n as f64).collect();
        let stat = chi_square_statistic(&observed, &expected);
        assert!(
            stat < chi_square_critical_001(k - 1),
            "word {word}: chi-square {stat}, observed {observed:?}, expected {expected:?}"
        );
    }
}

#[test]
fn fast_log_likelihood_matches_the_formula() {
    let n_topics = 3;
    let doc_topic = vec![2, 0, 1, 0, 0, 0, 4, 1, 0];
    let word_topic = vec![1, 0, 0, 3, 1, 0, 0, 0, 0, 2, 0, 1];
    let (alpha, beta) = (0.2, 0.07);
    let priors = Priors {
        alpha,
        beta,
        words: 4,
    };
    let reference = log_likelihood_reference(&doc_topic, &word_topic, n_topics, alpha, beta);
    let doc_table = LogGammaTable::new(alpha, 2);
    let word_table = LogGammaTable::new(beta, 1);
    let mut topic_total = vec![0i64; n_topics];
    for row in word_topic.chunks(n_topics) {
        for (k, &c) in row.iter().enumerate() {
            topic_total[k] += i64::from(c);
        }
    }
    let fast = doc_log_likelihood(&doc_topic, n_topics, alpha, &doc_table)
        + word_log_likelihood(
            word_rows_log_likelihood(&word_topic, &word_table),
            &topic_total,
            &priors,
        );
    assert!(
        (fast - reference).abs() < 1e-9 * reference.abs(),
        "{fast} vs {reference}"
    );
    assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
}

#[test]
fn sparse_sampler_stays_exact_over_a_chain_of_moves() {
    // One document over a four-word slice, resampled for many sweeps through the sampler's
    // incremental updates (cached inverses, C, and the word lists' swap-removals and appends),
    // with dense counts kept beside it as the reference. Before every draw the distribution
    // the cached state implies must be exact_conditional's, after every move each word's list
    // must hold exactly its nonzero topics, and at checkpoints the draws themselves must
    // follow exact_conditional.
    let (k, words) = (7, 4);
    let priors = Priors {
        alpha: 0.3,
        beta: 0.05,
        words: 40,
    };
    let token_words = [0usize, 0, 1, 2, 2, 2, 3, 1, 0, 2, 3, 3, 2, 0];
    let mut rng = FastRng::new(11, 0);
    let mut z: Vec<usize> = token_words
        .iter()
        .map(|_| rng.below(k as u64) as usize)
        .collect();
    let mut doc_topic = vec![0u32; k];
    let mut rows = vec![0u32; words * k];
    // Tokens of the other words and documents, which only enter through n_k.
    let mut topic_total: Vec<i64> = (0..k as i64).map(|t| 3 + 2 * t).collect();
    for (&w, &t) in token_words.iter().zip(&z) {
        doc_topic[t] += 1;
        rows[w * k + t] += 1;
        topic_total[t] += 1;
    }
    let mut sparse = SparseConditional::default();
    sparse.load_totals(&topic_total, &priors);
    sparse.load_words(0, &rows);
    sparse.load_doc(&doc_topic);
    let mut checked = 0;
    for sweep in 0..400 {
        for (i, &w) in token_words.iter().enumerate() {
            let old = z[i];
            doc_topic[old] -= 1;
            rows[w * k + old] -= 1;
            topic_total[old] -= 1;
            let row = &rows[w * k..(w + 1) * k];
            sparse.remove_token(w, old, doc_topic[old], row[old], topic_total[old]);
            let exact = exact_conditional(&doc_topic, row, &topic_total, &priors);
            let implied = sparse.implied_conditional(w, row);
            for (t, (p, q)) in exact.iter().zip(&implied).enumerate() {
                assert!(
                    (p - q).abs() < 1e-9 * p,
                    "sweep {sweep} token {i} topic {t}: the cached state gives {q}, exactly {p}"
                );
            }
            if sweep % 100 == 99 && i % 5 == 0 {
                let n = 100_000;
                let mut observed = vec![0u64; k];
                for _ in 0..n {
                    observed[sparse.sample(w, row, &mut rng)] += 1;
                }
                let expected: Vec<f64> = exact.iter().map(|p| p * n as f64).collect();
                let stat = chi_square_statistic(&observed, &expected);
                assert!(
                    stat < chi_square_critical_001(k - 1),
                    "sweep {sweep} token {i}: chi-square {stat}, observed {observed:?}, expected {expected:?}"
                );
                checked += 1;
            }
            let new = sparse.sample(w, row, &mut rng);
            doc_topic[new] += 1;
            rows[w * k + new] += 1;
            topic_total[new] += 1;
            let row = &rows[w * k..(w + 1) * k];
            sparse.add_token(w, new, doc_topic[new], row[new], topic_total[new]);
            z[i] = new;
            for v in 0..words {
                let mut listed = sparse.word_topics(v);
                listed.sort_unstable();
                let nonzero: Vec<u16> = (0..k as u16)
                    .filter(|&t| rows[v * k + usize::from(t)] > 0)
                    .collect();
                assert_eq!(
                    listed, nonzero,
                    "word {v}'s list after sweep {sweep} token {i}"
                );
            }
        }
    }
    assert_eq!(checked, 4 * 3);
}

#[test]
fn sparse_sampler_is_exact_for_every_list_length() {
    // The word bucket is drawn by counting running sums four at a time, padded with +inf: lists
    // shorter than, equal to and just past a multiple of four must all draw exactly.
    let k = 12;
    let priors = Priors {
        alpha: 0.2,
        beta: 0.5,
        words: 30,
    };
    let doc_topic: Vec<u32> = (0..k as u32).map(|t| (t * 5) % 7).collect();
    let topic_total: Vec<i64> = (0..k as i64).map(|t| 40 + 13 * t).collect();
    for used in [1usize, 2, 3, 4, 5, 7, 8, 9, 12] {
        // Topics 11, 10, ... with counts 3, 8, 13, ...: every list a different shape.
        let mut row = vec![0u32; k];
        for (i, t) in (0..k).rev().take(used).enumerate() {
            row[t] = 3 + 5 * i as u32;
        }
        let mut sparse = SparseConditional::default();
        sparse.load_totals(&topic_total, &priors);
        sparse.load_words(0, &row);
        sparse.load_doc(&doc_topic);
        let exact = exact_conditional(&doc_topic, &row, &topic_total, &priors);
        let mut rng = FastRng::new(9, used as u64);
        let n = 100_000;
        let mut observed = vec![0u64; k];
        for _ in 0..n {
            observed[sparse.sample(0, &row, &mut rng)] += 1;
        }
        let expected: Vec<f64> = exact.iter().map(|p| p * n as f64).collect();
        let stat = chi_square_statistic(&observed, &expected);
        assert!(
            stat < chi_square_critical_001(k - 1),
            "{used} topics: chi-square {stat}, observed {observed:?}, expected {expected:?}"
        );
    }
}

/// `load_words` skips runs of zero counts and compacts the rest without branches: every
/// word's list must still be exactly its nonzero topics, largest count first, for any K
/// (runs of 8 and a shorter tail) and any density.
#[test]
fn loaded_word_lists_are_the_nonzero_topics_largest_first() {
    let mut rng = FastRng::new(5, 0);
    for k in [1usize, 7, 8, 9, 16, 50, 64, 70] {
        for percent_nonzero in [0u64, 5, 30, 100] {
            let words = 40;
            let rows: Vec<u32> = (0..words * k)
                .map(|_| {
                    if rng.below(100) < percent_nonzero {
                        1 + rng.below(20) as u32
                    } else {
                        0
                    }
                })
                .collect();
            let mut sparse = SparseConditional::default();
            sparse.load_totals(
                &vec![1000i64; k],
                &Priors {
                    alpha: 0.1,
                    beta: 0.01,
                    words,
                },
            );
            sparse.load_words(7, &rows);
            for (w, row) in rows.chunks_exact(k).enumerate() {
                let list = sparse.word_topics(7 + w);
                let mut listed: Vec<usize> = list.iter().map(|&t| usize::from(t)).collect();
                let counts: Vec<u32> = listed.iter().map(|&t| row[t]).collect();
                assert!(counts.windows(2).all(|c| c[0] >= c[1]), "k {k}: {counts:?}");
                listed.sort_unstable();
                let nonzero: Vec<usize> = (0..k).filter(|&t| row[t] > 0).collect();
                assert_eq!(listed, nonzero, "k {k}, {percent_nonzero}% nonzero");
            }
        }
    }
}
