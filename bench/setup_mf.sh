#!/usr/bin/env bash
# Creates bench/venv-mf with the matrix-factorisation peers used by bench/run_mf.py: Spark ALS
# (pyspark, runs on the JVM: needs `java` 17 on PATH) and scikit-surprise's SVD.
# Idempotent: re-running only installs what is missing or at the wrong version.
#
#   bench/setup_mf.sh            # uses python3 from PATH
#   PYTHON=python3.11 bench/setup_mf.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/venv-mf"
python="${PYTHON:-python3}"

# Pinned versions. scikit-surprise builds from source (Cython) against numpy 1.x; pyspark 3.5
# runs on Java 17.
requirements=(
    "numpy==1.26.4"
    "scikit-surprise==1.1.4"
    "pyspark==3.5.3"
)

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv" >&2
    "$python" -m venv "$venv"
fi

if "$venv/bin/python" - "${requirements[@]}" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for req in sys.argv[1:]:
    name, want = req.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
    echo "bench/venv-mf is up to date" >&2
else
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # The source builds (surprise, pyspark) need numpy, Cython, setuptools and wheel present first.
    "$venv/bin/python" -m pip install --quiet "numpy==1.26.4" "cython==3.0.11" "setuptools==75.6.0" "wheel==0.45.1"
    "$venv/bin/python" -m pip install --quiet --no-build-isolation "${requirements[@]}"
fi
command -v java >/dev/null || echo "warning: java is not on PATH; Spark ALS will not run" >&2
"$venv/bin/python" -c 'import numpy, surprise, pyspark; print("numpy", numpy.__version__, "surprise", surprise.__version__, "pyspark", pyspark.__version__)'
