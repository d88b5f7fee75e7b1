#!/usr/bin/env bash
# Prints a new temporary folder holding Envoy's API protos and everything they import, as @grpc/grpc-js-xds
# ships them (deps/envoy-api, deps/xds, deps/googleapis, deps/protoc-gen-validate), laid out as one proto
# root that buf can build. Used by scripts/generate.sh (the ext_authz service) and by the test that decodes
# the example envoy.yaml of docs/envoy.md as an envoy.config.bootstrap.v3.Bootstrap. The caller removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
deps=node_modules/@grpc/grpc-js-xds/deps
root="$(mktemp -d)"
cp -R "$deps/envoy-api/envoy" "$deps/xds/udpa" "$deps/xds/xds" "$deps/googleapis/google" \
  "$deps/protoc-gen-validate/validate" "$root/"
echo "$root"
