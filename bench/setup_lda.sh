#!/usr/bin/env bash
# Creates bench/venv-lda with the peer LDA samplers (tomotopy, lda) used by bench/run_lda.py.
# Idempotent: re-running only installs what is missing or at the wrong version.
#
#   bench/setup_lda.sh            # uses python3 from PATH
#   PYTHON=python3.11 bench/setup_lda.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/venv-lda"
python="${PYTHON:-python3}"

# Pinned versions that install together from wheels.
requirements=(
    "numpy==1.26.4"
    "scipy==1.13.1"
    "tomotopy==0.13.0"
    "lda==3.0.2"
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
    echo "bench/venv-lda is up to date" >&2
else
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "${requirements[@]}"
fi
"$venv/bin/python" -c 'import numpy, scipy, tomotopy, lda; print("numpy", numpy.__version__, "scipy", scipy.__version__, "tomotopy", tomotopy.__version__, "lda", lda.__version__ if hasattr(lda, "__version__") else "?")'
