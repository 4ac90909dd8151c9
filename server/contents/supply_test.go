package contents_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

type rawManifest struct{ raw []byte }

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

type blob struct {
	mediaType   types.MediaType
	data        []byte
	annotations map[string]string
}

// pushArtifact pushes an OCI artifact with the blobs as layers, under tag or (tag "") by
// digest with subject set, as referrers are pushed.
func pushArtifact(t *testing.T, host, repo, tag, subject, artifactType string, blobs ...blob) {
	t.Helper()
	r, err := name.NewRepository(host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	cfg := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	desc := func(l v1.Layer, mt types.MediaType, ann map[string]string) v1.Descriptor {
		if err := remote.WriteLayer(r, l); err != nil {
			t.Fatal(err)
		}
		d, _ := l.Digest()
		n, _ := l.Size()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: n, Annotations: ann}
	}
	m := map[string]any{
		"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": artifactType,
		"config": desc(cfg, "application/vnd.oci.empty.v1+json", nil),
	}
	var layers []v1.Descriptor
	for _, b := range blobs {
		layers = append(layers, desc(static.NewLayer(b.data, b.mediaType), b.mediaType, b.annotations))
	}
	m["layers"] = layers
	if subject != "" && tag == "" {
		s, err := remote.Head(r.Digest(subject))
		if err != nil {
			t.Fatal(err)
		}
		m["subject"] = v1.Descriptor{MediaType: s.MediaType, Digest: s.Digest, Size: s.Size}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var ref name.Reference = r.Tag(tag)
	if tag == "" {
		h, _, _ := v1.SHA256(bytes.NewReader(raw))
		ref = r.Digest(h.String())
	}
	if err := remote.Put(ref, rawManifest{raw}); err != nil {
		t.Fatalf("put %s: %v", ref, err)
	}
}

// fulcioCert makes a certificate the way Fulcio issues them: the signer's email as SAN and the
// OIDC issuer in extension 1.3.6.1.4.1.57264.1.8.
func fulcioCert(t *testing.T, email, issuer string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := asn1.MarshalWithParams(issuer, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{}, EmailAddresses: []string{email},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: iss}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dsse(t *testing.T, predicateType string, predicate []byte) []byte {
	t.Helper()
	st, _ := json.Marshal(map[string]any{
		"_type": "https://in-toto.io/Statement/v0.1", "predicateType": predicateType,
		"subject": []map[string]any{}, "predicate": json.RawMessage(predicate),
	})
	env, _ := json.Marshal(map[string]any{
		"payloadType": "application/vnd.in-toto+json", "payload": base64.StdEncoding.EncodeToString(st),
		"signatures": []map[string]string{{"keyid": "", "sig": "MEUC"}},
	})
	return env
}

func TestSupplyChain(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{MaxDocument: 64 << 10})
	digest := push(t, e.host, "look/inside", "v1", testLayers(t)[:1], nil)
	plain := push(t, e.host, "look/inside", "plain", testLayers(t)[1:2], nil)
	sigTag := strings.Replace(digest, ":", "-", 1)

	pushArtifact(t, e.host, "look/inside", "", digest, "application/spdx+json", blob{"application/spdx+json", readFixture(t, "spdx-2.3.json"), nil})
	pushArtifact(t, e.host, "look/inside", "", digest, "application/sarif+json", blob{"application/sarif+json", readFixture(t, "trivy.sarif"), nil})
	pushArtifact(t, e.host, "look/inside", "", digest, "application/vnd.cyclonedx+json", blob{"application/vnd.cyclonedx+json", []byte(`{"bomFormat":"CycloneDX","components":[]}`), nil})
	big := `{"spdxVersion":"SPDX-2.3","packages":[],"comment":"` + strings.Repeat("x", 70<<10) + `"}`
	pushArtifact(t, e.host, "look/inside", "", digest, "application/spdx+json", blob{"application/spdx+json", []byte(big), nil})
	payload, _ := json.Marshal(map[string]any{"critical": map[string]any{
		"identity": map[string]string{"docker-reference": "look/inside"},
		"image":    map[string]string{"docker-manifest-digest": digest}, "type": "cosign container image signature"}})
	pushArtifact(t, e.host, "look/inside", sigTag+".sig", "", "", blob{"application/vnd.dev.cosign.simplesigning.v1+json", payload, map[string]string{
		"dev.cosignproject.cosign/signature": "MEUCIQ==",
		"dev.sigstore.cosign/certificate":    fulcioCert(t, "alice@example.com", "https://accounts.example.com"),
	}})
	vuln, _ := json.Marshal(map[string]any{"scanner": map[string]any{"uri": "pkg:github/aquasecurity/trivy", "result": json.RawMessage(readFixture(t, "trivy.json"))}})
	pushArtifact(t, e.host, "look/inside", sigTag+".att", "", "", blob{"application/vnd.dsse.envelope.v1+json", dsse(t, "https://cosign.sigstore.dev/attestation/vuln/v1", vuln), map[string]string{
		"dev.cosignproject.cosign/signature": "", "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1",
	}})

	var sc api.SupplyChain
	e.mustGet(t, "/api/v1/contents/look/inside/-/image/v1/supply-chain", &sc)
	var errs []string
	for _, d := range sc.Documents {
		if d.Error != "" {
			errs = append(errs, d.Kind+": "+d.Error)
		}
	}
	if len(sc.Documents) != 6 || len(errs) != 2 || !strings.Contains(strings.Join(errs, "|"), "specVersion is missing") || !strings.Contains(strings.Join(errs, "|"), "larger than 65536 bytes") {
		t.Errorf("documents = %+v; errors %q", sc.Documents, errs)
	}
	if len(sc.Packages) != 2 || sc.Packages[0].Name != "musl" {
		t.Errorf("packages = %+v", sc.Packages)
	}
	want := api.Severities{Critical: 2, High: 1, Medium: 1, Low: 1, Reports: 2}
	if sc.Severities != want || len(sc.Findings) != 5 {
		t.Errorf("severities = %+v, %d findings; want %+v", sc.Severities, len(sc.Findings), want)
	}
	var cosign *api.Signature
	for i, s := range sc.Signatures {
		if s.Kind == "cosign" {
			cosign = &sc.Signatures[i]
		}
	}
	if cosign == nil || cosign.Identity != "alice@example.com" || cosign.Issuer != "https://accounts.example.com" || cosign.Subject != digest {
		t.Errorf("signatures = %+v", sc.Signatures)
	}

	var batch api.SeverityBatch
	lists := e.blobs.tagLists()
	e.mustGet(t, "/api/v1/contents/look/inside/-/severities?digest="+url.QueryEscape(digest)+"&digest="+url.QueryEscape(plain), &batch)
	if batch.Severities[digest] != want || batch.Severities[plain] != (api.Severities{}) || len(batch.Errors) != 0 {
		t.Errorf("batch = %+v", batch)
	}
	// The cosign tags of every digest in the batch come from one list of the repository's
	// tags (a batch of 100 on a 10,000-tag repository listed it 100 times).
	if got := e.blobs.tagLists() - lists; got != 1 {
		t.Errorf("a batch of two digests listed the tags %d times, want once", got)
	}
}

// Wired to the catalog as Berth wires it, the tag table's severities look for cosign's tags
// in the tag list the caller's pages read, and check access with one tag while that list is
// recent: after a page, a batch lists none of the repository's tags, also once the access
// check's answer has lapsed. A batch waits while a page is being built and for the quiet
// after a tag answer about its repository, 0.3 s at most in all.
func TestSeveritiesWithTheCatalog(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{})
	digest := push(t, e.host, "look/kept", "v1", testLayers(t)[:1], nil)
	vuln, _ := json.Marshal(map[string]any{"scanner": map[string]any{"uri": "pkg:github/aquasecurity/trivy", "result": json.RawMessage(readFixture(t, "trivy.json"))}})
	pushArtifact(t, e.host, "look/kept", strings.Replace(digest, ":", "-", 1)+".att", "", "", blob{"application/vnd.dsse.envelope.v1+json", dsse(t, "https://cosign.sigstore.dev/attestation/vuln/v1", vuln), map[string]string{
		"dev.cosignproject.cosign/signature": "", "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1",
	}})
	reg := registrytest.NewClient(t, registry.Options{URL: "http://" + e.host})
	const answerTTL = 50 * time.Millisecond
	e.authz = registry.NewAuthorizer(reg, answerTTL) // one for both, as Berth has
	e.cat = catalog.New(catalog.Options{Registry: reg, Authorizer: e.authz})
	e.berth = e.serve(t)
	if _, err := e.cat.TagNames(t.Context(), "look/kept"); err != nil { // the tag table's page
		t.Fatal(err)
	}
	severities := func(name string) time.Duration {
		t.Helper()
		lists := e.blobs.tagLists()
		start := time.Now()
		var batch api.SeverityBatch
		e.mustGet(t, "/api/v1/contents/look/kept/-/severities?digest="+url.QueryEscape(digest), &batch)
		took := time.Since(start)
		if got := batch.Severities[digest]; got != (api.Severities{Critical: 1, High: 1, Low: 1, Reports: 1}) || len(batch.Errors) != 0 {
			t.Errorf("%s: batch = %+v", name, batch)
		}
		if n := e.blobs.tagLists() - lists; n != 0 {
			t.Errorf("%s: a batch listed the tags %d times, want none", name, n)
		}
		return took
	}
	severities("after the page")
	time.Sleep(2 * answerTTL)
	severities("once the access check's answer lapsed")

	// Right after a tag answer about the repository, a batch waits out the quiet (the page
	// paints its rows then), 0.3 s at most; once the quiet is over, not at all.
	if _, err := e.cat.Tags(t.Context(), "look/kept", catalog.TagQuery{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if took := severities("right after the page's tag answer"); took < 300*time.Millisecond {
		t.Errorf("a batch right after a tag answer took %v, want the quiet's 0.3 s", took)
	}
	time.Sleep(time.Second)
	start := time.Now()
	e.cat.BehindAnswers(t.Context(), "look/kept", start.Add(5*time.Second))
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("with nothing being built and the quiet over, severities held back %v", took)
	}
	// While a page is being built, a batch waits for it, 0.3 s at most in all.
	page := e.cat.Answering()
	const building = 150 * time.Millisecond
	time.AfterFunc(building, page)
	if took := severities("while a page was being built"); took < building {
		t.Errorf("a batch took %v while a page was being built for %v", took, building)
	}
	forever := e.cat.Answering()
	defer forever()
	if took := severities("while a page was being built for ever"); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("a batch took %v while a page was being built for ever, want 0.3 s and its own work", took)
	}
}
