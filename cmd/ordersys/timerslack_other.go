//go:build !linux

package main

// applyTimerSlack does nothing: timer slack is a Linux setting (see timerslack_linux.go).
func applyTimerSlack(string, func(string) string) error { return nil }
