//! Chi-square goodness-of-fit helpers for the sampling tests (here and in the apps).

/// Upper 0.001 quantile of the standard normal distribution.
const Z_999: f64 = 3.090_232_306_167_813;

/// Pearson's statistic `sum_i (O_i - E_i)^2 / E_i` over cells with positive expectation.
pub fn chi_square_statistic(observed: &[u64], expected: &[f64]) -> f64 {
    assert_eq!(observed.len(), expected.len());
    observed
        .iter()
        .zip(expected)
        .filter(|(_, &e)| e > 0.0)
        .map(|(&o, &e)| (o as f64 - e).powi(2) / e)
        .sum()
}

/// Critical value of the chi-square distribution with `df` degrees of freedom at p = 0.001, by the
/// Wilson-Hilferty approximation `df * (1 - 2/(9 df) + z * sqrt(2/(9 df)))^3`.
pub fn chi_square_critical_001(df: usize) -> f64 {
    let k = df as f64;
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + Z_999 * a.sqrt()).powi(3)
}

#[cfg(test)]
#[test]
fn wilson_hilferty_matches_tabulated_quantiles() {
    // Exact 0.999 quantiles from standard tables; the approximation errs slightly high (a
    // conservative test) at small df.
    for (df, exact) in [
        (3, 16.266),
        (11, 31.264),
        (15, 37.697),
        (100, 149.449),
        (200, 267.541),
    ] {
        let approx = chi_square_critical_001(df);
        assert!(
            (approx - exact).abs() / exact < 0.02,
            "df {df}: {approx} vs {exact}"
        );
    }
}
