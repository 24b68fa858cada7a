#!/usr/bin/env bash
# Creates bench/venv-mf with the matrix-factorisation peers used by bench/run_mf.py: Spark ALS
# (pyspark, runs on the JVM: needs `java` 17 on PATH) and scikit-surprise's SVD.
# Idempotent: re-running only installs what is missing or at the wrong version.
#
#   bench/setup_mf.sh            # uses python3 from PATH
#   PYTHON=python3.11 bench/setup_mf.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

# Pinned versions. scikit-surprise builds from source (Cython) against numpy 1.x, so numpy,
# Cython, setuptools and wheel go in first and the build uses them; pyspark 3.5 runs on Java 17.
PRE_INSTALL="numpy==1.26.4 cython==3.0.11 setuptools==75.6.0 wheel==0.45.1" \
PIP_FLAGS="--no-build-isolation" \
    ensure_venv venv-mf "numpy==1.26.4" "scikit-surprise==1.1.4" "pyspark==3.5.3"
command -v java >/dev/null || echo "warning: java is not on PATH; Spark ALS will not run" >&2
"$bench_dir/venv-mf/bin/python" -c 'import numpy, surprise, pyspark; print("numpy", numpy.__version__, "surprise", surprise.__version__, "pyspark", pyspark.__version__)'
