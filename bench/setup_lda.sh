#!/usr/bin/env bash
# Creates bench/venv-lda with the peer LDA samplers (tomotopy, lda) used by bench/run_lda.py.
# Idempotent: re-running only installs what is missing or at the wrong version.
#
#   bench/setup_lda.sh            # uses python3 from PATH
#   PYTHON=python3.11 bench/setup_lda.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

# Pinned versions that install together from wheels.
ensure_venv venv-lda "numpy==1.26.4" "scipy==1.13.1" "tomotopy==0.13.0" "lda==3.0.2"
"$bench_dir/venv-lda/bin/python" -c 'import numpy, scipy, tomotopy, lda; print("numpy", numpy.__version__, "scipy", scipy.__version__, "tomotopy", tomotopy.__version__, "lda", lda.__version__ if hasattr(lda, "__version__") else "?")'
