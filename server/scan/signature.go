package scan

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Cosign's classic signature scheme: a manifest tagged sha256-<hex>.sig beside the image,
// whose layers are simple-signing payloads naming the image's digest, each signed in an
// annotation.
const (
	cosignSignature   = "dev.cosignproject.cosign/signature"
	cosignPayloadType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// maxPayload bounds one payload read: they are a few hundred bytes.
	maxPayload = 64 << 10
	// maxSignatures bounds the layers of a signature manifest looked at.
	maxSignatures = 32
)

// ParseKeys reads PEM public keys (one or more blocks, as cosign.pub files hold) into
// verifiers; an error names the block that failed.
func ParseKeys(pemText string) ([]signature.Verifier, error) {
	var out []signature.Verifier
	rest := []byte(pemText)
	for n := 1; len(bytes.TrimSpace(rest)) > 0; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("key %d is not a PEM public key", n)
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem.EncodeToMemory(block))
		if err != nil {
			return nil, fmt.Errorf("key %d is not a PEM public key (%s block)", n, block.Type)
		}
		v, err := signature.LoadDefaultVerifier(pub)
		if err != nil {
			return nil, fmt.Errorf("key %d: %s", n, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Signed reports whether digest in repository carries a cosign signature naming it, made by
// one of keys when any are given (any signature otherwise); read as Berth itself.
func (s *Service) Signed(ctx context.Context, repository, digest string, keys []signature.Verifier) (bool, error) {
	tag := strings.Replace(digest, ":", "-", 1) + ".sig"
	m, err := s.opts.Own.Get(ctx, repository, tag)
	if err != nil {
		var he *httperr.Error
		if errors.As(err, &he) && he.Code == api.CodeNotFound {
			return false, nil
		}
		return false, err
	}
	var man struct {
		Layers []struct {
			MediaType   string            `json:"mediaType"`
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(m.Raw, &man); err != nil {
		return false, nil
	}
	for i, l := range man.Layers {
		if i == maxSignatures {
			break
		}
		sig, err := base64.StdEncoding.DecodeString(l.Annotations[cosignSignature])
		if l.MediaType != cosignPayloadType || err != nil || len(sig) == 0 {
			continue
		}
		body, err := s.opts.Own.ReadBlob(ctx, repository, l.Digest, maxPayload)
		if err != nil {
			return false, err
		}
		if names(body, digest) && verified(keys, sig, body) {
			return true, nil
		}
	}
	return false, nil
}

// names says the simple-signing payload is about digest.
func names(body []byte, digest string) bool {
	var p payload.SimpleContainerImage
	return json.Unmarshal(body, &p) == nil && p.Critical.Image.DockerManifestDigest == digest
}

// verified: sig signs body by one of keys; without keys, any signature will do.
func verified(keys []signature.Verifier, sig, body []byte) bool {
	if len(keys) == 0 {
		return true
	}
	for _, k := range keys {
		if k.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)) == nil {
			return true
		}
	}
	return false
}

// refuseAll is a verifier no signature passes: keys that no longer parse.
type refuseAll struct{}

func (refuseAll) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return nil, errors.New("no usable key")
}

func (refuseAll) VerifySignature(io.Reader, io.Reader, ...signature.VerifyOption) error {
	return errors.New("no usable key")
}
