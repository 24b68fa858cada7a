#!/usr/bin/env bash
# Creates bench/venv-w2v with the word2vec peers used by bench/run_word2vec.py: gensim (whose
# wheel also ships the corpora and evaluation sets the benchmark uses: gensim/test/test_data's
# head500.noblanks.cor and lee_background.cor, wordsim353.tsv, questions-words.txt) and fastText.
# Idempotent: re-running only installs what is missing or at the wrong version.
#
#   bench/setup_w2v.sh            # uses python3 from PATH
#   PYTHON=python3.11 bench/setup_w2v.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

ensure_venv venv-w2v "numpy==1.26.4" "scipy==1.13.1" "gensim==4.3.3" "fasttext-wheel==0.9.2"
"$bench_dir/venv-w2v/bin/python" -c 'import numpy, gensim, fasttext; print("numpy", numpy.__version__, "gensim", gensim.__version__, "fasttext ok")'
