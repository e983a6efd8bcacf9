#!/usr/bin/env bash
# `cmake --install` into a temporary prefix: the binary, the man page (valid roff that
# renders, one section per command), bash completion (completes commands, flags and
# values), share/glueq/configs, libglueq with glueq.h, the Python package (which loads that
# library) and, in a build with CUDA, the CUDA module (LIBDIR/glueq) land where they should,
# and the installed glueq runs and loads the installed module.
#   test_install.sh SHARED GLUEQ BUILD_DIR SOURCE_DIR
set -euo pipefail
shared=$1 build=$3 src=$4
tmp=$(mktemp -d /tmp/gq_install_XXXXXX)
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

cmake --install "$build" --prefix "$tmp" >/dev/null
for f in bin/glueq share/man/man1/glueq.1 share/bash-completion/completions/glueq; do
  [ -s "$tmp/$f" ] || fail "$f not installed"
done
for c in "$src"/configs/*.json; do
  cmp -s "$c" "$tmp/share/glueq/configs/$(basename "$c")" || fail "configs/$(basename "$c") not installed as share/glueq/configs"
done

glueq="$tmp/bin/glueq"
# The CUDA module: installed under the prefix, and what the installed glueq loads for
# --device cuda (GPU or not: the loader's report, not the run's outcome), never the build's.
if [ -f "$build/libglueq_cuda.so" ]; then
  module=$(find "$tmp" -name libglueq_cuda.so -path '*/glueq/*')
  [ -n "$module" ] || fail "libglueq_cuda.so not installed under $tmp/LIBDIR/glueq"
  (cd "$tmp" && LD_DEBUG=files GLUEQ_ASSETS="$shared/assets" "$glueq" eval --quiet --limit 2 --task rte \
    --model "$shared/fixtures/tiny-a" --device cuda >/dev/null 2>"$tmp/cuda.log") || true
  loaded=$(sed -n 's/.*file=\([^ ]*libglueq_cuda.so\) .*/\1/p' "$tmp/cuda.log" | sort -u | xargs -r realpath)
  [ -n "$module" ] && [ "$loaded" = "$module" ] || fail "the installed glueq loaded '$loaded', not '$module'"
