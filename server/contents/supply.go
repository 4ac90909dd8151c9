package contents

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Annotations and media types cosign and sigstore use.
const (
	cosignSignature   = "dev.cosignproject.cosign/signature"
	cosignCertificate = "dev.sigstore.cosign/certificate"
	simpleSigning     = "application/vnd.dev.cosign.simplesigning.v1+json"
	dsseEnvelope      = "application/vnd.dsse.envelope.v1+json"
	notarySignature   = "application/vnd.cncf.notary.signature"
)

// Bounds on what one image's supply chain reads.
const (
	maxReferrers       = 50
	maxDocsPerReferrer = 8
	maxBatch           = 100
)

// Fulcio's certificate extensions naming the OIDC issuer: the original raw string, and the
// newer DER-encoded UTF8String.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// referrer is a manifest found for an image: by the referrers API or a cosign tag.
type referrer struct {
	digest string
	tag    string
}

// repoTags lists a repository's tags as the caller with list, at most once, when first
// asked: one request's lookups of cosign tags share it (a batch of 100 severities listed a
// 10,000-tag repository 100 times).
func (s *Service) repoTags(ctx context.Context, repo string, list func(context.Context, string) ([]string, error)) func() []string {
	return sync.OnceValue(func() []string {
		tags, err := list(ctx, repo)
		if err != nil {
			slog.DebugContext(ctx, "cosign tags not listed", "repository", repo, "err", err)
			return nil
		}
		return tags
	})
}

// referrersOf lists what refers to the subjects: OCI referrers, and cosign's
// sha256-<hex>.sig/.att/.sbom tags (from tags, the caller's list).
func (s *Service) referrersOf(ctx context.Context, repo string, subjects []string, tags func() []string) ([]referrer, error) {
	var out []referrer
	seen := map[string]bool{}
	for _, subj := range subjects {
		descs, err := s.reg.Referrers(ctx, repo, subj)
		if err != nil {
			if he := asHTTP(err); he != nil && he.Status == http.StatusNotFound {
				continue // a registry without the referrers API and no fallback tag
			}
			return nil, err
		}
		for _, d := range descs {
			if !seen[d.Digest.String()] {
				seen[d.Digest.String()] = true
				out = append(out, referrer{digest: d.Digest.String()})
			}
		}
	}
	want := map[string]bool{}
	for _, subj := range subjects {
		base := strings.Replace(subj, ":", "-", 1)
		for _, suffix := range []string{".sig", ".att", ".sbom"} {
			want[base+suffix] = true
		}
	}
	for _, t := range tags() {
		if want[t] {
			out = append(out, referrer{tag: t})
		}
	}
	if len(out) > maxReferrers {
		out = out[:maxReferrers]
	}
	return out, nil
}

// supplyChain reads the image's referrers and the documents they hold, as the caller.
func (s *Service) supplyChain(ctx context.Context, img *image) api.SupplyChain {
	out := api.SupplyChain{Repository: img.repository, Reference: img.reference, Digest: img.digest,
		Documents: []api.SupplyDocument{}, Packages: []api.Package{}, Findings: []api.Finding{}, Signatures: []api.Signature{}}
	subjects := []string{img.digest}
	if img.indexDigest != "" {
		subjects = append(subjects, img.indexDigest)
	}
	refs, err := s.referrersOf(ctx, img.repository, subjects, s.repoTags(ctx, img.repository, s.reg.Tags))
	if err != nil {
		out.Documents = append(out.Documents, api.SupplyDocument{Kind: "other", Error: "referrers could not be listed: " + message(err)})
		s.ownDocument(ctx, &out, img.indexDigest)
		return out
	}
	s.ownDocument(ctx, &out, img.indexDigest)
	maxList := s.limits.MaxList * 4
	for _, ref := range refs {
		docs, sigs := s.readReferrer(ctx, img.repository, ref)
		out.Signatures = append(out.Signatures, sigs...)
		for _, d := range docs {
			out.Documents = append(out.Documents, d.doc)
			if d.doc.Error != "" {
				continue
			}
			if d.doc.Kind == "vulnerabilities" {
				out.Severities.Reports++
			}
			count(&out.Severities, d.findings)
			for _, p := range d.packages {
				if len(out.Packages) >= maxList {
					out.Truncated = true
					break
				}
				out.Packages = append(out.Packages, p)
			}
			for _, f := range d.findings {
				if len(out.Findings) >= maxList {
					out.Truncated = true
					break
				}
				f.Source = api.ReportSource(d.doc.Format)
				out.Findings = append(out.Findings, f)
			}
		}
	}
	return out
}

