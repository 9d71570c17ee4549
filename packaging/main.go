// Command packaging builds Vise's Debian packages — vise (the server) and
// vise-agent (the device side) with their systemd units, settings files and
// maintainer scripts — with nfpm as a library, for amd64 and arm64:
//
//	go -C packaging run . -arch arm64 -version 1.2.0 -bin ../bin/linux-arm64 -out ../dist
//
// It is a module of its own so that nfpm's dependencies stay out of the
// binaries Vise ships; `make packages` runs it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// spec is one package: its binary, its service and the user it runs as.
type spec struct {
	name, description string
	binary            string // in the -bin directory, installed to /usr/bin
	unit              string // systemd/<unit>
	env               string // etc/<env>, installed to /etc/vise/<env>
	user              string
}

var specs = []spec{
	{name: "vise", binary: "vise", unit: "vise.service", env: "server.env", user: "vise",
		description: "Vise server: model registry, signed deployments to edge devices, results and dashboard"},
	{name: "vise-agent", binary: "vise-agent", unit: "vise-agent.service", env: "agent.env", user: "vise-agent",
		description: "Vise edge agent: enrolls the device, runs its inspection components, sends results back"},
}

func main() {
	if err := packageAll(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "packaging: "+err.Error())
		os.Exit(1)
	}
}

func packageAll(args []string) error {
	fs := flag.NewFlagSet("packaging", flag.ContinueOnError)
	arch := fs.String("arch", "amd64", "Debian architecture: amd64 or arm64")
	version := fs.String("version", "", "package version (a git describe is made Debian-valid)")
	bin := fs.String("bin", "", "directory holding the binaries built for -arch")
	out := fs.String("out", "dist", "directory to write the .deb files to")
	only := fs.String("only", "", "build this package only (vise or vise-agent)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" || *version == "" {
		return errors.New("-bin and -version are required (see -help)")
	}
	for _, s := range specs {
		if *only != "" && s.name != *only {
			continue
		}
		path, err := build(s, *arch, *version, *bin, *out)
		if err != nil {
			return err
		}
		fmt.Println(path)
	}
	return nil
}

// build writes the .deb of s and returns its path.
func build(s spec, arch, version, bin, out string) (string, error) {
	if arch != "amd64" && arch != "arm64" {
		return "", fmt.Errorf("architecture %q: use amd64 or arm64", arch)
	}
	binary := filepath.Join(bin, s.binary)
	if _, err := os.Stat(binary); err != nil {
		return "", fmt.Errorf("%s: %w (run make build or make packages)", s.name, err)
	}
	scripts, err := os.MkdirTemp("", "vise-packaging-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scripts)
	info := &nfpm.Info{
		Name: s.name, Arch: arch, Platform: "linux", Version: debVersion(version), VersionSchema: "none",
		Section: "misc", Priority: "optional", Maintainer: "Vise maintainers <vise@localhost>",
		Description: s.description, License: "Apache-2.0",
		Overridables: nfpm.Overridables{
			Depends: []string{"adduser", "systemd"},
			Contents: files.Contents{
				{Source: binary, Destination: "/usr/bin/" + s.binary, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: filepath.Join("systemd", s.unit), Destination: "/lib/systemd/system/" + s.unit, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: filepath.Join("etc", s.env), Destination: "/etc/vise/" + s.env, Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o640}},
			},
		},
	}
	for _, sc := range []struct {
		name string
		dst  *string
	}{{"postinst", &info.Scripts.PostInstall}, {"prerm", &info.Scripts.PreRemove}, {"postrm", &info.Scripts.PostRemove}} {
		if *sc.dst, err = script(s, sc.name, scripts); err != nil {
			return "", err
		}
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("%s: %w", s.name, err)
	}
	pkgr, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(out, pkgr.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := pkgr.Package(info, f); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("%s: %w", s.name, err)
	}
	return path, f.Close()
}

// script writes the package's maintainer script name, scripts/<name>.sh
// with the package's user, settings file and unit filled in, into dir.
func script(s spec, name, dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join("scripts", name+".sh"))
	if err != nil {
		return "", err
	}
	text := strings.NewReplacer("@USER@", s.user, "@ENV@", s.env, "@UNIT@", s.unit).Replace(string(b))
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, []byte(text), 0o755)
}

// debVersion makes a version Debian accepts: one starting with a digit, so
// a bare commit hash from git describe becomes 0~git<hash>, and dashes,
// which would start a Debian revision, become pluses.
func debVersion(v string) string {
	v = strings.ReplaceAll(strings.TrimPrefix(v, "v"), "-", "+")
	if v == "" || !unicode.IsDigit(rune(v[0])) {
		return "0~git" + v
	}
	return v
}
