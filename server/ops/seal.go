package ops

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealer encrypts a job's credentials for the database with AES-256-GCM, under a key derived
// (HKDF-SHA256) from the cluster secret every replica shares, so whichever replica runs a
// job can open them and nobody reading the database can.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the key from secret, which must be at least 16 bytes.
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < 16 {
		return nil, errors.New("the cluster secret must be at least 16 bytes")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "berth job credentials v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain, bound to id: sealed credentials moved to another id do not open.
func (s *Sealer) Seal(id string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(id))
}

// Open decrypts what Seal returned for id.
func (s *Sealer) Open(id string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed credentials are truncated")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("open sealed credentials (is --secret-file the same on every replica?): %w", err)
	}
	return plain, nil
}
