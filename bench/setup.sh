#!/usr/bin/env bash
# Creates bench/venv with the peer Lasso solvers (scikit-learn, celer) used by bench/peers.py.
# Idempotent: re-running only installs what is missing or at the wrong version.
#
#   bench/setup.sh            # uses python3 from PATH
#   PYTHON=python3.11 bench/setup.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

# Pinned versions that install together from wheels. celer 0.7.x is compiled against numpy 1.x
# and subclasses scikit-learn's Lasso, so numpy and scikit-learn are pinned to releases it supports.
ensure_venv venv "numpy==1.26.4" "scipy==1.13.1" "scikit-learn==1.5.2" "celer==0.7.4" \
    "threadpoolctl==3.5.0"
"$bench_dir/venv/bin/python" -c 'import numpy, scipy, sklearn, celer; print("numpy", numpy.__version__, "scipy", scipy.__version__, "scikit-learn", sklearn.__version__, "celer", celer.__version__ if hasattr(celer, "__version__") else "?")'
