package replication

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
)

// Browsing is what reading an endpoint's repositories in Berth's pages takes.
type Browsing struct {
	Endpoint api.RegistryEndpoint
	// Version changes whenever the endpoint's settings or credentials do: a client dialled
	// for another version must not be used any more.
	Version string
	// Dial builds a read-only client reaching the endpoint with its own credentials, through
	// the dial guard; no replication bandwidth limit applies.
	Dial func() (*registry.Client, error)
}

// Browse returns how to read the endpoint name (not the main registry: Berth fronts that one
// itself), or a 404.
func (s *Service) Browse(ctx context.Context, name string) (Browsing, error) {
	e, err := s.endpoint(ctx, name)
	if err != nil {
		return Browsing{}, err
	}
	if e.Name == api.MainRegistry {
		return Browsing{}, fmt.Errorf("replication: the main registry is browsed through its own catalog")
	}
	h := sha256.New()
	for _, f := range []string{e.URL, e.Username, e.password, e.CAFile, fmt.Sprint(e.Insecure, e.NoCatalog), strings.Join(e.Repositories, ",")} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	out := Browsing{Endpoint: e.RegistryEndpoint, Version: hex.EncodeToString(h.Sum(nil))}
	out.Endpoint.Password = ""
	out.Dial = func() (*registry.Client, error) { return s.dial(e, nil, false) }
	return out, nil
}
