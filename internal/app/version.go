package app

import (
	"runtime/debug"
	"strings"
)

// version is set at build time (-ldflags "-X github.com/ordersys/ordersys/internal/app.version=v1.2.3");
// otherwise Version reads what the Go toolchain recorded.
var version string

// Version is this binary's version: the one set at build time, else its module version (a tagged
// `go install`) or "devel", with the commit it was built from when the build recorded one.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	v := version
	if v == "" && ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = "devel"
	}
	if !ok {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(len(s.Value), 12)]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	parts := []string{v}
	if rev != "" && !strings.Contains(v, rev) {
		parts = append(parts, "commit "+rev+dirty)
	}
	return strings.Join(append(parts, info.GoVersion), ", ")
}
