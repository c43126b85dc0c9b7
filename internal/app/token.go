package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/auth"
)

// runToken mints a bearer token with the development key of `ordersys dev --auth jwt`, so that a
// newcomer can try the API with authentication on and no identity provider.
func runToken(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var dataDir, sub, scope string
	var ttl time.Duration
	fs := newFlagSet("token", getenv, stderr)
	fs.String(&dataDir, "data-dir", "./data", "the data directory of `ordersys dev --auth jwt`, whose development key signs the token (made there if missing)")
	fs.String(&sub, "sub", "", "the customer the token speaks for (a UUID); required")
	fs.String(&scope, "scope", auth.ScopeRead+" "+auth.ScopeWrite, "space-separated scopes: "+auth.ScopeRead+", "+auth.ScopeWrite+", "+auth.ScopeAdmin)
	fs.Duration(&ttl, "ttl", time.Hour, "how long the token is valid")
	if err := fs.parse(args, false); err != nil {
		return err
	}
	id, err := uuid.Parse(sub)
	switch {
	case sub == "":
		return usageError{errors.New("--sub is required: the customer's id, a UUID")}
	case err != nil:
		return usageError{fmt.Errorf("--sub %q: not a UUID", sub)}
	case ttl <= 0:
		return usageError{fmt.Errorf("--ttl %v: want more than 0", ttl)}
	}
	scopes := strings.Fields(scope)
	for _, s := range scopes {
		if s != auth.ScopeRead && s != auth.ScopeWrite && s != auth.ScopeAdmin {
			return usageError{fmt.Errorf("--scope: unknown scope %q (want %s, %s or %s)", s, auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin)}
		}
	}
	key, err := auth.LoadDevKey(dataDir)
	if err != nil {
		return err
	}
	token, err := key.Mint(id.String(), scopes, ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}
