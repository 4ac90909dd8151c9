package auth

import "time"

// SetClock makes the issuer sign as if it were now() (tests of expired tokens).
func (i *Issuer) SetClock(now func() time.Time) { i.now = now }
