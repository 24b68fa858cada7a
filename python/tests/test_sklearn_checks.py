"""scikit-learn's own estimator checks (every check of `check_estimator`; none is skipped for
the linear estimators and the multinomial logistic regression)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

import strads


@parametrize_with_checks(
    [
        strads.Lasso(threads=1),
        strads.SparseLogisticRegression(threads=1),
        strads.MultinomialLogisticRegression(threads=1),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
