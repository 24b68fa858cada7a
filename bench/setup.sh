#!/usr/bin/env bash
# Creates bench/venv with the peer Lasso solvers (scikit-learn, celer) used by bench/peers.py.
# Idempotent: re-running only installs what is missing or at the wrong version.
#
#   bench/setup.sh            # uses python3 from PATH
#   PYTHON=python3.11 bench/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/venv"
python="${PYTHON:-python3}"

# Pinned versions that install together from wheels. celer 0.7.x is compiled against numpy 1.x
# and subclasses scikit-learn's Lasso, so numpy and scikit-learn are pinned to releases it supports.
requirements=(
    "numpy==1.26.4"
    "scipy==1.13.1"
    "scikit-learn==1.5.2"
    "celer==0.7.4"
    "threadpoolctl==3.5.0"
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
    echo "bench/venv is up to date" >&2
else
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "${requirements[@]}"
fi
"$venv/bin/python" -c 'import numpy, scipy, sklearn, celer; print("numpy", numpy.__version__, "scipy", scipy.__version__, "scikit-learn", sklearn.__version__, "celer", celer.__version__ if hasattr(celer, "__version__") else "?")'
