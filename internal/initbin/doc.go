// Package initbin ships the prebuilt guest init (cmd/bootapp-init) inside
// every program that builds bootapp images.
//
// Users of the library, the CLI and the Packer plugin have no Go toolchain,
// yet every image needs the init as its /init. So the init is built once, by
// the developers, and committed here as bootapp-init-linux-amd64; the
// package embeds it with //go:embed and Init hands it to the builder, which
// writes it into the initramfs.
//
// # Data flow
//
//	cmd/bootapp-init (source)
//	  -> go generate ./internal/initbin (BuildCommand: a static, stripped,
//	     reproducible linux/amd64 build)
//	  -> bootapp-init-linux-amd64 (committed)
//	  -> //go:embed -> Init("amd64") -> builder -> initramfs /init
//
// # Keeping it fresh
//
// After any change to cmd/bootapp-init, to internal/guestconfig or to a
// dependency version in go.mod, run
//
//	go generate ./internal/initbin
//
// and commit the new binary. The build is reproducible: it uses
//
//	GOTOOLCHAIN=go1.26.8 CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOAMD64=v1 go build -trimpath -buildvcs=false -ldflags="-s -w -buildid="
//
// with GOTOOLCHAIN set to Toolchain (the go command fetches that release
// from the module proxy when the local one differs), so the same source and
// dependencies always give the same bytes on any machine.
// TestEmbeddedInitIsFresh rebuilds the init and fails with
// "internal/initbin/bootapp-init-linux-amd64 is stale: run go generate
// ./internal/initbin" when the committed binary differs, or was built by
// another release than Toolchain.
//
// If the file is ever missing, this package does not compile, and neither
// does the generator that imports it: run the build command above by hand,
// with -o internal/initbin/bootapp-init-linux-amd64
// github.com/bootapp/bootapp/cmd/bootapp-init, from the module root.
package initbin
