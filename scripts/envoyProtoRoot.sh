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
# The protoc-gen-validate copy predates StringRules.ignore_empty (field 26 upstream), which 17 string fields of
# Envoy's API use in their options (envoy/config/core/v3/protocol.proto among them, imported by the bootstrap).
# protobufjs, which @grpc/grpc-js-xds loads them with, ignores it; buf resolves every option, so it is added.
grep -q 'ignore_empty' "$root/validate/validate.proto" ||
  sed -i 's/^\( *\)optional bool strict = 25 \[default = true\];/&\n\1optional bool ignore_empty = 26;/' \
    "$root/validate/validate.proto"
grep -q 'ignore_empty = 26' "$root/validate/validate.proto" || { echo "envoyProtoRoot: could not patch validate.proto" >&2; exit 1; }
echo "$root"
