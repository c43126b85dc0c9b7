package app

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/ordersys/ordersys/internal/console"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/payment"
)

// consoleServices are the services whose API base URLs `serve` takes for the console (the order
// service's is the process's own: the console is served with it).
var consoleServices = []string{inventory.Name, payment.Name, fulfillment.Name, notification.Name}

// consoleFlags are the console's flags. urls, by service, is nil for dev, whose services are
// all its own.
func consoleFlags(fs *flagSet, on *bool, urls map[string]*string) {
	fs.Bool(on, "console", true, "serve the operations console at /ui (an admin's token is asked for with --auth jwt)")
	for _, svc := range consoleServices {
		if p, ok := urls[svc]; ok {
			fs.String(p, "console-"+svc+"-url", "", fmt.Sprintf("base URL of the %s service's API for the console, e.g. http://%s:3001 (default: this process's own address)", svc, svc))
		}
	}
}

// checkConsoleURLs refuses a base URL the console could not call.
func checkConsoleURLs(urls map[string]string) error {
	for _, svc := range consoleServices {
		raw := urls[svc]
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return usageError{fmt.Errorf("--console-%s-url %q: want a base URL such as http://host:3001", svc, raw)}
		}
		if u.User != nil { // the System page shows the URLs; the console forwards the caller's token instead
			return usageError{fmt.Errorf("--console-%s-url: no credentials in the URL, please: the console shows it", svc)}
		}
	}
	return nil
}

// newConsole is the console of a process whose metrics are m, reaching the services at urls
// (missing ones: the process itself).
func newConsole(urls map[string]string, m *metrics.Metrics, log *slog.Logger) (*console.Console, error) {
	c, err := console.New(console.Config{URLs: urls, Metrics: m.Gatherer(), Log: log})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return c, nil
}
