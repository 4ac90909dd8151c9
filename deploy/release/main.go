// Command release is make dist's last step: it packs every directory under dist/ (one per
// platform, holding that platform's berth binary) into a .tar.gz of the same name, adds the
// README and LICENSE (when the repository has one) to each, and writes SHA256SUMS.
//
//	go run ./deploy/release [-dist dist] [-add README.md,LICENSE]
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	dist := flag.String("dist", "dist", "directory holding one directory per platform")
	add := flag.String("add", "README.md,LICENSE", "comma-separated files added to every archive when they exist")
	flag.Parse()
	archives, err := pack(*dist, strings.Split(*add, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	for _, a := range archives {
		fmt.Println(filepath.Join(*dist, a))
	}
	fmt.Println(filepath.Join(*dist, "SHA256SUMS"))
}

// pack writes dist/NAME.tar.gz for every directory dist/NAME, holding NAME/ with the
// directory's files and the files of add that exist, and dist/SHA256SUMS over the archives
// (in sha256sum's format, so "sha256sum -c SHA256SUMS" checks them). It returns the archives'
// names.
func pack(dist string, add []string) ([]string, error) {
	entries, err := os.ReadDir(dist)
	if err != nil {
		return nil, err
	}
	var extra []string
	for _, f := range add {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			extra = append(extra, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	var archives []string
	var sums strings.Builder
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name() + ".tar.gz"
		files, err := filepath.Glob(filepath.Join(dist, e.Name(), "*"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s is empty", filepath.Join(dist, e.Name()))
		}
		sum, err := writeArchive(filepath.Join(dist, name), e.Name(), append(files, extra...))
		if err != nil {
			return nil, err
		}
		archives = append(archives, name)
		fmt.Fprintf(&sums, "%s  %s\n", sum, name)
	}
	if len(archives) == 0 {
		return nil, fmt.Errorf("no platform directories in %s (make dist builds them)", dist)
	}
	if err := os.WriteFile(filepath.Join(dist, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		return nil, err
	}
	return archives, nil
}

// writeArchive writes files, flattened into the directory prefix, to a .tar.gz at path and
// returns its hex SHA-256.
func writeArchive(path, prefix string, files []string) (sum string, err error) {
	out, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	h := sha256.New()
	zw := gzip.NewWriter(io.MultiWriter(out, h))
	tw := tar.NewWriter(zw)
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	for _, f := range files {
		if err := addFile(tw, prefix, f); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func addFile(tw *tar.Writer, prefix, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", file)
	}
	hdr, err := tar.FileInfoHeader(fi, "")
	if err != nil {
		return err
	}
	// Owned by nobody in particular: the archive unpacks as whoever unpacks it.
	hdr.Name = prefix + "/" + fi.Name()
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.Format = tar.FormatPAX
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
