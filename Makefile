# Shiming developer commands. The README's two commands work without make;
# these are conveniences and the generators.

PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
TOOLS := $(CURDIR)/.tools

.PHONY: test run proto ci

run:
	go run ./gateway/cmd/shiming

test:
	go test ./...

# proto regenerates plugins/sdk/proto/providerv1 with Debian's protoc
# (apt-get install protobuf-compiler) and the pinned Go generators.
proto:
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH=$(TOOLS):$$PATH protoc -I plugins/sdk/proto \
		--go_out=plugins/sdk/proto/providerv1 --go_opt=paths=source_relative \
		--go-grpc_out=plugins/sdk/proto/providerv1 --go-grpc_opt=paths=source_relative \
		plugins/sdk/proto/provider.proto

ci:
	.ci/run
