package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/governance"
)

// pullFlags are berth namespace pull-policy's: each given one changes the namespace's
// policy, the others keep what it has.
type pullFlags struct {
	severity, keys *string
	signed         *bool
}

func (f *pullFlags) register(fs *flag.FlagSet) {
	f.severity = fs.String("severity", "", "refuse pulls of images with a finding at or above this severity: critical, high, medium, low, or none (pull-policy)")
	f.signed = fs.Bool("signed", false, "refuse pulls of images without a cosign signature; --signed=false lifts it (pull-policy)")
	f.keys = fs.String("keys", "", "PEM file of public keys (cosign.pub) the signature must be made with; \"none\": any signature (pull-policy)")
}

// pullPolicyCommand shows namespace rest[0]'s pull policy, or changes it with the flags set.
func pullPolicyCommand(ctx context.Context, gov *governance.Service, fs *flag.FlagSet, f pullFlags, rest []string, stdout io.Writer) error {
	if len(rest) != 1 {
		fs.Usage()
		return errUsage
	}
	ns := rest[0]
	p, err := gov.PullPolicy(ctx, ns)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["severity"] || set["signed"] || set["keys"] {
		req := api.PullPolicyRequest{Severity: p.Severity, Signed: p.Signed, Keys: p.Keys}
		if p.Global {
			req = api.PullPolicyRequest{}
		}
		if set["severity"] {
			req.Severity = *f.severity
			if req.Severity == "none" {
				req.Severity = ""
			}
		}
		if set["signed"] {
			req.Signed = *f.signed
		}
		if set["keys"] {
			if req.Keys = ""; *f.keys != "none" {
				raw, err := os.ReadFile(*f.keys)
				if err != nil {
					return fmt.Errorf("--keys: %w", err)
				}
				req.Keys = string(raw)
			}
		}
		if err := gov.SetPullPolicy(ctx, cliActor(), ns, req); err != nil {
			return err
		}
		if p, err = gov.PullPolicy(ctx, ns); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, pullPolicyText(p))
	return nil
}

// pullPolicyText is a policy in one line.
func pullPolicyText(p api.PullPolicy) string {
	of := "namespace " + p.Namespace
	if p.Global {
		of += " (no policy of its own: the global default)"
	}
	sev, sig := "any severity", "no signature required"
	if p.Severity != "" {
		sev = "no finding at or above " + p.Severity
	}
	if p.Signed {
		sig = "a cosign signature required"
		if p.Keys != "" {
			sig += " by the policy's keys"
		}
	}
	return fmt.Sprintf("%s: %s, %s", of, sev, sig)
}
