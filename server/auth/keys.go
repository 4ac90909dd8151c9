package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"

	"github.com/berth-registry/berth/server/store"
)

// Keyring holds the token signing keys, kept in the store so every replica signs with the
// same key. Private keys are sealed (AES-256-GCM) with a key derived from the cluster secret
// before they reach the store.
//
// A key is published before it signs: there is always a "next" key in the certificate
// bundle besides the "active" one, so a registry that read the bundle once (at start)
// already trusts the key a rotation makes active. A retired key stays in the bundle until
// the last token it signed has expired, then it is deleted.
type Keyring struct {
	st    store.Accounts
	aead  cipher.AEAD
	ttl   time.Duration // tokens' lifetime: how long a retired key must stay trusted
	now   func() time.Time
	every time.Duration // how often the store is re-read for keys other replicas made

	mu     sync.Mutex
	keys   []signingKey
	loaded time.Time
}

// signingKey is one key of the ring, opened.
type signingKey struct {
	id      string
	private *ecdsa.PrivateKey
	cert    *x509.Certificate
	pem     string
	state   string
	retired time.Time
}

// keyLeeway is how long past its expiry a token is still accepted (distribution's Leeway).
const keyLeeway = 60 * time.Second

// LoadSecret reads the cluster secret from path, creating it (32 random bytes, hex, mode
// 0600) when create is set and the file does not exist.
func LoadSecret(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		b = []byte(hex.EncodeToString(raw[:]) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, fmt.Errorf("secret file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < 16 {
		return nil, fmt.Errorf("secret file %s: want at least 16 characters", path)
	}
	return secret, nil
}

// OpenKeyring returns the keyring in st, making the first keys when there are none. secret
// seals the private keys; ttl is the access tokens' lifetime.
func OpenKeyring(ctx context.Context, st store.Accounts, secret []byte, ttl time.Duration) (*Keyring, error) {
	sum := sha256.Sum256(append([]byte("berth signing key seal\x00"), secret...))
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Keyring{st: st, aead: aead, ttl: ttl, now: time.Now, every: 30 * time.Second}
	if err := k.ensure(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// ensure makes sure there is an active and a next key.
func (k *Keyring) ensure(ctx context.Context) error {
	keys, err := k.reload(ctx)
	if err != nil {
		return err
	}
	var active, next bool
	for _, key := range keys {
		active = active || key.state == store.KeyActive
		next = next || key.state == store.KeyNext
	}
	if !active {
		if err := k.create(ctx, store.KeyActive); err != nil {
			return err
		}
	}
	if !next {
		if err := k.create(ctx, store.KeyNext); err != nil {
			return err
		}
	}
	if !active || !next {
		_, err = k.reload(ctx)
	}
	return err
}

// create makes a new ECDSA P-256 key with a self-signed certificate and stores it sealed.
func (k *Keyring) create(ctx context.Context, state string) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	kid := token.GetJWKThumbprint(&priv.PublicKey)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	now := k.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Berth token signer " + kid[:12]},
		// A registry checks the certificate's validity on every token; ten years spares
		// operators a second kind of rotation. Rotating the key is what limits its use.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return fmt.Errorf("signing key certificate: %w", err)
	}
	raw, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := k.aead.Seal(nonce, nonce, raw, []byte(kid))
	return k.st.PutSigningKey(ctx, store.SigningKey{
		ID: kid, Alg: "ES256", Private: sealed, State: state, Created: now,
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	})
}

// reload reads the keys from the store, deleting retired keys no live token needs.
func (k *Keyring) reload(ctx context.Context) ([]signingKey, error) {
	stored, err := k.st.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	now := k.now()
	var keys []signingKey
	for _, s := range stored {
		if s.State == store.KeyRetired && now.Sub(s.Retired) > k.ttl+keyLeeway {
			if err := k.st.DeleteSigningKey(ctx, s.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			continue
		}
		key, err := k.open(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	k.mu.Lock()
	k.keys, k.loaded = keys, now
	k.mu.Unlock()
	return keys, nil
}

func (k *Keyring) open(s store.SigningKey) (signingKey, error) {
	n := k.aead.NonceSize()
	if len(s.Private) < n {
		return signingKey{}, fmt.Errorf("signing key %s: sealed key too short", s.ID)
	}
	raw, err := k.aead.Open(nil, s.Private[:n], s.Private[n:], []byte(s.ID))
	if err != nil {
		return signingKey{}, fmt.Errorf("signing key %s cannot be opened: is this the secret file (--secret-file) the key was sealed with?", s.ID)
	}
	priv, err := x509.ParseECPrivateKey(raw)
	if err != nil {
		return signingKey{}, fmt.Errorf("signing key %s: %w", s.ID, err)
	}
	block, _ := pem.Decode([]byte(s.Certificate))
	if block == nil {
		return signingKey{}, fmt.Errorf("signing key %s: no certificate", s.ID)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return signingKey{}, fmt.Errorf("signing key %s: certificate: %w", s.ID, err)
	}
	return signingKey{id: s.ID, private: priv, cert: cert, pem: s.Certificate, state: s.State, retired: s.Retired}, nil
}

// current returns the keys, re-read from the store when they are older than k.every.
func (k *Keyring) current(ctx context.Context) ([]signingKey, error) {
	k.mu.Lock()
	keys, fresh := k.keys, k.now().Sub(k.loaded) < k.every
	k.mu.Unlock()
	if fresh && keys != nil {
		return keys, nil
	}
	return k.reload(ctx)
}

// signer returns the active key.
func (k *Keyring) signer(ctx context.Context) (signingKey, error) {
	keys, err := k.current(ctx)
	if err != nil {
		return signingKey{}, err
	}
	// The newest active key wins if two replicas raced to make one.
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].state == store.KeyActive {
			return keys[i], nil
		}
	}
	return signingKey{}, errors.New("no active signing key: run berth keys rotate")
}

// Rotate makes the next key active and retires the active one; a new next key is made. A
// token signed before stays valid until it expires: its key stays in the bundle until then.
func (k *Keyring) Rotate(ctx context.Context) (newID string, err error) {
	keys, err := k.reload(ctx)
	if err != nil {
		return "", err
	}
	now := k.now()
	var next string
	for _, key := range keys {
		switch key.state {
		case store.KeyActive:
			if err := k.st.SetKeyState(ctx, key.id, store.KeyRetired, now); err != nil {
				return "", err
			}
		case store.KeyNext:
			next = key.id
		}
	}
	if next == "" {
		if err := k.create(ctx, store.KeyActive); err != nil {
			return "", err
		}
	} else if err := k.st.SetKeyState(ctx, next, store.KeyActive, now); err != nil {
		return "", err
	}
	if err := k.create(ctx, store.KeyNext); err != nil {
		return "", err
	}
	key, err := func() (signingKey, error) {
		if _, err := k.reload(ctx); err != nil {
			return signingKey{}, err
		}
		return k.signer(ctx)
	}()
	return key.id, err
}

// Bundle returns the PEM certificates a registry must trust: the active, next and still
// needed retired keys' (distribution's rootcertbundle).
func (k *Keyring) Bundle(ctx context.Context) ([]byte, error) {
	keys, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, key := range keys {
		b.WriteString(key.pem)
	}
	return []byte(b.String()), nil
}

// JWK is one public key of a JSON Web Key Set.
type JWK struct {
	Kty string   `json:"kty"`
	Crv string   `json:"crv"`
	X   string   `json:"x"`
	Y   string   `json:"y"`
	Kid string   `json:"kid"`
	Use string   `json:"use"`
	Alg string   `json:"alg"`
	X5c []string `json:"x5c"`
}

// JWKS returns the public keys as a JSON Web Key Set (distribution's jwks file).
func (k *Keyring) JWKS(ctx context.Context) (struct {
	Keys []JWK `json:"keys"`
}, error) {
	var set struct {
		Keys []JWK `json:"keys"`
	}
	keys, err := k.current(ctx)
	if err != nil {
		return set, err
	}
	set.Keys = []JWK{}
	for _, key := range keys {
		point, err := key.private.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
		if err != nil {
			return set, err
		}
		half := (len(point) - 1) / 2
		set.Keys = append(set.Keys, JWK{
			Kty: "EC", Crv: "P-256", Kid: key.id, Use: "sig", Alg: "ES256",
			X:   base64.RawURLEncoding.EncodeToString(point[1 : 1+half]),
			Y:   base64.RawURLEncoding.EncodeToString(point[1+half:]),
			X5c: []string{base64.StdEncoding.EncodeToString(key.cert.Raw)},
		})
	}
	return set, nil
}
