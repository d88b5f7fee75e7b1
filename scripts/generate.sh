#!/usr/bin/env bash
# `npm run generate`: the TypeScript ts-proto generates from proto/ (options pinned in buf.gen.yaml), and the
# descriptor sets server reflection serves, built by buf from the .proto files as they are published:
# ours (with the well-known types it imports), grpc-health-check's health.proto under its canonical path
# grpc/health/v1/health.proto, and @grpc/reflection's reflection.proto (v1 and v1alpha).
set -euo pipefail
cd "$(dirname "$0")/.."
buf generate
mkdir -p gen/descriptors
build() { buf build "$@" --as-file-descriptor-set; }
build -o gen/descriptors/apikeys.binpb
# grpc-health-check ships the file as health/v1/health.proto; gRPC's own path adds grpc/ in front.
health_root="$(mktemp -d)"
trap 'rm -rf "$health_root"' EXIT
mkdir -p "$health_root/grpc"
cp -R node_modules/grpc-health-check/proto/health "$health_root/grpc/"
build "$health_root" -o gen/descriptors/grpc_health.binpb
build node_modules/@grpc/reflection/build/proto --path node_modules/@grpc/reflection/build/proto/grpc/reflection \
  -o gen/descriptors/grpc_reflection.binpb
