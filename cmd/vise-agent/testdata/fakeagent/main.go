// Command fakeagent stands in for a broken vise-agent in the self-update
// tests: built with -ldflags "-X main.mode=exit" it exits at once, with
// "-X main.mode=hang" it runs and never connects anywhere.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var mode = "exit"

func main() {
	if mode == "exit" {
		fmt.Fprintln(os.Stderr, "fakeagent: broken build, exiting")
		os.Exit(3)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, os.Interrupt)
	<-c
}