fi
version=$("$glueq" --version) || fail "glueq --version exits $?"
want_version=$(sed -n 's/^project(glueq VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
# The revision the build recorded (cmake/version.cmake): a commit of this repository (HEAD
# when the build ran; HEAD may have moved since), or "unknown" outside a git checkout.
rev=$(sed -n 's/^#define GQ_GIT_REVISION "\(.*\)"$/\1/p' "$build/generated/gq_version.h")
rev=${rev%+dirty}
if [ "$rev" != unknown ] && git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" cat-file -e "$rev^{commit}" 2>/dev/null || fail "the build recorded revision '$rev', not a commit of $src"
fi
grep -qx "glueq $want_version" <<<"$version" || fail "--version: want 'glueq $want_version', got: $version"
grep -Eq "^revision: $rev(\+dirty)?$" <<<"$version" || fail "--version: want 'revision: $rev', got: $version"
grep -q '^BLAS: OpenBLAS [0-9]' <<<"$version" || fail "--version: no 'BLAS: OpenBLAS x.y' line: $version"
grep -Eq '^kernels: [A-Za-z0-9_]+ \(' <<<"$version" || fail "--version: no kernel set line: $version"

# Results of the installed binary (outside any checkout) record the revision it was built from.
cat >"$tmp/sweep.json" <<JSON
{"name": "installed", "data": "$shared/assets/glue", "vocab": "$shared/assets/vocab/vocab.txt",
 "models": {"rte": "$shared/fixtures/tiny-a"}, "tasks": ["rte"], "methods": ["magnitude"], "bits": [4],
 "budgets": {"k": [4]}, "limit": 8, "threads": 1, "output": "$tmp/sweep", "cache_dir": "$tmp/cache"}
JSON
(cd "$tmp" && "$glueq" sweep "$tmp/sweep.json" >/dev/null 2>"$tmp/sweep.log") || fail "installed glueq sweep: $(tail -2 "$tmp/sweep.log")"
grep -Eq "\"glueq_revision\":[[:space:]]*\"$rev(\+dirty)?\"" "$tmp/sweep/results.json" ||
  fail "results.json of the installed glueq: want glueq_revision $rev: $(grep -o '"glueq_revision":[^,]*' "$tmp/sweep/results.json")"

# Man page: no roff warnings, and every command has its section with its flags.
man1="$tmp/share/man/man1/glueq.1"
warnings=$(groff -k -man -ww -z "$man1" 2>&1) || fail "groff fails on glueq.1"
[ -z "$warnings" ] || fail "glueq.1 is not clean roff: $warnings"
if command -v man >/dev/null; then
  page=$(MANWIDTH=100 man -P cat -l "$man1" 2>/dev/null) || fail "man -l glueq.1 fails"
else
  page=$(groff -k -man -Tutf8 "$man1" | sed 's/.\x08//g')
fi
commands=$("$glueq" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ "$(wc -w <<<"$commands")" -ge 8 ] || fail "glueq --help lists only: $commands"
for c in $commands; do
  grep -q "^ *glueq $c\$" <<<"$page" || fail "man page has no section 'glueq $c'"
done
for flag in --method-opt --fail-if-worse --shard --calib-sample; do
  grep -q -- "$flag" <<<"$page" || fail "man page does not mention $flag"
done

# Completion: sourced by bash, it completes a command, a flag and a task name.
complete_words() { # WORDS... -> the completions of the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _glueq; echo "${COMPREPLY[*]}"' _ \
    "$tmp/share/bash-completion/completions/glueq" "$@"
}
[ "$(complete_words glueq ev)" = eval ] || fail "completion of 'glueq ev': '$(complete_words glueq ev)'"
[ "$(complete_words glueq sweep --sh)" = --shard ] || fail "completion of 'glueq sweep --sh': '$(complete_words glueq sweep --sh)'"
[ "$(complete_words glueq eval --task r)" = rte ] || fail "completion of 'glueq eval --task r': '$(complete_words glueq eval --task r)'"
[ "$(complete_words glueq compare --fail)" = --fail-if-worse ] || fail "completion of 'glueq compare --fail'"
# Every flag the completion offers (taken from the --help texts) is one the command accepts.
for c in $commands; do
  flags=$(complete_words glueq "$c" --)
  [ -n "$flags" ] || fail "completion offers no flags for glueq $c"
  for f in $flags; do
    msg=$(cd "$tmp" && timeout 20 "$glueq" "$c" "$f" x 2>&1 </dev/null || true)
    grep -Eq "(unknown option|unexpected argument) '$f'" <<<"$msg" && fail "glueq $c rejects $f, which its --help lists: $msg"
  done
done
bash -c 'source "$1" && complete -p glueq' _ "$tmp/share/bash-completion/completions/glueq" >/dev/null ||
  fail "the completion script does not register _glueq for glueq"

# The Python package beside the installed library: it loads that library (not the
# build's) and evaluates. Where no python3 with numpy is found, nothing to check.
pkg=$(find "$tmp" -name __init__.py -path '*/glueq/__init__.py' | head -1)
[ -n "$pkg" ] || fail "the Python package (python/glueq) is not installed under $tmp"
[ -f "$(dirname "$pkg")/_library.py" ] || fail "the installed package has no _library.py naming the library"
for p in python3 /usr/bin/python3; do
  if [ -n "$pkg" ] && command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then
    out=$(cd "$tmp" && env -u GLUEQ_LIBRARY PYTHONPATH="$(dirname "$(dirname "$pkg")")" GLUEQ_ASSETS="$shared/assets" \
      PYTHONDONTWRITEBYTECODE=1 "$p" -c 'import glueq, sys
from glueq import _lib
print(_lib._library_path())
print(glueq.load(sys.argv[1]).evaluate("rte", limit=4, threads=1).total)' "$shared/fixtures/tiny-a" 2>&1) ||
      fail "the installed package: $out"
    case "$(head -1 <<<"$out")" in "$tmp"/*) ;; *) fail "the installed package loads '$(head -1 <<<"$out")', not the installed library" ;; esac
    [ "$(tail -1 <<<"$out")" = 4 ] || fail "the installed package's evaluation: $out"
    break
  fi
done

if [ $failures -eq 0 ]; then
  rm -rf "$tmp"
  echo "test_install: all checks passed"
else
  echo "outputs kept in $tmp" >&2
  exit 1
fi