type readDoc struct {
	doc      api.SupplyDocument
	packages []api.Package
	findings []api.Finding
}

// readReferrer reads one referrer manifest and its layers: documents and signatures. A
// document that cannot be read or parsed is listed with its error, so one bad document never
// hides the others.
func (s *Service) readReferrer(ctx context.Context, repo string, ref referrer) ([]readDoc, []api.Signature) {
	name := ref.digest
	if name == "" {
		name = ref.tag
	}
	raw, _, digest, err := s.reg.Manifest(ctx, repo, name)
	if err != nil {
		return []readDoc{{doc: api.SupplyDocument{Digest: ref.digest, Tag: ref.tag, Kind: "other", Error: message(err)}}}, nil
	}
	m, err := v1.ParseManifest(strings.NewReader(string(raw)))
	if err != nil || m.SchemaVersion != 2 {
		return []readDoc{{doc: api.SupplyDocument{Digest: digest, Tag: ref.tag, Kind: "other", Error: "the manifest is not an OCI or Docker image manifest"}}}, nil
	}
	base := api.SupplyDocument{Digest: digest, Tag: ref.tag, ArtifactType: artifactOf(m)}
	if c := m.Annotations["org.opencontainers.image.created"]; c != "" {
		base.Created, _ = time.Parse(time.RFC3339, c)
	}
	if m.ArtifactType == notarySignature || m.Config.MediaType == notarySignature {
		base.Kind, base.Format = "signature", "Notary Project"
		return []readDoc{{doc: base}}, []api.Signature{{Digest: digest, Kind: "notation", Note: "Notary Project signature (its identity is inside the signature envelope)"}}
	}
	var docs []readDoc
	var sigs []api.Signature
	for i, l := range m.Layers {
		if i >= maxDocsPerReferrer {
			break
		}
		doc := base
		doc.MediaType = string(l.MediaType)
		data, err := s.readAll(ctx, repo, l.Digest.String(), s.limits.MaxDocument, "document")
		if err != nil {
			doc.Kind, doc.Error = kindOf(string(l.MediaType), base.ArtifactType), message(err)
			docs = append(docs, readDoc{doc: doc})
			continue
		}
		data = trimJSON(data)
		if string(l.MediaType) == simpleSigning || l.Annotations[cosignSignature] != "" && !strings.Contains(string(l.MediaType), "dsse") {
			sig := signature(digest, "cosign", l.Annotations)
			var payload struct {
				Critical struct {
					Image struct {
						Digest string `json:"docker-manifest-digest"`
					} `json:"image"`
				} `json:"critical"`
			}
			if json.Unmarshal(data, &payload) == nil {
				sig.Subject = payload.Critical.Image.Digest
			}
			sigs = append(sigs, sig)
			doc.Kind, doc.Format = "signature", "cosign"
			docs = append(docs, readDoc{doc: doc})
			continue
		}
		p, err := parseDocument(data, 0)
		if err != nil {
			doc.Kind = kindOf(string(l.MediaType), base.ArtifactType)
			doc.Error = "rejected: " + strings.TrimPrefix(err.Error(), errMalformed.Error()+": ")
			docs = append(docs, readDoc{doc: doc})
			continue
		}
		doc.Kind, doc.Format, doc.Attestation = p.kind, p.format, p.dsse
		doc.Packages, doc.Findings = len(p.packages), len(p.findings)
		docs = append(docs, readDoc{doc: doc, packages: p.packages, findings: p.findings})
		if p.dsse {
			sig := signature(digest, "dsse", l.Annotations)
			sig.KeyID = strings.Join(nonEmpty(p.keyIDs), ", ")
			if len(p.subjects) > 0 {
				sig.Subject = p.subjects[0]
			}
			sig.Note = "attestation " + p.predicateType
			sigs = append(sigs, sig)
		}
	}
	return docs, sigs
}

// kindOf guesses a document's kind from its media or artifact type, for rejected documents.
func kindOf(types ...string) string {
	t := strings.ToLower(strings.Join(types, " "))
	switch {
	case strings.Contains(t, "spdx"), strings.Contains(t, "cyclonedx"), strings.Contains(t, "sbom"):
		return "sbom"
	case strings.Contains(t, "sarif"), strings.Contains(t, "vuln"), strings.Contains(t, "trivy"):
		return "vulnerabilities"
	}
	return "other"
}

