package main

import "github.com/vise-edge/vise/infer/ort"

func ortVersion() string { return ort.Version() }
