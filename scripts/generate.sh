#!/usr/bin/env bash
# `npm run generate`: the TypeScript ts-proto generates from proto/ (options pinned in buf.gen.yaml), and the
# descriptor sets server reflection serves, built by buf from the .proto files as they are published:
# ours (with the well-known types it imports), grpc-health-check's health.proto under its canonical path
# grpc/health/v1/health.proto, @grpc/reflection's reflection.proto (v1 and v1alpha), and Envoy's ext_authz
# service with its imports (from @grpc/grpc-js-xds).
set -euo pipefail
cd "$(dirname "$0")/.."
buf generate
mkdir -p gen/descriptors
build() { buf build "$@" --as-file-descriptor-set; }
build -o gen/descriptors/apikeys.binpb
# grpc-health-check ships the file as health/v1/health.proto; gRPC's own path adds grpc/ in front.
health_root="$(mktemp -d)"
trap 'rm -rf "$health_root" "${envoy_root:-}"' EXIT
mkdir -p "$health_root/grpc"
cp -R node_modules/grpc-health-check/proto/health "$health_root/grpc/"
build "$health_root" -o gen/descriptors/grpc_health.binpb
build node_modules/@grpc/reflection/build/proto --path node_modules/@grpc/reflection/build/proto/grpc/reflection \
  -o gen/descriptors/grpc_reflection.binpb
# Envoy's ext_authz protocol (envoy.service.auth.v3.Authorization), from the protos @grpc/grpc-js-xds ships
# (scripts/envoyProtoRoot.sh lays them out as one tree): TypeScript for the service and every file it
# imports, with the ts-proto options of buf.gen.yaml, into gen/ beside ours; and the descriptor set.
ext_authz=envoy/service/auth/v3/external_auth.proto
envoy_root="$(bash scripts/envoyProtoRoot.sh)"
ts_proto_options="$(sed -n '/opt:/,$p' buf.gen.yaml | sed -n 's/^ *- //p' | paste -sd, -)"
printf 'version: v2\nplugins:\n  - local: %s\n    out: %s\n    include_imports: true\n    opt: [%s]\n' \
  "$PWD/node_modules/.bin/protoc-gen-ts_proto" "$PWD/gen" "$ts_proto_options" >"$envoy_root/buf.gen.yaml"
buf generate "$envoy_root" --template "$envoy_root/buf.gen.yaml" --path "$envoy_root/$ext_authz"
build "$envoy_root" --path "$envoy_root/$ext_authz" -o gen/descriptors/envoy_ext_authz.binpb
