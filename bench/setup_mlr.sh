#!/usr/bin/env bash
# Creates bench/venv-mlr with the multinomial logistic regression peers used by
# bench/run_mlr.py: scikit-learn's LogisticRegression (lbfgs and saga). Spark MLlib runs from
# bench/venv-mf (bench/setup_mf.sh; needs `java` 17 on PATH).
# Idempotent: re-running only installs what is missing or at the wrong version.
#
#   bench/setup_mlr.sh            # uses python3 from PATH
#   PYTHON=python3.11 bench/setup_mlr.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

ensure_venv venv-mlr "numpy==1.26.4" "scipy==1.13.1" "scikit-learn==1.5.2"
"$bench_dir/venv-mlr/bin/python" -c 'import numpy, scipy, sklearn; print("numpy", numpy.__version__, "scipy", scipy.__version__, "scikit-learn", sklearn.__version__)'
