package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
)

// cmdCopy: berth cp SRC DST.
func cmdCopy(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "cp", "[flags] SRC DST", "Copies an image, index or artifact with its referrers; SRC and DST are repository:tag or\nrepository@digest (DST may be a bare repository to keep the tag).")
	var t target
	t.flags(fs)
	from := fs.String("from", "", "registry base URL SRC is in (default: the target registry)")
	to := fs.String("to", "", "registry base URL DST is in (default: the target registry)")
	pos, err := parseN(fs, args, 2, 2, "SRC and DST")
	if err != nil {
		return err
	}
	reg, stop, err := t.open(ctx, c)
	if err != nil {
		return err
	}
	defer stop()
	src, dst := reg, reg
	if *from != "" {
		if src, err = keychainRegistry(*from); err != nil {
			return err
		}
	}
	if *to != "" {
		if dst, err = keychainRegistry(*to); err != nil {
			return err
		}
	}
	cp, err := ops.NewCopy(ops.Endpoint{Registry: src, Ref: pos[0]}, ops.Endpoint{Registry: dst, Ref: pos[1]})
	if err != nil {
		return err
	}
	p := c.newPrinter("Copying", "Copied")
	res, err := cp.Run(ctx, p.report)
	p.end()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s@%s (%s)\n", pos[1], res.Digest, counts(res))
	return nil
}

// counts says what a copy or push moved: "2 manifests, 3 blobs, 1.2 MB".
func counts(res *api.JobResult) string {
	return fmt.Sprintf("%s, %s, %s", api.Plural(res.Manifests, "manifest"), api.Plural(res.Blobs, "blob"), api.HumanSize(res.Bytes))
}

// cmdPush: berth push FILE REPOSITORY[:TAG].
func cmdPush(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "push", "[flags] FILE REPOSITORY[:TAG]", "Pushes the images of a docker save or OCI-layout tarball (gzip-compressed or not, - for stdin):\nunder TAG when the archive holds one image, else under each image's own tags.")
	var t target
	t.flags(fs)
	pos, err := parseN(fs, args, 2, 2, "FILE and REPOSITORY[:TAG]")
	if err != nil {
		return err
	}
	repo, tag, err := registry.SplitReference(pos[1])
	if err != nil {
		return err
	}
	if registry.IsDigest(tag) {
		return fmt.Errorf("%s: push to a tag, not a digest", pos[1])
	}
	path, cleanup, err := plainArchive(c, pos[0])
	if err != nil {
		return err
	}
	defer cleanup()
	a, err := ops.OpenArchive(path)
	if err != nil {
		return err
	}
	defer a.Close()
	reg, stop, err := t.open(ctx, c)
	if err != nil {
		return err
	}
	defer stop()
	p := c.newPrinter("Pushing", "Pushed")
	p.report(api.JobEvent{Type: api.EventPhase, Phase: "verify", Message: "Checking every blob of " + pos[0]})
	im, err := ops.NewImport(ctx, reg, a, repo, tag, true)
	if err != nil {
		p.end()
		return err
	}
	res, err := im.Run(ctx, p.report)
	p.end()
	if err != nil {
		return err
	}
	for _, ref := range res.Tags {
		fmt.Fprintf(c.out, "%s (%s)\n", ref, counts(res))
	}
	return nil
}

// plainArchive returns the path of file as a plain tar: file itself, or — when it is
// gzip-compressed or stdin — a temporary copy, which cleanup removes.
func plainArchive(c *cli, file string) (path string, cleanup func(), err error) {
	var in io.Reader
	if file == "-" {
		in = c.in
	} else {
		f, err := os.Open(file)
		if err != nil {
			return "", nil, fmt.Errorf("cannot open %s: %w", file, errors.Unwrap(err))
		}
		defer f.Close()
		var magic [2]byte
		if _, err := io.ReadFull(f, magic[:]); err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
			return file, func() {}, nil
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", nil, err
		}
		in = f
	}
	tmp, err := os.CreateTemp("", "berth-push-*.tar")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.Remove(tmp.Name()) }
	err = ops.CopyArchive(tmp, in, 1<<62)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return tmp.Name(), cleanup, nil
}

// cmdRemove: berth rm REF...
func cmdRemove(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "rm", "[flags] REPOSITORY:TAG|REPOSITORY@DIGEST...", "A tag removes only the tag; a digest removes the manifest and every tag pointing to it.")
	var t target
	t.flags(fs)
	pos, err := parseN(fs, args, 1, -1, "a REPOSITORY:TAG or REPOSITORY@DIGEST")
	if err != nil {
		return err
	}
	type refArg struct{ repo, ref string }
	var refs []refArg
	var errs []error
	for _, arg := range pos {
		repo, ref, err := registry.SplitReference(arg)
		if err == nil && ref == "" {
			err = fmt.Errorf("%s: name a tag or digest (repository:tag or repository@digest)", arg)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		refs = append(refs, refArg{repo, ref})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	reg, stop, err := t.open(ctx, c)
	if err != nil {
		return err
	}
	defer stop()
	note := ""
	for _, r := range refs {
		note = cmp.Or(removeOne(ctx, c, reg, r.repo, r.ref, &errs), note)
	}
	if note != "" {
		fmt.Fprintln(c.err, "note: "+note)
	}
	return errors.Join(errs...)
}

// removeOne deletes one reference, printing what went; it returns the result's note. Its
// progress is not printed: the one line per reference says it all, and an error once.
func removeOne(ctx context.Context, c *cli, reg *registry.Client, repo, ref string, errs *[]error) string {
	d, err := ops.NewDelete(reg, repo, []string{ref})
	if err != nil {
		*errs = append(*errs, err)
		return ""
	}
	res, err := d.Run(ctx, func(api.JobEvent) {})
	if err != nil {
		*errs = append(*errs, err)
	}
	if res == nil {
		return ""
	}
	for _, r := range res.Deleted {
		fmt.Fprintf(c.out, "deleted %s\n", registry.JoinReference(repo, r))
	}
	return res.Note
}
