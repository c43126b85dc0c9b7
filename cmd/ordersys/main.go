// Command ordersys is the event-driven order processing system. See `ordersys help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ordersys/ordersys/internal/app"
)

func main() {
	command := ""
	if len(os.Args) > 1 {
		command = os.Args[1]
	}
	if err := applyTimerSlack(command, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "ordersys:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, app.IsHelp(err):
	case app.IsUsage(err):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ordersys:", err)
		os.Exit(1)
	}
}
