#!/bin/sh
# Measures what each SBOM library would cost Berth: growth of bin/berth (-ldflags='-s -w'),
# and time and peak RSS to inventory (and, for OSV-SCALIBR, match) a demo and a large image,
# against only reading their layers. Works in throwaway copies; the repository is untouched.
# Usage: scripts/scanlibs/measure.sh   (needs Go and the module proxy)
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here="$repo/scripts/scanlibs"
strip() { sed '/^\/\/go:build ignore$/d' "$1"; }

cd "$repo"
go run "$here/mkimage.go" -out "$work/images"
mkdir -p "$work/db"

for probe in none scalibr syft; do
	copy="$work/$probe"
	mkdir -p "$copy"
	git -C "$repo" archive HEAD | tar -x -C "$copy"
	mkdir -p "$copy/server/scanprobe/run"
	strip "$here/$probe.go" > "$copy/server/scanprobe/probe.go"
	strip "$here/run.go" > "$copy/server/scanprobe/run/main.go"
	# Linked into bin/berth behind an environment variable, so the linker keeps what Scan uses.
	cat > "$copy/server/scanprobe_link.go" <<'GO'
package main

import (
	"context"
	"io"
	"os"

	"github.com/berth-registry/berth/server/scanprobe"
	"github.com/google/go-containerregistry/pkg/v1/empty"
)

func init() {
	if os.Getenv("BERTH_SCAN_PROBE") != "" {
		_, _ = scanprobe.Scan(context.Background(), empty.Image, "", io.Discard)
	}
}
GO
	case $probe in
	scalibr) (cd "$copy" && go get github.com/google/osv-scalibr@v0.5.3 >/dev/null 2>&1) ;;
	syft) (cd "$copy" && go get github.com/anchore/syft@v1.57.2 >/dev/null 2>&1) ;;
	esac
	(cd "$copy" && go mod tidy >/dev/null 2>&1 && go build -trimpath -ldflags='-s -w' -o "$work/berth-$probe" ./server \
		&& go build -o "$work/run-$probe" ./server/scanprobe/run)
	size=$(stat -c %s "$work/berth-$probe")
	for image in demo large; do
		printf '%s\tbin/berth=%d\t%s\t' "$probe" "$size" "$image"
		"$work/run-$probe" -layout "$work/images/$image" -db "$work/db" | cut -f2-
	done
done
