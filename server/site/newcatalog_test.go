package site_test

import (
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/registry"
)

// newCatalog is catalog.New where the registry decides, unless the test names an authorizer.
func newCatalog(o catalog.Options) *catalog.Service {
	if o.Authorizer == nil {
		o.Authorizer = registry.NewAuthorizer(o.Registry, 0)
	}
	return catalog.New(o)
}
