//go:build ignore

// Command run scans the image in an OCI layout with the probe copied beside it and prints
// one line: probe, packages, seconds, peak RSS in MiB.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/berth-registry/berth/server/scanprobe"
)

func main() {
	dir := flag.String("layout", "", "OCI layout holding one image")
	db := flag.String("db", "", "directory of OSV <ecosystem>/all.zip archives")
	flag.Parse()
	idx, err := layout.ImageIndexFromPath(*dir)
	if err != nil {
		log.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		log.Fatal(err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	n, err := scanprobe.Scan(context.Background(), img, *db, io.Discard)
	if err != nil {
		log.Fatal(err)
	}
	elapsed := time.Since(start)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("%s\t%d\t%.2f\t%.0f\n", scanprobe.Name, n, elapsed.Seconds(), float64(ru.Maxrss)/1024)
}
