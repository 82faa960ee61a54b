# Source this file (bash) to run the project on the Node.js release named in .node-version.
#
# When the machine's `node` is another major version, it fetches that release's official binary
# from the npm registry (the `node-linux-<arch>` package ships the same build as nodejs.org),
# unpacks it once into a cache folder and puts it first on PATH, so npm, npx, the tests and every
# child process run on it. node-gyp is pointed at the same release's headers. Used by .ci/run;
# developers on an older Node can `source scripts/use-node.sh` too.

rubi_use_node() {
  local root want want_major have_major arch node_home tmp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  want="$(tr -d ' \n\r' <"$root/.node-version")"
  want_major="${want%%.*}"
  have_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)"
  if [[ "$have_major" == "$want_major" ]]; then
    return 0
  fi
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) arch=linux-x64 ;;
    Linux-aarch64) arch=linux-arm64 ;;
    Darwin-arm64) arch=darwin-arm64 ;;
    Darwin-x86_64) arch=darwin-x64 ;;
    *) echo "use-node: no Node.js $want build for $(uname -s) $(uname -m); install it yourself" >&2; return 1 ;;
  esac
  node_home="${XDG_CACHE_HOME:-$HOME/.cache}/rubi-mt-bridge/node-v$want-$arch"
  if [[ ! -x "$node_home/bin/node" ]]; then
    echo "use-node: this machine has Node ${have_major:-none}; installing Node.js $want ($arch) from the npm registry into $node_home" >&2
    tmp="$(mktemp -d)"
    if ! (cd "$tmp" && npm pack --silent "node-$arch@$want" >/dev/null); then
      rm -rf "$tmp"
      echo "use-node: could not fetch node-$arch@$want from the npm registry" >&2
      return 1
    fi
    rm -rf "$node_home.partial" && mkdir -p "$node_home.partial"
    tar -xzf "$tmp"/node-"$arch"-*.tgz -C "$node_home.partial" --strip-components=1
    rm -rf "$tmp" "$node_home" && mv "$node_home.partial" "$node_home"
  fi
  export PATH="$node_home/bin:$PATH"
  export npm_config_nodedir="$node_home"
  hash -r
  echo "use-node: using $(node --version) from $node_home/bin" >&2
}

rubi_use_node
