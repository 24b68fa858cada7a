# Shared by bench/setup*.sh (source it): `ensure_venv NAME REQUIREMENT...` creates bench/NAME with
# python3 (or $PYTHON) and installs the pinned requirements, unless every one is already installed
# at its pinned version (so re-running is cheap). Optional, set by the caller:
#   PRE_INSTALL  packages installed first (build dependencies of source-only packages)
#   PIP_FLAGS    extra flags for the main install (e.g. --no-build-isolation)

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

ensure_venv() {
    local name="$1"
    shift
    local venv="$bench_dir/$name"
    local python="${PYTHON:-python3}"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "creating $venv" >&2
        "$python" -m venv "$venv"
    fi
    if "$venv/bin/python" - "$@" <<'PY'
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
        echo "bench/$name is up to date" >&2
    else
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        if [[ -n "${PRE_INSTALL:-}" ]]; then
            # shellcheck disable=SC2086 # a list of requirements
            "$venv/bin/python" -m pip install --quiet $PRE_INSTALL
        fi
        # shellcheck disable=SC2086 # a list of flags
        "$venv/bin/python" -m pip install --quiet ${PIP_FLAGS:-} "$@"
    fi
}