// signature reads the signer from cosign's annotations: the Fulcio certificate's subject
// alternative name and OIDC issuer, when the signature has a certificate.
func signature(digest, kind string, ann map[string]string) api.Signature {
	sig := api.Signature{Digest: digest, Kind: kind}
	certPEM := ann[cosignCertificate]
	if certPEM == "" {
		if kind == "cosign" {
			sig.Note = "signed with a key; the signature carries no certificate"
		}
		return sig
	}
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		sig.Note = "the certificate annotation is not PEM"
		return sig
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		sig.Note = "the certificate cannot be parsed: " + err.Error()
		return sig
	}
	var ids []string
	ids = append(ids, cert.EmailAddresses...)
	for _, u := range cert.URIs {
		ids = append(ids, u.String())
	}
	if len(ids) == 0 && cert.Subject.CommonName != "" {
		ids = append(ids, cert.Subject.CommonName)
	}
	sig.Identity = strings.Join(ids, ", ")
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(oidIssuerV2):
			var s string
			if _, err := asn1.UnmarshalWithParams(ext.Value, &s, "utf8"); err == nil {
				sig.Issuer = s
			}
		case ext.Id.Equal(oidIssuerV1) && sig.Issuer == "":
			sig.Issuer = string(ext.Value)
		}
	}
	if sig.Issuer == "" {
		sig.Issuer = cert.Issuer.CommonName
	}
	return sig
}

// message is the part of an error fit for the UI.
func message(err error) string {
	if he := asHTTP(err); he != nil {
		return he.Message
	}
	if errors.Is(err, errMalformed) {
		return err.Error()
	}
	return "internal error"
}

// ServeSupplyChain answers the SBOMs, reports, signatures and attestations of an image.
func (s *Service) ServeSupplyChain(w http.ResponseWriter, r *http.Request) {
	img, err := s.requestImage(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	respond(w, r, s.supplyChain(r.Context(), img), nil)
}

// ServeSeverities answers severity counts for up to 100 manifests of one repository, for the
// tag table: GET …/-/severities?digest=sha256:…&digest=sha256:…. For an index, reports
// attached to its images count too.
func (s *Service) ServeSeverities(w http.ResponseWriter, r *http.Request) {
	repo, err := s.listedRepository(r)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	digests := r.URL.Query()["digest"]
	if len(digests) == 0 || len(digests) > maxBatch {
		httperr.Write(w, r, badRequest(fmt.Sprintf("pass from 1 to %d digest parameters", maxBatch)))
		return
	}
	for _, d := range digests {
		if err := validDigest(d); err != nil {
			httperr.Write(w, r, err)
			return
		}
	}
	out := api.SeverityBatch{Repository: repo, Severities: map[string]api.Severities{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	var denied error
	tags := s.repoTags(r.Context(), repo, s.names)
	holdBack := time.Now().Add(maxHoldBack)
	for _, d := range digests {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			s.hold(r.Context(), repo, holdBack)
			sev, err := s.severities(r.Context(), repo, d, tags)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if he := asHTTP(err); he != nil && he.Status == http.StatusUnauthorized && denied == nil {
					denied = err
				}
				if out.Errors == nil {
					out.Errors = map[string]string{}
				}
				out.Errors[d] = message(err)
				return
			}
			out.Severities[d] = sev
		})
	}
	wg.Wait()
	if denied != nil {
		// Someone the registry refuses learns nothing, not even which digests exist.
		httperr.Write(w, r, denied)
		return
	}
	respond(w, r, out, nil)
}

// maxHoldBack is how long one batch of severities waits in all for the answers pages wait
// for (Options.HoldBack).
const maxHoldBack = 300 * time.Millisecond

// severities counts the findings of the vulnerability reports attached to digest.
func (s *Service) severities(ctx context.Context, repo, digest string, tags func() []string) (api.Severities, error) {
	var sev api.Severities
	raw, mt, _, err := s.reg.Manifest(ctx, repo, digest)
	if err != nil {
		return sev, err
	}
	subjects := []string{digest}
	if isIndex(mt, raw) {
		if idx, err := v1.ParseIndexManifest(strings.NewReader(string(raw))); err == nil {
			for _, m := range idx.Manifests {
				if m.Platform != nil && m.Platform.OS != "unknown" {
					subjects = append(subjects, m.Digest.String())
				}
			}
		}
	}
	refs, err := s.referrersOf(ctx, repo, subjects, tags)
	if err != nil {
		return sev, err
	}
	for _, ref := range refs {
		docs, _ := s.readReferrer(ctx, repo, ref)
		for _, d := range docs {
			if d.doc.Error == "" && d.doc.Kind == "vulnerabilities" {
				sev.Reports++
				count(&sev, d.findings)
			}
		}
	}
	s.ownSeverities(ctx, repo, digest, &sev)
	return sev, nil
}
